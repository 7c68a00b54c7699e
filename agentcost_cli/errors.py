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


class AgentcostError(Exception):
    """Base class: an expected failure with a message meant for people."""

    exit_code: ExitCode = ExitCode.UNEXPECTED
    title = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class InvalidInput(AgentcostError):
    exit_code = ExitCode.USAGE
    title = "invalid input"


class ConfigError(AgentcostError):
    exit_code = ExitCode.USAGE
    title = "configuration error"


class NotFound(AgentcostError):
    exit_code = ExitCode.NOT_FOUND
    title = "not found"


class StoreError(AgentcostError):
    exit_code = ExitCode.UNAVAILABLE
    title = "store error"


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
