"""Budget periods: which instants a budget counts, in the budget's declared time zone.

A calendar period ("day", "week", "month") starts at local midnight in the zone and
ends (exclusive) at the next period's start, so its length follows the zone's clocks:
the Europe/Paris fall-back day is 25 hours, the spring-forward day 23. Where a zone
skips midnight itself (America/Santiago starts DST at 00:00), the period starts at
the first instant of that local date (01:00), which is what `fold=0` gives.

A rolling period ("rolling:N") is the last N x 24 hours ending at `now`: it never
resets, so its `key` is the local date of `now` and a threshold on it fires at most
once per local day. N counts elapsed 24-hour days, not calendar days; over a DST
change "rolling:7" is still exactly 168 hours.

Everything here is pure: `now` is passed in, nothing reads the clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from fractions import Fraction

from ..errors import InvalidInput
from ..timeutil import resolve_zone

CALENDAR_KINDS = ("day", "week", "month")
MAX_ROLLING_DAYS = 366
_ALIASES = {"day": "day", "daily": "day", "week": "week", "weekly": "week", "month": "month",
            "monthly": "month"}
_ROLLING = re.compile(r"rolling(?::\s*|\s+)(\d+)(?:\s*(?:d|days?))?")
_HINT = 'use "day", "week", "month", "rolling:N" or "rolling N days" (N = 1..366)'


@dataclass(frozen=True, slots=True)
class PeriodSpec:
    """A parsed period: kind is "day", "week", "month" or "rolling"; days only for rolling."""

    kind: str
    days: int = 0

    def __post_init__(self) -> None:
        if self.kind == "rolling":
            if not 1 <= self.days <= MAX_ROLLING_DAYS:
                raise InvalidInput(f"a rolling period must be 1 to {MAX_ROLLING_DAYS} days, not {self.days}",
                                   hint=_HINT)
        elif self.kind in CALENDAR_KINDS:
            if self.days:
                raise InvalidInput(f"period {self.kind!r} takes no day count", hint=_HINT)
        else:
            raise InvalidInput(f"unknown budget period {self.kind!r}", hint=_HINT)

    @property
    def is_rolling(self) -> bool:
        return self.kind == "rolling"

    def text(self) -> str:
        """The canonical text, which `parse_period` reads back: "month", "rolling:7"."""
        return f"rolling:{self.days}" if self.is_rolling else self.kind

    def __str__(self) -> str:
        return self.text()


def parse_period(text: str) -> PeriodSpec:
    """Read "day" / "week" / "month" (also "daily", "weekly", "monthly"), "rolling:N",
    "rolling N days" or "rolling:Nd", case-insensitively. Raises InvalidInput."""
    raw = " ".join(text.strip().lower().split())
    if raw in _ALIASES:
        return PeriodSpec(_ALIASES[raw])
    match = _ROLLING.fullmatch(raw)
    if match is None:
        raise InvalidInput(f"cannot read budget period {text!r}", hint=_HINT)
    days = int(match.group(1))
    if not 1 <= days <= MAX_ROLLING_DAYS:
        raise InvalidInput(f"a rolling period must be 1 to {MAX_ROLLING_DAYS} days, not {days}", hint=_HINT)
    return PeriodSpec("rolling", days)


@dataclass(frozen=True, slots=True)
class Window:
    """One instance of a period as seen at `now`: [start, end) in aware UTC datetimes.

    `key` names the instance ("2026-11", "2026-W48", "2026-11-27"; for rolling windows
    the local date of `now`). `resets_at` is `end` for calendar periods, None for rolling.
    """

    spec: PeriodSpec
    zone: str
    now: datetime
    start: datetime
    end: datetime
    key: str

    @property
    def resets_at(self) -> datetime | None:
        return None if self.spec.is_rolling else self.end

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    @property
    def elapsed(self) -> timedelta:
        """Time from start to now, clamped to the window (always the full length when rolling)."""
        return min(max(self.now - self.start, timedelta(0)), self.length)

    @property
    def elapsed_share(self) -> Fraction:
        """The exact elapsed share, 0..1, from whole microseconds."""
        return Fraction(_micros(self.elapsed), _micros(self.length))

    @property
    def elapsed_fraction(self) -> float:
        """0..1 of the window elapsed at now (for display; arithmetic uses `elapsed_share`)."""
        return float(self.elapsed_share)


def _micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("naive datetime: pass an aware `now`")
    return now.astimezone(UTC)


def local_midnight(day: date, tz: tzinfo) -> datetime:
    """The first instant of local date `day` in `tz`, as aware UTC.

    fold=0 maps a wall time inside a DST gap with the offset in force before the gap,
    which lands on the instant the clocks jumped: exactly where the skipped day begins.
    For an ambiguous midnight, fold=0 is the earlier of the two instants.
    """
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def _calendar_bounds(kind: str, today: date) -> tuple[date, date, str]:
    if kind == "day":
        return today, today + timedelta(days=1), today.isoformat()
    if kind == "week":
        year, week, weekday = today.isocalendar()
        monday = today - timedelta(days=weekday - 1)
        return monday, monday + timedelta(days=7), f"{year}-W{week:02d}"
    first = today.replace(day=1)
    following = date(first.year + 1, 1, 1) if first.month == 12 else date(first.year, first.month + 1, 1)
    return first, following, f"{first.year:04d}-{first.month:02d}"


def window(spec: PeriodSpec, zone: str, now: datetime) -> Window:
    """The instance of `spec` containing `now` in `zone` (an IANA name, "UTC" or "local").

    Raises InvalidInput for an unknown zone and ValueError for a naive `now`.
    """
    tz = resolve_zone(zone)
    now = _aware(now)
    local_today = now.astimezone(tz).date()
    if spec.is_rolling:
        return Window(spec, zone, now, now - timedelta(days=spec.days), now, local_today.isoformat())
    first, following, key = _calendar_bounds(spec.kind, local_today)
    return Window(spec, zone, now, local_midnight(first, tz), local_midnight(following, tz), key)


def previous_key(spec: PeriodSpec, zone: str, now: datetime) -> str:
    """The key of the instance before the one containing `now` (the day before, for rolling),
    e.g. to say "the November budget recovered" once December starts."""
    tz = resolve_zone(zone)
    now = _aware(now)
    if spec.is_rolling:
        return (now.astimezone(tz).date() - timedelta(days=1)).isoformat()
    current = window(spec, zone, now)
    return window(spec, zone, current.start - timedelta(microseconds=1)).key


def _span(delta: timedelta) -> str:
    minutes = _micros(delta) // 60_000_000
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {mins}m"
    return f"{mins}m" if mins else "<1m"


def describe_reset(window: Window, now: datetime) -> str:
    """Text like "resets in 3d 4h" (whole units, rounded down), "resets in 2h 5m", "resets in <1m";
    "rolling 7 days" for rolling windows; "resets now" once `now` has reached the end."""
    if window.spec.is_rolling:
        days = window.spec.days
        return f"rolling {days} day" if days == 1 else f"rolling {days} days"
    remaining = window.end - _aware(now)
    if remaining <= timedelta(0):
        return "resets now"
    return f"resets in {_span(remaining)}"
