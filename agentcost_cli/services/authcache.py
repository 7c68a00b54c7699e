"""A short-lived memo for the daemon's hot path: who a credential is, where it may write, and
which pricing revision applies.

Every API request would otherwise read the key, its creator, its project, the memberships and
the pricing revision before doing anything (a handful of queries, most of a small request's
store time, each a release and re-acquisition of the GIL on a busy daemon). KEY-04
allows a revocation to take effect across instances within a cache lifetime; this one lasts
one second. In this process, every audited change (keys, users, memberships, projects,
sessions: all are audited) and every new pricing revision clears it at once, so here a
revocation or a price change applies to the next request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar, cast

from . import clock

TTL_SECONDS = 1.0
MAX_ENTRIES = 10_000  # a flood of distinct bad keys must not grow it without bound

T = TypeVar("T")

_entries: dict[Hashable, tuple[float, int, Any]] = {}
_generation = 0
_lock = threading.Lock()


def _seconds() -> float:
    # The services' clock, so a test that moves time past an expiry moves the cache with it.
    return clock.now().timestamp()


def invalidate() -> None:
    """Forget everything (called on every audited change)."""
    global _generation
    with _lock:
        _generation += 1
        _entries.clear()


def remembered(key: Hashable, compute: Callable[[], T], *, ttl: float = TTL_SECONDS) -> T:
    """`compute()`, or its result from the last `ttl` seconds. Exceptions are not remembered:
    a refused credential is looked up again next time (and costs the caller the lookup)."""
    now = _seconds()
    found = _entries.get(key)
    if found is not None and found[0] > now and found[1] == _generation:
        return cast(T, found[2])
    generation = _generation
    value = compute()
    with _lock:
        if generation == _generation:  # nothing changed meanwhile: safe to keep
            if len(_entries) >= MAX_ENTRIES:
                _entries.clear()
            _entries[key] = (now + ttl, generation, value)
    return value


def cached(key: Hashable) -> Any | None:
    """The live entry for `key`, or None (no lookup, no computing)."""
    found = _entries.get(key)
    if found is not None and found[0] > _seconds() and found[1] == _generation:
        return found[2]
    return None
