"""One checked HTTP POST for every outbound notification (webhooks, Slack, Discord, ntfy, SMS).

`post_checked` validates the target on every attempt (WH-14: scheme, then DNS, then the
address) and sends to the checked IP with the real Host header and SNI, so a name cannot be
re-pointed between the check and the request. It never follows redirects, reads at most a
small part of the answer, records timeouts and connection errors instead of raising, and
scrubs the URL's credentials from every error (WH-19: chat webhook URLs are credentials).
What the answer means is the caller's `judge`: a signed webhook, Slack and Twilio differ.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypedDict
from urllib.parse import parse_qsl, urlsplit

import httpx
import orjson

from agentcost_cli.errors import InvalidInput
from agentcost_cli.notify.retry import parse_retry_after
from agentcost_cli.notify.targets import Resolver, UnresolvableTargetError, UnsafeTargetError, validate_target

DEFAULT_TIMEOUT = 15.0
MIN_TIMEOUT = 5.0
MAX_TIMEOUT = 30.0
MAX_RESPONSE_BYTES = 1024  # kept from the receiver's response body
USER_AGENT = "agentcost-webhooks/1"
# Test hook: lowered by the test suite only, so timeouts can be exercised in well under 5 s.
_min_timeout = MIN_TIMEOUT


class Outcome(StrEnum):
    DELIVERED = "delivered"  # 2xx
    RETRY = "retry"  # any other status, timeout, connection or DNS error
    DISABLE = "disable"  # 410 Gone: disable the endpoint now, no retries (WH-10)
    TERMINAL = "terminal"  # refused for good (e.g. a chat service's 400): no retries, endpoint stays
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


def check_timeout(timeout: float) -> float:
    """Return ``timeout`` if it is within 5–30 s (WH-07), else raise :class:`InvalidInput`."""
    if not (_min_timeout <= timeout <= MAX_TIMEOUT):
        raise InvalidInput(f"webhook timeout must be between {MIN_TIMEOUT:g} and {MAX_TIMEOUT:g} s, got {timeout:g}")
    return float(timeout)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def redact_url(url: str) -> str:
    """Return ``scheme://host[:port]/…`` plus at most the last 4 characters of a long path (WH-19).

    User info, the path and the query are credentials for chat webhooks, so none of them is shown
    except a 4-character tail that lets people tell two configured URLs apart.
    """
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return "<invalid URL>"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port else host
    rest = (parts.path.lstrip("/") + (f"?{parts.query}" if parts.query else "")).rstrip("/")
    if not rest:
        return f"{parts.scheme}://{netloc}/"
    return f"{parts.scheme}://{netloc}/…{rest[-4:] if len(rest) >= 16 else ''}"


def url_secrets(url: str) -> list[str]:
    """The parts of ``url`` that may be credentials, for :func:`_scrub`."""
    try:
        parts = urlsplit(url)
        found = [url, parts.path, parts.query, parts.username or "", parts.password or ""]
    except ValueError:
        return [url]
    found += [seg for seg in parts.path.split("/") if len(seg) >= 8]
    found += [value for _, value in parse_qsl(parts.query) if len(value) >= 8]
    return found


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "…")
    return text


@dataclass(frozen=True)
class Reply:
    """What came back: the status, headers and the first bytes of the body."""

    status: int
    headers: httpx.Headers
    body: bytes


Verdict = tuple[Outcome, float | None, str | None]
"""(outcome, retry-after seconds, response_body to record or None for the capped raw body)."""
Judge = Callable[[Reply, datetime], Verdict]


def header_retry_after(headers: httpx.Headers, now: datetime) -> float | None:
    """Parse ``Retry-After`` as seconds (fractions allowed, as Discord sends) or an HTTP date."""
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return parse_retry_after(value, now)
    return max(seconds, 0.0) if math.isfinite(seconds) else None


class SendOptions(TypedDict, total=False):
    """The keyword options every ``send_*`` accepts (same meaning as in ``webhook_send.deliver``).

    msg_id: the caller's id for this message, copied to the Attempt (same for every retry).
    timeout: per-attempt seconds, 5–30. client: an ``httpx.Client`` to reuse (a private one
    otherwise). now: the clock. allow_insecure / allow_private: local development flags that
    accept ``http://`` and loopback/private targets. resolver: host resolver for the target check.
    """

    msg_id: str
    timeout: float
    client: httpx.Client | None
    now: Callable[[], datetime]
    allow_insecure: bool
    allow_private: bool
    resolver: Resolver | None


def _host_header(scheme: str, host: str, port: int) -> str:
    value = host if ":" not in host else f"[{host}]"
    return value if port == (443 if scheme == "https" else 80) else f"{value}:{port}"


def post_checked(
    url: str,
    content: bytes,
    content_type: str,
    judge: Judge,
    *,
    headers: dict[str, str] | None = None,
    secrets: Iterable[str] = (),
    shown_url: str | None = None,
    read_limit: int = MAX_RESPONSE_BYTES,
    msg_id: str = "",
    timeout: float = DEFAULT_TIMEOUT,
    client: httpx.Client | None = None,
    now: Callable[[], datetime] = _utcnow,
    allow_insecure: bool = False,
    allow_private: bool = False,
    resolver: Resolver | None = None,
    started: datetime | None = None,
) -> Attempt:
    """POST ``content`` to the checked IP of ``url``, read at most ``read_limit`` bytes, judge, time it.

    ``started`` is the attempt's time when the caller fixed it already (a webhook signs it).

    Transport failures are recorded as RETRY (an unresolvable name too: it may be transient);
    a blocked target is BLOCKED and nothing is sent. Errors never contain ``url`` or ``secrets``.
    """
    timeout = check_timeout(timeout)
    started = started or now()
    hidden = [*url_secrets(url), *secrets]

    def record(outcome: Outcome, **fields: Any) -> Attempt:
        if fields.get("error"):
            fields["error"] = _scrub(fields["error"], hidden)
        return Attempt(
            msg_id=msg_id,
            url=shown_url or redact_url(url),
            outcome=outcome,
            attempted_at=started,
            webhook_timestamp=int(started.timestamp()),
            **fields,
        )

    try:
        target = validate_target(url, allow_insecure=allow_insecure, allow_private=allow_private, resolver=resolver)
    except UnsafeTargetError as exc:
        outcome = Outcome.RETRY if isinstance(exc, UnresolvableTargetError) else Outcome.BLOCKED
        return record(outcome, error=exc.message)

    address = target.addresses[0]
    request_headers = {
        "content-type": content_type,
        "user-agent": USER_AGENT,
        **(headers or {}),
        "host": _host_header(target.scheme, target.host, target.port),
    }
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    own_client = client is None
    http = client if client is not None else httpx.Client(trust_env=False, follow_redirects=False)
    t0 = time.perf_counter()
    try:
        with http.stream(
            "POST",
            httpx.URL(url).copy_with(host=str(address)),
            content=content,
            headers=request_headers,
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            extensions=extensions,
        ) as response:
            chunks = bytearray()
            for chunk in response.iter_bytes():
                chunks.extend(chunk)
                if len(chunks) >= read_limit:
                    break
            latency_ms = round((time.perf_counter() - t0) * 1000)
            reply = Reply(response.status_code, response.headers, bytes(chunks[:read_limit]))
            outcome, retry_after, body_text = judge(reply, now())
            if body_text is None:
                body_text = reply.body[:MAX_RESPONSE_BYTES].decode("utf-8", errors="replace")
            return record(
                outcome,
                status_code=reply.status,
                latency_ms=latency_ms,
                response_body=body_text[:MAX_RESPONSE_BYTES],
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


def json_field(body: bytes, key: str) -> Any:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return data.get(key) if isinstance(data, dict) else None


class _RedactRequestUrls(logging.Filter):
    """httpx logs every request at INFO with its full URL ("HTTP Request: POST http://…/services/
    T…/B…/<token> …"), and the daemon's root handlers take INFO: a Slack or Discord URL's
    credential (its path) went into the log (WH-19). Keep the line, drop the path and query."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(redact_url(str(a)) if isinstance(a, httpx.URL) else a for a in record.args)
        return True


if not any(isinstance(f, _RedactRequestUrls) for f in logging.getLogger("httpx").filters):
    logging.getLogger("httpx").addFilter(_RedactRequestUrls())
