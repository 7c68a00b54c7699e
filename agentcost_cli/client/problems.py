"""The daemon's RFC 9457 problem documents -> agentcost errors (and so CLI exit codes).

| status | error | exit |
|---|---|---|
| 401 (type mfa-required) | MfaRequired | 8 |
| 401 | AuthError | 8 |
| 403 | PermissionDenied | 7 |
| 404 | NotFound | 3 |
| 409 | Conflict | 2 |
| 400, 413, 415, 422 | InvalidInput | 2 |
| 429 | Throttled (retry_after from Retry-After) | 9 |
| 3xx, 5xx, anything else | RemoteError (names the server) | 4 |
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import httpx

from ..errors import (
    AgentcostError,
    AuthError,
    Conflict,
    InvalidInput,
    MfaRequired,
    NotFound,
    PermissionDenied,
    RemoteError,
    Throttled,
)
from ..timeutil import seconds_until_http_date

DEFAULT_RETRY_AFTER = 1


def problem_document(response: httpx.Response) -> dict[str, Any]:
    """The problem+json (or plain JSON) body as a dict; {} when there is none or it is not JSON."""
    kind = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if not kind.endswith(("/json", "+json")):
        return {}
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def problem_slug(document: dict[str, Any]) -> str:
    """"mfa-required" for type "/problems/mfa-required" (relative or absolute URI)."""
    return str(document.get("type") or "").rstrip("/").rsplit("/", 1)[-1]


def retry_after(response: httpx.Response) -> int:
    """Seconds from Retry-After (delta-seconds or an HTTP date); at least 1."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return DEFAULT_RETRY_AFTER
    try:
        return max(1, math.ceil(float(value)))
    except ValueError:
        pass
    seconds = seconds_until_http_date(value, datetime.now(UTC))
    return DEFAULT_RETRY_AFTER if seconds is None else max(1, math.ceil(seconds))


def error_for(response: httpx.Response, server: str) -> AgentcostError:
    """The agentcost error for a non-2xx answer from `server`."""
    status = response.status_code
    doc = problem_document(response)
    detail = str(doc.get("detail") or doc.get("title") or response.reason_phrase or f"HTTP {status}")
    hint = doc.get("hint") if isinstance(doc.get("hint"), str) else None
    if 300 <= status < 400:
        where = response.headers.get("location", "elsewhere")
        return RemoteError(f"{server} redirected {response.request.method} {response.request.url.path} to {where}",
                           hint="use the final address with --server (https:// when the server asks for it)")
    if status == 401:
        cls = MfaRequired if problem_slug(doc) == "mfa-required" else AuthError
        return cls(detail, hint=hint)
    if status == 403:
        return PermissionDenied(detail, hint=hint)
    if status == 404:
        return NotFound(detail, hint=hint)
    if status == 409:
        return Conflict(detail, hint=hint)
    if status in (400, 413, 415, 422):
        return InvalidInput(_with_field_errors(detail, doc), hint=hint)
    if status == 429:
        return Throttled(f"{server} says: {detail}", retry_after=retry_after(response))
    if status >= 500:
        return RemoteError(f"{server} failed ({status}): {detail}",
                           hint=hint or "try again later; the server's logs tell more (see its X-Request-ID)")
    return RemoteError(f"unexpected answer from {server} ({status}): {detail}", hint=hint)


def _with_field_errors(detail: str, doc: dict[str, Any]) -> str:
    errors = doc.get("errors")
    if not isinstance(errors, list) or not errors:
        return detail
    parts = [f"{e.get('pointer', '')}: {e.get('detail', '')}".strip(": ") for e in errors[:5] if isinstance(e, dict)]
    return f"{detail} ({'; '.join(parts)})" if parts else detail
