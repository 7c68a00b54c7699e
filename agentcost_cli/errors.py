"""Error types shared by every layer, and the exit codes they map to.

Services raise these; the CLI turns them into `title: message` plus a hint on
stderr and the mapped exit code (the HTTP layer will map them to statuses).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    UNEXPECTED = 1
    USAGE = 2  # bad flags, bad config, bad input the user must fix
    NOT_FOUND = 3
    UNAVAILABLE = 4  # store locked/unreachable, remote daemon down
    BUDGET_EXCEEDED = 5
    REJECTED = 6  # ingest finished but some input lines were rejected
    NOT_PERMITTED = 7  # authenticated, but the actor's role or key scope does not allow it
    UNAUTHENTICATED = 8  # missing, wrong, expired or revoked credentials
    THROTTLED = 9  # too many attempts; retry after the given delay


class AgentcostError(Exception):
    """Base class: an expected failure with a message meant for people."""

    exit_code: ExitCode = ExitCode.UNEXPECTED
    title = "error"
    http_status = 500  # what the HTTP API answers with (problem+json)

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class InvalidInput(AgentcostError):
    exit_code = ExitCode.USAGE
    title = "invalid input"
    http_status = 422


class Conflict(AgentcostError):
    """The request is valid but clashes with what exists (a taken email, the last owner leaving)."""

    exit_code = ExitCode.USAGE
    title = "conflict"
    http_status = 409


class ConfigError(AgentcostError):
    exit_code = ExitCode.USAGE
    title = "configuration error"
    http_status = 500


class NotFound(AgentcostError):
    exit_code = ExitCode.NOT_FOUND
    title = "not found"
    http_status = 404


class AuthError(AgentcostError):
    """Credentials missing or not accepted. The message never says which part was wrong
    (unknown user vs wrong password, unknown vs revoked key)."""

    exit_code = ExitCode.UNAUTHENTICATED
    title = "not authenticated"
    http_status = 401


class InvalidToken(AuthError):
    """The bearer credential itself (an access token or API key) is unknown, expired or revoked.
    The API says so with RFC 6750's `WWW-Authenticate: Bearer error="invalid_token"`, which tells a
    client that a refreshed token may succeed, unlike a wrong password or code in the body."""


class MfaRequired(AuthError):
    """The password was right; a TOTP or recovery code must follow."""

    title = "second factor required"


class PermissionDenied(AgentcostError):
    exit_code = ExitCode.NOT_PERMITTED
    title = "not permitted"
    http_status = 403


class Throttled(AgentcostError):
    exit_code = ExitCode.THROTTLED
    title = "too many attempts"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint or f"try again in {retry_after} s")
        self.retry_after = retry_after


class StoreError(AgentcostError):
    exit_code = ExitCode.UNAVAILABLE
    title = "store error"
    http_status = 503


class PricingError(AgentcostError):
    exit_code = ExitCode.USAGE
    title = "pricing error"


class RemoteError(AgentcostError):
    exit_code = ExitCode.UNAVAILABLE
    title = "remote error"


class IngestRejected(AgentcostError):
    """Raised by --strict ingestion: nothing was written."""

    exit_code = ExitCode.REJECTED
    title = "ingest rejected"
