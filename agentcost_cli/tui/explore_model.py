"""What the Explore screen asks for and how it reads the answer, apart from any widget: the
group-by and filters as a request for `Backend.report`, time-range presets in the reader's
zone, sorting the rows, the cost cell (unpriced is never $0.00) and the drill-down filter."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from ..errors import InvalidInput
from ..services.reports import DIMENSIONS, TIME_DIMENSIONS, ReportRequest, parse_group_by, parse_tags
from ..timeutil import parse_time_arg
from .filters import ViewFilter, filter_parts
from .formatting import money

# (id, label): the time-range presets, in the order `t` cycles them.
RANGES: tuple[tuple[str, str], ...] = (
    ("today", "today"),
    ("7d", "last 7 days"),
    ("month", "this month"),
    ("30d", "last 30 days"),
    ("90d", "last 90 days"),
    ("all", "all time"),
    ("custom", "custom"),
)
RANGE_LABELS = dict(RANGES)
# The groupings `g` cycles (any other combination can be typed).
GROUPINGS: tuple[tuple[str, ...], ...] = (
    ("day",), ("week",), ("month",), ("project",), ("provider",), ("model",), ("key",), ("user",), ("agent",),
    ("day", "project"), ("day", "model"), ("project", "model"),
)
METRICS = ("events", "tokens", "cost")  # the table's columns after the group keys
# On a wide terminal: the token kinds too (cache writes of both lifetimes together).
FULL_METRICS = ("events", "requests", "input", "cache_read", "cache_write", "output", "tokens", "cost")
METRIC_LABELS = {"cache_read": "cache read", "cache_write": "cache write"}
# The dimension -> the ViewFilter field a drill-down narrows (agent and session have none).
DRILL_FIELDS = {"project": "projects", "provider": "providers", "model": "models", "key": "keys", "user": "users"}
_TOKEN_COLUMNS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens", "output_tokens")


def split_list(text: str) -> tuple[str, ...]:
    """`a, b,c` as ("a", "b", "c"), as the CLI reads its repeatable options."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


@dataclass(frozen=True)
class ExploreState:
    """What the reader chose: everything needed to ask for the report again."""

    group_by: tuple[str, ...] = ("day",)
    range_id: str = "30d"
    since_text: str = ""  # custom range only
    until_text: str = ""
    projects: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_texts(cls, *, group_by: str, range_id: str, since: str, until: str, projects: str = "",
                   providers: str = "", models: str = "", keys: str = "", users: str = "",
                   tags: str = "") -> ExploreState:
        """The state from the form's texts.

        Raises:
            InvalidInput: an unknown or repeated dimension, a tag that is not NAME=VALUE.
        """
        return cls(
            group_by=parse_group_by(group_by), range_id=range_id if range_id in RANGE_LABELS else "30d",
            since_text=since.strip(), until_text=until.strip(),
            projects=split_list(projects), providers=tuple(p.lower() for p in split_list(providers)),
            models=split_list(models), keys=split_list(keys), users=split_list(users),
            tags=parse_tags(split_list(tags)),
        )

    def time_bounds(self, now: datetime, zone: tzinfo) -> tuple[datetime | None, datetime | None]:
        """The range as aware datetimes (until exclusive; None: open).

        Presets start at a local midnight (so the daily rollup answers them) and stay open at the
        end, as `agentcost report --since DATE` does. Raises InvalidInput for bad custom text."""
        midnight = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
        if self.range_id == "today":
            return _local(midnight, zone), None
        if self.range_id in ("7d", "30d", "90d"):
            days = int(self.range_id[:-1])
            return _local(midnight.replace(tzinfo=None) - timedelta(days=days - 1), zone), None
        if self.range_id == "month":
            return _local(midnight.replace(day=1), zone), None
        if self.range_id == "all":
            return None, None
        since = parse_time_arg(self.since_text, zone, now=now) if self.since_text else None
        until = parse_time_arg(self.until_text, zone, now=now) if self.until_text else None
        if since is not None and until is not None and until <= since:
            raise InvalidInput("until must be later than since",
                               hint=f"since {self.since_text!r} is not before until {self.until_text!r}")
        return since, until

    def request(self, now: datetime, zone: tzinfo, zone_name: str) -> ReportRequest:
        since, until = self.time_bounds(now, zone)
        return ReportRequest(group_by=self.group_by, since=since, until=until, zone=zone, zone_name=zone_name,
                             projects=self.projects, providers=self.providers, models=self.models,
                             keys=self.keys, users=self.users, tags=self.tags)

    def describe_filters(self) -> str:
        parts = filter_parts(self.projects, self.providers, self.models, self.keys, self.users, self.tags)
        return " · ".join(parts) or "no filters"


def _local(naive_or_aware: datetime, zone: tzinfo) -> datetime:
    """A local wall time in `zone` (DST-correct: re-attached, not shifted)."""
    return naive_or_aware.replace(tzinfo=None).replace(tzinfo=zone)


def next_grouping(current: tuple[str, ...]) -> tuple[str, ...]:
    try:
        return GROUPINGS[(GROUPINGS.index(current) + 1) % len(GROUPINGS)]
    except ValueError:
        return GROUPINGS[0]


def next_range(current: str) -> str:
    presets = [rid for rid, _ in RANGES if rid != "custom"]
    try:
        return presets[(presets.index(current) + 1) % len(presets)]
    except ValueError:
        return presets[0]


# -- reading rows ------------------------------------------------------------------------------
def total_tokens(row: dict[str, Any]) -> int:
    """Every token once: the disjoint buckets (reasoning is a subset of output)."""
    return sum(int(row.get(c) or 0) for c in _TOKEN_COLUMNS)


def cost_cell(row: dict[str, Any]) -> str:
    """As `agentcost report` shows it: unknown is not free, so a row with no priced event reads
    `unpriced`, and one with some unpriced events carries a `*`."""
    unpriced = int(row.get("unpriced_events") or 0)
    if unpriced and unpriced == int(row.get("events") or 0):
        return "unpriced"
    return money(row["cost_usd"]) + ("*" if unpriced else "")


def metric_value(row: dict[str, Any], column: str) -> int:
    """A token or count column of the table (not cost)."""
    if column == "tokens":
        return total_tokens(row)
    if column == "cache_write":
        return int(row["cache_write_tokens"]) + int(row["cache_write_1h_tokens"])
    if column in ("input", "cache_read", "output"):
        return int(row[f"{column}_tokens"])
    return int(row[column])  # events, requests


def sort_value(row: dict[str, Any], column: str) -> Any:
    if column in FULL_METRICS and column != "cost":
        return metric_value(row, column)
    if column == "tokens":
        return total_tokens(row)
    if column == "cost":
        return Decimal(row["cost_usd"])
    value = row.get(column)
    return (value is None, "" if value is None else str(value))  # no value sorts last


def sort_rows(rows: Sequence[dict[str, Any]], column: str | None, descending: bool) -> list[dict[str, Any]]:
    """Stable: equal values keep the report's order (time, then the costliest, then names)."""
    if column is None:
        return list(reversed(rows)) if descending else list(rows)
    return sorted(rows, key=lambda r: sort_value(r, column), reverse=descending)


def sort_columns(group_by: Sequence[str], full: bool = False) -> list[str]:
    """The table's columns: the group keys, then the figures."""
    return [*group_by, *(FULL_METRICS if full else METRICS)]


def default_descending(column: str) -> bool:
    """Figures sort biggest first; names and periods in reading order."""
    return column in FULL_METRICS


# -- drilling down -----------------------------------------------------------------------------
@dataclass
class Drill:
    view: ViewFilter
    notes: list[str] = field(default_factory=list)  # what the events filter could not keep exactly


def bucket_bounds(grain: str, label: str, zone: tzinfo) -> tuple[datetime, datetime]:
    """The local period a day/week/month label stands for: [start, end) in `zone`."""
    if grain == "month":
        start = datetime.strptime(label, "%Y-%m")
        end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    else:
        start = datetime.strptime(label, "%Y-%m-%d")
        end = start + timedelta(days=7 if grain == "week" else 1)
    return _local(start, zone), _local(end, zone)


def drill_filter(row: dict[str, Any] | None, request: ReportRequest) -> Drill:
    """The events behind a report row: the report's own filters and range, narrowed to the row's
    group keys; a time bucket becomes since/until (clipped to the report's range). `row=None` is
    the totals line: the whole view."""
    since, until = request.since, request.until
    narrowed: dict[str, Any] = {}
    notes: list[str] = []
    search: str | None = None
    group: dict[str, Any] = {}
    for dim in request.group_by if row is not None else ():
        assert row is not None
        value = row.get(dim)
        group[dim] = value
        if dim in TIME_DIMENSIONS:
            start, end = bucket_bounds(dim, str(value), request.zone)
            since = start if since is None else max(since, start)
            until = end if until is None else min(until, end)
        elif value is None:
            notes.append(f"events cannot be filtered to 'no {dim}': the drill-down shows every {dim}")
        elif dim in DRILL_FIELDS:
            narrowed[DRILL_FIELDS[dim]] = (str(value),)
        elif search is None:
            search = str(value)
            notes.append(f"the events filter has no {dim} field: it searches for {search!r} in the model, "
                         "session, user, agent, id and key instead, which may match more events")
        else:
            notes.append(f"the drill-down keeps {search!r} only: it cannot narrow by {dim} {value!r} as well")
    view = ViewFilter(
        since=since, until=until, projects=request.projects, providers=request.providers, models=request.models,
        keys=request.keys, users=request.users, tags=request.tags, search=search,
        extra={"from": "explore", "group": group} if row is not None else {"from": "explore"},
    ).narrowed(**narrowed)
    return Drill(view, notes)


__all__ = ["DIMENSIONS", "GROUPINGS", "RANGES", "Drill", "ExploreState", "cost_cell", "drill_filter", "sort_rows"]
