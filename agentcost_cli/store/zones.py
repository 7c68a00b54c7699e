"""Local days in SQL: a CASE over the zone's UTC offsets for a time range.

SQLite has no time zones, but within a range a zone has a handful of fixed
offsets (DST changes twice a year), so `date(ts, '+N minutes')` per interval
cuts days exactly, in C, without a Python call per row.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo


def zone_named(name: str) -> tzinfo:
    return UTC if name.upper() == "UTC" else ZoneInfo(name)


def _offset_minutes(zone: tzinfo, moment: datetime) -> int:
    offset = moment.astimezone(zone).utcoffset() or timedelta(0)
    return int(offset.total_seconds() // 60)


def offset_intervals(zone: tzinfo, start: datetime, end: datetime) -> list[tuple[datetime | None, int]]:
    """[(from, offset minutes)] covering [start, end]; the first `from` is None."""
    intervals: list[tuple[datetime | None, int]] = [(None, _offset_minutes(zone, start))]
    day = start.replace(minute=0, second=0, microsecond=0)
    while day <= end:
        nxt = min(day + timedelta(days=1), end + timedelta(hours=1))
        if _offset_minutes(zone, nxt) != intervals[-1][1]:
            low, high = day, nxt  # find the change to the quarter hour (zones change on 15-minute marks)
            while high - low > timedelta(minutes=15):
                mid = low + (high - low) / 2
                mid = mid.replace(minute=(mid.minute // 15) * 15, second=0, microsecond=0)
                if mid <= low:
                    break
                if _offset_minutes(zone, mid) == intervals[-1][1]:
                    low = mid
                else:
                    high = mid
            intervals.append((high, _offset_minutes(zone, high)))
        day = nxt
    return intervals


def local_day_sql(zone: tzinfo, start: datetime, end: datetime, column: str = "ts_utc") -> str:
    """An SQL expression giving the local date (YYYY-MM-DD) of canonical UTC text in `column`."""
    plain = f"substr({column}, 1, 19)"

    def shifted(minutes: int) -> str:
        return f"date({plain}, '{minutes:+d} minutes')" if minutes else f"substr({column}, 1, 10)"

    intervals = offset_intervals(zone, start, end)
    if len(intervals) == 1:
        return shifted(intervals[0][1])
    cases = " ".join(
        f"WHEN {column} < '{nxt.strftime('%Y-%m-%dT%H:%M:%S')}' THEN {shifted(minutes)}"
        for (_, minutes), (nxt, _) in itertools.pairwise(intervals)
        if nxt is not None
    )
    return f"CASE {cases} ELSE {shifted(intervals[-1][1])} END"


def local_day(zone: tzinfo, ts_utc: str) -> str:
    moment = datetime.fromisoformat(ts_utc[:-1]).replace(tzinfo=UTC)
    return moment.astimezone(zone).strftime("%Y-%m-%d")


def utc_start_of_day(zone: tzinfo, day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=zone).astimezone(UTC)
