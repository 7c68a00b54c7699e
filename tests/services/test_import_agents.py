"""`import claude-code|codex`: incremental cursors, resume, largest-copy dedupe, rollups."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentcost_cli.ingest import parallel
from agentcost_cli.ingest.pipeline import IngestOptions
from agentcost_cli.services.actor import LOCAL
from agentcost_cli.services.ingest import import_agent_logs
from agentcost_cli.services.reports import ReportRequest, build_report
from agentcost_cli.store.base import AggregateQuery, EventFilter, Store


def cc_line(msg: str, req: str, out: int, ts: str = "2026-11-20T10:00:00.000Z", **usage: int) -> str:
    return json.dumps({
        "type": "assistant", "sessionId": "sess-1", "uuid": f"u-{msg}-{out}", "timestamp": ts,
        "cwd": "/home/me/src/shop", "requestId": req,
        "message": {"id": msg, "model": "claude-sonnet-4-5-20250929", "role": "assistant",
                    "usage": {"input_tokens": 10, "output_tokens": out, "cache_read_input_tokens": 1000,
                              "cache_creation_input_tokens": 0, **usage}},
    }) + "\n"


def project_dir(root: Path) -> Path:
    folder = root / "projects" / "-home-me-src-shop"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def run(store: Store, root: Path) -> Any:
    return import_agent_logs(store, LOCAL, "claude-code", [root / "projects"], IngestOptions())


def test_second_import_reads_only_new_lines(store: Store, tmp_path: Path) -> None:
    log = project_dir(tmp_path) / "sess-1.jsonl"
    log.write_text(cc_line("m1", "r1", 5) + cc_line("m1", "r1", 5) + cc_line("m2", "r2", 7))
    first = run(store, tmp_path)
    assert (first.added, first.duplicates, first.files) == (2, 0, 1)  # repeats are skipped in the parser
    second = run(store, tmp_path)
    assert (second.files, second.read, second.added, second.unchanged_files) == (0, 0, 0, 1)
    with log.open("a") as handle:
        handle.write(cc_line("m3", "r3", 11))
    third = run(store, tmp_path)
    assert (third.files, third.read, third.added) == (1, 1, 1)
    report = build_report(store, LOCAL, ReportRequest(group_by=("project",)))
    assert [(r["project"], r["events"], r["output_tokens"]) for r in report.rows] == [("shop", 3, 23)]


def test_a_partial_last_line_waits_for_the_next_import(store: Store, tmp_path: Path) -> None:
    log = project_dir(tmp_path) / "sess-1.jsonl"
    whole = cc_line("m1", "r1", 5)
    partial = cc_line("m2", "r2", 7)
    log.write_text(whole + partial[:40])
    assert run(store, tmp_path).added == 1
    with log.open("a") as handle:
        handle.write(partial[40:])
    assert run(store, tmp_path).added == 1
    assert store.count_events(EventFilter()) == 2


def test_growing_snapshots_keep_the_largest_even_across_imports(store: Store, tmp_path: Path) -> None:
    log = project_dir(tmp_path) / "sess-1.jsonl"
    log.write_text(cc_line("m1", "r1", 1) + cc_line("m1", "r1", 40))
    run(store, tmp_path)
    with log.open("a") as handle:  # the reply was still streaming when the first import ran
        handle.write(cc_line("m1", "r1", 300) + cc_line("m1", "r1", 300))
    result = run(store, tmp_path)
    assert (result.added, result.duplicates) == (0, 1)
    events = list(store.iter_events(EventFilter()))
    assert len(events) == 1 and events[0]["output_tokens"] == 300
    # $15/MTok output, $3/MTok input, $0.30/MTok cache read for Sonnet 4.5:
    assert events[0]["cost_nanos"] == 300 * 15_000 + 10 * 3_000 + 1000 * 300
    rollup = store.aggregate(AggregateQuery(EventFilter()))[0].sums
    assert (rollup["output_tokens"], rollup["cost_nanos"]) == (300, events[0]["cost_nanos"])


def test_replaced_or_truncated_file_is_read_again_without_double_counting(store: Store, tmp_path: Path) -> None:
    log = project_dir(tmp_path) / "sess-1.jsonl"
    log.write_text(cc_line("m1", "r1", 5) + cc_line("m2", "r2", 7))
    run(store, tmp_path)
    replacement = tmp_path / "new.jsonl"
    replacement.write_text(cc_line("m1", "r1", 5))
    replacement.replace(log)  # a new inode, shorter than the cursor
    again = run(store, tmp_path)
    assert (again.read, again.added) == (1, 0)
    assert store.count_events(EventFilter()) == 2


def test_codex_import_resumes_with_session_state(store: Store, tmp_path: Path) -> None:
    day = tmp_path / "sessions" / "2026" / "11" / "20"
    day.mkdir(parents=True)
    log = day / "rollout-2026-11-20T10-00-00-abc.jsonl"

    def line(kind: str, payload: dict[str, Any], ts: str = "2026-11-20T10:00:00.000Z") -> str:
        return json.dumps({"timestamp": ts, "type": kind, "payload": payload}) + "\n"

    def tokens(total_in: int, total_out: int) -> str:
        return line("event_msg", {"type": "token_count", "info": {"total_token_usage": {
            "input_tokens": total_in, "cached_input_tokens": 0, "output_tokens": total_out,
            "reasoning_output_tokens": 0, "total_tokens": total_in + total_out}}})

    log.write_text(line("session_meta", {"id": "abc", "cwd": "/w/api"}) + line("turn_context", {"model": "gpt-5"})
                   + tokens(100, 10))
    first = import_agent_logs(store, LOCAL, "codex", [tmp_path / "sessions"], IngestOptions())
    with log.open("a") as handle:
        handle.write(tokens(250, 30))  # cumulative: this turn used 150 in / 20 out
    second = import_agent_logs(store, LOCAL, "codex", [tmp_path / "sessions"], IngestOptions())
    assert (first.added, second.added) == (1, 1)
    events = list(store.iter_events(EventFilter()))
    assert [(e["input_tokens"], e["output_tokens"], e["model"]) for e in events] == [
        (100, 10, "gpt-5"), (150, 20, "gpt-5")]
    assert {e["project"] for e in events} == {"api"}


# Without fork() (Windows) ingest never takes the parallel path, so there is nothing to test there.
@pytest.mark.skipif(not parallel.can_fork(), reason="the parallel path exists only where fork() does")
def test_growing_snapshots_through_the_parallel_staged_path(store: Store, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    folder = project_dir(tmp_path)
    (folder / "other.jsonl").write_text(cc_line("x1", "rx", 3))  # two files, so the import goes parallel
    log = folder / "sess-1.jsonl"
    log.write_text(cc_line("m1", "r1", 1) + cc_line("m1", "r1", 40) + cc_line("m2", "r2", 5))
    first = import_agent_logs(store, LOCAL, "claude-code", [tmp_path / "projects"], IngestOptions(workers=2))
    assert (first.added, first.duplicates) == (3, 1)
    with log.open("a") as handle:
        handle.write(cc_line("m1", "r1", 300) + cc_line("m2", "r2", 2))  # m1 grew; m2's stale copy is smaller
    (folder / "other.jsonl").write_text(cc_line("x1", "rx", 3) + cc_line("x2", "ry", 4))
    second = import_agent_logs(store, LOCAL, "claude-code", [tmp_path / "projects"], IngestOptions(workers=2))
    assert (second.added, second.duplicates) == (1, 2)
    tokens = {e["dedupe_key"]: e["output_tokens"] for e in store.iter_events(EventFilter())}
    assert tokens == {"cc:m1:r1": 300, "cc:m2:r2": 5, "cc:x1:rx": 3, "cc:x2:ry": 4}
    rollup = store.aggregate(AggregateQuery(EventFilter(), (), "day"))[0].sums
    assert rollup["output_tokens"] == 312 and rollup["events"] == 4
