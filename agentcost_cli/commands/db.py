"""`agentcost db migrate|status|backup|rebuild-rollups`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import output
from ._common import JsonOpt, QuietOpt, YesOpt, confirm, open_store

db_app = typer.Typer(help="The store: schema migrations, status, online backups.", no_args_is_help=True)


@db_app.command("migrate")
def db_migrate(ctx: typer.Context, quiet: QuietOpt = False) -> None:
    """Apply pending schema migrations (every command also does this on open).

    Example: agentcost db migrate
    """
    store = open_store(ctx, migrate=False)
    applied = store.migrate()
    if not quiet:
        output.info(f"applied {len(applied)} migration(s): {', '.join(applied)}" if applied
                    else "schema is up to date")


@db_app.command("status")
def db_status(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Where the store is, its migrations, and row counts.

    Example: agentcost db status --json
    """
    store = open_store(ctx, migrate=False)
    status = store.migration_status()
    counts = store.table_counts()
    doc = {
        "location": store.location,
        "rollup_zone": store.rollup_zone if not status.pending else None,
        "applied": [{"name": n, "applied_utc": t} for n, t in status.applied],
        "pending": status.pending,
        "tables": counts,
    }
    if json_:
        output.write_json(doc)
        return
    con = output.console()
    con.print(f"store: {store.location}", markup=False)
    if doc["rollup_zone"]:
        con.print(f"daily rollup zone: {doc['rollup_zone']}", markup=False)
    con.print(f"migrations: {len(status.applied)} applied, {len(status.pending)} pending"
              + (f" ({', '.join(status.pending)})" if status.pending else ""), markup=False)
    for name, count in sorted(counts.items()):
        if not name.startswith("_"):
            con.print(f"  {name:<20} {count:>12,}", markup=False)


@db_app.command("backup")
def db_backup(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="Where to write the copy.")],
    yes: YesOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Write a consistent copy of the store while it stays in use.

    Example: agentcost db backup ~/backups/agentcost-$(date +%F).db
    """
    store = open_store(ctx)
    if store.supports_backup and path.exists():  # PostgreSQL writes nothing: its backup refuses, naming pg_dump
        confirm(f"{path} exists. Overwrite it?", yes)
    store.backup(path)
    if not quiet:
        output.info(f"backed up {store.location} to {path}")
        from ..services.auth_config import auth_config

        key_file = auth_config(store).key_file
        if key_file.exists():  # deliberately not in the copy: a stolen backup alone opens no sealed secret
            output.info(f"MFA secrets and queued messages are sealed with {key_file}: back it up separately")


@db_app.command("rebuild-rollups")
def db_rebuild_rollups(ctx: typer.Context, quiet: QuietOpt = False) -> None:
    """Recompute the report rollups from the raw events (normally never needed).

    Example: agentcost db rebuild-rollups
    """
    store = open_store(ctx)
    store.rebuild_rollups()
    if not quiet:
        output.info("rollups rebuilt from events")


@db_app.command("rollup-zone")
def db_rollup_zone(
    ctx: typer.Context,
    zone_name: Annotated[str | None, typer.Argument(help="IANA zone (e.g. Europe/Paris) or UTC; omit to show it.",
                                                    show_default=False)] = None,
    quiet: QuietOpt = False,
) -> None:
    """Show or change the zone the daily rollup cuts days in.

    Example: agentcost db rollup-zone Europe/Paris

    Reports in this zone (by day, week, month, project, provider, model) read the compact
    daily rollup; other zones read the hourly one. New stores take report.timezone.
    """
    from ..timeutil import resolve_zone

    store = open_store(ctx)
    if zone_name is None:
        typer.echo(store.rollup_zone)
        return
    from ..services.reports import zone_key

    key = zone_key(resolve_zone(zone_name))
    if key is None:
        from ..errors import InvalidInput

        raise InvalidInput(f"{zone_name!r} has no IANA name", hint="name the zone, e.g. Europe/Paris")
    store.set_rollup_zone(key)
    if not quiet:
        output.info(f"daily rollup now cuts days in {key} (rebuilt)")
