"""The parser contract.

A `Parser` recognizes one input format. For each file (or stdin) the pipeline
opens a `ParseSession`, which may keep state across records (Codex turns,
Claude Code's session project) and hand that state to an import cursor so a
later run can resume mid-file.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ..models import UsageEvent


class RecordError(ValueError):
    """A record cannot become an event. The message is the reason shown to the user."""


@dataclass(frozen=True)
class SourceContext:
    """What a parser knows about the input it reads."""

    path: str  # as shown to the user; "-" for stdin
    fallback_timestamp: str  # --at, else the time of ingestion (canonical UTC)
    project: str | None = None  # --project: overrides what the data says


class ParseSession:
    """Parses the records of one input. The default session is stateless."""

    def __init__(self, parser: Parser, ctx: SourceContext) -> None:
        self.parser = parser
        self.ctx = ctx

    def parse(self, record: Any) -> list[UsageEvent]:
        """Events from one record; [] for records that carry no usage. Raises RecordError."""
        return self.parser.parse_record(record, self.ctx)

    def state(self) -> dict[str, Any] | None:
        """State to persist with an import cursor (JSON-serializable), or None."""
        return None


class Parser(ABC):
    name: ClassVar[str]
    description: ClassVar[str]
    # Lines lacking this byte string cannot carry usage, so the pipeline may skip
    # them without decoding JSON. None: every line must be parsed.
    prefilter: ClassVar[bytes | None] = None
    # Whether a later copy of an event (same dedupe key) with more tokens replaces
    # the stored one, instead of the first copy winning. For logs that write
    # growing snapshots of one reply (Claude Code streaming).
    dedupe_largest: ClassVar[bool] = False

    @abstractmethod
    def detect(self, record: Mapping[str, Any]) -> bool:
        """True when a decoded JSON record looks like this format."""

    @abstractmethod
    def parse_record(self, record: Any, ctx: SourceContext) -> list[UsageEvent]:
        """Events from one decoded record without session state; [] when it carries no usage.
        Raises RecordError."""

    def session(self, ctx: SourceContext, state: dict[str, Any] | None = None) -> ParseSession:
        return ParseSession(self, ctx)


# -- helpers every parser uses ------------------------------------------------

MAX_TOKENS = 10**12  # far above any real request; catches unit mix-ups and garbage


def token_count(record: Mapping[str, Any], key: str, *, default: int = 0, where: str = "") -> int:
    """A non-negative integer field (missing or null = default). Raises RecordError."""
    value = record.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise RecordError(f"{where}{key} must be a whole number, got {value!r}")
    if value < 0:
        raise RecordError(f"{where}{key} must not be negative, got {value}")
    if value > MAX_TOKENS:
        raise RecordError(f"{where}{key} is implausibly large ({value})")
    return value


def optional_text(record: Mapping[str, Any], key: str, *, where: str = "", max_len: int = 512) -> str | None:
    value = record.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise RecordError(f"{where}{key} must be text, got {type(value).__name__}")
    if len(value) > max_len:
        raise RecordError(f"{where}{key} is longer than {max_len} characters")
    return value


def string_map(value: Any, key: str) -> dict[str, str] | None:
    """tags / price_context: an object of strings, or a list of `k=v` / `k:v` / `k` strings."""
    if value is None or value == {} or value == []:
        return None
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str) or not k:
                raise RecordError(f"{key} keys must be non-empty text")
            if isinstance(v, bool):
                v = "true" if v else "false"
            elif isinstance(v, int | float):
                v = str(v)
            elif v is None:
                v = ""
            if not isinstance(v, str):
                raise RecordError(f"{key}.{k} must be text")
            out[k] = v
        return out
    if isinstance(value, list):
        out = {}
        for item in value:
            if not isinstance(item, str) or not item:
                raise RecordError(f"{key} entries must be non-empty text")
            for sep in ("=", ":"):
                if sep in item:
                    k, v = item.split(sep, 1)
                    out[k] = v
                    break
            else:
                out[item] = ""
        return out
    raise RecordError(f"{key} must be an object or a list of strings")
