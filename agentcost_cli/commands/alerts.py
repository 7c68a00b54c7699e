"""`agentcost alerts list|test|mute|unmute|mutes|run` and `agentcost alerts rules ...`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .. import output
from ._common import CsvOpt, JsonOpt, QuietOpt, YesOpt, backend, confirm, csv_list, emit_listing, one_format

alerts_app = typer.Typer(help="Fired alerts, tests, mutes, one-off evaluation, and custom alert rules.",
                         no_args_is_help=True)
rules_app = typer.Typer(help="Custom alert rules, e.g. 'cost > 50 and provider == \"openai\" per day'.",
                        no_args_is_help=True)
alerts_app.add_typer(rules_app, name="rules")

ALERT_COLUMNS = ("id", "created_utc", "kind", "severity", "source", "project", "summary", "muted")
RULE_COLUMNS = ("name", "expression", "project", "channels", "enabled", "created_utc", "updated_utc")
ChannelOpt = Annotated[list[str] | None, typer.Option("--channel", "-c", help="Notify this channel (repeatable, or "
                                                      "comma-separated).", show_default=False)]


@alerts_app.command("list")
def alerts_list(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option("--since", help="Fired at or after (2026-11-01, 24h, 7d).",
                                              show_default=False)] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="Only this kind, or kinds starting so (budget, "
                                             "rule.triggered, anomaly, price).", show_default=False)] = None,
    project: Annotated[str | None, typer.Option("--project", "-p", help="Only this project's.",
                                                show_default=False)] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000, help="At most this many.")] = 50,
    json_: JsonOpt = False,
    csv_: CsvOpt = False,
) -> None:
    """Alerts that fired, newest first (each fires once: a threshold per period, a rule per window).

    Example: agentcost alerts list --since 7d --kind budget
    """
    from .channels import _since

    rows = backend(ctx).list_alerts(since=_since(ctx, since), kind=kind, project=project, limit=limit)
    fmt = one_format(json=json_, csv=csv_)
    if emit_listing(fmt, "alerts", ALERT_COLUMNS, rows, "no alerts have fired"):
        return
    output.render_table(
        ["id", "fired (UTC)", "severity", "kind", "summary"],
        ([r["id"], r["created_utc"][:16].replace("T", " "), r["severity"].upper() + (" (muted)" if r["muted"] else ""),
          r["kind"], r["summary"]] for r in rows),
        right=["id"], droppable=["id", "kind", "fired (UTC)"])


# What a test message's outbox status means to the person testing.
_RESULT = {"sent": "sent", "pending": "NOT SENT (will retry)", "dead": "NOT SENT (failed)",
           "unknown": "UNKNOWN (may have been sent)"}


def show_test_results(results: list[dict[str, Any]], json_: bool) -> None:
    """Print what each channel answered; exit 1 when one did not take the message."""
    if json_:
        output.write_json({"results": results})
    else:
        output.render_table(
            ["channel", "kind", "result", "answer", "ms"],
            ([r["channel"], r["kind"], _RESULT.get(r["status"], f"NOT SENT ({r['status']})"),
              f"HTTP {r['status_code']}" if r["status_code"] else (r["error"] or r["outcome"] or "-"),
              r["latency_ms"] if r["latency_ms"] is not None else "-"] for r in results),
            right=["ms"])
    failed = [r for r in results if r["status"] != "sent"]
    for r in failed:
        output.warn(f"{r['channel']}: {r['error'] or r['outcome']}")
    if failed:
        raise typer.Exit(1)


@alerts_app.command("test")
def alerts_test(
    ctx: typer.Context,
    channel: Annotated[list[str] | None, typer.Option("--channel", "-c", help="Channel to test (repeatable; "
                                                      "default: every channel you manage).", show_default=False)]
    = None,
    json_: JsonOpt = False,
) -> None:
    """Send a test message through channels now; exits 1 when one did not take it.

    Example: agentcost alerts test --channel ops-slack
    """
    show_test_results(backend(ctx).test_channels(list(csv_list(channel))), json_)


@alerts_app.command("mute")
def alerts_mute(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="budget:NAME, rule:NAME, channel:NAME, project:SLUG, kind:KIND "
                                          "(budget, rule, anomaly, price, ...) or all.", show_default=False)],
    for_: Annotated[str, typer.Option("--for", help="How long (30m, 8h, 7d; at most 365d).")] = "24h",
    reason: Annotated[str | None, typer.Option("--reason", help="Why (shown in `alerts mutes`).",
                                               show_default=False)] = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Silence alerts for a while; muted alerts are still recorded, and sent nowhere.

    Example: agentcost alerts mute budget:team-a --for 8h --reason "load test"
    """
    from ..timeutil import parse_duration

    row = backend(ctx).mute(target, seconds=parse_duration(for_, "--for").total_seconds(), reason=reason)
    if json_:
        output.write_json(row)
    if not quiet:
        output.info(f"muted {target} until {row['until_utc']}")


@alerts_app.command("unmute")
def alerts_unmute(ctx: typer.Context, target: Annotated[str, typer.Argument(help="What was muted.",
                                                                            show_default=False)],
                  quiet: QuietOpt = False) -> None:
    """End a mute now.

    Example: agentcost alerts unmute budget:team-a
    """
    removed = backend(ctx).unmute(target)
    if not quiet:
        output.info(f"unmuted {target}" if removed else f"{target} was not muted")


@alerts_app.command("mutes")
def alerts_mutes(ctx: typer.Context, json_: JsonOpt = False, csv_: CsvOpt = False) -> None:
    """Mutes in force.

    Example: agentcost alerts mutes
    """
    rows = backend(ctx).list_mutes()
    if emit_listing(one_format(json=json_, csv=csv_), "mutes", ("target", "until_utc", "reason"), rows,
                    "nothing is muted"):
        return
    output.render_table(["target", "until (UTC)", "reason"],
                        ([r["target"], r["until_utc"][:16].replace("T", " "), r["reason"] or ""] for r in rows))


@alerts_app.command("run")
def alerts_run(ctx: typer.Context, json_: JsonOpt = False, quiet: QuietOpt = False) -> None:
    """Evaluate budgets, forecasts, rules and anomalies once (for cron, without a daemon).

    Alerts that fire are queued; `agentcost outbox dispatch` sends them.
    Example: */5 * * * * agentcost alerts run -q && agentcost outbox dispatch -q
    """
    report = backend(ctx).run_alerts()
    if json_:
        output.write_json(report)
    for error in report["errors"]:
        output.warn(error)
    if not quiet:
        anomalies = report.get("anomalies", {})
        output.info(f"evaluated {report['budgets']} budgets, {report['rules']} rules and "
                    f"{anomalies.get('checked', 0)} projects for anomalies: "
                    f"{len(report['fired']) + len(anomalies.get('fired', []))} alerts fired")


# -- rules --------------------------------------------------------------------------------------

def _rule_rows(rows: list[dict[str, Any]], fmt: str | None) -> None:
    if fmt == "csv":
        rows = [{**r, "channels": ",".join(r["channels"])} for r in rows]
    if emit_listing(fmt, "rules", RULE_COLUMNS, rows, "no rules yet: add one with "
                    "`agentcost alerts rules create NAME 'cost > 50 per day'`"):
        return
    output.render_table(["rule", "expression", "project", "channels", "enabled"],
                        ([r["name"], r["expression"], r["project"] or "(all)", ", ".join(r["channels"]),
                          "yes" if r["enabled"] else "no"] for r in rows), droppable=["project", "channels"])


@rules_app.command("list")
def rules_list(ctx: typer.Context, json_: JsonOpt = False, csv_: CsvOpt = False) -> None:
    """Custom alert rules.

    Example: agentcost alerts rules list
    """
    _rule_rows(backend(ctx).list_rules(), one_format(json=json_, csv=csv_))


@rules_app.command("create")
def rules_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The rule's name.", show_default=False)],
    expression: Annotated[str, typer.Argument(help="e.g. 'cost > 50 and provider == \"openai\" per day'; fields: "
                                              "cost tokens events provider model project key user tag.NAME; "
                                              "windows: per hour|day|week|month, over N hours|days.",
                                              show_default=False)],
    project: Annotated[str | None, typer.Option("--project", "-p", help="Only this project's usage (the rule "
                                                "then belongs to it).", show_default=False)] = None,
    channel: ChannelOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Create a rule; a syntax error names the column.

    Example: agentcost alerts rules create openai-daily 'cost > $50 and provider == "openai" per day' -c ops
    """
    row = backend(ctx).create_rule(name=name, expression=expression, project=project,
                                   channels=list(csv_list(channel)))
    if json_:
        output.write_json(row)
    if not quiet:
        output.info(f"created rule {name}: {row['expression']}")


@rules_app.command("update")
def rules_update(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The rule's name.", show_default=False)],
    expression: Annotated[str | None, typer.Option("--expression", "-e", help="A new expression.",
                                                   show_default=False)] = None,
    channel: ChannelOpt = None,
    enabled: Annotated[bool | None, typer.Option("--enable/--disable", help="Turn the rule on or off.",
                                                 show_default=False)] = None,
    json_: JsonOpt = False,
) -> None:
    """Change a rule.

    Example: agentcost alerts rules update openai-daily --disable
    """
    row = backend(ctx).update_rule(name, expression=expression,
                                   channels=list(csv_list(channel)) if channel is not None else None, enabled=enabled)
    if json_:
        output.write_json(row)
    else:
        _rule_rows([row], None)


@rules_app.command("delete")
def rules_delete(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The rule's name.",
                                                                         show_default=False)],
                 yes: YesOpt = False, quiet: QuietOpt = False) -> None:
    """Delete a rule (its past alerts stay).

    Example: agentcost alerts rules delete openai-daily --yes
    """
    confirm(f"Delete rule {name}?", yes)
    backend(ctx).delete_rule(name)
    if not quiet:
        output.info(f"deleted rule {name}")
