"""Gemini `generateContent` responses (Gemini API and Vertex AI), plus the
envelopes their batch jobs write around each response.

Gemini's `promptTokenCount` *includes* cached content, tool-use prompt tokens
come on top, and `candidatesTokenCount` *excludes* thinking tokens, so all
three need adjusting to fit our disjoint buckets.

Responses are read in the REST API's camelCase and in the snake_case that the
google-genai SDK's `model_dump()` writes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypedDict

from ..models import UsageEvent
from ..timeutil import normalize_timestamp
from .base import Parser, RecordError, SourceContext, optional_text, token_count

_FIELDS = (
    "usageMetadata", "promptTokenCount", "cachedContentTokenCount", "toolUsePromptTokenCount",
    "candidatesTokenCount", "thoughtsTokenCount", "totalTokenCount", "trafficType", "modelVersion",
    "responseId", "createTime",
)
_SNAKE = {name: re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower() for name in _FIELDS}
# Vertex pay-as-you-go variants priced off the standard rate.
_TRAFFIC_TIERS = {"ON_DEMAND_FLEX": "flex", "ON_DEMAND_PRIORITY": "priority"}


class _Tokens(TypedDict):
    input_tokens: int
    cache_read_tokens: int
    output_tokens: int
    reasoning_tokens: int


class GeminiParser(Parser):
    name = "gemini"
    description = "Gemini / Vertex AI generateContent responses and batch output, one JSON object per line"
    # No prefilter: failed batch lines carry no usageMetadata yet must be reported, not skipped.

    def detect(self, record: Mapping[str, Any]) -> bool:
        return _has_usage(record) or _is_batch_line(record)

    def parse_record(self, record: Any, ctx: SourceContext) -> list[UsageEvent]:
        if not isinstance(record, Mapping):
            raise RecordError("expected a JSON object")
        if _is_batch_line(record):
            return [_parse_batch_line(record, ctx)]
        return [_parse_response(record, ctx)]


def _key(record: Mapping[str, Any], camel: str) -> str:
    """The spelling of a field this record uses (REST camelCase unless the snake_case one is there)."""
    snake = _SNAKE[camel]
    return snake if camel not in record and snake in record else camel


def _has_usage(record: Mapping[str, Any]) -> bool:
    if "usageMetadata" in record:
        return True
    # LangChain messages also have a `usage_metadata`; only Gemini's holds *_token_count fields.
    usage = record.get("usage_metadata")
    return isinstance(usage, Mapping) and any(
        _SNAKE[name] in usage for name in ("promptTokenCount", "candidatesTokenCount", "totalTokenCount")
    )


def _is_batch_line(record: Mapping[str, Any]) -> bool:
    """Gemini API batch files write {"key", "response"|"error"}; Vertex {"request", "status", "response"}."""
    response = record.get("response")
    if isinstance(response, Mapping) and _has_usage(response):
        return "key" in record or "request" in record
    if "key" in record and "error" in record:
        return True
    request = record.get("request")
    return isinstance(request, Mapping) and "contents" in request and "status" in record


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RecordError(f"{where} must be an object, got {type(value).__name__}")
    return value


def _parse_batch_line(record: Mapping[str, Any], ctx: SourceContext) -> UsageEvent:
    # Vertex writes status "" on success and the error text otherwise.
    error = record.get("error") or record.get("status")
    if error:
        raise RecordError(f"batch request failed: {_describe_error(error)}")
    if record.get("response") is None:
        raise RecordError("batch line has neither a response nor an error")
    key = optional_text(record, "key", where="batch ")
    return _parse_response(
        _object(record.get("response"), "response"),
        ctx,
        batch=True,
        metadata={"key": key} if key else {},
        time_hint=record.get("processed_time"),
    )


def _describe_error(error: Any) -> str:
    if isinstance(error, Mapping):
        message, code = error.get("message"), error.get("status") or error.get("code")
        text = message[:200] if isinstance(message, str) else ""
        if isinstance(code, str | int) and not isinstance(code, bool):
            text = f"{text} ({code})" if text else str(code)
        return text or "no details given"
    return str(error)[:200]


def _parse_response(
    response: Mapping[str, Any],
    ctx: SourceContext,
    *,
    batch: bool = False,
    metadata: dict[str, Any] | None = None,
    time_hint: Any = None,
) -> UsageEvent:
    usage_key = _key(response, "usageMetadata")
    if response.get(usage_key) is None:
        raise RecordError("response has no usageMetadata")
    usage = _object(response[usage_key], usage_key)
    price_context = {"processing": "batch"} if batch else {}
    metadata = dict(metadata or {})
    traffic = optional_text(usage, _key(usage, "trafficType"), where=f"{usage_key}.")
    if traffic in _TRAFFIC_TIERS:
        price_context["service_tier"] = _TRAFFIC_TIERS[traffic]
    elif traffic == "PROVISIONED_THROUGHPUT":
        metadata["traffic_type"] = traffic  # paid by commitment, not per token: flag it for review
    return UsageEvent(
        timestamp=_timestamp(response, ctx, time_hint),
        provider="google",
        model=_model(response),
        id=optional_text(response, _key(response, "responseId")),
        project=ctx.project,
        price_context=price_context or None,
        metadata=metadata or None,
        source="gemini",
        **_tokens(usage, usage_key),
    )


def _tokens(usage: Mapping[str, Any], usage_key: str) -> _Tokens:
    where = f"{usage_key}."

    def count(camel: str) -> int:
        return token_count(usage, _key(usage, camel), where=where)

    prompt, cached = count("promptTokenCount"), count("cachedContentTokenCount")
    if cached > prompt:
        raise RecordError(
            f"cachedContentTokenCount ({cached}) exceeds promptTokenCount ({prompt}), which includes it"
        )
    thoughts = count("thoughtsTokenCount")
    return {
        # Tool-use prompt tokens (e.g. search results fed back in) are billed as input but counted apart.
        "input_tokens": prompt - cached + count("toolUsePromptTokenCount"),
        "cache_read_tokens": cached,
        "output_tokens": count("candidatesTokenCount") + thoughts,
        "reasoning_tokens": thoughts,
    }


def _model(response: Mapping[str, Any]) -> str:
    model = optional_text(response, _key(response, "modelVersion"))
    if not model:
        raise RecordError("modelVersion is required")
    return model.removeprefix("models/")  # resource-name form, as the Gemini API writes request models


def _timestamp(response: Mapping[str, Any], ctx: SourceContext, time_hint: Any) -> str:
    # Vertex stamps responses with createTime and batch lines with processed_time;
    # the Gemini API gives neither.
    key = _key(response, "createTime")
    value = response.get(key)
    if value in (None, ""):
        key, value = "processed_time", time_hint
    if value in (None, ""):
        return ctx.fallback_timestamp
    try:
        return normalize_timestamp(value)
    except ValueError as exc:
        raise RecordError(f"{key}: {exc}") from None
