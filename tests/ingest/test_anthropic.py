"""AnthropicParser: fixture files, cache-write TTL split, tiers, batch results, rejections."""

from __future__ import annotations

from typing import Any

import pytest

from agentcost_cli.ingest.anthropic import AnthropicParser
from agentcost_cli.ingest.base import RecordError, SourceContext
from agentcost_cli.models import UsageEvent

parser = AnthropicParser()






def message(usage: Any, **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": "hello"}],
        "stop_reason": "end_turn",
        "usage": usage,
    }
    record.update(fields)
    return record


def one(record: dict[str, Any], ctx: SourceContext) -> UsageEvent:
    events = parser.parse_record(record, ctx)
    assert len(events) == 1
    return events[0]




# -- token conventions --------------------------------------------------------


def test_input_excludes_cache_and_writes_split_by_ttl(ctx: SourceContext) -> None:
    usage = {
        "input_tokens": 50,
        "cache_read_input_tokens": 20000,
        "cache_creation_input_tokens": 9000,
        "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 8000},
        "output_tokens": 300,
    }
    event = one(message(usage), ctx)
    assert event.input_tokens == 50  # already net of cache: nothing subtracted
    assert (event.cache_read_tokens, event.cache_write_tokens, event.cache_write_1h_tokens) == (20000, 1000, 8000)
    assert (event.output_tokens, event.reasoning_tokens) == (300, 0)
    assert event.prompt_tokens == 29050


def test_writes_without_breakdown_are_five_minute(ctx: SourceContext) -> None:
    usage = {"input_tokens": 5, "cache_creation_input_tokens": 2048, "cache_read_input_tokens": 0, "output_tokens": 9}
    event = one(message(usage), ctx)
    assert (event.cache_write_tokens, event.cache_write_1h_tokens) == (2048, 0)


def test_all_zero_breakdown_defers_to_the_total(ctx: SourceContext) -> None:
    usage = {
        "input_tokens": 5,
        "cache_creation_input_tokens": 700,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 9,
    }
    assert one(message(usage), ctx).cache_write_tokens == 700


def test_breakdown_without_total_is_used(ctx: SourceContext) -> None:
    usage = {
        "input_tokens": 5,
        "cache_creation": {"ephemeral_5m_input_tokens": 30, "ephemeral_1h_input_tokens": 40},
        "output_tokens": 9,
    }
    event = one(message(usage), ctx)
    assert (event.cache_write_tokens, event.cache_write_1h_tokens) == (30, 40)


def test_breakdown_that_disagrees_with_the_total_is_rejected(ctx: SourceContext) -> None:
    usage = {
        "input_tokens": 5,
        "cache_creation_input_tokens": 100,
        "cache_creation": {"ephemeral_5m_input_tokens": 30, "ephemeral_1h_input_tokens": 40},
        "output_tokens": 9,
    }
    with pytest.raises(RecordError, match=r"\(30 \+ 40\) does not add up to cache_creation_input_tokens \(100\)"):
        parser.parse_record(message(usage), ctx)


def test_minimal_usage(ctx: SourceContext) -> None:
    event = one(message({"input_tokens": 320, "output_tokens": 95}), ctx)
    assert (event.input_tokens, event.cache_read_tokens, event.cache_write_tokens, event.output_tokens) == (
        320, 0, 0, 95,
    )


# -- context: tiers, speed, batch, time ----------------------------------------


@pytest.mark.parametrize(("usage_extra", "context"), [
    ({"service_tier": "standard"}, None),
    ({"service_tier": "priority"}, {"service_tier": "priority"}),
    ({"service_tier": "batch"}, {"processing": "batch"}),
    ({"speed": "fast"}, {"speed": "fast"}),
    ({"speed": "standard"}, None),
    ({"service_tier": "priority", "speed": "fast"}, {"service_tier": "priority", "speed": "fast"}),
])
def test_price_context(usage_extra: dict[str, str], context: dict[str, str] | None, ctx: SourceContext) -> None:
    event = one(message({"input_tokens": 1, "output_tokens": 1, **usage_extra}), ctx)
    assert event.price_context == context


def test_messages_take_the_fallback_time_and_their_id(ctx: SourceContext) -> None:
    event = one(message({"input_tokens": 1, "output_tokens": 1}), ctx)
    assert (event.timestamp, event.id, event.provider, event.source) == (
        ctx.fallback_timestamp, "msg_test", "anthropic", "anthropic",
    )


def test_project_comes_from_the_context(ctx: SourceContext) -> None:
    scoped = SourceContext(path="x", fallback_timestamp=ctx.fallback_timestamp, project="evals")
    assert one(message({"input_tokens": 1, "output_tokens": 1}), scoped).project == "evals"


def test_web_searches_are_noted_not_content(ctx: SourceContext) -> None:
    usage = {"input_tokens": 1, "output_tokens": 1, "server_tool_use": {"web_search_requests": 3}}
    assert one(message(usage), ctx).metadata == {"web_search_requests": 3}
    assert one(message({"input_tokens": 1, "output_tokens": 1}), ctx).metadata is None


# -- batch results ------------------------------------------------------------------


def test_succeeded_batch_result(ctx: SourceContext) -> None:
    usage = {"input_tokens": 10, "cache_read_input_tokens": 90, "output_tokens": 4, "service_tier": "standard"}
    line = {"custom_id": "q-7", "result": {"type": "succeeded", "message": message(usage)}}
    assert parser.detect(line)
    event = one(line, ctx)
    # The envelope alone proves batch processing, whatever usage.service_tier says.
    assert event.price_context == {"processing": "batch"}
    assert event.metadata == {"custom_id": "q-7"}
    assert (event.id, event.input_tokens, event.cache_read_tokens) == ("msg_test", 10, 90)


@pytest.mark.parametrize(("result", "reason"), [
    ({"type": "errored", "error": {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}},
     "batch request errored: Overloaded (overloaded_error)"),
    ({"type": "errored", "error": None}, "batch request errored"),
    ({"type": "expired"}, "batch request expired"),
    ({"type": "canceled"}, "batch request canceled"),
])
def test_failed_batch_results(result: dict[str, Any], reason: str, ctx: SourceContext) -> None:
    line = {"custom_id": "q-8", "result": result}
    assert parser.detect(line)
    with pytest.raises(RecordError) as caught:
        parser.parse_record(line, ctx)
    assert str(caught.value) == reason


# -- rejections ----------------------------------------------------------------------


@pytest.mark.parametrize(("record", "reason"), [
    (message({"input_tokens": -3, "output_tokens": 1}), "input_tokens must not be negative"),
    (message({"input_tokens": 3, "output_tokens": "many"}), "output_tokens must be a whole number"),
    (message({"input_tokens": 3, "output_tokens": True}), "output_tokens must be a whole number"),
    (message({"input_tokens": 3, "output_tokens": 1, "cache_creation": 5}), "cache_creation must be an object"),
    (message({"input_tokens": 3, "output_tokens": 1}, model=None), "model is required"),
    (message(None), "message has no usage"),
    (message([]), "usage must be an object"),
    (message({"input_tokens": 1, "output_tokens": 1}, type="message_start"), "not an Anthropic message"),
    ({"custom_id": "q", "result": {"type": "succeeded", "message": {"type": "message", "usage": {}}}},
     "model is required"),
    ("msg_123", "expected a JSON object"),
])
def test_rejects_broken_records(record: Any, reason: str, ctx: SourceContext) -> None:
    with pytest.raises(RecordError, match=reason):
        parser.parse_record(record, ctx)


# -- detection ----------------------------------------------------------------------


CLAUDE_CODE_LINE = {
    "parentUuid": "6d1e0c1a-7a43-4a8e-9f57-3a1b2c3d4e5f",
    "sessionId": "2b7c9e1f-0a4d-4c6b-8e2f-9d1a3b5c7e9f",
    "requestId": "req_011CUxyz",
    "type": "assistant",
    "timestamp": "2026-11-18T09:00:00.000Z",
    "message": message({"input_tokens": 4, "output_tokens": 12}),
}


@pytest.mark.parametrize("record", [
    CLAUDE_CODE_LINE,
    {"type": "message", "usage": None},
    {"type": "message_start", "message": message({"input_tokens": 1, "output_tokens": 1})},
    {"custom_id": "a", "response": {"status_code": 200, "body": {}}},  # OpenAI batch line
    {"custom_id": "a", "result": {"type": "succeeded", "response": {}}},  # someone else's envelope
    {"custom_id": "a", "result": {"type": ["errored"]}},
    {"timestamp": "2026-11-01T00:00:00Z", "model": "claude-sonnet-4-5", "input_tokens": 5},  # native event
])
def test_does_not_claim_other_records(record: dict[str, Any]) -> None:
    assert not parser.detect(record)
