"""In-process rate-limit counters without a timer thread per burst.

`limits`' MemoryStorage expires counters from a `threading.Timer` that it starts again, 10 ms
later, after every increment once the previous timer has finished: under a steady load that is
a new thread about every 10 ms, and with the lock traffic it came to about a third of a small
request's CPU in the daemon. Here the same sweep runs inline, at most once a second, on the
thread that increments; reads already drop expired counters as they meet them (MemoryStorage.get).
"""

from __future__ import annotations

import time
from typing import Any

from limits.storage import MemoryStorage

SWEEP_SECONDS = 1.0


class SweepingMemoryStorage(MemoryStorage):
    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: Any) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.timer.cancel()  # the one MemoryStorage starts; sweeps happen in _sweep
        self._next_sweep = time.monotonic() + SWEEP_SECONDS

    def _sweep(self) -> None:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_SECONDS
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]

    # MemoryStorage calls its private `__schedule_expiry` on every write; this replaces it.
    _MemoryStorage__schedule_expiry = _sweep
