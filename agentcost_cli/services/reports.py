"""`agentcost report`: sums per group, bucketed in the reader's time zone.

Sums come from the cheapest source that answers exactly:
- the daily rollup, when the report is in the store's rollup zone, its bounds are
  local midnights and it groups by no more than project/provider/model/key/user/agent;
- the hourly rollup (project/provider/model), for other zones whose offset is a whole
  number of hours: a UTC hour then maps to exactly one local day;
- the raw events, for `session`, half-hour zones (India, Nepal, ...) and bounds
  that are not whole hours.
Filters narrow the choice: the daily rollup keeps keys and users but no tags, the hourly
one neither, so a key or user filter skips the hourly rollup and a tag filter reads the events.

Reading needs `USAGE_READ`: operators read everything; anyone else only the projects
they may read (each project a request names is checked; no name means all of theirs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from ..errors import InvalidInput
from ..models import format_usd
from ..store.base import (
    DAILY_DIMENSIONS,
    EVENT_DIMENSIONS,
    HOURLY_DIMENSIONS,
    SUM_COLUMNS,
    AggregateQuery,
    AggregateRow,
    EventFilter,
    Store,
)
from ..timeutil import format_utc
from .actor import Actor
from .permissions import Op, scope_projects

TIME_DIMENSIONS = ("day", "week", "month")
DIMENSIONS = (*TIME_DIMENSIONS, *EVENT_DIMENSIONS)
# The JSON/CSV column order after the group keys. Documented in README; append only.
METRIC_COLUMNS = (
    "events", "requests", "input_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens",
    "output_tokens", "reasoning_tokens", "cost_usd", "unpriced_events",
)
_TOKEN_SUMS = tuple(c for c in SUM_COLUMNS if c not in ("cost_nanos", "unpriced_events"))


@dataclass(frozen=True)
class ReportRequest:
    group_by: tuple[str, ...] = ("day",)
    since: datetime | None = None
    until: datetime | None = None
    zone: tzinfo = UTC
    zone_name: str = "UTC"
    projects: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()  # the events' key_id (the "key" dimension)
    users: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()  # (name, value) pairs, all must match


@dataclass
class Report:
    group_by: list[str]
    since: str | None
    until: str | None
    timezone: str
    rows: list[dict[str, Any]]
    totals: dict[str, Any]
    unpriced_events: int
    currency: str = "USD"
    source: str = field(default="daily")  # daily, hourly or events: where the sums came from
    zone: tzinfo = field(default=UTC, repr=False)

    def as_json(self) -> dict[str, Any]:
        return {
            "group_by": self.group_by,
            "since": self.since,
            "until": self.until,
            "timezone": self.timezone,
            "currency": self.currency,
            "rows": self.rows,
            "totals": self.totals,
            "unpriced_events": self.unpriced_events,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], zone: tzinfo = UTC) -> Report:
        """The report again from `as_json()` (as a daemon sends it), for rendering."""
        return cls(group_by=list(data["group_by"]), since=data["since"], until=data["until"],
                   timezone=data["timezone"], rows=list(data["rows"]), totals=dict(data["totals"]),
                   unpriced_events=int(data["unpriced_events"]), currency=data.get("currency", "USD"), zone=zone)


def parse_tags(values: Sequence[str] | None) -> tuple[tuple[str, str], ...]:
    """NAME=VALUE texts as (name, value) pairs (a value may itself hold `=`).

    Raises:
        InvalidInput: a text without `=` or with an empty name.
    """
    pairs: list[tuple[str, str]] = []
    for text in values or ():
        name, sep, value = text.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(f"tag filter {text!r} is not NAME=VALUE", hint="e.g. --tag env=prod")
        pairs.append((name.strip(), value))
    return tuple(pairs)


def parse_group_by(text: str | None) -> tuple[str, ...]:
    if not text:
        return ("day",)
    names = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    unknown = [n for n in names if n not in DIMENSIONS]
    if unknown:
        raise InvalidInput(f"cannot group by {unknown[0]!r}", hint=f"choose from: {', '.join(DIMENSIONS)}")
    if len(set(names)) != len(names):
        raise InvalidInput("a --by dimension is repeated")
    return names


def _bucket_label(moment_utc: datetime, zone: tzinfo, grain: str) -> str:
    local = moment_utc.astimezone(zone)
    if grain == "day":
        return local.strftime("%Y-%m-%d")
    if grain == "week":  # ISO weeks start on Monday; label by that Monday
        start = local.date() - timedelta(days=local.weekday())
        return start.isoformat()
    return local.strftime("%Y-%m")


def _parse_bucket(bucket: str) -> datetime:
    if len(bucket) == 13:  # YYYY-MM-DDTHH
        return datetime.strptime(bucket, "%Y-%m-%dT%H").replace(tzinfo=UTC)
    return datetime.strptime(bucket, "%Y-%m-%dT%H:%M").replace(tzinfo=UTC)


def _hour_aligned(moment: datetime | None) -> bool:
    return moment is None or (moment.astimezone(UTC).minute == 0 and moment.second == 0 and moment.microsecond == 0)


def zone_key(zone: tzinfo) -> str | None:
    """The IANA name of a zone (UTC for UTC), or None for a bare fixed offset."""
    if zone is UTC:
        return "UTC"
    key = getattr(zone, "key", None)
    return "UTC" if key in ("Etc/UTC", "UTC", "Etc/UCT", "Universal", "Zulu") else key


_NOT_MIDNIGHT = "not a local midnight"


def _local_midnight(moment: datetime | None, zone: tzinfo) -> str | None:
    """The local date when `moment` is a local midnight, None for no bound, else _NOT_MIDNIGHT."""
    if moment is None:
        return None
    local = moment.astimezone(zone)
    if (local.hour, local.minute, local.second, local.microsecond) != (0, 0, 0, 0):
        return _NOT_MIDNIGHT
    return local.strftime("%Y-%m-%d")


def _daily_rows(store: Store, request: ReportRequest, other_dims: tuple[str, ...]) -> list[AggregateRow] | None:
    """Rows from the daily rollup when it can answer exactly, else None."""
    if set(other_dims) - set(DAILY_DIMENSIONS) or zone_key(request.zone) != store.rollup_zone \
            or request.tags:  # the rollup keeps no tags
        return None
    since_day = _local_midnight(request.since, request.zone)
    until_day = _local_midnight(request.until, request.zone)
    if _NOT_MIDNIGHT in (since_day, until_day):
        return None
    flt = EventFilter(since=since_day, until=until_day, projects=request.projects,
                      providers=request.providers, models=request.models, keys=request.keys,
                      users=request.users)
    return store.aggregate(AggregateQuery(flt, other_dims, "day"))


def _day_labels(day: str, grains: list[str]) -> tuple[str, ...]:
    out = []
    for grain in grains:
        if grain == "day":
            out.append(day)
        elif grain == "week":
            moment = date.fromisoformat(day)
            out.append((moment - timedelta(days=moment.weekday())).isoformat())
        else:
            out.append(day[:7])
    return tuple(out)


def build_report(store: Store, actor: Actor, request: ReportRequest) -> Report:
    """Sums per group for the projects `actor` may read (`USAGE_READ`; see _readable_projects)."""
    projects = scope_projects(store, actor, request.projects, Op.USAGE_READ)
    time_dims = [d for d in request.group_by if d in TIME_DIMENSIONS]
    other_dims = tuple(d for d in request.group_by if d not in TIME_DIMENSIONS)
    if projects is None:  # nothing the actor may read: an empty report, not someone else's data
        flt = EventFilter(since=format_utc(request.since) if request.since else None,
                          until=format_utc(request.until) if request.until else None)
        return _assemble(request, flt, time_dims, other_dims, [], "events", day_buckets=False)
    request = replace(request, projects=projects)
    flt = EventFilter(
        since=format_utc(request.since) if request.since else None,
        until=format_utc(request.until) if request.until else None,
        projects=request.projects, providers=request.providers, models=request.models,
        keys=request.keys, users=request.users, tags=request.tags,
    )
    # The cheapest source that answers exactly: the daily rollup, the hourly one, the events.
    daily = _daily_rows(store, request, other_dims)
    if daily is not None:
        return _assemble(request, flt, time_dims, other_dims, daily, "daily", day_buckets=True)
    aligned = _hour_aligned(request.since) and _hour_aligned(request.until)
    # The hourly rollup has no key, user or tags: such filters read the events.
    if aligned and not set(other_dims) - set(HOURLY_DIMENSIONS) and not (flt.keys or flt.users or flt.tags):
        rows = store.aggregate(AggregateQuery(flt, other_dims, "hour"))
        if not time_dims or _whole_hour_offsets(rows, request.zone):
            return _assemble(request, flt, time_dims, other_dims, rows, "hourly", day_buckets=False)
    rows = store.aggregate(AggregateQuery(flt, other_dims, "minute" if time_dims else None))
    return _assemble(request, flt, time_dims, other_dims, rows, "events", day_buckets=False)


def _assemble(request: ReportRequest, flt: EventFilter, time_dims: list[str], other_dims: tuple[str, ...],
              rows: list[AggregateRow], source: str, *, day_buckets: bool) -> Report:
    merged: dict[tuple[Any, ...], dict[str, int]] = {}
    label_cache: dict[str, tuple[str, ...]] = {}
    for row in rows:
        labels: tuple[str, ...] = ()
        if time_dims and row.bucket is not None:
            labels = label_cache.get(row.bucket) or ()
            if not labels:
                if day_buckets:
                    labels = _day_labels(row.bucket, time_dims)
                else:
                    moment = _parse_bucket(row.bucket)
                    labels = tuple(_bucket_label(moment, request.zone, g) for g in time_dims)
                label_cache[row.bucket] = labels
        key = _row_key(request.group_by, time_dims, labels, other_dims, row)
        sums = merged.get(key)
        if sums is None:
            merged[key] = dict(row.sums)
        else:
            for column, value in row.sums.items():
                sums[column] += value
    out_rows = [_render_row(request.group_by, key, sums) for key, sums in merged.items()]
    out_rows.sort(key=lambda r: _sort_key(r, request.group_by))
    totals = dict.fromkeys(SUM_COLUMNS, 0)
    for sums in merged.values():
        for column, value in sums.items():
            totals[column] += value
    rendered_totals = _render_metrics(totals)
    return Report(
        group_by=list(request.group_by),
        since=flt.since, until=flt.until, timezone=request.zone_name,
        rows=out_rows, totals=rendered_totals, unpriced_events=totals["unpriced_events"],
        source=source,
        zone=request.zone,
    )


def _whole_hour_offsets(rows: list[AggregateRow], zone: tzinfo) -> bool:
    seen: set[str] = set()
    for row in rows:
        if row.bucket is None or row.bucket in seen:
            continue
        seen.add(row.bucket)
        offset = _parse_bucket(row.bucket).astimezone(zone).utcoffset() or timedelta(0)
        if offset.total_seconds() % 3600:
            return False
    return True


def _row_key(group_by: tuple[str, ...], time_dims: list[str], labels: tuple[str, ...],
             other_dims: tuple[str, ...], row: AggregateRow) -> tuple[Any, ...]:
    values: dict[str, Any] = dict(zip(time_dims, labels, strict=False))
    values.update(zip(other_dims, row.keys, strict=True))
    return tuple(values.get(d) for d in group_by)


def _render_metrics(sums: dict[str, int]) -> dict[str, Any]:
    out: dict[str, Any] = {c: int(sums.get(c, 0)) for c in _TOKEN_SUMS}
    out["cost_usd"] = format_usd(int(sums.get("cost_nanos", 0)))
    out["unpriced_events"] = int(sums.get("unpriced_events", 0))
    return out


def _render_row(group_by: tuple[str, ...], key: tuple[Any, ...], sums: dict[str, int]) -> dict[str, Any]:
    row: dict[str, Any] = dict(zip(group_by, key, strict=True))
    row.update(_render_metrics(sums))
    return row


def _sort_key(row: dict[str, Any], group_by: tuple[str, ...]) -> tuple[Any, ...]:
    # Time ascending; within a period the costliest first; names break ties so output is stable.
    time_part = tuple(row[d] or "" for d in group_by if d in TIME_DIMENSIONS)
    names = tuple(row[d] or "" for d in group_by if d not in TIME_DIMENSIONS)
    return (*time_part, -Decimal(row["cost_usd"]), names)
