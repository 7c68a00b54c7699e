"""GeminiParser: fixture files, Gemini's token conventions, Vertex fields, batch envelopes, rejections."""

from __future__ import annotations

from typing import Any

import pytest

from agentcost_cli.ingest.base import RecordError, SourceContext
from agentcost_cli.ingest.gemini import GeminiParser
from agentcost_cli.models import UsageEvent

parser = GeminiParser()






def gen(usage: Any, **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "candidates": [{"content": {"parts": [{"text": "hi"}], "role": "model"}, "finishReason": "STOP"}],
        "usageMetadata": usage,
        "modelVersion": "gemini-2.5-flash",
        "responseId": "resp-test",
    }
    record.update(fields)
    return record


def one(record: dict[str, Any], ctx: SourceContext) -> UsageEvent:
    events = parser.parse_record(record, ctx)
    assert len(events) == 1
    return events[0]




# -- token conventions --------------------------------------------------------


def test_prompt_includes_cache_and_candidates_exclude_thoughts(ctx: SourceContext) -> None:
    usage = {
        "promptTokenCount": 10000,
        "cachedContentTokenCount": 6000,
        "candidatesTokenCount": 700,
        "thoughtsTokenCount": 1300,
        "totalTokenCount": 12000,
    }
    event = one(gen(usage), ctx)
    assert (event.input_tokens, event.cache_read_tokens) == (4000, 6000)
    assert (event.output_tokens, event.reasoning_tokens) == (2000, 1300)
    assert event.cache_write_tokens == event.cache_write_1h_tokens == 0
    assert event.prompt_tokens == 10000


def test_tool_use_prompt_tokens_are_added_to_input(ctx: SourceContext) -> None:
    usage = {"promptTokenCount": 100, "toolUsePromptTokenCount": 2000, "candidatesTokenCount": 50}
    event = one(gen(usage), ctx)
    assert (event.input_tokens, event.output_tokens, event.reasoning_tokens) == (2100, 50, 0)


def test_blocked_prompt_has_no_candidates(ctx: SourceContext) -> None:
    record = gen({"promptTokenCount": 12, "totalTokenCount": 12}, candidates=None,
                 promptFeedback={"blockReason": "SAFETY"})
    event = one(record, ctx)
    assert (event.input_tokens, event.output_tokens) == (12, 0)


def test_snake_case_sdk_dump(ctx: SourceContext) -> None:
    record = {
        "model_version": "gemini-2.5-flash",
        "response_id": "sdk-1",
        "create_time": "2026-11-18T10:00:00Z",
        "usage_metadata": {
            "prompt_token_count": 500,
            "cached_content_token_count": 200,
            "candidates_token_count": 40,
            "thoughts_token_count": 60,
            "tool_use_prompt_token_count": None,
            "total_token_count": 600,
        },
    }
    assert parser.detect(record)
    event = one(record, ctx)
    assert (event.id, event.timestamp) == ("sdk-1", "2026-11-18T10:00:00.000000Z")
    assert (event.input_tokens, event.cache_read_tokens, event.output_tokens, event.reasoning_tokens) == (
        300, 200, 100, 60,
    )


# -- model, time, id, tiers ----------------------------------------------------


def test_identity_fields(ctx: SourceContext) -> None:
    event = one(gen({"promptTokenCount": 1, "candidatesTokenCount": 1}), ctx)
    assert (event.provider, event.model, event.id, event.source, event.project) == (
        "google", "gemini-2.5-flash", "resp-test", "gemini", None,
    )
    assert event.timestamp == ctx.fallback_timestamp  # the Gemini API gives no time


def test_model_resource_prefix_is_dropped(ctx: SourceContext) -> None:
    event = one(gen({"promptTokenCount": 1}, modelVersion="models/gemini-2.0-flash"), ctx)
    assert event.model == "gemini-2.0-flash"


def test_vertex_create_time(ctx: SourceContext) -> None:
    event = one(gen({"promptTokenCount": 1}, createTime="2026-11-18T09:15:42.381527123Z"), ctx)
    assert event.timestamp == "2026-11-18T09:15:42.381527Z"


def test_project_comes_from_the_context(ctx: SourceContext) -> None:
    scoped = SourceContext(path="x", fallback_timestamp=ctx.fallback_timestamp, project="search")
    assert one(gen({"promptTokenCount": 1}), scoped).project == "search"


@pytest.mark.parametrize(("traffic", "context", "metadata"), [
    ("ON_DEMAND", None, None),
    ("ON_DEMAND_FLEX", {"service_tier": "flex"}, None),
    ("ON_DEMAND_PRIORITY", {"service_tier": "priority"}, None),
    ("PROVISIONED_THROUGHPUT", None, {"traffic_type": "PROVISIONED_THROUGHPUT"}),
])
def test_vertex_traffic_type(
    traffic: str, context: dict[str, str] | None, metadata: dict[str, str] | None, ctx: SourceContext
) -> None:
    event = one(gen({"promptTokenCount": 1, "trafficType": traffic}), ctx)
    assert (event.price_context, event.metadata) == (context, metadata)


# -- batch envelopes --------------------------------------------------------------


def test_gemini_api_batch_line(ctx: SourceContext) -> None:
    line = {"key": "row-9", "response": gen({"promptTokenCount": 40, "candidatesTokenCount": 4})}
    assert parser.detect(line)
    event = one(line, ctx)
    assert (event.price_context, event.metadata) == ({"processing": "batch"}, {"key": "row-9"})
    assert (event.input_tokens, event.output_tokens) == (40, 4)


def test_vertex_batch_line_takes_processed_time(ctx: SourceContext) -> None:
    line = {
        "status": "",
        "processed_time": "2026-11-18T07:41:09.512+00:00",
        "request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        "response": gen({"promptTokenCount": 7, "candidatesTokenCount": 2}),
    }
    event = one(line, ctx)
    assert event.timestamp == "2026-11-18T07:41:09.512000Z"
    assert event.price_context == {"processing": "batch"}
    assert event.metadata is None


@pytest.mark.parametrize(("line", "reason"), [
    ({"key": "row-1", "error": {"code": 8, "message": "Quota exhausted.", "status": "RESOURCE_EXHAUSTED"}},
     "batch request failed: Quota exhausted. (RESOURCE_EXHAUSTED)"),
    ({"key": "row-2", "error": {"code": 13}}, "batch request failed: 13"),
    ({"status": "Internal error", "request": {"contents": []}}, "batch request failed: Internal error"),
])
def test_failed_batch_lines(line: dict[str, Any], reason: str, ctx: SourceContext) -> None:
    assert parser.detect(line)
    with pytest.raises(RecordError) as caught:
        parser.parse_record(line, ctx)
    assert str(caught.value) == reason


# -- rejections --------------------------------------------------------------------


@pytest.mark.parametrize(("record", "reason"), [
    (gen({"promptTokenCount": 10, "cachedContentTokenCount": 11}),
     r"cachedContentTokenCount \(11\) exceeds promptTokenCount \(10\)"),
    (gen({"promptTokenCount": -1}), "usageMetadata.promptTokenCount must not be negative"),
    (gen({"promptTokenCount": 1, "thoughtsTokenCount": 2.5}), "thoughtsTokenCount must be a whole number"),
    (gen({"promptTokenCount": 1}, modelVersion=None), "modelVersion is required"),
    (gen(None), "no usageMetadata"),
    (gen("12 tokens"), "usageMetadata must be an object"),
    (gen({"promptTokenCount": 1}, createTime="last Tuesday"), "createTime"),
    ({"key": "row-3", "error": None}, "neither a response nor an error"),
    ({"status": "", "request": {"contents": []}}, "neither a response nor an error"),
    (None, "expected a JSON object"),
])
def test_rejects_broken_records(record: Any, reason: str, ctx: SourceContext) -> None:
    with pytest.raises(RecordError, match=reason):
        parser.parse_record(record, ctx)


# -- detection ----------------------------------------------------------------------


@pytest.mark.parametrize("record", [
    # LangChain's AIMessage also has usage_metadata, in its own (OpenAI-like) shape.
    {"type": "ai", "content": "hi", "usage_metadata": {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7}},
    {"candidates": [], "modelVersion": "gemini-2.5-flash"},  # a stream chunk without usage
    {"key": "row-1", "response": {"candidates": []}},
    {"custom_id": "a", "response": {"status_code": 200, "body": {"usage": {}}}},  # OpenAI batch line
    {"timestamp": "2026-11-01T00:00:00Z", "model": "gemini-2.5-pro", "input_tokens": 5},  # native event
])
def test_does_not_claim_other_records(record: dict[str, Any]) -> None:
    assert not parser.detect(record)
