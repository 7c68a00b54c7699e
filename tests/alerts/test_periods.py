"""Budget periods: parsing, windows across DST / odd offsets / week 53 / leap day, keys, resets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from agentcost_cli.alerts.periods import PeriodSpec, describe_reset, parse_period, previous_key, window
from agentcost_cli.errors import InvalidInput
from agentcost_cli.timeutil import format_utc


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "kind", "days"),
    [
        ("day", "day", 0),
        ("  Daily ", "day", 0),
        ("week", "week", 0),
        ("WEEKLY", "week", 0),
        ("month", "month", 0),
        ("monthly", "month", 0),
        ("rolling:7", "rolling", 7),
        ("rolling: 30", "rolling", 30),
        ("rolling:7d", "rolling", 7),
        ("rolling 7 days", "rolling", 7),
        ("Rolling  1   day", "rolling", 1),
        ("rolling 366 days", "rolling", 366),
    ],
)
def test_parse_period(text: str, kind: str, days: int) -> None:
    spec = parse_period(text)
    assert (spec.kind, spec.days) == (kind, days)
    assert parse_period(spec.text()) == spec


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("fortnight", "cannot read"),
        ("", "cannot read"),
        ("rolling", "cannot read"),
        ("rolling:", "cannot read"),
        ("rolling:-1", "cannot read"),
        ("rolling:7 weeks", "cannot read"),
        ("rolling:1.5", "cannot read"),
        ("rolling:0", "1 to 366"),
        ("rolling 367 days", "1 to 366"),
    ],
)
def test_parse_period_rejects(text: str, needle: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_period(text)
    assert needle in info.value.message
    assert info.value.hint is not None and "rolling:N" in info.value.hint


def test_spec_validates_directly() -> None:
    with pytest.raises(InvalidInput):
        PeriodSpec("quarter")
    with pytest.raises(InvalidInput):
        PeriodSpec("day", 3)
    assert str(PeriodSpec("rolling", 14)) == "rolling:14"


WINDOWS = [
    # spec, zone, now (UTC), start (UTC), end (UTC), key
    ("month", "Europe/Paris", "2026-11-27T12:00:00", "2026-10-31T23:00:00", "2026-11-30T23:00:00", "2026-11"),
    # local midnight of the 1st, not UTC midnight: 23:30Z on Oct 31 is already November in Paris
    ("month", "Europe/Paris", "2026-10-31T23:30:00", "2026-10-31T23:00:00", "2026-11-30T23:00:00", "2026-11"),
    # Paris fall back (Oct 25): a 25-hour day; spring forward (Mar 29): 23 hours
    ("day", "Europe/Paris", "2026-10-25T12:00:00", "2026-10-24T22:00:00", "2026-10-25T23:00:00", "2026-10-25"),
    ("day", "Europe/Paris", "2026-03-29T12:00:00", "2026-03-28T23:00:00", "2026-03-29T22:00:00", "2026-03-29"),
    # New York: fall back Nov 1, spring forward Mar 8
    ("day", "America/New_York", "2026-11-01T12:00:00", "2026-11-01T04:00:00", "2026-11-02T05:00:00", "2026-11-01"),
    ("day", "America/New_York", "2026-03-08T12:00:00", "2026-03-08T05:00:00", "2026-03-09T04:00:00", "2026-03-08"),
    # 01:00Z on Nov 2 is still Nov 1 in New York
    ("day", "America/New_York", "2026-11-02T01:00:00", "2026-11-01T04:00:00", "2026-11-02T05:00:00", "2026-11-01"),
    # Kolkata (+05:30) month boundary: 18:30Z on Jan 31 is Feb 1 00:00 local
    ("month", "Asia/Kolkata", "2026-01-31T18:30:00", "2026-01-31T18:30:00", "2026-02-28T18:30:00", "2026-02"),
    ("month", "Asia/Kolkata", "2026-01-31T18:29:59.999999", "2025-12-31T18:30:00", "2026-01-31T18:30:00", "2026-01"),
    ("month", "Asia/Kolkata", "2026-12-15T00:00:00", "2026-11-30T18:30:00", "2026-12-31T18:30:00", "2026-12"),
    # ISO week 53: 2026 starts on a Thursday; Dec 31 2026 and Jan 3 2027 are both 2026-W53
    ("week", "UTC", "2026-12-31T12:00:00", "2026-12-28T00:00:00", "2027-01-04T00:00:00", "2026-W53"),
    ("week", "UTC", "2027-01-03T23:59:59", "2026-12-28T00:00:00", "2027-01-04T00:00:00", "2026-W53"),
    ("week", "UTC", "2027-01-04T00:00:00", "2027-01-04T00:00:00", "2027-01-11T00:00:00", "2027-W01"),
    # Dec 29 2025 (Monday) starts 2026-W01
    ("week", "UTC", "2025-12-31T00:00:00", "2025-12-29T00:00:00", "2026-01-05T00:00:00", "2026-W01"),
    ("week", "Europe/Paris", "2026-11-27T12:00:00", "2026-11-22T23:00:00", "2026-11-29T23:00:00", "2026-W48"),
    # a Paris week holding the fall-back night is 7 days + 1 hour
    ("week", "Europe/Paris", "2026-10-21T12:00:00", "2026-10-18T22:00:00", "2026-10-25T23:00:00", "2026-W43"),
    # leap day and leap February
    ("day", "UTC", "2028-02-29T10:00:00", "2028-02-29T00:00:00", "2028-03-01T00:00:00", "2028-02-29"),
    ("month", "UTC", "2028-02-29T10:00:00", "2028-02-01T00:00:00", "2028-03-01T00:00:00", "2028-02"),
    ("month", "UTC", "2026-12-31T23:59:59", "2026-12-01T00:00:00", "2027-01-01T00:00:00", "2026-12"),
    # Santiago springs forward at midnight: Sep 6 starts at 01:00 local (04:00Z) and lasts 23 h
    ("day", "America/Santiago", "2026-09-06T12:00:00", "2026-09-06T04:00:00", "2026-09-07T03:00:00", "2026-09-06"),
    # rolling: [now - N days, now), key = local date of now (Kolkata is already on Nov 28)
    ("rolling:7", "Asia/Kolkata", "2026-11-27T20:00:00", "2026-11-20T20:00:00", "2026-11-27T20:00:00", "2026-11-28"),
    ("rolling:1", "UTC", "2028-03-01T06:00:00", "2028-02-29T06:00:00", "2028-03-01T06:00:00", "2028-03-01"),
]


@pytest.mark.parametrize(("spec", "zone", "now", "start", "end", "key"), WINDOWS)
def test_window(spec: str, zone: str, now: str, start: str, end: str, key: str) -> None:
    w = window(parse_period(spec), zone, utc(now))
    assert (format_utc(w.start), format_utc(w.end), w.key) == (
        format_utc(utc(start)), format_utc(utc(end)), key)
    assert w.start.utcoffset() == timedelta(0) and w.end.utcoffset() == timedelta(0)
    assert w.start <= utc(now) < w.end or (w.spec.is_rolling and w.end == utc(now))
    assert w.resets_at == (None if w.spec.is_rolling else w.end)


@pytest.mark.parametrize(
    ("spec", "zone", "now", "hours"),
    [
        ("day", "Europe/Paris", "2026-10-25T12:00:00", 25),
        ("day", "Europe/Paris", "2026-03-29T12:00:00", 23),
        ("day", "Europe/Paris", "2026-03-30T12:00:00", 24),
        ("day", "America/New_York", "2026-11-01T12:00:00", 25),
        ("day", "America/New_York", "2026-03-08T12:00:00", 23),
        ("month", "Europe/Paris", "2026-10-10T00:00:00", 31 * 24 + 1),
        ("month", "Europe/Paris", "2026-03-10T00:00:00", 31 * 24 - 1),
        ("month", "UTC", "2028-02-10T00:00:00", 29 * 24),
        ("month", "UTC", "2027-02-10T00:00:00", 28 * 24),
        ("rolling:7", "Europe/Paris", "2026-10-28T00:00:00", 7 * 24),  # 168 h even across fall back
    ],
)
def test_window_length_follows_local_clocks(spec: str, zone: str, now: str, hours: int) -> None:
    assert window(parse_period(spec), zone, utc(now)).length == timedelta(hours=hours)


@pytest.mark.parametrize(
    ("spec", "zone", "now", "fraction"),
    [
        ("day", "Europe/Paris", "2026-10-25T10:30:00", 0.5),  # 12.5 h of the 25-hour day
        ("day", "Europe/Paris", "2026-10-24T22:00:00", 0.0),
        ("day", "UTC", "2026-10-24T18:00:00", 0.75),
        ("month", "UTC", "2026-11-16T00:00:00", 0.5),
        ("rolling:30", "UTC", "2026-11-16T00:00:00", 1.0),
    ],
)
def test_elapsed_fraction(spec: str, zone: str, now: str, fraction: float) -> None:
    assert window(parse_period(spec), zone, utc(now)).elapsed_fraction == fraction


def test_now_in_other_offset_is_the_same_instant() -> None:
    paris_now = datetime(2026, 11, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))  # = 2026-10-31T23:30Z
    w = window(parse_period("month"), "Europe/Paris", paris_now)
    assert w.key == "2026-11"
    assert w.now == utc("2026-10-31T23:30:00") and w.now.tzinfo is UTC


def test_window_rejects_naive_now_and_unknown_zone() -> None:
    with pytest.raises(ValueError, match="naive"):
        window(parse_period("day"), "UTC", datetime(2026, 1, 1))
    with pytest.raises(InvalidInput, match="unknown time zone"):
        window(parse_period("day"), "Mars/Olympus", utc("2026-01-01T00:00:00"))


@pytest.mark.parametrize(
    ("spec", "zone", "now", "key"),
    [
        ("month", "UTC", "2026-01-15T00:00:00", "2025-12"),
        ("month", "Asia/Kolkata", "2026-03-01T00:00:00", "2026-02"),  # 05:30 local on Mar 1
        ("month", "Asia/Kolkata", "2026-02-28T18:29:00", "2026-01"),  # still Feb 28 locally
        ("week", "UTC", "2027-01-04T00:00:00", "2026-W53"),
        ("week", "UTC", "2026-01-01T00:00:00", "2025-W52"),
        ("day", "UTC", "2028-03-01T00:00:00", "2028-02-29"),
        ("day", "Europe/Paris", "2026-10-25T23:00:00", "2026-10-25"),  # first instant of Oct 26
        ("rolling:7", "UTC", "2026-03-01T12:00:00", "2026-02-28"),
        ("rolling:7", "Asia/Kolkata", "2026-02-28T19:00:00", "2026-02-28"),  # local Mar 1
    ],
)
def test_previous_key(spec: str, zone: str, now: str, key: str) -> None:
    assert previous_key(parse_period(spec), zone, utc(now)) == key


@pytest.mark.parametrize(
    ("spec", "now", "text"),
    [
        ("month", "2026-11-26T20:00:00", "resets in 4d 4h"),
        ("month", "2026-11-26T19:59:59", "resets in 4d 4h"),  # whole units, rounded down
        ("day", "2026-11-27T21:55:00", "resets in 2h 5m"),
        ("day", "2026-11-27T23:00:00", "resets in 1h 0m"),
        ("day", "2026-11-27T23:59:00", "resets in 1m"),
        ("day", "2026-11-27T23:59:30", "resets in <1m"),
        ("rolling:7", "2026-11-27T12:00:00", "rolling 7 days"),
        ("rolling:1", "2026-11-27T12:00:00", "rolling 1 day"),
    ],
)
def test_describe_reset(spec: str, now: str, text: str) -> None:
    moment = utc(now)
    assert describe_reset(window(parse_period(spec), "UTC", moment), moment) == text


def test_describe_reset_after_the_end() -> None:
    w = window(parse_period("day"), "UTC", utc("2026-11-27T12:00:00"))
    assert describe_reset(w, utc("2026-11-28T00:00:00")) == "resets now"
    assert describe_reset(w, utc("2026-11-27T12:00:00")) == "resets in 12h 0m"
