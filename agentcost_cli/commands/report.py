"""`agentcost report`: cost and tokens per group, as a table, JSON or CSV."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .. import output
from ._common import (
    CsvOpt,
    JsonOpt,
    KeyFilterOpt,
    ModelFilterOpt,
    OutputOpt,
    ProjectFilterOpt,
    ProviderFilterOpt,
    SinceOpt,
    TagFilterOpt,
    TzOpt,
    UntilOpt,
    UserFilterOpt,
    backend,
    binary_target,
    csv_list,
    one_format,
    text_target,
    time_range,
    zone,
)

_SHORT = {
    "input_tokens": "input", "cache_read_tokens": "cache read", "cache_write_tokens": "cache write",
    "cache_write_1h_tokens": "cache write 1h", "output_tokens": "output", "reasoning_tokens": "reasoning",
    "cost_usd": "cost (USD)",
}


def _money(text: str) -> str:
    from decimal import ROUND_HALF_EVEN, Decimal

    return f"{Decimal(text).quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN):,}"


def _when(stamp: str | None, tz: Any) -> str | None:
    from ..timeutil import parse_utc

    return parse_utc(stamp).astimezone(tz).strftime("%Y-%m-%d %H:%M") if stamp else None


def _table(report: Any) -> None:
    from ..services.reports import METRIC_COLUMNS

    shown = [c for c in METRIC_COLUMNS if c not in ("unpriced_events",)]
    # Hide token columns that are zero everywhere: a terminal is narrow.
    shown = [c for c in shown if c in ("events", "cost_usd") or report.totals[c]]
    headers = [*report.group_by, *(_SHORT.get(c, c) for c in shown)]

    def cost(row: dict[str, Any]) -> str:
        # Unknown is not free: never show an unpriced row as 0.00.
        if row["unpriced_events"] and row["unpriced_events"] == row["events"]:
            return "unpriced"
        return _money(row["cost_usd"]) + ("*" if row["unpriced_events"] else "")

    def metrics(row: dict[str, Any]) -> list[str]:
        return [cost(row) if c == "cost_usd" else f"{row[c]:,}" for c in shown]

    def cells(row: dict[str, Any]) -> list[Any]:
        return [*(row[g] if row[g] is not None else "-" for g in report.group_by), *metrics(row)]

    footer = ["total", *[""] * (len(report.group_by) - 1), *metrics(report.totals)]
    start = _when(report.since, report.zone) or "from the start"
    end = _when(report.until, report.zone) or "now"
    title = f"Usage {start} .. {end} ({report.timezone})"
    # Keep the group keys, cost and events longest when the terminal is narrow.
    order = ["cost (USD)", "events", "input", "output", "cache read", "cache write", "cache write 1h",
             "reasoning", "requests"]
    output.render_table(headers, (cells(r) for r in report.rows), title=title,
                        right=[_SHORT.get(c, c) for c in shown], footer=footer,
                        droppable=[c for c in order if c in headers][2:])
    if report.unpriced_events:
        output.warn(f"{report.unpriced_events:,} event(s) have no known price and are not in the cost "
                    "(marked * or 'unpriced'); see `agentcost pricing missing`")


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(
        ctx: typer.Context,
        by: Annotated[str, typer.Option("--by", "-b", help="Group by, comma-separated: day, week, month, project, "
                                        "model, provider, user, key, session, agent.")] = "day",
        since: SinceOpt = None,
        until: UntilOpt = None,
        tz: TzOpt = None,
        project: ProjectFilterOpt = None,
        provider: ProviderFilterOpt = None,
        model: ModelFilterOpt = None,
        key: KeyFilterOpt = None,
        user: UserFilterOpt = None,
        tag: TagFilterOpt = None,
        json_: JsonOpt = False,
        csv_: CsvOpt = False,
        out: OutputOpt = None,
    ) -> None:
        """Cost and tokens per day, model, project... from the store's rollups.

        Example: agentcost report --by day,model --since 7d --csv > week.csv

        Filters (--project, --provider, --model, --key, --user, --tag NAME=VALUE) combine; a tag
        filter sums the raw events (the rollups keep no tags), which is slower on large stores.
        """
        from ..services.reports import METRIC_COLUMNS, Report, ReportRequest, parse_group_by, parse_tags

        fmt = one_format(json=json_, csv=csv_)
        group_by = parse_group_by(by)
        tzinfo, tz_label = zone(ctx, tz)
        start, end = time_range(since, until, tzinfo)
        request = ReportRequest(
            group_by=group_by, since=start, until=end, zone=tzinfo, zone_name=tz_label,
            projects=csv_list(project), providers=tuple(p.lower() for p in csv_list(provider)),
            models=csv_list(model), keys=csv_list(key), users=csv_list(user), tags=parse_tags(tag),
        )
        result = Report.from_json(backend(ctx).report(request), tzinfo)
        if fmt == "json":
            with binary_target(out) as target:
                output.write_json(result.as_json(), target)
        elif fmt == "csv":
            with text_target(out) as target:
                output.write_csv([*result.group_by, *METRIC_COLUMNS], result.rows, target)
        elif out is not None and str(out) != "-":
            with text_target(out) as target:
                output.write_csv([*result.group_by, *METRIC_COLUMNS], result.rows, target)
            output.info(f"wrote {len(result.rows):,} row(s) to {out}")
        else:
            _table(result)
            if not result.totals["events"] and not (since or until or project or provider or model or key or user
                                                    or tag):
                output.info("no usage yet: try `agentcost import claude-code`, `agentcost ingest FILE`, "
                            "or `agentcost demo`")
