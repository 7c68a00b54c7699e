"""The services' clock: wall time in production, a fixed or advancing time in tests.

Expiry, throttling and TOTP all read time here, so a test can move time past a
token's expiry or a throttle window without sleeping.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from ..timeutil import format_utc

_fixed: datetime | None = None


def now() -> datetime:
    return _fixed if _fixed is not None else datetime.now(UTC)


def now_text() -> str:
    return format_utc(now())


@contextmanager
def frozen(at: datetime) -> Iterator[None]:
    """Stop the clock at `at` (use `advance` to move it)."""
    global _fixed
    previous, _fixed = _fixed, at
    try:
        yield
    finally:
        _fixed = previous


def advance(delta: timedelta) -> None:
    global _fixed
    if _fixed is None:
        raise RuntimeError("advance() needs a frozen clock")
    _fixed += delta
