"""agentcost's own event format (docs/events.md), as JSON lines or CSV rows."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from ..models import TOKEN_FIELDS, UsageEvent
from ..timeutil import normalize_timestamp
from .base import Parser, RecordError, SourceContext, optional_text, string_map, token_count

NATIVE_FIELDS = (
    "id", "timestamp", "provider", "model", "project", *TOKEN_FIELDS, "requests", "latency_ms", "user",
    "session", "agent", "key_id", "tags", "price_context", "reported_cost_usd", "metadata",
)
_KNOWN = frozenset(NATIVE_FIELDS)
# Fields `agentcost export events` adds; accepted (and ignored) so an export re-imports cleanly.
_EXPORT_ONLY = frozenset({"cost_usd", "cost_source", "pricing_revision", "model_ref", "source_format", "ingested_at"})


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


def event_from_native(record: Mapping[str, Any], ctx: SourceContext) -> UsageEvent:
    """Validate one native record. Unknown fields are errors: a typo must not drop tokens silently."""
    unknown = [k for k in record if k not in _KNOWN and k not in _EXPORT_ONLY]
    if unknown:
        raise RecordError(f"unknown field {unknown[0]!r}")
    if record.get("timestamp") in (None, ""):
        raise RecordError("timestamp is required")
    try:
        timestamp = normalize_timestamp(record["timestamp"])
    except ValueError as exc:
        raise RecordError(str(exc)) from None
    model = optional_text(record, "model")
    if not model:
        raise RecordError("model is required")
    provider = optional_text(record, "provider") or ""
    tokens = {name: token_count(record, name) for name in TOKEN_FIELDS}
    if tokens["reasoning_tokens"] > tokens["output_tokens"]:
        raise RecordError("reasoning_tokens is part of output_tokens and cannot exceed it")
    requests = token_count(record, "requests", default=1)
    latency = record.get("latency_ms")
    if latency is not None and (isinstance(latency, bool) or not isinstance(latency, int | float) or latency < 0):
        raise RecordError("latency_ms must be a non-negative number")
    metadata = record.get("metadata")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise RecordError("metadata must be an object")
    event_id = optional_text(record, "id")
    return UsageEvent(
        timestamp=timestamp,
        provider=provider,
        model=model,
        requests=requests,
        id=event_id,
        project=ctx.project or optional_text(record, "project", max_len=128),
        latency_ms=None if latency is None else int(latency),
        user=optional_text(record, "user"),
        session=optional_text(record, "session"),
        agent=optional_text(record, "agent"),
        key_id=optional_text(record, "key_id"),
        tags=string_map(record.get("tags"), "tags"),
        price_context=string_map(record.get("price_context"), "price_context"),
        reported_cost_usd=_decimal(record.get("reported_cost_usd"), "reported_cost_usd"),
        metadata=dict(metadata) if metadata else None,
        source="native",
        **tokens,
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
