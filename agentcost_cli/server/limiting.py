"""Which limits a request is charged against (API-10), on top of ratelimit.RateLimiter:
- every request: its source address (`ip_requests`);
- an API key: its requests (`key_requests`) and, on ingestion, its events (`key_events`: a
  batch costs its size, so one key cannot flood the store);
- a signed-in user: their requests (`user_requests`);
- sign-in, registration and reset routes: the source address, tighter (`auth_ip`).
States go on the request (the headers middleware announces the tightest); a refusal raises
Throttled (429 problem+json with Retry-After)."""

from __future__ import annotations

from fastapi import Request

from ..services.actor import Actor
from .ratelimit import Limit, LimitState, RateLimiter, attach, enforce


class ApiLimiter:
    def __init__(self, storage_uri: str, limits: dict[str, str], metrics: object | None = None) -> None:
        self.limiter = RateLimiter(storage_uri)
        # In-process counters cost microseconds and do no I/O: safe to charge on the event loop.
        self.in_process = storage_uri.startswith("memory")
        self.limits = {name: Limit.parse(name, text) for name, text in limits.items()}
        self.metrics = metrics

    def _charge(self, request: Request, hits: list[tuple[str, tuple[str, ...], int]]) -> None:
        states: list[LimitState] = []
        for name, identity, cost in hits:
            limit = self.limits.get(name)
            if limit is not None:
                states.append(self.limiter.hit(limit, name, *identity, cost=cost))
        attach(request, states)
        refused = [s for s in states if not s.allowed]
        if refused and self.metrics is not None:
            for state in refused:
                self.metrics.rate_limited(state.limit.name)  # type: ignore[attr-defined]
        enforce(states)

    @staticmethod
    def _address(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    def charge_address(self, request: Request) -> None:
        self._charge(request, [("ip_requests", (self._address(request),), 1)])

    def charge_request(self, request: Request, actor: Actor) -> None:
        hits: list[tuple[str, tuple[str, ...], int]] = []
        if actor.kind == "key":
            hits.append(("key_requests", (str(actor.key_id),), 1))
        elif actor.user_id is not None:
            hits.append(("user_requests", (str(actor.user_id),), 1))
        self._charge(request, hits)

    def charge_events(self, request: Request, actor: Actor, count: int) -> None:
        if actor.kind == "key" and count:
            self._charge(request, [("key_events", (str(actor.key_id),), count)])

    def charge_auth(self, request: Request, email: str | None = None) -> None:
        self._charge(request, [("auth_ip", (self._address(request),), 1)])

    def close(self) -> None:
        self.limiter.close()
