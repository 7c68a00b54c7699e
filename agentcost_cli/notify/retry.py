"""Retry timing for webhook deliveries (WH-08, WH-09): pure functions, no clock, no I/O.

Attempt numbers are 1-based: attempt 1 is sent immediately; if attempt ``n`` fails, attempt
``n + 1`` is due ``SCHEDULE[n]`` later (±10% jitter). After attempt 8 fails the message is
``failed`` and :func:`next_attempt` returns ``None``. This is Svix's published schedule.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Protocol

from ..timeutil import seconds_until_http_date

# Delay before attempt 1, 2, ... 8 (attempt 1 goes out immediately).
SCHEDULE: tuple[timedelta, ...] = (
    timedelta(0),
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
MAX_ATTEMPTS = len(SCHEDULE)
JITTER = 0.10
RETRY_AFTER_CAP = timedelta(hours=24)


class UniformRNG(Protocol):
    def uniform(self, a: float, b: float) -> float: ...


_default_rng = random.SystemRandom()


def jittered(delay: timedelta, rng: UniformRNG | None = None) -> timedelta:
    """Return ``delay`` scaled by a uniform factor in [0.9, 1.1]."""
    factor = 1.0 + (rng or _default_rng).uniform(-JITTER, JITTER)
    return delay * factor


def next_attempt(
    attempt_number: int,
    now: datetime,
    retry_after_seconds: float | None = None,
    *,
    rng: UniformRNG | None = None,
) -> datetime | None:
    """Return when the attempt after ``attempt_number`` is due, or ``None`` when retries are used up.

    Args:
        attempt_number: the 1-based number of the attempt that just failed.
        now: when it failed (timezone-aware).
        retry_after_seconds: the receiver's parsed ``Retry-After`` (429/503), if any. It wins when
            larger than the jittered scheduled delay, capped at 24 h (WH-09).
        rng: source of jitter; injectable for tests.

    Raises:
        ValueError: ``attempt_number`` < 1 or ``now`` is naive.
    """
    if attempt_number < 1:
        raise ValueError(f"attempt_number is 1-based, got {attempt_number}")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if attempt_number >= MAX_ATTEMPTS:
        return None
    delay = jittered(SCHEDULE[attempt_number], rng)
    if retry_after_seconds is not None:
        asked = min(timedelta(seconds=max(retry_after_seconds, 0.0)), RETRY_AFTER_CAP)
        delay = max(delay, asked)
    return now + delay


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Parse a ``Retry-After`` header (delay-seconds or an HTTP date) into seconds from ``now``.

    Returns ``None`` when absent or unparseable; a date in the past gives ``0.0``.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    seconds = seconds_until_http_date(value, now)
    return None if seconds is None else max(seconds, 0.0)
