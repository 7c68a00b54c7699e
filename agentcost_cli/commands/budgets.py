"""`agentcost budgets list|status|create|update|delete`: spending limits with alerts.

`budgets status` exits 5 when a budget it shows is exceeded, so a script or CI job can
stop before it spends more: `agentcost budgets status team-a || exit 1`.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .. import output
from ..errors import ExitCode
from ._common import CsvOpt, JsonOpt, QuietOpt, YesOpt, backend, confirm, csv_list, emit_listing, one_format, zone

budgets_app = typer.Typer(help="Budgets: a USD amount per day, week, month or rolling N days, with alerts.",
                          no_args_is_help=True)

BUDGET_COLUMNS = ("name", "scope", "value", "project", "period", "zone", "period_key", "period_start_utc",
                  "period_end_utc", "amount_usd", "spent_usd", "percent", "forecast_usd", "state", "resets",
                  "thresholds", "crossed", "channels")
NameArg = Annotated[str, typer.Argument(help="The budget's name.", show_default=False)]
ChannelOpt = Annotated[list[str] | None, typer.Option("--channel", "-c", help="Notify this channel (repeatable, or "
                                                      "comma-separated; see `agentcost channels list`).",
                                                      show_default=False)]
_STATE = {"ok": "ok", "warning": "WARNING", "exceeded": "EXCEEDED", "forecast_over": "on course to exceed"}


def _money(text: str | None) -> str:
    if text is None:
        return "-"
    from decimal import Decimal

    return f"${Decimal(text):,.2f}"


def _period(row: dict[str, Any]) -> str:
    if str(row["period"]).startswith("rolling:"):
        return f"last {row['period'].split(':', 1)[1]} days"
    return str(row["period_key"])


def _table(rows: list[dict[str, Any]]) -> None:
    output.render_table(
        ["budget", "scope", "period", "spent", "limit", "used", "state", "resets", "forecast"],
        ([r["name"], r["scope"] if r["value"] is None else f"{r['scope']} {r['value']}", _period(r),
          _money(r["spent_usd"]), _money(r["amount_usd"]), f"{r['percent']}%", _STATE.get(r["state"], r["state"]),
          r["resets"], _money(r["forecast_usd"])] for r in rows),
        right=["spent", "limit", "used", "forecast"],
        droppable=["forecast", "resets", "scope", "period"],
    )


def _show(rows: list[dict[str, Any]], fmt: str | None, empty: str) -> None:
    for row in rows:  # CSV cells are text: lists joined the way --threshold and --channel take them
        row.setdefault("project", None)
    if fmt == "csv":
        rows = [{**r, "thresholds": ",".join(map(str, r["thresholds"])), "crossed": ",".join(map(str, r["crossed"])),
                 "channels": ",".join(r["channels"])} for r in rows]
    if emit_listing(fmt, "budgets", BUDGET_COLUMNS, rows, empty):
        return
    _table(rows)


@budgets_app.command("list")
def budgets_list(ctx: typer.Context, json_: JsonOpt = False, csv_: CsvOpt = False) -> None:
    """Every budget you may see, with its spend this period, the share used and the forecast.

    Example: agentcost budgets list --csv > budgets.csv
    """
    _show(backend(ctx).list_budgets(), one_format(json=json_, csv=csv_),
          "no budgets yet: add one with `agentcost budgets create NAME --amount 100 --project P`")


@budgets_app.command("status")
def budgets_status(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="One budget (default: all).", show_default=False)] = None,
    json_: JsonOpt = False,
    csv_: CsvOpt = False,
) -> None:
    """Spend against budget now; exits 5 when a budget shown is exceeded.

    Example: agentcost budgets status team-a || echo "over budget"
    """
    api = backend(ctx)
    rows = [api.budget_status(name)] if name else api.list_budgets()
    _show(rows, one_format(json=json_, csv=csv_), "no budgets yet")
    exceeded = [r["name"] for r in rows if r["state"] == "exceeded"]
    if exceeded:
        output.warn(f"over budget: {', '.join(exceeded)}")
        raise typer.Exit(ExitCode.BUDGET_EXCEEDED)


@budgets_app.command("create")
def budgets_create(
    ctx: typer.Context,
    name: NameArg,
    amount: Annotated[str, typer.Option("--amount", "-a", help="USD per period, e.g. 100 or 12.50.",
                                        show_default=False)],
    project: Annotated[str | None, typer.Option("--project", "-p", help="The project the budget watches (or, for a "
                                                "user, key or tag budget, is limited to).", show_default=False)]
    = None,
    scope: Annotated[str, typer.Option("--scope", help="What it covers: project, key, user, tag, or global "
                                       "(everything).")] = "project",
    value: Annotated[str | None, typer.Option("--value", help="The key id, user name, or tag as NAME=VALUE.",
                                              show_default=False)] = None,
    period: Annotated[str, typer.Option("--period", help="day, week, month, or rolling:N (N days).")] = "month",
    tz: Annotated[str | None, typer.Option("--zone", help="Time zone the period is counted in (default: "
                                           "report.timezone).", show_default=False)] = None,
    thresholds: Annotated[str, typer.Option("--thresholds", help="Percentages that alert, each once per "
                                            "period.")] = "50,80,100",
    channel: ChannelOpt = None,
    forecast: Annotated[bool, typer.Option("--forecast/--no-forecast", help="Also warn when the period-end "
                                           "projection passes the amount.")] = True,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Create a budget.

    Example: agentcost budgets create team-a --project team-a --amount 500 --period month --channel ops-slack
    """
    _, zone_name = zone(ctx, tz)
    row = backend(ctx).create_budget(name=name, amount=amount, scope=scope, value=value, project=project,
                                     period=period, zone=zone_name, thresholds_text=thresholds,
                                     channel_names=list(csv_list(channel)), forecast=forecast)
    if json_:
        output.write_json(row)
    elif not quiet:
        _table([row])
    if not quiet:
        output.info(f"created budget {name}: {_money(row['amount_usd'])} per {row['period']} ({row['zone']})")


@budgets_app.command("update")
def budgets_update(
    ctx: typer.Context,
    name: NameArg,
    amount: Annotated[str | None, typer.Option("--amount", "-a", help="New USD amount.", show_default=False)] = None,
    period: Annotated[str | None, typer.Option("--period", help="day, week, month or rolling:N.",
                                               show_default=False)] = None,
    tz: Annotated[str | None, typer.Option("--zone", help="New time zone.", show_default=False)] = None,
    thresholds: Annotated[str | None, typer.Option("--thresholds", help="New percentages, e.g. 80,100.",
                                                   show_default=False)] = None,
    channel: ChannelOpt = None,
    forecast: Annotated[bool | None, typer.Option("--forecast/--no-forecast", help="Forecast warnings on or off.",
                                                  show_default=False)] = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Change a budget. Raising it after a threshold fired sends an all-clear at the next evaluation.

    Example: agentcost budgets update team-a --amount 750
    """
    row = backend(ctx).update_budget(name, amount=amount, period=period, zone=tz, thresholds_text=thresholds,
                                     channel_names=list(csv_list(channel)) if channel is not None else None,
                                     forecast=forecast)
    if json_:
        output.write_json(row)
    elif not quiet:
        _table([row])


@budgets_app.command("delete")
def budgets_delete(ctx: typer.Context, name: NameArg, yes: YesOpt = False, quiet: QuietOpt = False) -> None:
    """Delete a budget (its past alerts stay in `agentcost alerts list`).

    Example: agentcost budgets delete team-a --yes
    """
    confirm(f"Delete budget {name}?", yes)
    backend(ctx).delete_budget(name)
    if not quiet:
        output.info(f"deleted budget {name}")
