"""RFC 9457 problem details: every 4xx/5xx answer is `application/problem+json` with a
documented `type`, a `title`, the `status` and a `detail`; never a stack trace (API-01).

Each error class maps to one type; the types are listed in PROBLEM_TYPES (and the OpenAPI
description), and `GET /problems/{slug}` explains each.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import (
    AgentcostError,
    AuthError,
    Conflict,
    InvalidInput,
    InvalidToken,
    MfaRequired,
    NotFound,
    PermissionDenied,
    StoreError,
    Throttled,
)

MEDIA_TYPE = "application/problem+json"
log = logging.getLogger(__name__)

# slug -> (status, title, what it means). The `type` member is "/problems/<slug>".
PROBLEM_TYPES: dict[str, tuple[int, str, str]] = {
    "invalid-input": (422, "Invalid input", "The request was understood but a value is not acceptable."),
    "validation-error": (422, "Validation failed", "The body does not match the schema; `errors` lists each "
                         "problem with a JSON pointer."),
    "malformed-json": (400, "Malformed JSON", "The body is not valid JSON."),
    "unauthenticated": (401, "Not authenticated", "Credentials are missing, wrong, expired or revoked."),
    "mfa-required": (401, "Second factor required", "The password (or single sign-on) was right; send a TOTP or "
                     "recovery code (single sign-on: with the answer's `mfa_ticket`)."),
    "forbidden": (403, "Not permitted", "The credentials are valid but their role or scopes do not allow this."),
    "https-required": (403, "HTTPS required", "This server accepts plain HTTP only from loopback or trusted proxies."),
    "not-found": (404, "Not found", "No such resource, or not one the caller may see."),
    "method-not-allowed": (405, "Method not allowed", "The route exists but not with this method."),
    "conflict": (409, "Conflict", "The request clashes with what exists."),
    "payload-too-large": (413, "Payload too large", "The body exceeds the configured size or event count."),
    "unsupported-media-type": (415, "Unsupported media type", "Send application/json."),
    "authorization-pending": (400, "Authorization pending", "Single sign-on: the user has not finished at the "
                              "identity provider yet; poll again after the interval (RFC 8628 authorization_pending)."),
    "slow-down": (400, "Slow down", "Single sign-on: polling too often; add 5 seconds to the interval, then poll "
                  "again (RFC 8628 slow_down)."),
    "expired-token": (400, "Sign-in expired", "Single sign-on: the device code expired or was already used before "
                      "it was approved; start again (RFC 8628 expired_token)."),
    "access-denied": (401, "Sign-in declined", "Single sign-on: the user declined at the identity provider "
                      "(RFC 8628 access_denied)."),
    "identity-provider-error": (502, "Identity provider error", "Single sign-on: the identity provider cannot be "
                                "reached or answered something unusable; retry later."),
    "identity-conflict": (409, "Identity conflict", "Single sign-on: the account with the address the provider "
                          "vouched for is linked to another identity at that provider; an administrator can remove "
                          "the old link (DELETE /v1/users/{email}/identities) if it is the same person."),
    "rate-limited": (429, "Too many requests", "A rate limit was reached; retry after `Retry-After` seconds."),
    "internal-error": (500, "Internal error", "The server failed; the request id in the logs tells which request."),
    "unavailable": (503, "Service unavailable", "The store is unreachable or busy; retry later. Nothing was stored."),
}

_BY_CLASS: list[tuple[type[AgentcostError], str]] = [
    (MfaRequired, "mfa-required"),
    (AuthError, "unauthenticated"),
    (PermissionDenied, "forbidden"),
    (NotFound, "not-found"),
    (Conflict, "conflict"),
    (Throttled, "rate-limited"),
    (InvalidInput, "invalid-input"),
    (StoreError, "unavailable"),
]


def problem(slug: str, detail: str, *, status: int | None = None, headers: dict[str, str] | None = None,
            **extra: Any) -> JSONResponse:
    """A problem+json response of the documented type `slug`."""
    default_status, title, _ = PROBLEM_TYPES[slug]
    code = status or default_status
    body = {"type": f"/problems/{slug}", "title": title, "status": code, "detail": detail, **extra}
    return JSONResponse(body, status_code=code, media_type=MEDIA_TYPE, headers=headers)


def slug_for(exc: AgentcostError) -> str:
    for cls, slug in _BY_CLASS:
        if isinstance(exc, cls):
            return slug
    return "internal-error"


def _pointer(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc[1:]] if loc and loc[0] in ("body", "query", "path", "header") else [
        str(p) for p in loc]
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _allowed_methods(request: Request) -> list[str]:
    from starlette.routing import Match

    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE and getattr(route, "methods", None):
            methods.update(route.methods)
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into a problem document."""

    @app.exception_handler(AgentcostError)
    async def _agentcost_error(request: Request, exc: AgentcostError) -> JSONResponse:
        slug = slug_for(exc)
        headers: dict[str, str] = {}
        extra: dict[str, Any] = {}
        if isinstance(exc, Throttled):
            headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, AuthError):  # RFC 6750: only a bad bearer token is `invalid_token`
            headers["WWW-Authenticate"] = 'Bearer error="invalid_token"' if isinstance(exc, InvalidToken) else "Bearer"
        if exc.hint:
            extra["hint"] = exc.hint
        if slug == "internal-error":
            log.error("unexpected agentcost error", exc_info=exc)
            return problem(slug, "the server failed to handle this request")
        return problem(slug, exc.message, status=exc.http_status if slug != "unavailable" else 503,
                       headers=headers, **extra)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"detail": str(e.get("msg", "invalid")), "pointer": _pointer(tuple(e.get("loc", ())))}
                  for e in exc.errors()]
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return problem("malformed-json", "the body is not valid JSON", errors=errors)
        return problem("validation-error", f"{len(errors)} invalid value(s)", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed", 413: "payload-too-large",
                415: "unsupported-media-type", 401: "unauthenticated", 403: "forbidden"}.get(exc.status_code)
        if slug is None:
            slug = "internal-error" if exc.status_code >= 500 else "invalid-input"
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method of the path, not just the first route's (RFC 9110)
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return problem(slug, str(exc.detail), status=exc.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", exc_info=exc)
        return problem("internal-error", "the server failed to handle this request")
