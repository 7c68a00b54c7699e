"""Turn what `record()` is given into a validated native event (docs/events.md).

The checks are the cheap ones that catch programming mistakes at the call site
(no model, a negative or fractional token count, a misspelt field, a local time
without an offset); the server validates everything again.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from ..timeutil import format_utc, normalize_timestamp  # standard library only
from .errors import InvalidEventError

TOKEN_FIELDS = (
    "input_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens",
    "output_tokens", "reasoning_tokens",
)
NATIVE_FIELDS = frozenset({
    "id", "timestamp", "provider", "model", "project", *TOKEN_FIELDS, "requests", "latency_ms", "user",
    "session", "agent", "key_id", "tags", "price_context", "reported_cost_usd", "metadata",
})
# What `agentcost export events` adds; the server accepts and ignores them, so an export re-sends as is.
_EXPORT_ONLY = frozenset({"cost_usd", "cost_source", "pricing_revision", "model_ref", "source_format", "ingested_at"})
_ALLOWED = NATIVE_FIELDS | _EXPORT_ONLY
_TEXT_FIELDS = ("provider", "user", "session", "agent", "key_id")
MAX_ID_LEN = 128
MAX_TOKENS = 10**12  # the server's plausibility bound


def new_event_id() -> str:
    return "sdk_" + uuid.uuid4().hex


def now_timestamp() -> str:
    return format_utc(datetime.now(UTC))


def native_event(event: Any, *, default_project: str | None = None) -> dict[str, Any]:
    """A validated copy of `event` (a mapping, or a UsageEvent) with an `id` and a canonical UTC
    `timestamp`. Raises InvalidEventError."""
    if isinstance(event, Mapping):
        data = dict(event)
    elif callable(getattr(event, "to_native", None)):  # agentcost_cli.models.UsageEvent
        data = {k: v for k, v in event.to_native().items() if v is not None}
    else:
        raise InvalidEventError(f"an event must be a dict or a UsageEvent, not {type(event).__name__}")
    unknown = sorted(str(k) for k in data if k not in _ALLOWED)
    if unknown:
        raise InvalidEventError(f"unknown field {unknown[0]!r} (the native fields are listed in docs/events.md)")

    model = data.get("model")
    if not isinstance(model, str) or not model.strip():
        raise InvalidEventError("model is required (the model id the provider reported)")
    data["timestamp"] = _timestamp(data.get("timestamp"))
    for name in (*TOKEN_FIELDS, "requests"):
        if name in data:
            data[name] = _count(name, data[name])
            if data[name] is None:
                del data[name]
    if data.get("reasoning_tokens", 0) > data.get("output_tokens", 0):
        raise InvalidEventError("reasoning_tokens is part of output_tokens and cannot exceed it")
    latency = data.get("latency_ms")
    if latency is not None and (isinstance(latency, bool) or not isinstance(latency, int | float)
                                or not math.isfinite(latency) or latency < 0):
        raise InvalidEventError(f"latency_ms must be a non-negative number, got {latency!r}")
    data["id"] = _event_id(data.get("id"))
    if data.get("project") is None:
        data.pop("project", None)
        if default_project:
            data["project"] = default_project
    for name in (*_TEXT_FIELDS, "project"):
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            raise InvalidEventError(f"{name} must be text, got {type(value).__name__}")
    for name in ("tags", "price_context"):
        value = data.get(name)
        if value is not None and not isinstance(value, Mapping | list):
            raise InvalidEventError(f"{name} must be an object of text (or a list of 'k=v' strings)")
    metadata = data.get("metadata")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise InvalidEventError("metadata must be an object")
    cost = data.get("reported_cost_usd")
    if isinstance(cost, Decimal):
        data["reported_cost_usd"] = format(cost, "f")
    return data


def encode(event: Mapping[str, Any]) -> bytes:
    """The event's JSON, computed once so every retry sends identical bytes. Raises InvalidEventError."""
    try:
        return json.dumps(event, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                          default=_json_default).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidEventError(f"event {event.get('id')!r} is not JSON-serializable: {exc}") from None


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serializable")


def _timestamp(value: Any) -> str:
    if value is None or value == "":
        return now_timestamp()
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidEventError("timestamp is a naive datetime: give it a time zone (e.g. datetime.now(UTC))")
        return format_utc(value)
    if isinstance(value, date):
        value = value.isoformat()  # a bare date means midnight UTC
    try:
        return normalize_timestamp(value)
    except ValueError as exc:
        raise InvalidEventError(str(exc)) from None


def _count(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidEventError(f"{name} must be a whole number, got {value!r}")
    if value < 0:
        raise InvalidEventError(f"{name} must not be negative, got {value}")
    if value > MAX_TOKENS:
        raise InvalidEventError(f"{name} is implausibly large ({value})")
    return value


def _event_id(value: Any) -> str:
    if value is None or value == "":
        return new_event_id()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise InvalidEventError(f"id must be text, got {type(value).__name__}")
    if len(value) > MAX_ID_LEN:
        raise InvalidEventError(f"id is longer than {MAX_ID_LEN} characters")
    return value
