"""When to retry and how long to wait (API-11).

429 and 503 carry the server's own wait: `Retry-After` (seconds or an HTTP date),
else the `t` of the IETF `RateLimit` header. Everything else retryable waits an
exponential backoff with full jitter.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from ..timeutil import seconds_until_http_date

BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
MAX_SERVER_WAIT = 300.0  # a Retry-After beyond this is read as this: never park the sender for hours

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
SERVER_WAIT_STATUSES = frozenset({429, 503})

_PARAM = re.compile(r";\s*([a-z*][a-z0-9_.*-]*)\s*=\s*(\"[^\"]*\"|[^;,\s]+)", re.IGNORECASE)


def is_retryable(status: int) -> bool:
    """408, 429 and every 5xx; never another 4xx (it would fail the same way again)."""
    return status in RETRY_STATUSES or status >= 500


def backoff(attempt: int, *, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP,
            rng: random.Random | None = None) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**(attempt-1))] after failed attempt number `attempt`."""
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    return (rng or random).uniform(0, ceiling)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP date), or None if unreadable."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        until = seconds_until_http_date(text, now or datetime.now(UTC))
        if until is None:
            return None
        seconds = until
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_SERVER_WAIT)


def parse_ratelimit_reset(value: str | None) -> float | None:
    """The `t` (seconds to reset) of an IETF `RateLimit` header such as `"ingest";r=0;t=12`.

    With several limits, the longest wait among the exhausted ones (r=0), else the longest."""
    if not value:
        return None
    exhausted: list[float] = []
    others: list[float] = []
    for item in value.split(","):
        params = {k.lower(): v.strip('"') for k, v in _PARAM.findall(item)}
        try:
            reset = float(params["t"])
        except (KeyError, ValueError):
            continue
        if reset != reset or reset < 0:
            continue
        remaining = params.get("r")
        (exhausted if remaining is not None and remaining.strip() in ("0", "0.0") else others).append(reset)
    chosen = exhausted or others
    return min(max(chosen), MAX_SERVER_WAIT) if chosen else None


def server_wait(headers: Mapping[str, str]) -> float | None:
    """What a 429/503 asks the client to wait, or None when it does not say."""
    wait = parse_retry_after(headers.get("retry-after"))
    if wait is None:
        wait = parse_ratelimit_reset(headers.get("ratelimit"))
    return wait
