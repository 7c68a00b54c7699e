"""Period-end forecasts: linear run-rate, minimum basis, DST lengths, exact rounding, rolling windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest

from agentcost_cli.alerts.forecast import Forecast, exceeds, forecast, min_basis
from agentcost_cli.alerts.periods import parse_period, window

USD = 1_000_000_000


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def calendar(spec: str, zone: str, now: str, spent: int, **kwargs: object) -> Forecast | None:
    moment = utc(now)
    return forecast(window(parse_period(spec), zone, moment), moment, [], spent, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "zone", "now", "spent", "projected", "basis_hours"),
    [
        # November: 720 h; half elapsed -> double
        ("month", "UTC", "2026-11-16T00:00:00", 150 * USD, 300 * USD, 360.0),
        ("month", "UTC", "2026-11-02T00:00:00", 4 * USD, 120 * USD, 24.0),  # exactly the 24 h minimum
        # Paris fall-back day: 25 h long; 12.5 h elapsed -> double (a 24 h day would give 1.92x)
        ("day", "Europe/Paris", "2026-10-25T10:30:00", 5 * USD, 10 * USD, 12.5),
        # New York spring-forward day: 23 h; 11.5 h elapsed -> double
        ("day", "America/New_York", "2026-03-08T16:30:00", 7 * USD, 14 * USD, 11.5),
        # February 2028 has 29 days: after 7 of them, x 29/7
        ("month", "UTC", "2028-02-08T00:00:00", 7 * USD, 29 * USD, 168.0),
        # a Kolkata month starts 18:30Z the day before: 18:30Z on Jan 16 is 16 local days in
        ("month", "Asia/Kolkata", "2026-01-16T18:30:00", 16 * USD, 31 * USD, 16 * 24.0),
        ("month", "Asia/Kolkata", "2026-01-31T18:30:00", 31 * USD, None, None),  # Feb 1 local: no basis
        ("day", "UTC", "2026-11-27T02:24:00", 1 * USD, 10 * USD, 2.4),  # exactly 10% of a day
        ("week", "UTC", "2026-11-24T00:00:00", 2 * USD, 14 * USD, 24.0),  # Tue 00:00 of W48
        ("day", "UTC", "2026-11-27T12:00:00", 0, 0, 12.0),
    ],
)
def test_linear_run_rate(spec: str, zone: str, now: str, spent: int, projected: int | None,
                         basis_hours: float | None) -> None:
    result = calendar(spec, zone, now, spent)
    if projected is None or basis_hours is None:
        assert result is None
    else:
        assert result == Forecast(projected, "linear", basis_hours)


@pytest.mark.parametrize(
    ("spec", "now"),
    [
        ("month", "2026-11-01T23:59:59"),  # month: needs 24 h, not 10% (3 days)
        ("week", "2026-11-23T23:59:59"),  # week: needs 24 h, more than its 10% (16.8 h)
        ("week", "2026-11-23T23:59:59.999999"),  # one microsecond short of 24 h
        ("day", "2026-11-27T02:23:59"),  # day: 10% = 2 h 24 m
        ("day", "2026-11-27T00:00:00"),  # nothing elapsed
    ],
)
def test_no_forecast_on_too_short_a_basis(spec: str, now: str) -> None:
    assert calendar(spec, "UTC", now, 100 * USD) is None


def test_now_before_the_window_gives_none() -> None:
    w = window(parse_period("day"), "UTC", utc("2026-11-27T12:00:00"))
    assert forecast(w, utc("2026-11-26T12:00:00"), [], USD) is None


def test_after_the_end_the_spend_is_final() -> None:
    w = window(parse_period("day"), "Europe/Paris", utc("2026-10-25T12:00:00"))
    assert forecast(w, utc("2026-10-26T03:00:00"), [], 9 * USD) == Forecast(9 * USD, "final", 25.0)


def test_min_basis_parameters() -> None:
    assert min_basis(timedelta(days=1)) == timedelta(hours=2, minutes=24)
    assert min_basis(timedelta(hours=25)) == timedelta(hours=2, minutes=30)
    assert min_basis(timedelta(days=30)) == timedelta(hours=24)
    assert min_basis(timedelta(days=6, hours=23)) == timedelta(hours=16, minutes=42)
    assert min_basis(timedelta(days=1), min_share=Fraction(1, 2)) == timedelta(hours=12)
    assert min_basis(timedelta(days=30), long_min_basis=timedelta(days=3)) == timedelta(days=3)
    assert min_basis(timedelta(days=30), long_period=timedelta(days=31)) == timedelta(days=3)
    # and forecast honours them
    assert calendar("day", "UTC", "2026-11-27T06:00:00", USD, min_share=Fraction(1, 2)) is None
    assert calendar("day", "UTC", "2026-11-27T12:00:00", USD, min_share=Fraction(1, 2)) is not None
    assert calendar("month", "UTC", "2026-11-02T00:00:00", USD, long_min_basis=timedelta(hours=48)) is None


@pytest.mark.parametrize(
    ("spent", "projected"),
    [
        # 16 h of 24 elapsed: x 3/2, rounded half-even once
        (1, 2),  # 1.5 -> 2
        (3, 4),  # 4.5 -> 4
        (5, 8),  # 7.5 -> 8
        (2, 3),
        (10**18 + 1, 15 * 10**17 + 2),  # 1.5e18 + 1.5 -> +2: exact far beyond float precision
        (-3, -4),  # a net credit projects the same way, rounding half-even
    ],
)
def test_projection_is_exact_integer_arithmetic(spent: int, projected: int) -> None:
    result = calendar("day", "UTC", "2026-11-27T16:00:00", spent)
    assert result is not None and result.projected_nanos == projected


def test_rolling_projects_the_window_a_day_ahead() -> None:
    now = utc("2026-11-27T12:00:00")
    w = window(parse_period("rolling:7"), "UTC", now)
    start = w.start
    # $7 on each of the 7 days, $14 on the last one: $56 so far, $8/day average
    buckets = [(start + timedelta(days=d, hours=3), 7 * USD) for d in range(6)]
    buckets.append((start + timedelta(days=6, hours=3), 14 * USD))
    buckets.append((start - timedelta(hours=1), 1000 * USD))  # before the window: ignored
    result = forecast(w, now, buckets, 56 * USD)
    # $7 from day 0 leaves, one more day at $8 comes in
    assert result == Forecast(57 * USD, "rolling_next_day", 168.0)


def test_rolling_leaving_part_is_the_first_24_hours_only() -> None:
    now = utc("2026-11-27T12:00:00")
    w = window(parse_period("rolling:2"), "UTC", now)
    buckets = [(w.start, 3 * USD), (w.start + timedelta(hours=23, minutes=59), 1 * USD),
               (w.start + timedelta(hours=24), 6 * USD)]
    result = forecast(w, now, buckets, 10 * USD)
    assert result is not None and result.projected_nanos == 10 * USD - 4 * USD + 5 * USD


def test_rolling_one_day_steady_state_is_the_spend() -> None:
    now = utc("2026-11-27T12:00:00")
    w = window(parse_period("rolling:1"), "UTC", now)
    buckets = [(w.start + timedelta(hours=h), USD) for h in range(24)]
    result = forecast(w, now, buckets, 24 * USD)
    assert result is not None and result.projected_nanos == 24 * USD


def test_rolling_without_buckets_gives_none() -> None:
    now = utc("2026-11-27T12:00:00")
    assert forecast(window(parse_period("rolling:7"), "UTC", now), now, [], 5 * USD) is None


def test_naive_now_is_rejected() -> None:
    w = window(parse_period("day"), "UTC", utc("2026-11-27T12:00:00"))
    with pytest.raises(ValueError, match="naive"):
        forecast(w, datetime(2026, 11, 27, 12), [], 0)


@pytest.mark.parametrize(
    ("projected", "amount", "pct", "expected"),
    [
        (100 * USD, 100 * USD, 100, False),  # reaching is not exceeding
        (100 * USD + 1, 100 * USD, 100, True),
        (80 * USD, 100 * USD, 80, False),
        (80 * USD + 1, 100 * USD, 80, True),
        (333_333_334, 333_333_333, 100, True),
        (333_333_333, 333_333_333, 100, False),
    ],
)
def test_exceeds(projected: int, amount: int, pct: int, expected: bool) -> None:
    assert exceeds(Forecast(projected, "linear", 24.0), amount, pct) is expected


def test_exceeds_without_forecast_is_false() -> None:
    assert exceeds(None, 1) is False
