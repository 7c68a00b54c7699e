"""Reading Retry-After and RateLimit, and the backoff schedule (API-11)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from agentcost_cli.sdk.retry import (
    MAX_SERVER_WAIT,
    backoff,
    is_retryable,
    parse_ratelimit_reset,
    parse_retry_after,
    server_wait,
)


@pytest.mark.parametrize(("value", "expected"), [
    ("1", 1.0), (" 30 ", 30.0), ("0", 0.0), ("-4", 0.0), ("1.5", 1.5), ("", None), (None, None),
    ("soon", None), ("nan", None), ("99999", MAX_SERVER_WAIT),
])
def test_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_retry_after_http_date() -> None:
    now = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Fri, 20 Nov 2026 10:00:07 GMT", now=now) == 7.0
    assert parse_retry_after("Fri, 20 Nov 2026 09:00:00 GMT", now=now) == 0.0


@pytest.mark.parametrize(("value", "expected"), [
    ('"ingest";r=0;t=12', 12.0),
    ("ingest;r=5;t=3", 3.0),
    ('"ingest";r=40;t=2, "per-minute";r=0;t=45', 45.0),
    ('"a";r=0;t=5, "b";r=3;t=50', 5.0),
    ('"a";r=1;t=5, "b";r=3;t=50', 50.0),
    ('"a";r=0', None),
    ("garbage", None),
    ("", None),
    (None, None),
])
def test_ratelimit_t(value: str | None, expected: float | None) -> None:
    assert parse_ratelimit_reset(value) == expected


def test_server_wait_prefers_retry_after() -> None:
    assert server_wait({"retry-after": "2", "ratelimit": '"x";r=0;t=9'}) == 2.0
    assert server_wait({"ratelimit": '"x";r=0;t=9'}) == 9.0
    assert server_wait({}) is None


def test_backoff_is_full_jitter_capped() -> None:
    rng = random.Random(7)
    for attempt in range(1, 12):
        ceiling = min(30.0, 0.5 * 2 ** (attempt - 1))
        samples = [backoff(attempt, rng=rng) for _ in range(200)]
        assert all(0 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling * 0.8  # spread over the whole range, not a fixed delay
    assert backoff(50, base=0.5, cap=30.0, rng=rng) <= 30.0


@pytest.mark.parametrize(("status", "retry"), [
    (408, True), (429, True), (500, True), (502, True), (503, True), (504, True), (599, True),
    (400, False), (401, False), (403, False), (404, False), (409, False), (413, False), (422, False),
])
def test_which_statuses_are_retried(status: int, retry: bool) -> None:
    assert is_retryable(status) is retry
