"""The Overview's figures, asked of the backend exactly as `agentcost report` asks them.

Everything comes from `Backend.report` (the rollups, never a scan of raw events) so that
the dashboard and `agentcost report --json` agree to the nano-dollar on the same store:
one report by day from 90 local days ago gives today, this week, this month and the chart;
one report per dimension gives the month's top projects, models and keys. The month-end
forecast is the same run-rate budgets use (alerts.forecast)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..alerts import forecast as forecasting
from ..alerts import periods
from ..alerts.periods import local_midnight
from ..models import format_usd, usd_to_nanos
from ..services.reports import ReportRequest

if TYPE_CHECKING:
    from ..services.backend import Backend

CHART_DAYS = 90
TOP_N = 5


@dataclass(frozen=True)
class Ranked:
    name: str | None
    cost_usd: str
    events: int
    unpriced_events: int


@dataclass
class Overview:
    today: date
    week_start: date
    month_start: date
    today_usd: str
    week_usd: str
    month_usd: str
    forecast_usd: str | None  # month end at the month's run-rate; None before a day of data
    daily: list[tuple[date, Decimal]]  # the last CHART_DAYS local days, oldest first, zeros filled in
    month_events: int
    unpriced_events: int  # this month's events with no known price (not in the figures)
    top: dict[str, list[Ranked]] = field(default_factory=dict)  # "project"/"model"/"key" -> best first


def _sum(rows: list[dict[str, Any]], since: date) -> Decimal:
    return sum((Decimal(r["cost_usd"]) for r in rows if date.fromisoformat(r["day"]) >= since), Decimal(0))


def _usd(amount: Decimal) -> str:
    return format_usd(usd_to_nanos(amount)) or "0"


def bounds(now: datetime, zone: tzinfo) -> tuple[date, date, date, date]:
    """Today, the ISO week's Monday, the month's first day and the chart's first day, locally."""
    today = now.astimezone(zone).date()
    return today, today - timedelta(days=today.weekday()), today.replace(day=1), today - timedelta(days=CHART_DAYS - 1)


def load_overview(backend: Backend, *, now: datetime, zone: tzinfo, zone_name: str) -> Overview:
    today, week_start, month_start, chart_start = bounds(now, zone)
    first = min(chart_start, month_start, week_start)
    request = ReportRequest(group_by=("day",), since=local_midnight(first, zone), zone=zone, zone_name=zone_name)
    daily_rows = backend.report(request)["rows"]
    by_day = {date.fromisoformat(r["day"]): Decimal(r["cost_usd"]) for r in daily_rows}
    daily = [(chart_start + timedelta(days=i), by_day.get(chart_start + timedelta(days=i), Decimal(0)))
             for i in range(CHART_DAYS)]
    month_rows = [r for r in daily_rows if date.fromisoformat(r["day"]) >= month_start]
    month = _sum(daily_rows, month_start)
    overview = Overview(
        today=today, week_start=week_start, month_start=month_start,
        today_usd=_usd(_sum(daily_rows, today)), week_usd=_usd(_sum(daily_rows, week_start)), month_usd=_usd(month),
        forecast_usd=month_forecast(month, now=now, zone_name=zone_name),
        daily=daily, month_events=sum(int(r["events"]) for r in month_rows),
        unpriced_events=sum(int(r["unpriced_events"]) for r in month_rows),
    )
    since = local_midnight(month_start, zone)
    for dimension in ("project", "model", "key"):
        rows = backend.report(ReportRequest(group_by=(dimension,), since=since, zone=zone,
                                            zone_name=zone_name))["rows"]
        rows.sort(key=lambda r: (-Decimal(r["cost_usd"]), -int(r["events"]), str(r[dimension])))
        overview.top[dimension] = [Ranked(r[dimension], r["cost_usd"], int(r["events"]), int(r["unpriced_events"]))
                                   for r in rows[:TOP_N]]
    return overview


def month_forecast(spent: Decimal, *, now: datetime, zone_name: str) -> str | None:
    """The month's spend at its run-rate so far (what a monthly budget would forecast)."""
    try:
        window = periods.window(periods.parse_period("month"), zone_name, now)
    except Exception:  # a zone the period code cannot name (a bare offset): no forecast, not a crash
        return None
    projected = forecasting.forecast(window, now, [], usd_to_nanos(spent))
    return None if projected is None else format_usd(projected.projected_nanos)
