"""WH-08 retry schedule with jitter, and WH-09 Retry-After handling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agentcost_cli.notify.retry import MAX_ATTEMPTS, RETRY_AFTER_CAP, next_attempt, parse_retry_after

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
EXPECTED = [timedelta(seconds=s) for s in (5, 300, 1800, 7200, 18000, 36000, 36000)]


class FixedRNG:
    def __init__(self, value: float) -> None:
        self.value = value
        self.calls: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.calls.append((a, b))
        return self.value


def test_schedule_without_jitter_then_failed() -> None:
    rng = FixedRNG(0.0)
    got = [next_attempt(n, NOW, rng=rng) for n in range(1, MAX_ATTEMPTS + 1)]
    assert got[:-1] == [NOW + d for d in EXPECTED]
    assert got[-1] is None  # after the 8th attempt the message is failed
    assert MAX_ATTEMPTS == 8


def test_always_failing_message_makes_8_attempts_at_the_schedule_offsets() -> None:
    rng = FixedRNG(0.0)
    times, n, when = [NOW], 1, next_attempt(1, NOW, rng=rng)
    while when is not None:
        times.append(when)
        n += 1
        when = next_attempt(n, when, rng=rng)
    offsets = [t - NOW for t in times]
    assert offsets == [timedelta(0), *[sum(EXPECTED[: i + 1], timedelta()) for i in range(7)]]


@pytest.mark.parametrize(("draw", "factor"), [(-0.1, 0.9), (0.1, 1.1), (0.05, 1.05)])
def test_jitter_scales_delay_within_ten_percent(draw: float, factor: float) -> None:
    rng = FixedRNG(draw)
    assert next_attempt(3, NOW, rng=rng) == NOW + timedelta(minutes=30) * factor
    assert rng.calls == [(-0.1, 0.1)]


def test_default_rng_stays_within_bounds() -> None:
    for _ in range(200):
        when = next_attempt(2, NOW)
        assert when is not None
        assert timedelta(seconds=270) <= when - NOW <= timedelta(seconds=330)


def test_retry_after_wins_when_larger() -> None:
    assert next_attempt(1, NOW, 120, rng=FixedRNG(0.0)) == NOW + timedelta(seconds=120)


def test_retry_after_ignored_when_smaller_than_schedule() -> None:
    assert next_attempt(3, NOW, 120, rng=FixedRNG(0.0)) == NOW + timedelta(minutes=30)


def test_retry_after_capped_at_24_hours() -> None:
    assert next_attempt(1, NOW, 7 * 86400, rng=FixedRNG(0.0)) == NOW + RETRY_AFTER_CAP
    assert timedelta(hours=24) == RETRY_AFTER_CAP


def test_retry_after_does_not_extend_past_the_last_attempt() -> None:
    assert next_attempt(8, NOW, 60) is None


@pytest.mark.parametrize("bad", [0, -1])
def test_attempt_number_is_one_based(bad: int) -> None:
    with pytest.raises(ValueError, match="1-based"):
        next_attempt(bad, NOW)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_attempt(1, datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("Fri, 20 Nov 2026 12:02:00 GMT", 120.0),
        ("Fri, 20 Nov 2026 11:00:00 GMT", 0.0),  # in the past
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, NOW) == expected
