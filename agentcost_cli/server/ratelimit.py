"""Rate limits (API-09, API-10): `limits` with the sliding-window-counter strategy, in memory
for one process or in Redis for several, and the IETF `RateLimit-Policy`/`RateLimit` headers.

A route or dependency hits its limits, stores the resulting states in
`request.state.ratelimit` (see `attach`), then calls `enforce`; RateLimitHeadersMiddleware
writes the headers on the way out, including on the 429 that `enforce` causes::

    states = [limiter.hit(PER_IP, "ip", client_ip), limiter.hit(PER_ACCOUNT, "account", email)]
    attach(request, states)
    enforce(states)            # raises Throttled -> 429 problem+json with Retry-After

Header syntax (draft-ietf-httpapi-ratelimit-headers), both RFC 8941 Lists of String Items::

    RateLimit-Policy: "ingest";q=100;w=60, "auth-ip";q=5;w=60
    RateLimit: "auth-ip";r=0;t=42
"""

from __future__ import annotations

import math
import re
import time
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.errors import ConfigurationError, StorageError
from limits.storage import storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import ConfigError, StoreError, Throttled

STATE_KEY = "ratelimit"  # request.state.ratelimit == scope["state"]["ratelimit"]
SHARED_STORAGE_MESSAGE = "rate limits need shared storage: set AGENTCOST_RATE_LIMIT_STORAGE=redis://..."
MEMORY_SCHEMES = ("memory", "async+memory")

_UNITS: dict[str, int] = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
}
_LIMIT_RE = re.compile(r"^\s*(\d+)\s*(?:/|\s+per\s+)\s*(\d+)?\s*([a-z]+)\s*$", re.IGNORECASE)
_SF_STRING_RE = re.compile(r"^[\x20-\x7e]+$")


@dataclass(frozen=True)
class Limit:
    """`amount` units per `seconds`, known in headers as `name`."""

    name: str
    amount: int
    seconds: int

    def __post_init__(self) -> None:
        if not _SF_STRING_RE.match(self.name):
            raise ValueError(f"rate limit name {self.name!r} must be non-empty printable ASCII")
        if self.amount < 1 or self.seconds < 1:
            raise ValueError(f"rate limit {self.name!r} needs an amount and a window of at least 1")

    @classmethod
    def parse(cls, name: str, text: str) -> Limit:
        """"100/minute", "5/min", "1000/hour", "10/second", "50/30s", "2000 per day"."""
        match = _LIMIT_RE.match(text)
        unit = _UNITS.get(match.group(3).lower()) if match else None
        if match is None or unit is None:
            raise ValueError(f"rate limit {name!r}: cannot read {text!r}; write <count>/<window> such as "
                             "'100/minute', '5/min', '1000/hour', '10/second' or '50/30s'")
        multiple = int(match.group(2)) if match.group(2) is not None else 1
        amount = int(match.group(1))
        if amount < 1 or multiple < 1:
            raise ValueError(f"rate limit {name!r}: {text!r} must allow at least 1 per window of at least 1 s")
        return cls(name, amount, multiple * unit)

    def __str__(self) -> str:
        return f"{self.name}={self.amount}/{self.seconds}s"


@dataclass(frozen=True)
class LimitState:
    """The outcome of one hit: whether it was allowed, what remains and when more is available."""

    limit: Limit
    allowed: bool
    remaining: int
    reset_seconds: int


@lru_cache(maxsize=256)
def _item(limit: Limit) -> RateLimitItem:
    return RateLimitItemPerSecond(limit.amount, limit.seconds)


def redact(uri: str) -> str:
    """The storage URI without a password, for messages and logs."""
    parts = urllib.parse.urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urllib.parse.urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


class RateLimiter:
    """Sliding-window-counter limits over `memory://` (one process) or `redis://` (shared)."""

    def __init__(self, storage_uri: str = "memory://", *, timeout: float = 2.0) -> None:
        self.storage_uri = storage_uri
        options: dict[str, Any] = {}
        scheme = urllib.parse.urlsplit(storage_uri).scheme
        if scheme.startswith(("redis", "rediss", "valkey")):
            # Never hang a request on a dead Redis; the URI's own options win (redis.from_url).
            options = {"socket_connect_timeout": timeout, "socket_timeout": timeout}
        try:
            if scheme == "memory":
                from .ratelimit_memory import SweepingMemoryStorage

                self.storage: Any = SweepingMemoryStorage(storage_uri, wrap_exceptions=True)
            else:
                self.storage = storage_from_string(storage_uri, wrap_exceptions=True, **options)
        except ConfigurationError as exc:
            raise ConfigError(f"rate limit storage {redact(storage_uri)!r} is not usable: {exc}",
                              hint="use memory:// or redis://host:6379/0") from None
        try:
            self.strategy = SlidingWindowCounterRateLimiter(self.storage)
        except NotImplementedError:
            raise ConfigError(f"rate limit storage {redact(storage_uri)!r} does not support "
                              "the sliding-window-counter strategy", hint="use memory:// or redis://") from None

    def _unavailable(self, exc: Exception) -> StoreError:
        return StoreError(f"rate limit storage {redact(self.storage_uri)} is unreachable ({type(exc).__name__})",
                          hint="check that Redis is running and AGENTCOST_RATE_LIMIT_STORAGE points at it")

    def hit(self, limit: Limit, *identity: str, cost: int = 1) -> LimitState:
        """Consume `cost` from `limit` for `identity` (e.g. "key", key_id) and report the state.

        A denied hit consumes nothing. Blocking I/O with Redis: call from a sync dependency
        (FastAPI runs those in its thread pool). Raises StoreError when the storage is down.
        """
        item = _item(limit)
        ids = (limit.name, *identity)
        try:
            allowed = self.strategy.hit(item, *ids, cost=cost)
            stats = self.strategy.get_window_stats(item, *ids)
        except StorageError as exc:
            raise self._unavailable(exc.storage_error) from exc
        reset = max(0, math.ceil(stats.reset_time - time.time()))
        if not allowed:
            reset = max(1, reset)
        return LimitState(limit, allowed, max(0, int(stats.remaining)), reset)

    def clear(self, limit: Limit, *identity: str) -> None:
        """Forget what `identity` consumed of `limit`."""
        try:
            self.strategy.clear(_item(limit), limit.name, *identity)
        except StorageError as exc:
            raise self._unavailable(exc.storage_error) from exc

    def check_storage(self) -> None:
        """Raise StoreError when the storage (Redis) does not answer; for startup and /readyz."""
        try:
            healthy = self.storage.check()
        except Exception as exc:
            raise self._unavailable(exc) from exc
        if not healthy:
            raise StoreError(f"rate limit storage {redact(self.storage_uri)} is unreachable",
                             hint="check that Redis is running and AGENTCOST_RATE_LIMIT_STORAGE points at it")

    def close(self) -> None:
        """Release the Redis connections (no-op for memory://)."""
        client = getattr(self.storage, "storage", None)
        if client is not None and hasattr(client, "close"):
            client.close()


def most_restrictive(states: Iterable[LimitState]) -> LimitState | None:
    """The state the `RateLimit` header reports: among denied states the one that frees up last
    (so its `t` equals the 429's Retry-After), otherwise the one with the lowest remaining."""
    states = list(states)
    denied = [s for s in states if not s.allowed]
    if denied:
        return max(denied, key=lambda s: s.reset_seconds)
    if not states:
        return None
    return min(states, key=lambda s: (s.remaining, -s.reset_seconds))


def enforce(states: list[LimitState]) -> None:
    """Raise Throttled (429, Retry-After) when any of `states` was denied."""
    worst = most_restrictive(states)
    if worst is not None and not worst.allowed:
        raise Throttled(f"rate limit {worst.limit.name} reached", retry_after=worst.reset_seconds)


def _sf_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def headers(states: list[LimitState]) -> dict[str, str]:
    """`RateLimit-Policy` (every policy) and `RateLimit` (the most restrictive) for `states`."""
    worst = most_restrictive(states)
    if worst is None:
        return {}
    policies: dict[Limit, None] = dict.fromkeys(s.limit for s in states)
    return {
        "RateLimit-Policy": ", ".join(f"{_sf_string(p.name)};q={p.amount};w={p.seconds}" for p in policies),
        "RateLimit": f"{_sf_string(worst.limit.name)};r={worst.remaining};t={worst.reset_seconds}",
    }


def attach(conn: HTTPConnection, states: Iterable[LimitState]) -> None:
    """Add `states` to those RateLimitHeadersMiddleware reports for this request."""
    existing = getattr(conn.state, STATE_KEY, None) or []
    setattr(conn.state, STATE_KEY, [*existing, *states])


class RateLimitHeadersMiddleware:
    """Writes the rate-limit headers from `scope["state"]["ratelimit"]` onto the answer; on a
    429, `Retry-After` is set to the `t` of `RateLimit`. Nothing is added without states."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Create the dict now so a shallow scope copy further in still shares it.
        state: dict[str, Any] = scope.setdefault("state", {})

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                current = scope.get("state")
                states = (current if isinstance(current, dict) else state).get(STATE_KEY)
                if states:
                    values = headers(list(states))
                    out = MutableHeaders(scope=message)
                    out.update(values)
                    worst = most_restrictive(states)
                    if message["status"] == 429 and worst is not None:
                        out["Retry-After"] = str(worst.reset_seconds)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def multi_instance_check(storage_uri: str, *, workers: int, shared_store: bool) -> None:
    """Refuse per-process (memory://) limits when several processes serve the API (API-10)."""
    scheme = urllib.parse.urlsplit(storage_uri).scheme
    if scheme not in MEMORY_SCHEMES:
        return
    if workers > 1 or shared_store:
        why = f"{workers} workers" if workers > 1 else "a shared (PostgreSQL) store"
        raise ConfigError(SHARED_STORAGE_MESSAGE,
                          hint=f"memory:// counts per process, so with {why} each process would "
                               "allow the full limit")
