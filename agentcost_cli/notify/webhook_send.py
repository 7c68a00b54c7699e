"""Send one webhook attempt and classify the outcome (WH-01, WH-03, WH-04, WH-06, WH-07, WH-09, WH-10, WH-15).

:func:`deliver` makes exactly one HTTP attempt. What to send, when to retry and what to persist
are decided by the caller (the outbox, later): it reads :attr:`Attempt.outcome` and asks
:func:`agentcost_cli.notify.retry.next_attempt` for the next time, passing
:attr:`Attempt.retry_after_seconds`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import httpx
import orjson

from agentcost_cli.errors import InvalidInput
from agentcost_cli.notify import webhook_signing
from agentcost_cli.notify.retry import parse_retry_after
from agentcost_cli.notify.targets import Resolver, UnresolvableTargetError, UnsafeTargetError, validate_target

DEFAULT_TIMEOUT = 15.0
MIN_TIMEOUT = 5.0
MAX_TIMEOUT = 30.0
MAX_PAYLOAD_BYTES = 20 * 1024  # WH-15: serialised payload must be smaller than this
MAX_RESPONSE_BYTES = 1024  # kept from the receiver's response body
USER_AGENT = "agentcost-webhooks/1"
EVENT_TYPE_RE = re.compile(r"^[a-zA-Z0-9_]+(?:\.[a-zA-Z0-9_]+)*$")

# Test hook: lowered by the test suite only, so timeouts can be exercised in well under 5 s.
_min_timeout = MIN_TIMEOUT


class Outcome(StrEnum):
    DELIVERED = "delivered"  # 2xx
    RETRY = "retry"  # any other status, timeout, connection or DNS error
    DISABLE = "disable"  # 410 Gone: disable the endpoint now, no retries (WH-10)
    BLOCKED = "blocked"  # the URL failed the WH-14 target check; nothing was sent


@dataclass(frozen=True)
class Attempt:
    """The record of one delivery attempt (what WH-13's attempt list shows)."""

    msg_id: str
    url: str
    outcome: Outcome
    attempted_at: datetime
    webhook_timestamp: int
    status_code: int | None = None
    latency_ms: int = 0
    response_body: str = ""  # at most MAX_RESPONSE_BYTES of the body, decoded leniently
    error: str | None = None
    retry_after_seconds: float | None = None
    address: str | None = None  # the checked IP the request was sent to

    @property
    def delivered(self) -> bool:
        return self.outcome is Outcome.DELIVERED


def make_payload(event_type: str, data: Mapping[str, Any], *, timestamp: datetime) -> dict[str, Any]:
    """Build the WH-15 envelope ``{"type", "timestamp", "data"}``; validate with :func:`encode_payload`."""
    if timestamp.tzinfo is None:
        raise InvalidInput("webhook payload timestamp must be timezone-aware")
    return {"type": event_type, "timestamp": timestamp.isoformat(), "data": dict(data)}


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """Validate a WH-15 envelope and serialise it once, to the bytes that are signed and sent.

    Raises:
        InvalidInput: wrong keys, a bad ``type``, a non-ISO-8601 ``timestamp``, ``data`` not an
            object, unserialisable values, or a body of ``MAX_PAYLOAD_BYTES`` or more.
    """
    if set(payload) != {"type", "timestamp", "data"}:
        raise InvalidInput(f"webhook payload must have exactly type, timestamp and data; got {sorted(payload)}")
    event_type, stamp, data = payload["type"], payload["timestamp"], payload["data"]
    if not isinstance(event_type, str) or not EVENT_TYPE_RE.fullmatch(event_type):
        raise InvalidInput(
            f"webhook event type {event_type!r} is invalid",
            hint="use dot-delimited [a-zA-Z0-9_] parts, e.g. budget.threshold_crossed",
        )
    if isinstance(stamp, datetime):
        stamp_ok = stamp.tzinfo is not None
    else:
        try:
            stamp_ok = isinstance(stamp, str) and datetime.fromisoformat(stamp).tzinfo is not None
        except ValueError:
            stamp_ok = False
    if not stamp_ok:
        raise InvalidInput(f"webhook payload timestamp {stamp!r} is not a timezone-aware ISO 8601 time")
    if not isinstance(data, Mapping):
        raise InvalidInput("webhook payload data must be a JSON object")
    try:
        body = orjson.dumps(dict(payload))
    except TypeError as exc:
        raise InvalidInput(f"webhook payload cannot be serialised to JSON: {exc}") from exc
    if len(body) >= MAX_PAYLOAD_BYTES:
        raise InvalidInput(
            f"webhook payload is {len(body):,} bytes; the limit is under {MAX_PAYLOAD_BYTES:,}",
            hint="send identifiers and a link, not the full data",
        )
    return body


def check_timeout(timeout: float) -> float:
    """Return ``timeout`` if it is within 5–30 s (WH-07), else raise :class:`InvalidInput`."""
    if not (_min_timeout <= timeout <= MAX_TIMEOUT):
        raise InvalidInput(f"webhook timeout must be between {MIN_TIMEOUT:g} and {MAX_TIMEOUT:g} s, got {timeout:g}")
    return float(timeout)


def classify(status_code: int) -> Outcome:
    """Map an HTTP status to an outcome: 2xx delivered, 410 disable, everything else retry (WH-06)."""
    if 200 <= status_code <= 299:
        return Outcome.DELIVERED
    if status_code == 410:
        return Outcome.DISABLE
    return Outcome.RETRY


def _utcnow() -> datetime:
    return datetime.now(UTC)


def deliver(
    url: str,
    payload: Mapping[str, Any],
    *,
    msg_id: str,
    secrets: Sequence[str],
    timeout: float = DEFAULT_TIMEOUT,
    client: httpx.Client | None = None,
    now: Callable[[], datetime] = _utcnow,
    allow_insecure: bool = False,
    allow_private: bool = False,
    resolver: Resolver | None = None,
) -> Attempt:
    """POST one signed attempt of a webhook message and classify the result.

    The payload is serialised once and those exact bytes are signed and sent (WH-03). The
    ``webhook-timestamp`` comes from ``now()`` at this call, so every retry gets a fresh one while
    ``msg_id`` stays the same (WH-04). The host is resolved and checked (WH-14) and the request
    goes to the checked IP (see :mod:`agentcost_cli.notify.targets`); redirects are never followed.

    Args:
        url: the endpoint URL.
        payload: a WH-15 envelope, see :func:`make_payload`.
        msg_id: the ``webhook-id``; reuse it for every retry of the same message.
        secrets: the endpoint's active ``whsec_`` secrets (old and new during rotation, WH-05).
        timeout: per-attempt timeout in seconds, 5–30 (WH-07). It bounds each phase (connect,
            write, wait for the response); the response body read is capped at 1 KB.
        client: an ``httpx.Client`` to reuse; a private one (no proxies from the environment) is
            made per call if omitted.
        now: clock returning an aware ``datetime``; injectable for tests.
        allow_insecure: accept ``http://`` URLs (local development flag).
        allow_private: accept loopback/private targets (local development flag).
        resolver: host resolver for the target check.

    Returns:
        An :class:`Attempt`. Transport failures are recorded, not raised.

    Raises:
        InvalidInput: a bad payload, secret, message id or timeout (caller bugs; nothing is sent).
    """
    timeout = check_timeout(timeout)
    body = encode_payload(payload)
    webhook_signing.sign(secrets, msg_id, 0, b"")  # validate secrets and id before any I/O
    started = now()
    timestamp = int(started.timestamp())

    def record(outcome: Outcome, **fields: Any) -> Attempt:
        return Attempt(
            msg_id=msg_id, url=url, outcome=outcome, attempted_at=started, webhook_timestamp=timestamp, **fields
        )

    try:
        target = validate_target(url, allow_insecure=allow_insecure, allow_private=allow_private, resolver=resolver)
    except UnsafeTargetError as exc:
        # An unresolvable name may be transient; a blocked address or scheme is not.
        outcome = Outcome.RETRY if isinstance(exc, UnresolvableTargetError) else Outcome.BLOCKED
        return record(outcome, error=exc.message)

    address = target.addresses[0]
    request_url = httpx.URL(url).copy_with(host=str(address))
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if ":" not in target.host else f"[{target.host}]"
    if target.port != default_port:
        host_header = f"{host_header}:{target.port}"
    request_headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "host": host_header,
        **webhook_signing.headers(msg_id, timestamp, body, secrets),
    }
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}

    own_client = client is None
    http = client if client is not None else httpx.Client(trust_env=False, follow_redirects=False)
    t0 = time.perf_counter()
    try:
        with http.stream(
            "POST",
            request_url,
            content=body,
            headers=request_headers,
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            extensions=extensions,
        ) as response:
            chunks = bytearray()
            for chunk in response.iter_bytes():
                chunks.extend(chunk)
                if len(chunks) >= MAX_RESPONSE_BYTES:
                    break
            latency_ms = round((time.perf_counter() - t0) * 1000)
            status = response.status_code
            retry_after = None
            if status in (429, 503):
                retry_after = parse_retry_after(response.headers.get("retry-after"), now())
            return record(
                classify(status),
                status_code=status,
                latency_ms=latency_ms,
                response_body=bytes(chunks[:MAX_RESPONSE_BYTES]).decode("utf-8", errors="replace"),
                retry_after_seconds=retry_after,
                address=str(address),
            )
    except httpx.TimeoutException as exc:
        error = f"timed out after {timeout:g} s ({type(exc).__name__})"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    finally:
        if own_client:
            http.close()
    latency_ms = round((time.perf_counter() - t0) * 1000)
    return record(Outcome.RETRY, latency_ms=latency_ms, error=error, address=str(address))
