"""Send one webhook attempt and classify the outcome (WH-01, WH-03, WH-04, WH-06, WH-07, WH-09, WH-10, WH-15).

:func:`deliver` makes exactly one HTTP attempt. What to send, when to retry and what to persist
are decided by the caller (the outbox, later): it reads :attr:`Attempt.outcome` and asks
:func:`agentcost_cli.notify.retry.next_attempt` for the next time, passing
:attr:`Attempt.retry_after_seconds`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx
import orjson

from agentcost_cli.errors import InvalidInput
from agentcost_cli.notify import webhook_signing
from agentcost_cli.notify.http_post import (  # noqa: F401 - re-exported: the webhook API's own names
    DEFAULT_TIMEOUT,
    MAX_RESPONSE_BYTES,
    MAX_TIMEOUT,
    MIN_TIMEOUT,
    USER_AGENT,
    Attempt,
    Outcome,
    Reply,
    Verdict,
    _utcnow,
    check_timeout,
    header_retry_after,
    post_checked,
)
from agentcost_cli.notify.targets import Resolver

MAX_PAYLOAD_BYTES = 20 * 1024  # WH-15: serialised payload must be smaller than this
EVENT_TYPE_RE = re.compile(r"^[a-zA-Z0-9_]+(?:\.[a-zA-Z0-9_]+)*$")


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


def classify(status_code: int) -> Outcome:
    """Map an HTTP status to an outcome: 2xx delivered, 410 disable, everything else retry (WH-06)."""
    if 200 <= status_code <= 299:
        return Outcome.DELIVERED
    if status_code == 410:
        return Outcome.DISABLE
    return Outcome.RETRY


def _judge(reply: Reply, now: datetime) -> Verdict:
    retry_after = header_retry_after(reply.headers, now) if reply.status in (429, 503) else None
    return classify(reply.status), retry_after, None


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
    goes to the checked IP (see :mod:`agentcost_cli.notify.http_post`); redirects are never followed.

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
        An :class:`Attempt` (its ``url`` redacted, WH-19). Transport failures are recorded, not raised.

    Raises:
        InvalidInput: a bad payload, secret, message id or timeout (caller bugs; nothing is sent).
    """
    timeout = check_timeout(timeout)
    body = encode_payload(payload)
    webhook_signing.sign(secrets, msg_id, 0, b"")  # validate secrets and id before any I/O
    started = now()
    signed = webhook_signing.headers(msg_id, int(started.timestamp()), body, secrets)
    return post_checked(url, body, "application/json", _judge, headers=signed, secrets=list(secrets), msg_id=msg_id,
                        timeout=timeout, client=client, now=now, allow_insecure=allow_insecure,
                        allow_private=allow_private, resolver=resolver, started=started)
