"""`agentcost keys list|create|revoke|rotate`: project API keys.

A new key is printed once, alone on stdout (`KEY=$(agentcost keys create ...)` works);
the store keeps only its hash, so it cannot be shown again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from .. import output
from ..timeutil import parse_duration, parse_expiry
from ._common import CsvOpt, JsonOpt, QuietOpt, YesOpt, backend, confirm, csv_list, emit_listing, one_format, zone

keys_app = typer.Typer(help="Project API keys: create (shown once), list, revoke, rotate.", no_args_is_help=True)

KeyRefArg = Annotated[str, typer.Argument(help="The key's id or display prefix (ac_live_XXXX), from "
                                          "`agentcost keys list`.", show_default=False)]
KEY_COLUMNS = ("id", "project", "name", "display", "scopes", "state", "created_utc", "expires_utc", "revoked_utc",
               "last_used_utc", "created_by_user_id", "replaced_by")
SHOWN_ONCE = "this key is shown only once and cannot be recovered: store it now (e.g. in your secret manager)"


def _expiry(ctx: typer.Context, text: str | None) -> datetime | None:
    """--expires: a duration from now (30d) or a date/time (a bare date is midnight in the report zone)."""
    if not text:
        return None
    from ..services import clock

    tz, _ = zone(ctx, None)
    return parse_expiry(text, tz, now=clock.now())


def _when(stamp: str | None) -> str:
    return stamp[:16].replace("T", " ") if stamp else ""


def _print_key(listing: dict[str, Any], key: str, json_: bool) -> None:
    if json_:
        output.write_json({**listing, "key": key})
    else:
        output.console().print(key, markup=False, highlight=False, soft_wrap=True)
    output.warn(SHOWN_ONCE)


@keys_app.command("list")
def keys_list(
    ctx: typer.Context,
    project: Annotated[str | None, typer.Option("--project", "-p", help="Only this project's keys.",
                                                show_default=False)] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
    json_: JsonOpt = False,
    csv_: CsvOpt = False,
) -> None:
    """API keys (never the key itself: only its prefix and last four characters).

    Example: agentcost keys list --project web-app --all
    """

    fmt = one_format(json=json_, csv=csv_)
    rows = backend(ctx).list_keys(project, include_revoked=all_)
    empty = "no API keys" + ("" if all_ else " (add --all to include revoked ones)")
    if emit_listing(fmt, "keys", KEY_COLUMNS, rows, empty):
        return
    output.render_table(
        ["id", "project", "name", "key", "scopes", "state", "created", "expires", "last used"],
        ([r["id"], r["project"], r["name"], r["display"], ",".join(r["scopes"]), r["state"], _when(r["created_utc"]),
          _when(r["expires_utc"]), _when(r["last_used_utc"])] for r in rows),
        right=["id"], droppable=["key", "project", "name", "state", "scopes", "expires", "last used", "created"],
    )


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    project: Annotated[str, typer.Option("--project", "-p", help="The project the key acts on.",
                                         show_default=False)],
    name: Annotated[str, typer.Option("--name", help="What uses the key (e.g. ci, laptop-ana).",
                                      show_default=False)],
    scope: Annotated[list[str] | None, typer.Option("--scope", "-s", help="ingest, read or admin (repeatable, or "
                                                    "comma-separated).", show_default=False)] = None,
    expires: Annotated[str | None, typer.Option("--expires", help="Expire after a duration (30d, 12h) or at a date "
                                                "(2027-01-31); default never.", show_default=False)] = None,
    env: Annotated[str, typer.Option("--env", help="live or test (part of the key: ac_live_..., ac_test_...).")]
    = "live",
    json_: JsonOpt = False,
) -> None:
    """Create a key and print it once on stdout.

    Example: KEY=$(agentcost keys create --project web-app --name ci --scope ingest --expires 90d)
    """
    from ..services.keys import parse_scopes

    scopes = parse_scopes(csv_list(scope))
    listing, key = backend(ctx).create_key(project, name=name, scopes=scopes,
                              expires=_expiry(ctx, expires), env=env)
    _print_key(listing, key, json_)
    output.info(f"created key {listing['display']} (id {listing['id']}) for {listing['project']} with scope "
                f"{', '.join(listing['scopes'])}" + (f", expires {listing['expires_utc']}" if listing["expires_utc"]
                                                     else ""))


@keys_app.command("revoke")
def keys_revoke(ctx: typer.Context, key: KeyRefArg, yes: YesOpt = False, json_: JsonOpt = False,
                quiet: QuietOpt = False) -> None:
    """Revoke a key at once: the next request that uses it is refused.

    Example: agentcost keys revoke ac_live_3kTn --yes
    """

    confirm(f"Revoke API key {key} (anything using it stops working at once)?", yes)
    listing = backend(ctx).revoke_key(key)
    if json_:
        output.write_json(listing)
    if not quiet:
        output.info(f"revoked key {listing['display']} (id {listing['id']}) of {listing['project']}")


@keys_app.command("rotate")
def keys_rotate(
    ctx: typer.Context,
    key: KeyRefArg,
    overlap: Annotated[str, typer.Option("--overlap", help="How long the old key keeps working (0 to 30d).")]
    = "24h",
    json_: JsonOpt = False,
) -> None:
    """Issue a successor (same project, name and scopes) and print it once; the old key works for the overlap.

    Example: NEW=$(agentcost keys rotate ac_live_3kTn --overlap 1h)
    """

    listing, new_key = backend(ctx).rotate_key(key, overlap=parse_duration(overlap, "--overlap"))
    _print_key(listing, new_key, json_)
    output.info(f"new key {listing['display']} (id {listing['id']}) for {listing['project']}; the old key "
                f"keeps working for at most {overlap}")
