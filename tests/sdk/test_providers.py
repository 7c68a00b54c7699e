"""record_openai / record_anthropic / record_gemini send what agentcost's own parsers read from
the response: every provider fixture goes through the SDK and the fake daemon."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pydantic
import pytest

from agentcost_cli.ingest.base import RecordError, SourceContext
from agentcost_cli.models import TOKEN_FIELDS
from agentcost_cli.sdk import AgentCost, InvalidEventError, provider_events

from ..ingest.provider_fixtures import FIXTURE_ROOT, PARSERS, file_records, input_files
from .conftest import FakeDaemon

FALLBACK = "2000-01-01T00:00:00.000000Z"  # marks a parser that found no time in the response
CASES = [pytest.param(provider, path, id=f"{provider}/{path.name}")
         for provider in PARSERS for path in input_files(provider)]


def helper(ac: AgentCost, provider: str) -> Any:
    return getattr(ac, f"record_{provider}")


@pytest.mark.parametrize(("provider", "path"), CASES)
def test_fixture_responses_are_sent_as_the_parser_reads_them(make_client: Any, fake_daemon: FakeDaemon,
                                                             provider: str, path: Path) -> None:
    ac = make_client()
    ctx = SourceContext(path=str(path), fallback_timestamp=FALLBACK)
    expected: list[dict[str, Any]] = []
    for record in file_records(path):
        try:
            parsed = PARSERS[provider].parse_record(record, ctx)
        except RecordError:
            with pytest.raises(InvalidEventError):
                helper(ac, provider)(record)
            continue
        ids = helper(ac, provider)(record)
        assert len(ids) == len(parsed)
        expected.extend(e.to_native() for e in parsed)
    result = ac.flush(timeout=10)
    sent = [e for r in fake_daemon.requests for e in r.events]
    assert result.created == len(sent) == len(expected)
    for want, got in zip(expected, sent, strict=True):
        for name in (*TOKEN_FIELDS, "requests", "model", "provider", "price_context", "metadata",
                     "reported_cost_usd", "user"):
            assert got.get(name) == want.get(name), name
        if want["timestamp"] != FALLBACK:
            assert got["timestamp"] == want["timestamp"]
        else:  # no time in the response: stamped when recorded
            assert got["timestamp"] > "2020"
        if not want["id"].startswith("h:"):
            assert got["id"] == want["id"]  # the response id: recording it twice stores it once
        assert set(got) - set(want) <= {"project"}


def test_the_three_helpers_on_their_single_response_fixtures(make_client: Any, fake_daemon: FakeDaemon) -> None:
    ac = make_client()
    load = lambda name: json.loads((FIXTURE_ROOT / name).read_text())  # noqa: E731
    ac.record_openai(load("openai/response.json"))
    ac.record_anthropic(load("anthropic/message.json"))
    ac.record_gemini(load("gemini/response.json"))
    ac.flush(timeout=5)
    openai, anthropic, gemini = fake_daemon.requests[0].events
    assert (openai["id"], openai["input_tokens"], openai["cache_read_tokens"], openai["output_tokens"]) == (
        "resp_68f9d2c41e3c8190a2b4c6d8e0f1a3b5", 20480 - 18944, 18944, 733)
    assert openai["price_context"] == {"service_tier": "priority"}
    assert (anthropic["input_tokens"], anthropic["cache_write_1h_tokens"], anthropic["output_tokens"]) == (
        18, 24576, 1207)
    assert (gemini["provider"], gemini["input_tokens"], gemini["cache_read_tokens"], gemini["output_tokens"],
            gemini["reasoning_tokens"]) == ("google", 4123 - 2048, 2048, 318 + 1766, 1766)


def test_extra_labels(make_client: Any, fake_daemon: FakeDaemon) -> None:
    ac = make_client(project="default-project")
    response = json.loads((FIXTURE_ROOT / "openai/response.json").read_text())
    ids = ac.record_openai(response, project="web", user="alice", session="s-42", agent="triage",
                           tags={"env": "prod"}, price_context={"processing": "batch"}, latency_ms=420,
                           id="call-7", metadata={"route": "/chat"})
    assert ids == ["call-7"]
    ac.flush(timeout=5)
    (sent,) = fake_daemon.requests[0].events
    assert sent["id"] == "call-7"
    assert (sent["project"], sent["user"], sent["session"], sent["agent"]) == ("web", "alice", "s-42", "triage")
    assert sent["tags"] == {"env": "prod"}
    assert sent["price_context"] == {"service_tier": "priority", "processing": "batch"}  # merged with the parser's
    assert sent["latency_ms"] == 420
    assert sent["metadata"] == {"route": "/chat"}


def test_anthropic_time_and_default_project(make_client: Any, fake_daemon: FakeDaemon) -> None:
    ac = make_client(project="web")
    message = json.loads((FIXTURE_ROOT / "anthropic/message.json").read_text())
    ac.record_anthropic(message, timestamp="2026-11-20T10:00:00Z")
    ac.flush(timeout=5)
    (sent,) = fake_daemon.requests[0].events
    assert sent["timestamp"] == "2026-11-20T10:00:00.000000Z"
    assert sent["project"] == "web"


class PydanticResponse(pydantic.BaseModel):
    """Like the OpenAI/Anthropic SDK models: pydantic v2 with the API's fields."""

    model_config = pydantic.ConfigDict(extra="allow")


class ToDict:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def to_dict(self) -> dict[str, Any]:
        return self.data


@pytest.mark.parametrize("wrap", [
    pytest.param(lambda d: d, id="dict"),
    pytest.param(PydanticResponse.model_validate, id="pydantic"),
    pytest.param(ToDict, id="to_dict"),
    pytest.param(json.dumps, id="json-text"),
    pytest.param(lambda d: json.dumps(d).encode(), id="json-bytes"),
])
def test_response_objects(wrap: Any) -> None:
    response = json.loads((FIXTURE_ROOT / "openai/response.json").read_text())
    (event,) = provider_events("openai", wrap(response))
    assert (event["id"], event["output_tokens"]) == ("resp_68f9d2c41e3c8190a2b4c6d8e0f1a3b5", 733)


def test_gemini_sdk_snake_case_dump() -> None:
    """google-genai's `model_dump()` writes snake_case; the parser reads both."""
    response = {"usage_metadata": {"prompt_token_count": 100, "cached_content_token_count": 40,
                                   "candidates_token_count": 7, "thoughts_token_count": 3},
                "model_version": "gemini-2.5-flash", "response_id": "r-1", "create_time": None}
    (event,) = provider_events("gemini", response)
    assert (event["input_tokens"], event["cache_read_tokens"], event["output_tokens"]) == (60, 40, 10)


def test_a_stream_chunk_without_usage_records_nothing(make_client: Any, fake_daemon: FakeDaemon) -> None:
    ac = make_client()
    chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1795000000,
             "model": "gpt-4o", "choices": [], "usage": None}
    assert ac.record_openai(chunk) == []
    assert ac.flush(timeout=2).sent == 0


def test_bad_input() -> None:
    with pytest.raises(InvalidEventError, match="no usage"):
        provider_events("openai", {"object": "chat.completion", "model": "gpt-4o", "usage": None})
    with pytest.raises(InvalidEventError, match="cannot read a int"):
        provider_events("anthropic", 5)
    with pytest.raises(TypeError, match="unexpected keyword 'usr'"):
        provider_events("anthropic", {}, usr="alice")
    with pytest.raises(ValueError, match="unknown response format"):
        provider_events("bedrock", {})
