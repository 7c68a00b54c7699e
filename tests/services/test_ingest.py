"""Ingest guarantees: idempotent, consistent after a crash, bad input named and never fatal."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agentcost_cli.errors import IngestRejected
from agentcost_cli.ingest.pipeline import IngestOptions, Rejection
from agentcost_cli.services.actor import LOCAL
from agentcost_cli.services.ingest import Hooks, ingest_inputs
from agentcost_cli.services.reports import ReportRequest, build_report
from agentcost_cli.store import open_store
from agentcost_cli.store.base import AggregateQuery, EventFilter, Store


def native(i: int, **extra: Any) -> dict[str, Any]:
    event = {
        "id": f"e{i}",
        "timestamp": f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
        "provider": "openai",
        "model": "gpt-4o" if i % 3 else "claude-sonnet-4-5",
        "input_tokens": 1000 + i,
        "cache_read_tokens": i % 7,
        "output_tokens": 100 + i % 50,
        "project": "alpha" if i % 2 else "beta",
        "user": f"u{i % 4}",
    }
    event.update(extra)
    return event


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def totals(store: Store) -> dict[str, Any]:
    return build_report(store, LOCAL, ReportRequest(group_by=("project",))).totals


def test_reingest_adds_nothing(store: Store, tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "a.jsonl", [native(i) for i in range(200)])
    first = ingest_inputs(store, LOCAL, [str(src)], IngestOptions())
    before = totals(store)
    second = ingest_inputs(store, LOCAL, [str(src)], IngestOptions())
    assert (first.read, first.added, first.duplicates) == (200, 200, 0)
    assert (second.added, second.duplicates) == (0, 200)
    assert totals(store) == before
    assert before["events"] == 200
    assert before["input_tokens"] == sum(1000 + i for i in range(200))


def test_events_without_id_dedupe_by_content(store: Store, tmp_path: Path) -> None:
    rows = [{k: v for k, v in native(i).items() if k != "id"} for i in range(20)]
    src = write_jsonl(tmp_path / "a.jsonl", rows + rows[:5])
    summary = ingest_inputs(store, LOCAL, [str(src)], IngestOptions())
    assert (summary.added, summary.duplicates) == (20, 5)


def test_bad_lines_are_named_and_good_lines_kept(store: Store, tmp_path: Path) -> None:
    rows: list[Any] = [native(0), "{not json", native(1, input_tokens=-5), native(2), {"hello": "world"},
                       native(3, timestamp="2026-11-01 10:00"), native(4, output_token=3), ""]
    src = write_jsonl(tmp_path / "mixed.jsonl", rows)
    rejected: list[Rejection] = []
    summary = ingest_inputs(store, LOCAL, [str(src)], IngestOptions(), Hooks(on_reject=rejected.append))
    assert summary.added == 2
    assert summary.rejected == 5
    by_line = {r.line: r.reason for r in rejected}
    assert set(by_line) == {2, 3, 5, 6, 7}
    assert "invalid JSON" in by_line[2]
    assert "input_tokens must not be negative" in by_line[3]
    assert "not a recognized usage record" in by_line[5]
    assert "no UTC offset" in by_line[6]
    assert "unknown field 'output_token'" in by_line[7]
    assert all(r.path == str(src) for r in rejected)
    assert rejected[0].raw == b"{not json\n"


def test_strict_writes_nothing(store: Store, tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "a.jsonl", [native(0), native(1), "{broken"])
    with pytest.raises(IngestRejected):
        ingest_inputs(store, LOCAL, [str(src)], IngestOptions(strict=True, batch_size=1))
    assert store.count_events(EventFilter()) == 0
    ok = write_jsonl(tmp_path / "b.jsonl", [native(0), native(1)])
    assert ingest_inputs(store, LOCAL, [str(ok)], IngestOptions(strict=True, batch_size=1)).added == 2


def test_crash_mid_ingest_leaves_consistent_store_and_rerun_completes(store: Store, tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "a.jsonl", [native(i) for i in range(100)])
    seen = {"lines": 0}

    def explode(_: int) -> None:
        seen["lines"] += 1
        if seen["lines"] == 35:
            raise KeyboardInterrupt  # what Ctrl-C looks like in the middle of a run

    with pytest.raises(KeyboardInterrupt):
        ingest_inputs(store, LOCAL, [str(src)], IngestOptions(batch_size=10), Hooks(on_progress=explode))
    assert store.count_events(EventFilter()) == 30  # three whole batches, nothing partial
    rollup_events = sum(r.sums["events"] for r in store.aggregate(AggregateQuery(EventFilter())))
    assert rollup_events == 30
    summary = ingest_inputs(store, LOCAL, [str(src)], IngestOptions(batch_size=10))
    assert (summary.added, summary.duplicates) == (70, 30)
    assert totals(store)["events"] == 100


def test_json_array_document_and_pretty_object(store: Store, tmp_path: Path) -> None:
    array = tmp_path / "events.json"
    array.write_text(json.dumps([native(i) for i in range(5)], indent=2), encoding="utf-8")
    single = tmp_path / "one.json"
    single.write_text(json.dumps(native(99), indent=2), encoding="utf-8")
    summary = ingest_inputs(store, LOCAL, [str(array), str(single)], IngestOptions())
    assert (summary.read, summary.added) == (6, 6)


def test_broken_document_is_one_named_rejection(store: Store, tmp_path: Path) -> None:
    src = tmp_path / "bad.json"
    src.write_text('[\n {"a": 1},\n', encoding="utf-8")
    rejected: list[Rejection] = []
    summary = ingest_inputs(store, LOCAL, [str(src)], IngestOptions(), Hooks(on_reject=rejected.append))
    assert summary.rejected == 1
    assert rejected[0].line == 1 and "invalid JSON document" in rejected[0].reason


def test_csv_input(store: Store, tmp_path: Path) -> None:
    src = tmp_path / "usage.csv"
    src.write_text(
        "timestamp,provider,model,input_tokens,output_tokens,project,tags,price_context\n"
        "2026-11-20T10:00:00Z,openai,gpt-4o,1000,100,web,env=prod;team=a,processing=batch\n"
        "2026-11-20T11:00:00Z,openai,gpt-4o,oops,100,web,,\n"
        "2026-11-20T12:00:00Z,anthropic,claude-sonnet-4-5,2000,200,,,\n",
        encoding="utf-8",
    )
    rejected: list[Rejection] = []
    summary = ingest_inputs(store, LOCAL, [str(src)], IngestOptions(), Hooks(on_reject=rejected.append))
    assert (summary.added, summary.rejected) == (2, 1)
    assert rejected[0].line == 3 and "input_tokens must be a whole number" in rejected[0].reason
    events = list(store.iter_events(EventFilter()))
    assert json.loads(events[0]["tags_json"]) == {"env": "prod", "team": "a"}
    assert json.loads(events[0]["price_context_json"]) == {"processing": "batch"}
    assert {e["project"] for e in events} == {"web", "default"}


def test_stdin_and_project_override(store: Store) -> None:
    payload = b"".join(json.dumps(native(i)).encode() + b"\n" for i in range(3))
    stream = io.BufferedReader(io.BytesIO(payload))  # type: ignore[arg-type]
    summary = ingest_inputs(store, LOCAL, ["-"], IngestOptions(project="forced"), stdin=stream)
    assert summary.added == 3
    assert [p["slug"] for p in store.list_projects()] == ["forced"]


def test_unknown_model_is_unpriced_not_free(store: Store, tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "a.jsonl", [native(1, model="mystery-9000", provider="acme")])
    summary = ingest_inputs(store, LOCAL, [str(src)], IngestOptions())
    assert summary.unpriced == 1
    event = next(store.iter_events(EventFilter()))
    assert event["cost_nanos"] is None and event["cost_source"] == "unpriced"
    assert store.unpriced_models()[0]["model"] == "mystery-9000"


def test_reported_cost_wins_and_is_exact(store: Store, tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "a.jsonl", [native(1, reported_cost_usd="0.000123456")])
    ingest_inputs(store, LOCAL, [str(src)], IngestOptions())
    event = next(store.iter_events(EventFilter()))
    assert (event["cost_nanos"], event["cost_source"], event["reported_cost_nanos"]) == (123456, "reported", 123456)


def _committed_events(db: Path) -> int:
    import sqlite3

    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0  # not created or migrated yet


@pytest.mark.slow
def test_kill_9_mid_ingest_then_rerun(tmp_path: Path) -> None:
    """A real process killed with SIGKILL mid-run: the store opens cleanly and the rerun completes."""
    src = write_jsonl(tmp_path / "big.jsonl", [native(i) for i in range(60_000)])
    env = {**os.environ, "AGENTCOST_BATCH_SIZE": "2000"}
    db = tmp_path / "kill.db"
    cmd = [sys.executable, "-m", "agentcost_cli", "--db", str(db), "ingest", "-q", str(src)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait until at least one batch has committed
        if _committed_events(db) >= 2000:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = open_store(db)
    try:
        partial = store.count_events(EventFilter())
        assert 0 < partial < 60_000, "the kill must land mid-run for this test to mean anything"
        assert partial % 2000 == 0  # whole batches only
        assert sum(r.sums["events"] for r in store.aggregate(AggregateQuery(EventFilter()))) == partial
    finally:
        store.close()
    rerun = subprocess.run(cmd, env=env, capture_output=True, check=False)
    assert rerun.returncode == 0, rerun.stderr
    store = open_store(db)
    try:
        assert store.count_events(EventFilter()) == 60_000
        assert totals(store)["events"] == 60_000
    finally:
        store.close()
