"""Hostile input for the OpenAI, Anthropic and Gemini parsers.

Whatever a JSON line holds, `parse_record` either returns valid events or raises
RecordError: any other exception would abort an ingest run. And each parser's
`detect` claims its own records only, never another format's.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentcost_cli.ingest.base import Parser, RecordError, SourceContext
from agentcost_cli.models import TOKEN_FIELDS, UsageEvent
from agentcost_cli.timeutil import parse_utc

from .provider_fixtures import PARSERS, all_records

PROVIDERS = {"openai", "openrouter", "anthropic", "google"}
# The conftest `ctx`, built here because Hypothesis reuses one fixture value across all examples anyway.
CTX = SourceContext(path="test.jsonl", fallback_timestamp="2026-11-20T12:00:00.000000Z")
HOSTILE = settings(
    max_examples=200,
    deadline=None,
    # The autouse home/env fixture is function-scoped but parsing never touches it.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)




FIXTURES = {name: all_records(name) for name in PARSERS}

# Keys the parsers look at, so random objects often reach deep code instead of failing at the top.
KEYS = st.sampled_from([
    "id", "object", "type", "model", "usage", "created", "created_at", "service_tier", "status", "custom_id",
    "response", "body", "status_code", "error", "result", "message", "prompt_tokens", "completion_tokens",
    "input_tokens", "output_tokens", "prompt_tokens_details", "input_tokens_details", "cached_tokens",
    "cache_write_tokens", "reasoning_tokens", "cost", "is_byok", "cost_details", "upstream_inference_cost",
    "cache_read_input_tokens", "cache_creation_input_tokens", "cache_creation", "ephemeral_5m_input_tokens",
    "ephemeral_1h_input_tokens", "speed", "server_tool_use", "web_search_requests", "usageMetadata",
    "usage_metadata", "promptTokenCount", "cachedContentTokenCount", "candidatesTokenCount",
    "thoughtsTokenCount", "toolUsePromptTokenCount", "modelVersion", "responseId", "createTime", "trafficType",
    "key", "request", "contents", "processed_time",
]) | st.text(max_size=8)
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64)
    | st.floats()  # NaN and infinities too: a Python caller may hand us anything
    | st.sampled_from(["message", "chat.completion", "response", "succeeded", "errored", "batch", "flex",
                       "fast", "ON_DEMAND_FLEX", "gpt-4o", "a/b", "2026-11-18T09:00:00Z", ""])
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    LEAVES,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=6),
    max_leaves=30,
)


def assert_valid(events: Any) -> None:
    assert isinstance(events, list)
    for event in events:
        assert isinstance(event, UsageEvent)
        for name in TOKEN_FIELDS:
            value = getattr(event, name)
            assert type(value) is int and value >= 0, (name, value)
        assert event.reasoning_tokens <= event.output_tokens
        assert event.requests == 1
        assert len(event.timestamp) == 27 and parse_utc(event.timestamp)
        assert isinstance(event.model, str) and event.model
        assert event.provider in PROVIDERS
        if event.reported_cost_usd is not None:
            assert event.reported_cost_usd.is_finite() and event.reported_cost_usd >= 0
        orjson.dumps(event.to_native())  # what the store and exports will write


def parse_or_reject(parser: Parser, record: Any) -> None:
    try:
        events = parser.parse_record(record, CTX)
    except RecordError:
        return
    assert_valid(events)


def mutate(data: st.DataObject, record: dict[str, Any]) -> dict[str, Any]:
    """Replace or delete one value somewhere inside a copy of a real record."""
    record = copy.deepcopy(record)
    node: Any = record
    for _ in range(data.draw(st.integers(0, 4))):
        children = node.items() if isinstance(node, dict) else enumerate(node)
        containers = [key for key, value in children if isinstance(value, dict | list) and value]
        if not containers:
            break
        node = node[data.draw(st.sampled_from(containers))]
    keys = list(node) if isinstance(node, dict) else list(range(len(node)))
    if keys:
        key = data.draw(st.sampled_from(keys))
        if data.draw(st.booleans()):
            del node[key]
        else:
            node[key] = data.draw(JSON_VALUES)
    return record


# -- never an unexpected exception ----------------------------------------------


@pytest.mark.parametrize("name", sorted(PARSERS))
@HOSTILE
@given(value=JSON_VALUES)
def test_arbitrary_values(name: str, value: Any) -> None:
    parser = PARSERS[name]
    parse_or_reject(parser, value)
    if isinstance(value, dict):
        assert parser.detect(value) in (True, False)


@pytest.mark.parametrize("name", sorted(PARSERS))
@HOSTILE
@given(data=st.data())
def test_mutated_fixture_records(name: str, data: st.DataObject) -> None:
    record = data.draw(st.sampled_from(FIXTURES[name]))
    for _ in range(data.draw(st.integers(1, 3))):
        record = mutate(data, record)
    parser = PARSERS[name]
    parse_or_reject(parser, record)
    assert parser.detect(record) in (True, False)


COUNTS = st.none() | st.integers(min_value=-5, max_value=10**13) | st.floats(allow_nan=False, max_value=1e13)


@HOSTILE
@given(usage=st.fixed_dictionaries({}, optional={
    "prompt_tokens": COUNTS, "completion_tokens": COUNTS,
    "prompt_tokens_details": st.fixed_dictionaries({}, optional={"cached_tokens": COUNTS,
                                                                 "cache_write_tokens": COUNTS}),
    "completion_tokens_details": st.fixed_dictionaries({}, optional={"reasoning_tokens": COUNTS}),
}))
def test_openai_token_arithmetic(usage: dict[str, Any]) -> None:
    record = {"id": "chatcmpl-h", "object": "chat.completion", "model": "gpt-4o", "usage": usage}
    parse_or_reject(PARSERS["openai"], record)


@HOSTILE
@given(usage=st.fixed_dictionaries({}, optional={
    "input_tokens": COUNTS, "output_tokens": COUNTS, "cache_read_input_tokens": COUNTS,
    "cache_creation_input_tokens": COUNTS,
    "cache_creation": st.fixed_dictionaries({}, optional={"ephemeral_5m_input_tokens": COUNTS,
                                                          "ephemeral_1h_input_tokens": COUNTS}),
}))
def test_anthropic_token_arithmetic(usage: dict[str, Any]) -> None:
    record = {"id": "msg_h", "type": "message", "model": "claude-haiku-4-5", "usage": usage}
    parse_or_reject(PARSERS["anthropic"], record)


@HOSTILE
@given(usage=st.fixed_dictionaries({}, optional={
    "promptTokenCount": COUNTS, "cachedContentTokenCount": COUNTS, "toolUsePromptTokenCount": COUNTS,
    "candidatesTokenCount": COUNTS, "thoughtsTokenCount": COUNTS,
}))
def test_gemini_token_arithmetic(usage: dict[str, Any]) -> None:
    record = {"responseId": "g-h", "modelVersion": "gemini-2.5-flash", "usageMetadata": usage}
    parse_or_reject(PARSERS["gemini"], record)


# -- detection stays specific ---------------------------------------------------


NOT_PROVIDER_RESPONSES = [
    pytest.param({"timestamp": "2026-11-18T09:00:00Z", "provider": "openai", "model": "gpt-4o",
                  "input_tokens": 1200, "output_tokens": 80, "id": "evt-1"}, id="native-event"),
    pytest.param({"timestamp": "2026-11-18T09:00:00Z", "model": "gemini-2.5-pro", "cache_read_tokens": 5,
                  "metadata": {"usage": {"prompt_tokens": 5}}}, id="native-event-with-metadata"),
    pytest.param({
        "parentUuid": None, "isSidechain": False, "userType": "external", "cwd": "/home/dev/app",
        "sessionId": "2b7c9e1f-0a4d-4c6b-8e2f-9d1a3b5c7e9f", "version": "2.0.31", "type": "assistant",
        "requestId": "req_011CUxyz", "uuid": "6d1e0c1a-7a43-4a8e-9f57-3a1b2c3d4e5f",
        "timestamp": "2026-11-18T09:00:00.000Z",
        "message": {"id": "msg_01X", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
                    "content": [], "usage": {"input_tokens": 4, "output_tokens": 12}},
    }, id="claude-code-assistant"),
    pytest.param({"type": "user", "sessionId": "s", "message": {"role": "user", "content": "hi"},
                  "timestamp": "2026-11-18T09:00:00.000Z"}, id="claude-code-user"),
    pytest.param({"timestamp": "2026-11-18T09:00:00.000Z", "type": "event_msg",
                  "payload": {"type": "token_count", "info": {"total_token_usage": {
                      "input_tokens": 900, "cached_input_tokens": 400, "output_tokens": 50}}}},
                 id="codex-token-count"),
]


@pytest.mark.parametrize("record", NOT_PROVIDER_RESPONSES)
@pytest.mark.parametrize("name", sorted(PARSERS))
def test_no_provider_parser_claims_agent_logs_or_native_events(name: str, record: dict[str, Any]) -> None:
    assert not PARSERS[name].detect(record)


@pytest.mark.parametrize(("owner", "other"), [
    (owner, other) for owner in sorted(PARSERS) for other in sorted(PARSERS) if owner != other
])
def test_parsers_do_not_claim_each_others_fixtures(owner: str, other: str) -> None:
    claimed = [record for record in FIXTURES[owner] if PARSERS[other].detect(record)]
    assert claimed == []


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_each_parser_claims_all_its_own_fixtures(name: str) -> None:
    assert FIXTURES[name]
    assert all(PARSERS[name].detect(record) for record in FIXTURES[name])
