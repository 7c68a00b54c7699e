"""agentcost's own event format (docs/events.md), as JSON lines or CSV rows."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from ..models import TOKEN_FIELDS, UsageEvent
from ..timeutil import normalize_timestamp
from .base import MAX_TOKENS, Parser, RecordError, SourceContext, optional_text, string_map, token_count

NATIVE_FIELDS = (
    "id", "timestamp", "provider", "model", "project", *TOKEN_FIELDS, "requests", "latency_ms", "user",
    "session", "agent", "key_id", "tags", "price_context", "reported_cost_usd", "metadata",
)
_KNOWN = frozenset(NATIVE_FIELDS)
# Fields `agentcost export events` adds; accepted (and ignored) so an export re-imports cleanly.
_EXPORT_ONLY = frozenset({"cost_usd", "cost_source", "pricing_revision", "model_ref", "source_format", "ingested_at"})
_ALLOWED = _KNOWN | _EXPORT_ONLY


def _decimal(value: Any, key: str) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RecordError(f"{key} must be a decimal number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise RecordError(f"{key} must be a decimal number, got {value!r}") from None
    if not number.is_finite() or number < 0:
        raise RecordError(f"{key} must be a finite, non-negative number")
    return number


def _plain_strings(value: Any) -> bool:
    """A non-empty dict of non-empty text to text: what tags nearly always are."""
    return type(value) is dict and bool(value) and all(
        type(k) is str and k and type(v) is str for k, v in value.items())


def _fast_text(record: Mapping[str, Any], key: str) -> str | None:
    value = record.get(key)
    # The common case (absent, or short text) without a function call per check.
    if value is None or (type(value) is str and 0 < len(value) <= 512):
        return value or None
    return optional_text(record, key)


def _fast_count(record: Mapping[str, Any], key: str, default: int = 0) -> int:
    value = record.get(key)
    if value is None:
        return default
    if type(value) is int and 0 <= value <= MAX_TOKENS:
        return value
    return token_count(record, key, default=default)


def event_from_native(record: Mapping[str, Any], ctx: SourceContext) -> UsageEvent:
    """Validate one native record. Unknown fields are errors: a typo must not drop tokens silently.

    This runs once per event on the ingest hot path, so the checks take fast paths
    for well-formed values and fall back to the general helpers for error messages.
    """
    if not _ALLOWED.issuperset(record):
        unknown = [k for k in record if k not in _ALLOWED]
        raise RecordError(f"unknown field {unknown[0]!r}")
    stamp = record.get("timestamp")
    if stamp is None or stamp == "":
        raise RecordError("timestamp is required")
    try:
        timestamp = normalize_timestamp(stamp)
    except ValueError as exc:
        raise RecordError(str(exc)) from None
    model = _fast_text(record, "model")
    if not model:
        raise RecordError("model is required")
    inp = _fast_count(record, "input_tokens")
    cache_read = _fast_count(record, "cache_read_tokens")
    cache_write = _fast_count(record, "cache_write_tokens")
    cache_write_1h = _fast_count(record, "cache_write_1h_tokens")
    out = _fast_count(record, "output_tokens")
    reasoning = _fast_count(record, "reasoning_tokens")
    if reasoning > out:
        raise RecordError("reasoning_tokens is part of output_tokens and cannot exceed it")
    latency = record.get("latency_ms")
    if latency is not None and not (type(latency) is int and latency >= 0) and (
            isinstance(latency, bool) or not isinstance(latency, int | float) or latency < 0):
        raise RecordError("latency_ms must be a non-negative number")
    metadata = record.get("metadata")
    # `type(...) is dict` first: isinstance against an ABC costs several times more, per event.
    if metadata is not None and type(metadata) is not dict and not isinstance(metadata, Mapping):
        raise RecordError("metadata must be an object")
    tags = record.get("tags")
    if tags is not None and not _plain_strings(tags):
        tags = string_map(tags, "tags")
    price_context = record.get("price_context")
    reported = record.get("reported_cost_usd")
    project = ctx.project or (_fast_text(record, "project") if record.get("project") is not None else None)
    if project is not None and len(project) > 128:
        raise RecordError("project is longer than 128 characters")
    return UsageEvent(
        timestamp=timestamp,
        provider=_fast_text(record, "provider") or "",
        model=model,
        input_tokens=inp,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        cache_write_1h_tokens=cache_write_1h,
        output_tokens=out,
        reasoning_tokens=reasoning,
        requests=_fast_count(record, "requests", 1),
        id=_fast_text(record, "id"),
        project=project,
        latency_ms=None if latency is None else int(latency),
        user=_fast_text(record, "user"),
        session=_fast_text(record, "session"),
        agent=_fast_text(record, "agent"),
        key_id=_fast_text(record, "key_id"),
        tags=tags or None,
        price_context=None if price_context is None else string_map(price_context, "price_context"),
        reported_cost_usd=None if reported is None else _decimal(reported, "reported_cost_usd"),
        metadata=dict(metadata) if metadata else None,
        source="native",
    )


class NativeParser(Parser):
    name = "native"
    description = "agentcost native events, one JSON object per line (docs/events.md)"

    def detect(self, record: Mapping[str, Any]) -> bool:
        return "timestamp" in record and "model" in record and any(k in record for k in TOKEN_FIELDS)

    def parse_record(self, record: Any, ctx: SourceContext) -> list[UsageEvent]:
        if not isinstance(record, Mapping):
            raise RecordError("expected a JSON object")
        return [event_from_native(record, ctx)]


_INT_COLUMNS = frozenset({*TOKEN_FIELDS, "requests", "latency_ms"})
_JSON_COLUMNS = frozenset({"tags", "price_context", "metadata"})


def csv_cell(name: str, text: str) -> Any:
    """Convert one CSV cell to what the native validator expects; empty cells are absent."""
    text = text.strip()
    if text == "":
        return None
    if name in _INT_COLUMNS:
        try:
            return int(text)
        except ValueError:
            raise RecordError(f"{name} must be a whole number, got {text!r}") from None
    if name in _JSON_COLUMNS:
        if text.startswith(("{", "[")):
            try:
                return orjson.loads(text)
            except orjson.JSONDecodeError:
                raise RecordError(f"{name} is not valid JSON") from None
        # tags/price_context may also be written `k=v;k2=v2`
        return [part for part in text.split(";") if part]
    return text


class CsvParser(Parser):
    """Rows keyed by the header; the header uses native field names (see docs/events.md)."""

    name = "csv"
    description = "CSV with a header row of native field names"

    def detect(self, record: Mapping[str, Any]) -> bool:
        return False  # CSV is chosen by extension or --format, never from a JSON record

    def parse_record(self, record: Any, ctx: SourceContext) -> list[UsageEvent]:
        converted = {k: csv_cell(k, v) for k, v in record.items() if k is not None and v is not None}
        return [event_from_native(converted, ctx)]
