"""What the SDK raises, what it hands to `on_error`, and what `flush()` returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class AgentCostError(Exception):
    """Base class of every SDK error."""


class ConfigurationError(AgentCostError, ValueError):
    """The client cannot be built: no API key, a bad URL or a bad setting."""


class InvalidEventError(AgentCostError, ValueError):
    """`record()` refused an event before queueing it (missing model, negative tokens, unknown field...)."""


class QueueFullError(AgentCostError):
    """The queue stayed full for `timeout` seconds: the server is slower than the events come in."""


class ClientClosedError(AgentCostError):
    """`record()` after `close()`."""


@dataclass(frozen=True)
class EventError:
    """Why one event was not stored."""

    id: str
    status: int | None  # the item's HTTP status (422, 413, 401...); None when the server was never reached
    detail: str
    pointer: str | None = None  # JSON pointer into the request body, when the server gave one


class APIError(AgentCostError):
    """A non-success HTTP answer, read from its RFC 9457 problem+json body."""

    def __init__(self, status: int, title: str, detail: str, *, type: str | None = None,
                 retry_after: float | None = None, body: Any = None) -> None:
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type
        self.retry_after = retry_after
        self.body = body
        super().__init__(f"HTTP {status} {title}: {detail}" if detail else f"HTTP {status} {title}")


class AuthenticationError(APIError):
    """401/403: the API key is wrong, revoked or not allowed to write to this project. Never retried."""


class EventsRejectedError(AgentCostError):
    """The server refused some events as invalid (207 or 422). They are not retried."""

    def __init__(self, errors: list[EventError]) -> None:
        self.errors = errors
        first = errors[0].detail if errors else ""
        super().__init__(f"{len(errors)} event(s) rejected" + (f", first: {first}" if first else ""))


class DeliveryError(AgentCostError):
    """Events could not be delivered: retries exhausted, the shutdown deadline passed, or an
    unexpected answer. `__cause__` holds the last underlying error."""


@dataclass
class FlushResult:
    """The outcome of the events handled since the previous `flush()` (including those the
    background thread sent on its own)."""

    created: int = 0  # stored now
    duplicate: int = 0  # the server already had the id (e.g. a retry whose first answer got lost)
    rejected: int = 0  # refused as invalid (207/422, or a single event too large): not retried
    failed: int = 0  # not delivered: auth error, other 4xx, retries exhausted, shutdown deadline
    pending: int = 0  # recorded before flush() but still not handled when its timeout ran out
    errors: list[EventError] = field(default_factory=list)  # one per rejected or failed event

    @property
    def sent(self) -> int:
        """Events the server acknowledged (created or duplicate)."""
        return self.created + self.duplicate

    @property
    def ok(self) -> bool:
        return self.rejected == 0 and self.failed == 0 and self.pending == 0

    def merge(self, other: FlushResult) -> None:
        self.created += other.created
        self.duplicate += other.duplicate
        self.rejected += other.rejected
        self.failed += other.failed
        self.pending += other.pending
        self.errors.extend(other.errors)
