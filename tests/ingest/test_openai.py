"""OpenAIParser: fixture files, OpenAI's token conventions, batch output, gateways, rejections."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from agentcost_cli.ingest.base import RecordError, SourceContext
from agentcost_cli.ingest.openai import OpenAIParser
from agentcost_cli.models import UsageEvent

parser = OpenAIParser()






def one(record: dict[str, Any], ctx: SourceContext) -> UsageEvent:
    events = parser.parse_record(record, ctx)
    assert len(events) == 1
    return events[0]


_DEFAULT_USAGE = object()


def chat(usage: Any = _DEFAULT_USAGE, **fields: Any) -> dict[str, Any]:
    """A minimal Chat Completions response (pass usage=None for a null usage)."""
    body: dict[str, Any] = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1795000000,
        "model": "gpt-4o-2024-08-06",
        "choices": [],
        "usage": {"prompt_tokens": 100, "completion_tokens": 10} if usage is _DEFAULT_USAGE else usage,
    }
    body.update(fields)
    return body


def response(usage: Any, **fields: Any) -> dict[str, Any]:
    """A minimal Responses API response."""
    body: dict[str, Any] = {
        "id": "resp_test",
        "object": "response",
        "created_at": 1795050000,
        "status": "completed",
        "model": "gpt-5-2025-08-07",
        "output": [],
        "usage": usage,
    }
    body.update(fields)
    return body


def batch_line(body: Any, *, status: int = 200, error: Any = None) -> dict[str, Any]:
    return {
        "id": "batch_req_test",
        "custom_id": "row-1",
        "response": {"status_code": status, "request_id": "req_1", "body": body},
        "error": error,
    }




# -- token conventions --------------------------------------------------------


def test_chat_prompt_includes_cache_and_completion_includes_reasoning(ctx: SourceContext) -> None:
    usage = {
        "prompt_tokens": 10000,
        "completion_tokens": 500,
        "prompt_tokens_details": {"cached_tokens": 4000},
        "completion_tokens_details": {"reasoning_tokens": 200},
    }
    event = one(chat(usage), ctx)
    assert (event.input_tokens, event.cache_read_tokens, event.cache_write_tokens) == (6000, 4000, 0)
    assert (event.output_tokens, event.reasoning_tokens) == (500, 200)
    assert event.prompt_tokens == 10000  # nothing lost or double counted
    assert event.requests == 1


def test_cache_writes_come_out_of_the_prompt_too(ctx: SourceContext) -> None:
    usage = {
        "prompt_tokens": 10000,
        "completion_tokens": 40,
        "prompt_tokens_details": {"cached_tokens": 2000, "cache_write_tokens": 3000},
    }
    event = one(chat(usage), ctx)
    assert (event.input_tokens, event.cache_read_tokens, event.cache_write_tokens) == (5000, 2000, 3000)
    assert event.cache_write_1h_tokens == 0


def test_responses_api_usage(ctx: SourceContext) -> None:
    usage = {
        "input_tokens": 3000,
        "input_tokens_details": {"cached_tokens": 1000},
        "output_tokens": 800,
        "output_tokens_details": {"reasoning_tokens": 600},
        "total_tokens": 3800,
    }
    event = one(response(usage), ctx)
    assert (event.input_tokens, event.cache_read_tokens, event.output_tokens, event.reasoning_tokens) == (
        2000, 1000, 800, 600,
    )
    assert event.id == "resp_test"
    assert event.timestamp == "2026-11-19T01:00:00.000000Z"  # created_at 1795050000


def test_null_details_count_as_zero(ctx: SourceContext) -> None:
    usage = {
        "prompt_tokens": 70,
        "completion_tokens": 7,
        "prompt_tokens_details": None,
        "completion_tokens_details": None,
    }
    event = one(chat(usage), ctx)
    assert (event.input_tokens, event.cache_read_tokens, event.output_tokens) == (70, 0, 7)


def test_legacy_completion(ctx: SourceContext) -> None:
    record = chat({"prompt_tokens": 24, "completion_tokens": 57}, object="text_completion")
    event = one(record, ctx)
    assert (event.input_tokens, event.output_tokens, event.provider) == (24, 57, "openai")


# -- streaming ------------------------------------------------------------------


def test_chunk_without_usage_is_skipped(ctx: SourceContext) -> None:
    assert parser.parse_record(chat(None, object="chat.completion.chunk"), ctx) == []


def test_final_chunk_carries_the_usage(ctx: SourceContext) -> None:
    record = chat({"prompt_tokens": 900, "completion_tokens": 80}, object="chat.completion.chunk")
    event = one(record, ctx)
    assert (event.input_tokens, event.output_tokens) == (900, 80)


def test_responses_stream_completed_event(ctx: SourceContext) -> None:
    inner = response({"input_tokens": 50, "output_tokens": 5}, id="resp_streamed")
    record = {"type": "response.completed", "sequence_number": 12, "response": inner}
    assert parser.detect(record)
    event = one(record, ctx)
    assert (event.id, event.input_tokens, event.output_tokens) == ("resp_streamed", 50, 5)


def test_completion_without_usage_is_an_error_not_a_skip(ctx: SourceContext) -> None:
    with pytest.raises(RecordError, match="no usage"):
        parser.parse_record(chat(None), ctx)


# -- time, id, project, tier ----------------------------------------------------


def test_created_epoch_is_the_timestamp(ctx: SourceContext) -> None:
    assert one(chat(created=1795000000), ctx).timestamp == "2026-11-18T11:06:40.000000Z"


@pytest.mark.parametrize("created", [None, 0])
def test_missing_time_falls_back(created: Any, ctx: SourceContext) -> None:
    assert one(chat(created=created), ctx).timestamp == ctx.fallback_timestamp


def test_id_and_project(ctx: SourceContext) -> None:
    event = one(chat(), SourceContext(path="x", fallback_timestamp=ctx.fallback_timestamp, project="billing"))
    assert (event.id, event.project, event.source) == ("chatcmpl-test", "billing", "openai")
    assert one(chat(), ctx).project is None


def test_missing_id_leaves_the_content_hash(ctx: SourceContext) -> None:
    record = chat()
    del record["id"]
    event = one(record, ctx)
    assert event.id is None
    assert event.dedupe_key().startswith("h:")


@pytest.mark.parametrize(("tier", "context"), [
    ("flex", {"service_tier": "flex"}),
    ("priority", {"service_tier": "priority"}),
    ("default", None),
    ("auto", None),
    (None, None),
])
def test_service_tier(tier: str | None, context: dict[str, str] | None, ctx: SourceContext) -> None:
    assert one(chat(service_tier=tier), ctx).price_context == context


def test_response_keeps_user_but_no_content(ctx: SourceContext) -> None:
    event = one(response({"input_tokens": 1, "output_tokens": 1}, user="user_42", instructions="secret"), ctx)
    assert event.user == "user_42"
    assert event.metadata is None


# -- gateways -------------------------------------------------------------------


def test_openrouter_cost_is_reported_exactly(ctx: SourceContext) -> None:
    usage = {"prompt_tokens": 10, "completion_tokens": 2, "cost": 0.0139008, "is_byok": False,
             "cost_details": {"upstream_inference_cost": 0.5}}
    event = one(chat(usage, model="anthropic/claude-sonnet-4.5", provider="Anthropic"), ctx)
    assert event.provider == "openrouter"
    assert event.reported_cost_usd == Decimal("0.0139008")  # not the binary float's expansion
    assert event.metadata == {"upstream_provider": "Anthropic"}


def test_openrouter_byok_adds_the_upstream_bill(ctx: SourceContext) -> None:
    usage = {"prompt_tokens": 10, "completion_tokens": 2, "cost": 0.00013, "is_byok": True,
             "cost_details": {"upstream_inference_cost": 0.0026}}
    event = one(chat(usage, model="openai/gpt-5-mini"), ctx)
    assert event.reported_cost_usd == Decimal("0.00273")


def test_free_model_reports_zero_not_unknown(ctx: SourceContext) -> None:
    event = one(chat({"prompt_tokens": 10, "completion_tokens": 2, "cost": 0}, model="meta-llama/llama-3-8b"), ctx)
    assert event.reported_cost_usd == Decimal("0")


def test_cost_without_vendor_prefix_stays_openai(ctx: SourceContext) -> None:
    event = one(chat({"prompt_tokens": 10, "completion_tokens": 2, "cost": 0.001}), ctx)
    assert event.provider == "openai"
    assert event.reported_cost_usd == Decimal("0.001")


def test_slash_model_without_cost_stays_openai(ctx: SourceContext) -> None:
    event = one(chat(model="meta-llama/Llama-3.1-8B-Instruct"), ctx)  # e.g. a vLLM server
    assert (event.provider, event.reported_cost_usd) == ("openai", None)


# -- batch output -----------------------------------------------------------------


def test_batch_line_is_marked_and_uses_the_body_id(ctx: SourceContext) -> None:
    event = one(batch_line(chat(service_tier="default")), ctx)
    assert event.id == "chatcmpl-test"
    assert event.price_context == {"processing": "batch"}
    assert event.metadata == {"custom_id": "row-1"}
    assert (event.input_tokens, event.output_tokens) == (100, 10)


def test_batch_body_without_id_uses_the_line_id(ctx: SourceContext) -> None:
    body = {"object": "list", "data": [], "model": "text-embedding-3-large", "usage": {"prompt_tokens": 8}}
    event = one(batch_line(body), ctx)
    assert (event.id, event.input_tokens, event.output_tokens) == ("batch_req_test", 8, 0)
    assert event.timestamp == ctx.fallback_timestamp


@pytest.mark.parametrize(("line", "reason"), [
    ({"id": "batch_req_1", "custom_id": "a", "response": None,
      "error": {"code": "batch_expired", "message": "expired"}},
     "batch request failed: expired (batch_expired)"),
    (batch_line({"error": {"message": "Server error", "type": "server_error"}}, status=500),
     "batch request failed: HTTP 500 Server error (server_error)"),
    (batch_line(None, status=429), "batch request failed: HTTP 429"),
    (batch_line({"id": "x", "object": "chat.completion"}), "batch response has no usage"),
])
def test_failed_batch_lines(line: dict[str, Any], reason: str, ctx: SourceContext) -> None:
    assert parser.detect(line)
    with pytest.raises(RecordError) as caught:
        parser.parse_record(line, ctx)
    assert str(caught.value) == reason


# -- rejections -------------------------------------------------------------------


@pytest.mark.parametrize(("record", "reason"), [
    (chat({"prompt_tokens": -1, "completion_tokens": 1}), "must not be negative"),
    (chat({"prompt_tokens": 10.5, "completion_tokens": 1}), "whole number"),
    (chat({"prompt_tokens": "10", "completion_tokens": 1}), "whole number"),
    (chat({"prompt_tokens": 10, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 11}}),
     r"cached \(11\) plus cache-write \(0\) tokens exceed prompt_tokens \(10\)"),
    (chat({"prompt_tokens": 10, "completion_tokens": 5, "completion_tokens_details": {"reasoning_tokens": 6}}),
     r"reasoning_tokens \(6\) exceed completion_tokens \(5\)"),
    (chat({"prompt_tokens": 10, "completion_tokens": 1, "prompt_tokens_details": [1]}), "must be an object"),
    (chat(model=None), "model is required"),
    (chat(model=""), "model is required"),
    (chat(usage="lots"), "usage must be an object"),
    (chat({"total_tokens": 12}), "neither prompt_tokens nor input_tokens"),
    (chat({"prompt_tokens": 1, "completion_tokens": 1, "cost": -0.5}), "non-negative"),
    (chat({"prompt_tokens": 1, "completion_tokens": 1, "cost": "0.5"}), "usage.cost must be a number"),
    (chat(created="yesterday"), "created"),
    (response(None, status="failed"), r"no usage \(status failed\)"),
    ([1, 2, 3], "expected a JSON object"),
])
def test_rejects_broken_records(record: Any, reason: str, ctx: SourceContext) -> None:
    with pytest.raises(RecordError, match=reason):
        parser.parse_record(record, ctx)


# -- detection --------------------------------------------------------------------


@pytest.mark.parametrize("record", [
    {"object": "chat.completion", "model": "gpt-4o"},  # no usage at all
    {"object": "list", "data": [], "usage": {"prompt_tokens": 1}},  # bare embeddings: too generic to claim
    {"object": ["chat.completion"], "usage": {}},
    {"type": "response.created", "response": {"object": "response", "usage": None}},
    {"custom_id": "a", "result": {"type": "succeeded"}},  # Anthropic batch result
    {"timestamp": "2026-11-01T00:00:00Z", "model": "gpt-4o", "input_tokens": 5},  # native event
])
def test_does_not_claim_other_records(record: dict[str, Any]) -> None:
    assert not parser.detect(record)
