"""In-process rate-limit counters: the same sliding-window answers as `limits`' MemoryStorage,
without starting a timer thread for every burst of hits."""

from __future__ import annotations

import threading
import time

import pytest

from agentcost_cli.server.ratelimit import Limit, RateLimiter
from agentcost_cli.server.ratelimit_memory import SweepingMemoryStorage


def test_memory_limits_use_the_sweeping_storage_and_start_no_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    limiter = RateLimiter("memory://")
    assert isinstance(limiter.storage, SweepingMemoryStorage)
    limit = Limit.parse("key_requests", "1000000/minute")
    started: list[str] = []
    real_start = threading.Thread.start

    def counting_start(thread: threading.Thread) -> None:
        started.append(thread.name)
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", counting_start)
    for index in range(2000):
        limiter.hit(limit, "key_requests", str(index % 50))
        if index % 200 == 0:
            time.sleep(0.015)  # longer than MemoryStorage's 10 ms timer: it would start another
    assert started == []


def test_the_window_still_refuses_and_expired_counters_are_swept() -> None:
    limiter = RateLimiter("memory://")
    limit = Limit.parse("auth_ip", "3/second")
    states = [limiter.hit(limit, "auth_ip", "10.0.0.1") for _ in range(4)]
    assert [s.allowed for s in states] == [True, True, True, False]
    assert states[-1].reset_seconds >= 1
    storage = limiter.storage
    assert storage.storage  # counters exist
    time.sleep(2.1)  # both windows of a 1 s limit have passed
    storage._next_sweep = 0.0  # type: ignore[attr-defined]  # sweep on the next write
    limiter.hit(Limit.parse("other", "5/second"), "other", "x")
    assert all(not key.endswith("10.0.0.1") or "other" in key for key in storage.storage)
    assert limiter.hit(limit, "auth_ip", "10.0.0.1").allowed
