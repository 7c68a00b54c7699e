"""Anthropic Messages API responses and Message Batches result lines.

Anthropic's `input_tokens` already *excludes* cache reads and writes, so its
buckets map straight onto ours; the work is splitting cache writes by TTL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..models import UsageEvent
from .base import Parser, RecordError, SourceContext, optional_text, token_count

_FAILED_RESULTS = frozenset({"errored", "canceled", "expired"})
_USAGE = "usage."


class AnthropicParser(Parser):
    name = "anthropic"
    description = "Anthropic Messages API responses and Message Batches results, one JSON object per line"
    # No prefilter: errored batch results carry no "usage" yet must be reported, not skipped.

    def detect(self, record: Mapping[str, Any]) -> bool:
        # Claude Code wraps messages in lines whose own type is "assistant", so they never match here.
        if record.get("type") == "message":
            return isinstance(record.get("usage"), Mapping)
        return _is_batch_result(record)

    def parse_record(self, record: Any, ctx: SourceContext) -> list[UsageEvent]:
        if not isinstance(record, Mapping):
            raise RecordError("expected a JSON object")
        if _is_batch_result(record):
            return [_parse_batch_result(record, ctx)]
        return [_parse_message(record, ctx)]


def _is_batch_result(record: Mapping[str, Any]) -> bool:
    result = record.get("result")
    if "custom_id" not in record or not isinstance(result, Mapping):
        return False
    kind = _result_type(result)
    return kind in _FAILED_RESULTS or (kind == "succeeded" and isinstance(result.get("message"), Mapping))


def _result_type(result: Mapping[str, Any]) -> str | None:
    kind = result.get("type")
    return kind if isinstance(kind, str) else None  # a list here must not break the set lookup


def _object(value: Any, where: str) -> Mapping[str, Any]:
    """A nested object; null counts as empty because the API sends null for absent details."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise RecordError(f"{where} must be an object, got {type(value).__name__}")
    return value


def _parse_batch_result(record: Mapping[str, Any], ctx: SourceContext) -> UsageEvent:
    result = _object(record.get("result"), "result")
    kind = _result_type(result)
    if kind in _FAILED_RESULTS:
        raise RecordError(f"batch request {kind}{_error_detail(result.get('error'))}")
    custom_id = optional_text(record, "custom_id", where="batch ")
    # Batch messages usually say service_tier "batch" too, but the envelope is proof enough.
    return _parse_message(
        _object(result.get("message"), "result.message"),
        ctx,
        batch=True,
        metadata={"custom_id": custom_id} if custom_id else {},
    )


def _error_detail(error: Any) -> str:
    # Errored results nest the API error: {"type": "error", "error": {"type": ..., "message": ...}}.
    while isinstance(error, Mapping) and isinstance(error.get("error"), Mapping):
        error = error["error"]
    if not isinstance(error, Mapping):
        return ""
    message, kind = error.get("message"), error.get("type")
    parts = [text[:200] for text in (message, kind) if isinstance(text, str) and text]
    if len(parts) == 2:
        return f": {parts[0]} ({parts[1]})"
    return f": {parts[0]}" if parts else ""


def _parse_message(
    message: Mapping[str, Any],
    ctx: SourceContext,
    *,
    batch: bool = False,
    metadata: dict[str, Any] | None = None,
) -> UsageEvent:
    kind = message.get("type")
    if kind != "message":
        raise RecordError(f"not an Anthropic message (type {str(kind)[:40]!r})")
    if message.get("usage") is None:
        raise RecordError("message has no usage")
    usage = _object(message.get("usage"), "usage")
    model = optional_text(message, "model")
    if not model:
        raise RecordError("model is required")
    metadata = dict(metadata or {})
    searches = token_count(_object(usage.get("server_tool_use"), "usage.server_tool_use"),
                           "web_search_requests", where="usage.server_tool_use.")
    if searches:
        metadata["web_search_requests"] = searches  # billed per search, outside token prices
    cache_5m, cache_1h = _cache_writes(usage)
    return UsageEvent(
        timestamp=ctx.fallback_timestamp,  # messages carry no time of their own
        provider="anthropic",
        model=model,
        input_tokens=token_count(usage, "input_tokens", where=_USAGE),
        cache_read_tokens=token_count(usage, "cache_read_input_tokens", where=_USAGE),
        cache_write_tokens=cache_5m,
        cache_write_1h_tokens=cache_1h,
        # Extended-thinking tokens are inside output_tokens and not reported apart.
        output_tokens=token_count(usage, "output_tokens", where=_USAGE),
        id=optional_text(message, "id"),
        project=ctx.project,
        price_context=_price_context(usage, batch=batch),
        metadata=metadata or None,
        source="anthropic",
    )


def _cache_writes(usage: Mapping[str, Any]) -> tuple[int, int]:
    """(5-minute, 1-hour) cache-write tokens. The 1-hour rate is 2x input, the 5-minute 1.25x."""
    total = token_count(usage, "cache_creation_input_tokens", where=_USAGE)
    breakdown = _object(usage.get("cache_creation"), "usage.cache_creation")
    where = "usage.cache_creation."
    five = token_count(breakdown, "ephemeral_5m_input_tokens", where=where)
    hour = token_count(breakdown, "ephemeral_1h_input_tokens", where=where)
    if five + hour == 0:
        # No (or an all-zero) breakdown: before 1-hour caching existed every write was 5-minute.
        return total, 0
    if usage.get("cache_creation_input_tokens") is not None and five + hour != total:
        raise RecordError(
            f"cache_creation breakdown ({five} + {hour}) does not add up to "
            f"cache_creation_input_tokens ({total})"
        )
    return five, hour


def _price_context(usage: Mapping[str, Any], *, batch: bool) -> dict[str, str] | None:
    context: dict[str, str] = {}
    tier = optional_text(usage, "service_tier", where=_USAGE)
    if batch or tier == "batch":
        context["processing"] = "batch"
    elif tier == "priority":
        context["service_tier"] = "priority"
    if optional_text(usage, "speed", where=_USAGE) == "fast":
        context["speed"] = "fast"  # fast mode is billed at a premium
    return context or None
