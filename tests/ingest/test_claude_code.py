"""Claude Code parser: fixture sessions, ccusage parity, resumable state, malformed input."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentcost_cli.ingest.agent_paths import claude_code_roots, iter_log_files
from agentcost_cli.ingest.base import RecordError
from agentcost_cli.ingest.claude_code import ClaudeCodeParser, launch_dir, project_from_folder, slugify
from agentcost_cli.models import TOKEN_FIELDS, UsageEvent
from tests.conftest import FIXTURES

from .agent_logs import CCUSAGE, REPO, ctx_for, shown

FIXTURE = FIXTURES / "ingest" / "claude_code"
EXPECTED = json.loads((FIXTURE / "expected.json").read_text())
PARSER = ClaudeCodeParser()




def parse_lines(path: Path, lines: list[bytes], *, prefilter: bool = True) -> list[UsageEvent]:
    session = PARSER.session(ctx_for(path))
    events: list[UsageEvent] = []
    for line in lines:
        if prefilter and PARSER.prefilter is not None and PARSER.prefilter not in line:
            continue  # what the ingest pipeline does for a fixed format
        events += session.parse(orjson.loads(line))
    return events


def read_folder(root: Path, *, prefilter: bool = True) -> list[UsageEvent]:
    events: list[UsageEvent] = []
    for path in iter_log_files(claude_code_roots(str(root))):
        events += parse_lines(path, path.read_bytes().splitlines(), prefilter=prefilter)
    return events


def deduped(events: list[UsageEvent]) -> list[UsageEvent]:
    """The store's dedupe for Claude Code: one event per key, the copy with the most tokens
    (the first of equals), kept in first-seen order."""
    unique: dict[str, UsageEvent] = {}
    for event in events:
        held = unique.get(event.dedupe_key())
        if held is None or event.prompt_tokens + event.output_tokens > held.prompt_tokens + held.output_tokens:
            unique[event.dedupe_key()] = event
    return list(unique.values())




def ccusage_buckets(events: list[UsageEvent]) -> dict[str, int]:
    """Our events summed into the four numbers ccusage reports."""
    return {
        "inputTokens": sum(e.input_tokens for e in events),
        "outputTokens": sum(e.output_tokens for e in events),
        "cacheCreationTokens": sum(e.cache_write_tokens + e.cache_write_1h_tokens for e in events),
        "cacheReadTokens": sum(e.cache_read_tokens for e in events),
    }


# -- the fixture folder ---------------------------------------------------------------


def test_fixture_files_are_found_in_order_including_subagents() -> None:
    found = [p.relative_to(FIXTURE).as_posix() for p in iter_log_files(claude_code_roots(str(FIXTURE)))]
    assert found == EXPECTED["files"]


def test_fixture_events_match_expected() -> None:
    events = read_folder(FIXTURE)
    assert len(events) == EXPECTED["raw_events"]  # two replies are logged twice
    assert [shown(e) for e in deduped(events)] == EXPECTED["events"]
    assert all(e.provider == "anthropic" and e.agent == "claude-code" and e.requests == 1 for e in events)


def test_fixture_totals_equal_ccusage_totals() -> None:
    assert ccusage_buckets(deduped(read_folder(FIXTURE))) == EXPECTED["ccusage_totals"]


def test_prefilter_skips_nothing_that_matters() -> None:
    assert [shown(e) for e in read_folder(FIXTURE, prefilter=False)] == [shown(e) for e in read_folder(FIXTURE)]


def run_ccusage(root: Path, tmp_path: Path) -> dict[str, int]:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "CLAUDE_CONFIG_DIR": str(root), "TZ": "UTC"}
    result = subprocess.run(
        [str(CCUSAGE), "claude", "daily", "--json", "--offline", "--timezone", "UTC"],
        env=env, capture_output=True, check=True, timeout=120,
    )
    totals = json.loads(result.stdout)["totals"]
    return {key: totals[key] for key in ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens")}


@pytest.mark.skipif(not CCUSAGE.exists(), reason="ccusage is not installed under bench/.node")
def test_totals_equal_installed_ccusage(tmp_path: Path) -> None:
    gen = load_generator()
    gen.main(["claude-code", str(tmp_path / "gen"), "--records", "3000", "--seed", "7", "--end", "2026-11-01"])
    for root in (FIXTURE, tmp_path / "gen"):
        assert ccusage_buckets(deduped(read_folder(root))) == run_ccusage(root, tmp_path)


# -- single records ---------------------------------------------------------------------


def assistant(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "type": "assistant", "sessionId": "s-1", "uuid": "u-1", "cwd": "/home/me/src/app",
        "version": "2.0.14", "timestamp": "2026-11-02T09:15:01.305Z", "requestId": "req_1",
        "message": {"id": "msg_1", "model": "claude-sonnet-4-5-20250929", "usage": {
            "input_tokens": 3, "output_tokens": 40, "cache_creation_input_tokens": 700,
            "cache_read_input_tokens": 9000,
        }},
    }
    record.update(overrides)
    return record


def one(record: dict[str, Any], path: str = "/h/.claude/projects/-home-me-src-app/s-1.jsonl") -> UsageEvent:
    events = PARSER.session(ctx_for(path)).parse(record)
    assert len(events) == 1
    return events[0]


def test_buckets_without_split_are_five_minute_writes() -> None:
    event = one(assistant())
    assert (event.input_tokens, event.cache_read_tokens, event.cache_write_tokens, event.cache_write_1h_tokens,
            event.output_tokens, event.reasoning_tokens) == (3, 9000, 700, 0, 40, 0)
    assert event.id == "cc:msg_1:req_1"
    assert event.timestamp == "2026-11-02T09:15:01.305000Z"


def test_split_gives_the_one_hour_part() -> None:
    record = assistant()
    record["message"]["usage"]["cache_creation"] = {"ephemeral_5m_input_tokens": 200, "ephemeral_1h_input_tokens": 500}
    event = one(record)
    assert (event.cache_write_tokens, event.cache_write_1h_tokens) == (200, 500)


def test_all_zero_split_falls_back_to_the_total() -> None:
    record = assistant()
    record["message"]["usage"]["cache_creation"] = {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0}
    assert (one(record).cache_write_tokens, one(record).cache_write_1h_tokens) == (700, 0)


@pytest.mark.parametrize(
    "record",
    [
        {"type": "user", "sessionId": "s", "message": {"role": "user", "content": "hi"}},
        {"type": "summary", "summary": "x", "leafUuid": "u"},
        assistant(message={"id": "m", "model": "<synthetic>", "usage": {"input_tokens": 0, "output_tokens": 0}}),
        assistant(message={"id": "m", "model": "claude-sonnet-4-5", "usage": {"output_tokens": 5}}),
        assistant(message={"id": "m", "model": "claude-sonnet-4-5"}),
        assistant(message="text"),
        {"type": "user", "toolUseResult": {"usage": {"input_tokens": 5, "output_tokens": 5}}, "message": {}},
    ],
    ids=["user", "summary", "synthetic", "no-input-count", "no-usage", "message-not-object", "tool-result-usage"],
)
def test_records_without_billable_usage_yield_nothing(record: dict[str, Any]) -> None:
    assert PARSER.session(ctx_for("x.jsonl")).parse(record) == []


def test_repeated_content_block_lines_emit_one_event() -> None:
    session = PARSER.session(ctx_for("x.jsonl"))
    events = [e for uuid in ("u1", "u2", "u3") for e in session.parse(assistant(uuid=uuid))]
    assert len(events) == 1


def test_missing_request_id_keys_on_message_and_time() -> None:
    session = PARSER.session(ctx_for("x.jsonl"))
    same = [assistant(requestId=None, uuid=u) for u in ("a", "b")]
    later = assistant(requestId=None, uuid="c", timestamp="2026-11-02T09:15:02.000Z")
    events = [e for record in [*same, later] for e in session.parse(record)]
    assert [e.id for e in deduped(events)] == [
        "cc:msg_1@2026-11-02T09:15:01.305000Z", "cc:msg_1@2026-11-02T09:15:02.000000Z"]


def test_missing_message_id_keys_on_the_line_uuid() -> None:
    record = assistant()
    del record["message"]["id"]
    assert one(record).id == "cc:uuid:u-1"
    del record["uuid"]
    assert one(record).id is None  # content hash


def test_cost_usd_is_metadata_not_reported_cost() -> None:
    event = one(assistant(costUSD=0.0123))
    assert event.reported_cost_usd is None
    assert event.metadata == {"cost_usd_logged": "0.0123", "version": "2.0.14"}


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (assistant(timestamp=None), "timestamp is missing"),
        (assistant(timestamp="2026-11-02 09:15:01"), "no UTC offset"),
        (assistant(timestamp="2026-02-30T09:15:01.305Z"), "out of range"),
        (assistant(message={"model": "m", "usage": {"input_tokens": -1, "output_tokens": 1}}), "negative"),
        (assistant(message={"model": "m", "usage": {"input_tokens": 1.5, "output_tokens": 1}}), "whole number"),
        (assistant(message={"model": "m", "usage": "lots"}), "must be an object"),
        (assistant(message={"model": 7, "usage": {"input_tokens": 1, "output_tokens": 1}}), "must be text"),
    ],
)
def test_bad_records_raise_record_error(record: dict[str, Any], reason: str) -> None:
    with pytest.raises(RecordError, match=reason):
        PARSER.session(ctx_for("x.jsonl")).parse(record)


# -- project names -------------------------------------------------------------------------


def test_slugify() -> None:
    assert slugify("My App (v2)") == "my-app-v2"
    assert slugify("data_pipeline.v1") == "data_pipeline.v1"
    assert slugify("///") is None


def test_launch_dir_walks_up_from_a_subdirectory() -> None:
    folder = "-home-user-src-data-pipeline"
    assert launch_dir("/home/user/src/data_pipeline/etl", folder) == "/home/user/src/data_pipeline"
    assert launch_dir("/tmp/elsewhere", "-home-user-src-data-pipeline") is None
    assert launch_dir("C:\\Users\\me\\app", "C--Users-me-app") == "C:\\Users\\me\\app"


def test_project_survives_cd_into_subdirectories_and_elsewhere() -> None:
    session = PARSER.session(ctx_for("/h/.claude/projects/-home-me-src-app/s.jsonl"))
    cwds = ["/home/me/src/app/packages/api", "/tmp", "/home/me/src/app"]
    projects = [session.parse(assistant(cwd=cwd, requestId=f"r{n}"))[0].project for n, cwd in enumerate(cwds)]
    assert projects == ["app", "app", "app"]


def test_project_before_any_cwd_comes_from_the_folder() -> None:
    record = assistant()
    del record["cwd"]
    assert one(record, "/h/.claude/projects/-home-me-src-my-app/s.jsonl").project == "app"  # lossy guess
    assert project_from_folder("-home-me-src-my-app") == "app"


def test_without_a_project_folder_the_first_cwd_wins() -> None:
    session = PARSER.session(ctx_for("-"))
    first = session.parse(assistant(cwd="/work/Big Repo"))[0]
    second = session.parse(assistant(cwd="/tmp", requestId="r2"))[0]
    assert (first.project, second.project) == ("big-repo", "big-repo")


def test_context_project_overrides_everything() -> None:
    events = PARSER.session(ctx_for("/h/projects/-a-b/s.jsonl", project="billing")).parse(assistant())
    assert events[0].project == "billing"


# -- resumable state -------------------------------------------------------------------------


@pytest.mark.parametrize("path", [FIXTURE / name for name in EXPECTED["files"]], ids=lambda p: p.name)
def test_state_round_trip_at_every_line(path: Path) -> None:
    lines = path.read_bytes().splitlines()
    whole = [shown(e) for e in parse_lines(path, lines, prefilter=False)]
    for cut in range(len(lines) + 1):
        first = PARSER.session(ctx_for(path))
        events = [e for line in lines[:cut] for e in first.parse(orjson.loads(line))]
        state = orjson.loads(orjson.dumps(first.state()))  # what an import cursor stores
        resumed = PARSER.session(ctx_for(path), state)
        events += [e for line in lines[cut:] for e in resumed.parse(orjson.loads(line))]
        assert [shown(e) for e in events] == whole, f"cut after line {cut}"


@pytest.mark.parametrize("state", [{}, {"project": 5, "last_key": ["x"], "project_locked": "yes"}, []])
def test_odd_state_is_ignored_not_fatal(state: Any) -> None:
    assert one(assistant(), "/h/projects/-home-me-src-app/s.jsonl").project == "app"
    events = PARSER.session(ctx_for("/h/projects/-home-me-src-app/s.jsonl"), state).parse(assistant())
    assert [e.project for e in events] == ["app"]


def test_state_keeps_the_project_learned_from_cwd() -> None:
    path = "/h/.claude/projects/-home-me-src-my-app/s.jsonl"
    first = PARSER.session(ctx_for(path))
    first.parse(assistant(cwd="/home/me/src/my-app"))
    record = assistant(requestId="r2")
    del record["cwd"]
    assert PARSER.session(ctx_for(path), first.state()).parse(record)[0].project == "my-app"
    assert PARSER.session(ctx_for(path)).parse(record)[0].project == "app"  # without state: the folder guess


# -- detection ---------------------------------------------------------------------------------


def test_detects_every_fixture_line() -> None:
    for path in iter_log_files([FIXTURE]):
        for line in path.read_bytes().splitlines():
            assert PARSER.detect(orjson.loads(line)), line[:80]


@pytest.mark.parametrize(
    "record",
    [
        {"timestamp": "2026-11-01T00:00:00Z", "model": "gpt-4o", "input_tokens": 5, "output_tokens": 1},
        {"object": "chat.completion", "model": "gpt-4o", "usage": {"prompt_tokens": 1}},
        {"type": "message", "id": "msg_1", "model": "claude-sonnet-4-5", "usage": {"input_tokens": 1}},
        {"timestamp": "2026-11-01T00:00:00Z", "type": "event_msg", "payload": {"type": "token_count"}},
        {"type": "user", "text": "no session id"},
    ],
    ids=["native", "openai", "anthropic", "codex", "other"],
)
def test_does_not_claim_other_formats(record: dict[str, Any]) -> None:
    assert not PARSER.detect(record)


# -- malformed input never escapes as anything but RecordError --------------------------------

scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=30)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=8), inner, max_size=3), max_leaves=8)
counts = st.integers(-5, 10**13) | st.floats(allow_nan=True) | st.none() | st.text(max_size=5) | st.booleans()
usages = st.fixed_dictionaries({}, optional={
    "input_tokens": counts, "output_tokens": counts, "cache_creation_input_tokens": counts,
    "cache_read_input_tokens": counts,
    "cache_creation": json_values | st.fixed_dictionaries(
        {}, optional={"ephemeral_5m_input_tokens": counts, "ephemeral_1h_input_tokens": counts}),
})
messages = st.fixed_dictionaries({}, optional={
    "id": json_values, "model": st.sampled_from(["claude-sonnet-4-5", "<synthetic>", ""]) | json_values,
    "usage": usages | json_values,
})
timestamps = st.sampled_from(["2026-11-02T09:15:01.305Z", "2026-13-02T09:15:01.305Z", "2026-11-02T25:00:00.000Z",
                              "2026-11-02T09:15:01+02:00", "yesterday", ""]) | json_values
records = st.fixed_dictionaries({}, optional={
    "type": st.sampled_from(["assistant", "user", "summary"]) | json_values, "sessionId": json_values,
    "uuid": json_values, "requestId": json_values, "cwd": json_values, "version": json_values,
    "costUSD": json_values, "timestamp": timestamps, "message": messages | json_values,
}) | st.dictionaries(st.text(max_size=10), json_values, max_size=6)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(record=records, path=st.sampled_from(["-", "x.jsonl", "/h/projects/-a-b-c/s.jsonl", "/projects/"]))
def test_malformed_records_only_raise_record_error(record: dict[str, Any], path: str) -> None:
    assert PARSER.detect(record) in (True, False)  # auto-detection sees every line first
    session = PARSER.session(ctx_for(path))
    try:
        events = session.parse(record)
    except RecordError:
        return
    for event in events:
        for name in TOKEN_FIELDS:
            value = getattr(event, name)
            assert type(value) is int and value >= 0
        assert event.reasoning_tokens <= event.output_tokens
        assert event.model and isinstance(event.model, str)
        assert len(event.timestamp) == 27 and event.timestamp.endswith("Z")
        orjson.dumps(session.state())  # state stays serializable whatever the input


# -- the benchmark generator -------------------------------------------------------------------


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_agent_logs", REPO / "bench" / "gen_agent_logs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def generate(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    load_generator().main(list(args))
    return dict(json.loads(capsys.readouterr().out))


def test_generator_output_parses_to_its_own_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "logs"
    summary = generate(tmp_path, capsys, "claude-code", str(out), "--records", "300", "--seed", "5",
                       "--end", "2026-11-01")
    files = iter_log_files(claude_code_roots(str(out)))
    assert len(files) == summary["files"] and files
    assert all(p.relative_to(out).parts[:2][0] == "projects" for p in files)
    assert all(p.relative_to(out).parts[1].startswith("-home-user-src-proj") for p in files)
    assert sum(len(p.read_bytes().splitlines()) for p in files) == summary["records"] >= 300
    unique = deduped(read_folder(out))
    assert len(unique) == summary["unique_messages"] > 0
    billable_lines = [
        line for p in files for line in map(orjson.loads, p.read_bytes().splitlines())
        if "usage" in (line.get("message") or {}) and line["message"]["model"] != "<synthetic>"
    ]
    assert len(billable_lines) > len(unique)  # replies span several content-block lines
    tokens = summary["tokens"]
    assert ccusage_buckets(unique) == {
        "inputTokens": tokens["input_tokens"], "outputTokens": tokens["output_tokens"],
        "cacheCreationTokens": tokens["cache_creation_tokens"], "cacheReadTokens": tokens["cache_read_tokens"]}
    assert sum(e.cache_write_1h_tokens for e in unique) == tokens["cache_write_1h_tokens"]
    assert {e.project for e in unique} <= {f"proj{n}" for n in range(1, 20)}
    assert all("2026-08-31" <= e.timestamp[:10] <= "2026-11-01" for e in unique)


def test_generator_is_deterministic_and_sized_like_real_logs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = []
    for name in ("a", "b"):
        summary = generate(tmp_path, capsys, "claude-code", str(tmp_path / name), "--records", "2000",
                           "--seed", "9", "--end", "2026-11-01")
        files = iter_log_files([tmp_path / name])
        runs.append([(p.relative_to(tmp_path / name), p.read_bytes()) for p in files])
    assert runs[0] == runs[1]
    assert 1_800 <= summary["bytes"] / summary["records"] <= 3_500  # about 2.5 KB a line
    lines = [orjson.loads(line) for _, data in runs[0] for line in data.splitlines()]
    models = {line["message"]["model"] for line in lines if line.get("type") == "assistant"}
    assert {"<synthetic>", "claude-sonnet-4-5-20250929"} <= models
    assert any(line.get("isApiErrorMessage") for line in lines)
    blocks = {line["message"]["content"][0]["type"] for line in lines if line.get("type") == "assistant"}
    assert {"thinking", "text", "tool_use"} <= blocks
