"""`agentcost audit list`: the security audit trail (sign-ins, account, project and key changes)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .. import output
from ._common import CsvOpt, JsonOpt, SinceOpt, TzOpt, UntilOpt, backend, emit_listing, one_format, time_range, zone

audit_app = typer.Typer(help="The audit trail: who did what, when, with what outcome.", no_args_is_help=True)

AUDIT_COLUMNS = ("id", "ts_utc", "actor", "actor_user_id", "action", "target", "project", "source_addr", "outcome",
                 "detail")


def _detail(value: Any) -> str:
    if not value:
        return ""
    return ", ".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else str(value)


@audit_app.command("list")
def audit_list(
    ctx: typer.Context,
    project: Annotated[str | None, typer.Option("--project", "-p", help="Only this project's records.",
                                                show_default=False)] = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    action: Annotated[str | None, typer.Option("--action", help="Only actions starting with this (e.g. key. or "
                                               "login).", show_default=False)] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=100_000, help="At most this many records.")]
    = 100,
    tz: TzOpt = None,
    json_: JsonOpt = False,
    csv_: CsvOpt = False,
) -> None:
    """Audit records, newest first.

    Example: agentcost audit list --action key. --since 7d --json
    """
    from ..timeutil import format_utc

    fmt = one_format(json=json_, csv=csv_)
    zone_info, _ = zone(ctx, tz)
    start, end = time_range(since, until, zone_info)
    rows = backend(ctx).list_audit(project=project, since=format_utc(start) if start else None,
                        until=format_utc(end) if end else None, action=action, limit=limit)
    if emit_listing(fmt, "records", AUDIT_COLUMNS, rows, "no audit records match"):
        return
    output.render_table(
        ["id", "time (UTC)", "actor", "action", "target", "project", "outcome", "detail"],
        ([r["id"], r["ts_utc"][:19].replace("T", " "), r["actor"], r["action"], r["target"] or "",
          r["project"] or "", r["outcome"], _detail(r["detail"])] for r in rows),
        right=["id"], droppable=["time (UTC)", "action", "actor", "target", "outcome", "project", "detail", "id"],
    )
    if len(rows) == limit:
        output.info(f"showing the newest {limit:,}; use --limit or --since/--until for more")
