"""OpenAI API responses: Chat Completions, Responses, legacy Completions, the
final streaming chunk, Batch API output lines, and OpenAI-compatible gateways
(OpenRouter) that report their own cost.

OpenAI's prompt counts *include* cache reads and writes, and completion counts
already include reasoning, so we subtract the former and copy the latter.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypedDict

from ..models import UsageEvent
from ..timeutil import normalize_timestamp
from .base import Parser, RecordError, SourceContext, optional_text, token_count

_OBJECTS = frozenset({"chat.completion", "chat.completion.chunk", "response", "text_completion"})
# Responses API stream events that wrap the finished response, usage included.
_STREAM_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})
# Tiers priced at the standard rate; anything else (flex, priority, ...) changes the price.
_STANDARD_TIERS = frozenset({"default", "auto"})


class _Tokens(TypedDict):
    input_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    output_tokens: int
    reasoning_tokens: int


class OpenAIParser(Parser):
    name = "openai"
    description = "OpenAI API responses (Chat Completions, Responses, Batch output), one JSON object per line"
    # No prefilter: failed batch lines carry no "usage" yet must be reported, not skipped.

    def detect(self, record: Mapping[str, Any]) -> bool:
        if _is_batch_line(record):
            return True
        if _text(record, "type") in _STREAM_EVENTS:
            inner = record.get("response")
            return isinstance(inner, Mapping) and inner.get("object") == "response"
        return _text(record, "object") in _OBJECTS and "usage" in record

    def parse_record(self, record: Any, ctx: SourceContext) -> list[UsageEvent]:
        if not isinstance(record, Mapping):
            raise RecordError("expected a JSON object")
        if _is_batch_line(record):
            return _parse_batch_line(record, ctx)
        if _text(record, "type") in _STREAM_EVENTS:
            record = _object(record.get("response"), "response")
        return _parse_response(record, ctx)


def _is_batch_line(record: Mapping[str, Any]) -> bool:
    # Anthropic's batch results also carry custom_id, but under "result", never "response".
    return "custom_id" in record and "response" in record and "result" not in record


def _text(record: Mapping[str, Any], key: str) -> str | None:
    """A discriminator field, or None when it is not text (so set lookups cannot fail on lists)."""
    value = record.get(key)
    return value if isinstance(value, str) else None


def _object(value: Any, where: str) -> Mapping[str, Any]:
    """A nested object; null counts as empty because the API sends null for absent details."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise RecordError(f"{where} must be an object, got {type(value).__name__}")
    return value


# -- batch output -------------------------------------------------------------


def _parse_batch_line(record: Mapping[str, Any], ctx: SourceContext) -> list[UsageEvent]:
    response = _object(record.get("response"), "response")
    body = _object(response.get("body"), "response.body")
    status = response.get("status_code")
    if body.get("usage") is None:
        error = record.get("error") or body.get("error")
        if error is not None or (status is not None and status != 200):
            raise RecordError(f"batch request failed: {_describe_error(error, status)}")
        raise RecordError("batch response has no usage")
    custom_id = optional_text(record, "custom_id", where="batch ")
    return _parse_response(
        body,
        ctx,
        # Embedding bodies have no id; the batch line's own id is just as stable.
        fallback_id=optional_text(record, "id", where="batch "),
        # The body says service_tier "default": nothing in it reveals the 50% batch discount.
        context={"processing": "batch"},
        metadata={"custom_id": custom_id} if custom_id else None,
    )


def _describe_error(error: Any, status: Any) -> str:
    parts = []
    if status is not None and status != 200:
        parts.append(f"HTTP {status}")
    if isinstance(error, Mapping):
        message = error.get("message")
        code = error.get("code") or error.get("type")
        if isinstance(message, str) and message:
            parts.append(message[:200])
        if isinstance(code, str) and code:
            parts.append(f"({code})")
    elif isinstance(error, str) and error:
        parts.append(error[:200])
    return " ".join(parts) or "no details given"


# -- one response -------------------------------------------------------------


def _parse_response(
    body: Mapping[str, Any],
    ctx: SourceContext,
    *,
    fallback_id: str | None = None,
    context: dict[str, str] | None = None,
    metadata: dict[str, Any] | None = None,
) -> list[UsageEvent]:
    usage = body.get("usage")
    if usage is None:
        if body.get("object") == "chat.completion.chunk":
            return []  # only the last chunk of a stream carries usage
        status = body.get("status")
        detail = f" (status {status})" if isinstance(status, str) else ""
        raise RecordError(f"response has no usage{detail}")
    usage = _object(usage, "usage")
    model = optional_text(body, "model")
    if not model:
        raise RecordError("model is required")
    cost = _reported_cost(usage)
    metadata = dict(metadata or {})
    upstream = body.get("provider")
    if cost is not None and isinstance(upstream, str) and upstream:
        metadata["upstream_provider"] = upstream[:64]  # which host OpenRouter routed to
    return [
        UsageEvent(
            timestamp=_timestamp(body, ctx),
            # OpenRouter names models "vendor/model" and reports the charge itself.
            provider="openrouter" if cost is not None and "/" in model else "openai",
            model=model,
            id=optional_text(body, "id") or fallback_id,
            project=ctx.project,
            user=optional_text(body, "user"),
            price_context=_price_context(body, context),
            reported_cost_usd=cost,
            metadata=metadata or None,
            source="openai",
            **_tokens(usage),
        )
    ]


def _price_context(body: Mapping[str, Any], context: dict[str, str] | None) -> dict[str, str] | None:
    # Read the tier from the response, not the request: "auto" and downgrades make them differ.
    out = dict(context or {})
    tier = optional_text(body, "service_tier")
    if tier and tier not in _STANDARD_TIERS:
        out["service_tier"] = tier
    return out or None


def _tokens(usage: Mapping[str, Any]) -> _Tokens:
    """Disjoint buckets from either usage shape; both count cache inside the prompt."""
    if "prompt_tokens" in usage or "completion_tokens" in usage:
        prompt_key, output_key = "prompt_tokens", "completion_tokens"
    elif "input_tokens" in usage or "output_tokens" in usage:
        prompt_key, output_key = "input_tokens", "output_tokens"
    else:
        raise RecordError("usage has neither prompt_tokens nor input_tokens")
    prompt = token_count(usage, prompt_key, where="usage.")
    output = token_count(usage, output_key, where="usage.")
    prompt_details_key = f"{prompt_key}_details"
    prompt_details = _object(usage.get(prompt_details_key), f"usage.{prompt_details_key}")
    where = f"usage.{prompt_details_key}."
    cached = token_count(prompt_details, "cached_tokens", where=where)
    writes = token_count(prompt_details, "cache_write_tokens", where=where)
    if cached + writes > prompt:
        raise RecordError(
            f"cached ({cached}) plus cache-write ({writes}) tokens exceed {prompt_key} ({prompt})"
        )
    output_details_key = f"{output_key}_details"
    output_details = _object(usage.get(output_details_key), f"usage.{output_details_key}")
    reasoning = token_count(output_details, "reasoning_tokens", where=f"usage.{output_details_key}.")
    if reasoning > output:
        raise RecordError(f"reasoning_tokens ({reasoning}) exceed {output_key} ({output}), their superset")
    return {
        "input_tokens": prompt - cached - writes,
        "cache_read_tokens": cached,
        "cache_write_tokens": writes,
        "output_tokens": output,
        "reasoning_tokens": reasoning,
    }


def _timestamp(body: Mapping[str, Any], ctx: SourceContext) -> str:
    # Chat Completions say `created`, the Responses API `created_at`; both are epoch seconds.
    key = "created_at" if body.get("created_at") is not None else "created"
    value = body.get(key)
    if value is None or value == 0:  # some compatible servers send 0 for "unknown"
        return ctx.fallback_timestamp
    try:
        return normalize_timestamp(value)
    except ValueError as exc:
        raise RecordError(f"{key}: {exc}") from None


def _usd(value: Any, where: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(f"{where} must be a number, got {type(value).__name__}")
    try:
        amount = Decimal(str(value))  # str() keeps the decimal the gateway printed, not the binary float
    except InvalidOperation:
        raise RecordError(f"{where} must be a number, got {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise RecordError(f"{where} must be a finite, non-negative amount")
    return amount


def _reported_cost(usage: Mapping[str, Any]) -> Decimal | None:
    """OpenRouter's own charge; with a user's own key (BYOK) the upstream bill comes on top."""
    cost = _usd(usage.get("cost"), "usage.cost")
    if cost is None or usage.get("is_byok") is not True:
        return cost
    details = _object(usage.get("cost_details"), "usage.cost_details")
    upstream = _usd(details.get("upstream_inference_cost"), "usage.cost_details.upstream_inference_cost")
    return cost if upstream is None else cost + upstream
