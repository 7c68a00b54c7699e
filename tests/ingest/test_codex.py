"""Codex parser: fixture rollouts, ccusage parity, running totals, resumable state, bad input."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentcost_cli.ingest.agent_paths import codex_roots, iter_log_files
from agentcost_cli.ingest.base import RecordError
from agentcost_cli.ingest.codex import CodexParser, session_from_path
from agentcost_cli.models import TOKEN_FIELDS, UsageEvent
from tests.conftest import FIXTURES

from .agent_logs import CCUSAGE, REPO, ctx_for, shown

FIXTURE = FIXTURES / "ingest" / "codex"
EXPECTED = json.loads((FIXTURE / "expected.json").read_text())
PARSER = CodexParser()
ROLLOUT = "/h/.codex/sessions/2026/11/02/rollout-2026-11-02T09-15-03-01997a1c-2b3d-7e4f-8a9b-0c1d2e3f4a5b.jsonl"




def parse_records(path: str | Path, records: list[Any], state: dict[str, Any] | None = None) -> list[UsageEvent]:
    session = PARSER.session(ctx_for(path), state)
    return [event for record in records for event in session.parse(record)]


def read_folder(root: Path) -> list[UsageEvent]:
    events: list[UsageEvent] = []
    for path in iter_log_files(codex_roots(str(root))):
        events += parse_records(path, [orjson.loads(line) for line in path.read_bytes().splitlines()])
    return events


def first_wins(events: list[UsageEvent]) -> list[UsageEvent]:
    unique: dict[str, UsageEvent] = {}
    for event in events:
        unique.setdefault(event.dedupe_key(), event)
    return list(unique.values())




def ccusage_buckets(events: list[UsageEvent]) -> dict[str, int]:
    return {
        "inputTokens": sum(e.input_tokens for e in events),  # ccusage reports input minus cached
        "outputTokens": sum(e.output_tokens for e in events),
        "cacheReadTokens": sum(e.cache_read_tokens for e in events),
        "reasoningOutputTokens": sum(e.reasoning_tokens for e in events),
    }


def usage(inp: int, cached: int, out: int, reasoning: int, total: int | None = None) -> dict[str, int]:
    return {"input_tokens": inp, "cached_input_tokens": cached, "output_tokens": out,
            "reasoning_output_tokens": reasoning, "total_tokens": inp + out if total is None else total}


def token_count(ts: str, last: dict[str, Any] | None, total: dict[str, Any] | None) -> dict[str, Any]:
    info: dict[str, Any] = {}
    if last is not None:
        info["last_token_usage"] = last
    if total is not None:
        info["total_token_usage"] = total
    return {"timestamp": ts, "type": "event_msg", "payload": {"type": "token_count", "info": info}}


def turn(model: str, cwd: str = "/home/me/src/app") -> dict[str, Any]:
    return {"timestamp": "2026-11-02T09:00:00.000Z", "type": "turn_context", "payload": {"model": model, "cwd": cwd}}


# -- fixture ---------------------------------------------------------------------------------


def test_fixture_files_found_in_order() -> None:
    found = [p.relative_to(FIXTURE).as_posix() for p in iter_log_files(codex_roots(str(FIXTURE)))]
    assert found == EXPECTED["files"]


def test_fixture_events_match_expected() -> None:
    events = read_folder(FIXTURE)
    assert len(events) == EXPECTED["raw_events"]
    assert [shown(e) for e in first_wins(events)] == EXPECTED["events"]
    assert all(e.provider == "openai" and e.agent == "codex" and e.requests == 1 for e in events)


def test_fixture_totals_equal_ccusage_totals() -> None:
    assert ccusage_buckets(read_folder(FIXTURE)) == EXPECTED["ccusage_totals"]


def run_ccusage(root: Path, tmp_path: Path) -> dict[str, int]:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "CODEX_HOME": str(root), "TZ": "UTC"}
    result = subprocess.run(
        [str(CCUSAGE), "codex", "daily", "--json", "--offline", "--timezone", "UTC"],
        env=env, capture_output=True, check=True, timeout=120,
    )
    totals = json.loads(result.stdout)["totals"]
    return {key: totals[key] for key in ("inputTokens", "outputTokens", "cacheReadTokens", "reasoningOutputTokens")}


@pytest.mark.skipif(not CCUSAGE.exists(), reason="ccusage is not installed under bench/.node")
def test_totals_equal_installed_ccusage(tmp_path: Path) -> None:
    load_generator().main(["codex", str(tmp_path / "gen"), "--records", "3000", "--seed", "7", "--end", "2026-11-01"])
    for root in (FIXTURE, tmp_path / "gen"):
        assert ccusage_buckets(first_wins(read_folder(root))) == run_ccusage(root, tmp_path)


# -- running totals ---------------------------------------------------------------------------


def test_repeated_token_count_with_unchanged_total_is_skipped() -> None:
    line = token_count("2026-11-02T09:15:15.050Z", usage(5000, 0, 300, 120), usage(5000, 0, 300, 120))
    later = dict(line, timestamp="2026-11-02T09:15:16.000Z")
    assert len(parse_records(ROLLOUT, [turn("gpt-5"), line, line, later])) == 1


def test_totals_only_lines_become_deltas() -> None:
    events = parse_records(ROLLOUT, [
        turn("gpt-5"),
        token_count("2026-11-02T09:00:01.000Z", None, usage(3000, 0, 200, 50)),
        token_count("2026-11-02T09:00:02.000Z", None, usage(7500, 2500, 500, 150)),
    ])
    assert [(e.input_tokens, e.cache_read_tokens, e.output_tokens, e.reasoning_tokens) for e in events] == [
        (3000, 0, 200, 50), (2000, 2500, 300, 100)]


def test_a_running_total_that_drops_starts_over() -> None:
    events = parse_records(ROLLOUT, [
        turn("gpt-5"),
        token_count("2026-11-02T09:00:01.000Z", None, usage(9000, 0, 900, 0)),
        token_count("2026-11-02T09:00:02.000Z", None, usage(1000, 0, 100, 0)),
    ])
    assert [(e.input_tokens, e.output_tokens) for e in events] == [(9000, 900), (1000, 100)]


def test_null_info_and_other_events_yield_nothing() -> None:
    records = [
        {"timestamp": "2026-11-02T09:00:00.000Z", "type": "event_msg",
         "payload": {"type": "token_count", "info": None}},
        {"timestamp": "2026-11-02T09:00:00.000Z", "type": "event_msg", "payload": {"type": "agent_message"}},
        {"timestamp": "2026-11-02T09:00:00.000Z", "type": "response_item", "payload": {"type": "message"}},
        token_count("2026-11-02T09:00:00.000Z", usage(0, 0, 0, 0), None),
        {"type": "event_msg", "payload": "not an object"},
    ]
    assert parse_records(ROLLOUT, records) == []


def test_cached_and_reasoning_are_subsets_and_are_clamped() -> None:
    (event,) = parse_records(ROLLOUT, [token_count("2026-11-02T09:00:01.000Z", usage(100, 150, 10, 40), None)])
    buckets = (event.input_tokens, event.cache_read_tokens, event.output_tokens, event.reasoning_tokens)
    assert buckets == (0, 100, 10, 10)


def test_model_follows_turn_context_and_falls_back_to_gpt5() -> None:
    line = token_count("2026-11-02T09:00:01.000Z", usage(10, 0, 1, 0), None)
    events = parse_records(ROLLOUT, [line, turn("gpt-5-codex"), dict(line, timestamp="2026-11-02T09:00:02.000Z")])
    assert [(e.model, e.metadata) for e in events] == [("gpt-5", {"model_fallback": True}), ("gpt-5-codex", None)]


def test_model_named_on_the_token_count_line_wins() -> None:
    line = token_count("2026-11-02T09:00:01.000Z", usage(10, 0, 1, 0), None)
    line["payload"]["info"]["model"] = "gpt-5.1-codex"
    assert parse_records(ROLLOUT, [turn("gpt-5"), line])[0].model == "gpt-5.1-codex"


def test_ids_use_the_session_and_the_running_total() -> None:
    meta = {"timestamp": "2026-11-02T09:00:00.000Z", "type": "session_meta",
            "payload": {"id": "sess-1", "cwd": "/x/My Repo"}}
    with_total = token_count("2026-11-02T09:00:01.000Z", usage(10, 0, 1, 0), usage(10, 0, 1, 0))
    last_only = token_count("2026-11-02T09:00:02.000Z", usage(10, 0, 1, 0), None)
    events = parse_records("-", [meta, with_total, last_only])
    assert [e.id for e in events] == ["codex:sess-1:11", "codex:sess-1:2026-11-02T09:00:02.000000Z"]
    assert {e.project for e in events} == {"my-repo"} and {e.session for e in events} == {"sess-1"}


def test_session_id_comes_from_the_file_name_without_session_meta() -> None:
    assert session_from_path(ROLLOUT) == "01997a1c-2b3d-7e4f-8a9b-0c1d2e3f4a5b"
    assert session_from_path("/tmp/other.jsonl") == "other"
    assert session_from_path("-") is None
    (event,) = parse_records("-", [token_count("2026-11-02T09:00:01.000Z", usage(10, 0, 1, 0), None)])
    assert event.id is None and event.session is None  # stdin without session_meta: content hash


def test_context_project_overrides_cwd() -> None:
    meta = {"timestamp": "2026-11-02T09:00:00.000Z", "type": "session_meta", "payload": {"id": "s", "cwd": "/x/app"}}
    line = token_count("2026-11-02T09:00:01.000Z", usage(10, 0, 1, 0), None)
    session = PARSER.session(ctx_for(ROLLOUT, project="billing"))
    assert [e.project for r in (meta, line) for e in session.parse(r)] == ["billing"]


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (token_count("2026-11-02T09:00:01.000Z", {"input_tokens": -3}, None), "negative"),
        (token_count("2026-11-02T09:00:01.000Z", {"input_tokens": "many"}, None), "whole number"),
        (token_count("", usage(1, 0, 1, 0), None), "timestamp is missing"),
        (token_count("02/11/2026", usage(1, 0, 1, 0), None), "RFC 3339"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_records_raise_record_error(record: Any, reason: str) -> None:
    with pytest.raises(RecordError, match=reason):
        parse_records(ROLLOUT, [record])


# -- resumable state ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", EXPECTED["files"], ids=lambda n: n.rsplit("/", 1)[-1][:30])
def test_state_round_trip_at_every_line(name: str) -> None:
    path = FIXTURE / name
    records = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    whole = [shown(e) for e in parse_records(path, records)]
    for cut in range(len(records) + 1):
        first = PARSER.session(ctx_for(path))
        events = [e for r in records[:cut] for e in first.parse(r)]
        state = orjson.loads(orjson.dumps(first.state()))  # what an import cursor stores
        events += parse_records(path, records[cut:], state)
        assert [shown(e) for e in events] == whole, f"cut after line {cut}"


@pytest.mark.parametrize("state", [{"previous_total": [1, 2], "model": 3, "session": []}, []])
def test_odd_state_is_ignored_not_fatal(state: Any) -> None:
    line = token_count("2026-11-02T09:00:01.000Z", None, usage(10, 0, 1, 0))
    (event,) = parse_records(ROLLOUT, [line], state)
    assert (event.model, event.input_tokens, event.session) == ("gpt-5", 10, "01997a1c-2b3d-7e4f-8a9b-0c1d2e3f4a5b")


def test_resumed_session_still_skips_a_repeated_total() -> None:
    line = token_count("2026-11-02T09:15:15.050Z", usage(5000, 0, 300, 120), usage(5000, 0, 300, 120))
    first = PARSER.session(ctx_for(ROLLOUT))
    assert len(first.parse(line)) == 1
    assert parse_records(ROLLOUT, [line], first.state()) == []
    assert len(parse_records(ROLLOUT, [line])) == 1  # without the state it would count again


# -- detection ------------------------------------------------------------------------------------


def test_detects_every_fixture_line() -> None:
    for path in iter_log_files([FIXTURE]):
        for line in path.read_bytes().splitlines():
            assert PARSER.detect(orjson.loads(line)), line[:80]


@pytest.mark.parametrize(
    "record",
    [
        {"type": "assistant", "sessionId": "s", "message": {"usage": {}}, "timestamp": "2026-11-01T00:00:00Z"},
        {"timestamp": "2026-11-01T00:00:00Z", "model": "gpt-5", "input_tokens": 1},
        {"timestamp": "2026-11-01T00:00:00Z", "type": "webhook", "payload": {}},
        {"type": "event_msg", "payload": {"type": "token_count"}},
    ],
    ids=["claude-code", "native", "unknown-type", "no-timestamp"],
)
def test_does_not_claim_other_formats(record: dict[str, Any]) -> None:
    assert not PARSER.detect(record)


# -- malformed input ---------------------------------------------------------------------------------

scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=20)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=8), inner, max_size=3), max_leaves=8)
counts = st.integers(-5, 10**13) | st.floats() | st.none() | st.text(max_size=4) | st.booleans()
COUNT_FIELDS = ("input_tokens", "cached_input_tokens", "cache_read_input_tokens", "output_tokens",
                "reasoning_output_tokens", "total_tokens")
usages = st.fixed_dictionaries({}, optional=dict.fromkeys(COUNT_FIELDS, counts)) | json_values
infos = st.fixed_dictionaries({}, optional={"last_token_usage": usages, "total_token_usage": usages,
                                            "model": json_values}) | json_values
payloads = st.fixed_dictionaries({}, optional={
    "type": st.sampled_from(["token_count", "user_message"]) | json_values, "info": infos, "model": json_values,
    "id": json_values, "cwd": json_values, "metadata": json_values,
}) | json_values
records = st.fixed_dictionaries({}, optional={
    "type": st.sampled_from(["event_msg", "turn_context", "session_meta"]) | json_values,
    "timestamp": st.sampled_from(["2026-11-02T09:00:00.000Z", "2026-11-02T09:00:00Z", "nope"]) | json_values,
    "payload": payloads,
}) | st.dictionaries(st.text(max_size=8), json_values, max_size=5)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(lines=st.lists(records, min_size=1, max_size=6), path=st.sampled_from(["-", ROLLOUT]))
def test_malformed_records_only_raise_record_error(lines: list[dict[str, Any]], path: str) -> None:
    session = PARSER.session(ctx_for(path))
    for record in lines:
        assert PARSER.detect(record) in (True, False)  # auto-detection sees every line first
        try:
            events = session.parse(record)
        except RecordError:
            continue
        for event in events:
            for name in TOKEN_FIELDS:
                value = getattr(event, name)
                assert type(value) is int and value >= 0
            assert event.reasoning_tokens <= event.output_tokens
            assert isinstance(event.model, str) and event.model
        state = orjson.loads(orjson.dumps(session.state()))
        session = PARSER.session(ctx_for(path), state)  # and it always restores


# -- the benchmark generator ---------------------------------------------------------------------------


def load_generator() -> Any:
    spec = importlib.util.spec_from_file_location("gen_agent_logs", REPO / "bench" / "gen_agent_logs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generator_output_parses_to_its_own_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "logs"
    load_generator().main(["codex", str(out), "--records", "400", "--seed", "4", "--end", "2026-11-01"])
    summary = json.loads(capsys.readouterr().out)
    files = iter_log_files(codex_roots(str(out)))
    assert len(files) == summary["files"] > 0
    for path in files:
        year, month, day, name = path.relative_to(out / "sessions").parts
        assert name.startswith(f"rollout-{year}-{month}-{day}T") and name.endswith(".jsonl")
    events = read_folder(out)
    assert len(first_wins(events)) == len(events) == summary["unique_messages"]
    assert {name: sum(getattr(e, name) for e in events) for name in summary["tokens"]} == summary["tokens"]
    repeats = sum(
        1 for p in files for line in p.read_bytes().splitlines()
        if b'"token_count"' in line and b'"info":{' in line
    ) - len(events)
    assert repeats > 0  # the generator writes Codex's re-emitted token counts, and they were skipped
