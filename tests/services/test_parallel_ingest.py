"""The parallel path (worker processes) must give exactly what the in-process path gives:
the same events, the same first-copy-wins duplicates, the same rejections on the same lines."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from agentcost_cli.ingest import parallel
from agentcost_cli.ingest.pipeline import IngestOptions, Rejection
from agentcost_cli.services.actor import LOCAL
from agentcost_cli.services.ingest import Hooks, import_agent_logs, ingest_inputs
from agentcost_cli.store import open_store
from agentcost_cli.store.base import EventFilter, Store

pytestmark = pytest.mark.skipif(not parallel.can_fork(), reason="the parallel path needs fork()")


def lines(count: int) -> list[str]:
    out = []
    for i in range(count):
        if i % 97 == 13:
            out.append("{broken json")
        elif i % 89 == 5:
            out.append(json.dumps({"timestamp": "2026-11-20T10:00:00Z", "model": "gpt-4o", "input_tokens": -1}))
        elif i % 53 == 0:
            out.append("")  # blank lines count as lines, never as records
        else:
            # every 10th id repeats an earlier one with other tokens: the first copy must win
            ident = f"e{i - 9 if i % 10 == 9 else i}"
            out.append(json.dumps({"id": ident, "timestamp": f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
                                   "provider": "openai", "model": "gpt-4o-mini", "input_tokens": 100 + i,
                                   "output_tokens": i % 50, "project": f"p{i % 3}"}))
    return out


def run(store: Store, path: Path, workers: int, progress: list[int] | None = None,
        ) -> tuple[Any, list[Rejection], list[tuple[Any, ...]]]:
    rejected: list[Rejection] = []
    hooks = Hooks(on_reject=rejected.append, on_progress=(progress if progress is not None else []).append)
    summary = ingest_inputs(store, LOCAL, [str(path)], IngestOptions(workers=workers), hooks)
    events = [(e["project"], e["dedupe_key"], e["input_tokens"], e["cost_nanos"])
              for e in store.iter_events(EventFilter())]
    return summary, rejected, sorted(events)


def test_parallel_file_ingest_matches_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "big.jsonl"
    src.write_text("\n".join(lines(3000)) + "\n")
    sequential = run(open_store(tmp_path / "a.db"), src, workers=0)  # 0 -> auto; below the size floor: in-process
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "CHUNK_BYTES", 20_000)  # many pieces, cut mid-stream
    assert len(parallel.split(str(src), src.stat().st_size)) > 5
    pieces_seen: list[int] = []  # the parallel path reports progress once per piece
    in_parallel = run(open_store(tmp_path / "b.db"), src, workers=2, progress=pieces_seen)
    assert len(pieces_seen) > 5 and sum(pieces_seen) == src.stat().st_size
    assert in_parallel[0].as_dict() == sequential[0].as_dict()
    assert [(r.line, r.reason) for r in in_parallel[1]] == [(r.line, r.reason) for r in sequential[1]]
    assert in_parallel[2] == sequential[2]
    assert sequential[0].rejected > 40 and sequential[0].duplicates > 200


def test_pieces_cover_the_file_on_line_boundaries(tmp_path: Path) -> None:
    src = tmp_path / "x.jsonl"
    src.write_bytes(b"".join(b"%d\n" % i * (i % 7 + 1) for i in range(2000)))
    size = src.stat().st_size
    pieces = parallel.split(str(src), size, 1000)
    data = src.read_bytes()
    assert pieces[0][0] == 0 and pieces[-1][1] == size
    assert all(a[1] == b[0] for a, b in itertools.pairwise(pieces))
    assert all(data[start - 1:start] == b"\n" for start, _ in pieces[1:])


def cc_line(session: str, n: int) -> str:
    return json.dumps({
        "type": "assistant", "sessionId": session, "uuid": f"{session}-{n}", "cwd": f"/src/{session}",
        "timestamp": f"2026-11-20T10:{n % 60:02d}:00.000Z", "requestId": f"r{n // 2}",
        "message": {"id": f"m{session}{n // 2}", "model": "claude-sonnet-4-5-20250929",
                    "usage": {"input_tokens": 10 + n, "output_tokens": n, "cache_read_input_tokens": 5,
                              "cache_creation_input_tokens": 0}},
    })


def test_parallel_agent_import_matches_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "projects"
    for k in range(6):
        folder = root / f"-src-s{k}"
        folder.mkdir(parents=True)
        (folder / f"s{k}.jsonl").write_text("\n".join(cc_line(f"s{k}", n) for n in range(150)) + "\n{\"usage\": bad\n")

    def imported(db: str, workers: int) -> tuple[Any, list[tuple[Any, ...]], list[tuple[int, str]]]:
        store = open_store(tmp_path / db)
        rejected: list[Rejection] = []
        summary = import_agent_logs(store, LOCAL, "claude-code", [root], IngestOptions(workers=workers),
                                    Hooks(on_reject=rejected.append))
        events = sorted((e["project"], e["dedupe_key"], e["output_tokens"]) for e in store.iter_events(EventFilter()))
        cursors = store.get_cursors("claude-code")
        assert {c.state["line"] for c in cursors.values()} == {151}  # type: ignore[index]
        again = import_agent_logs(store, LOCAL, "claude-code", [root], IngestOptions(workers=workers))
        assert (again.files, again.added) == (0, 0)
        return summary.as_dict(), events, sorted((r.line, r.reason) for r in rejected)

    sequential = imported("a.db", 1)
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    assert imported("b.db", 2) == sequential
    assert sequential[0]["added"] == 6 * 75 and sequential[2][0][0] == 151  # the bad line's true number


def test_interrupted_parallel_ingest_leaves_whole_batches_and_no_scratch_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "big.jsonl"
    src.write_text("\n".join(lines(3000)) + "\n")
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "CHUNK_BYTES", 20_000)
    store = open_store(tmp_path / "s" / "x.db")
    calls = {"n": 0}

    def interrupt(_: int) -> None:
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ingest_inputs(store, LOCAL, [str(src)], IngestOptions(workers=2, batch_size=100), Hooks(on_progress=interrupt))
    assert not list((tmp_path / "s").glob(".agentcost-stage-*"))
    partial = store.count_events(EventFilter())
    assert 0 < partial < 2800
    from agentcost_cli.store.base import AggregateQuery

    assert sum(r.sums["events"] for r in store.aggregate(AggregateQuery(EventFilter(), (), "day"))) == partial
    summary = ingest_inputs(store, LOCAL, [str(src)], IngestOptions(workers=2))
    assert summary.added + partial == store.count_events(EventFilter())


def test_staged_files_need_their_own_transaction_and_stale_ones_are_removed(tmp_path: Path) -> None:
    from agentcost_cli.errors import StoreError
    from agentcost_cli.store.base import STAGE_PREFIX
    from agentcost_cli.store.sqlite import SqliteStore

    store = open_store(tmp_path / "x.db")
    assert isinstance(store, SqliteStore)
    dead = tmp_path / f"{STAGE_PREFIX}999999999-abc.db"
    dead.write_bytes(b"")
    mine = tmp_path / f"{STAGE_PREFIX}{__import__('os').getpid()}-abc.db"
    mine.write_bytes(b"")
    assert SqliteStore.remove_stale_stages(tmp_path) == 1
    assert not dead.exists() and mine.exists()
    with pytest.raises(StoreError), store.transaction():
        store.insert_staged([mine])


def test_strict_parallel_ingest_writes_all_or_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agentcost_cli.errors import IngestRejected

    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "CHUNK_BYTES", 20_000)
    good = [line for line in lines(2000) if line.startswith("{\"id") and ": -1" not in line]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([*good[:1500], "{broken", *good[1500:]]) + "\n")
    store = open_store(tmp_path / "s.db")
    with pytest.raises(IngestRejected):
        ingest_inputs(store, LOCAL, [str(bad)], IngestOptions(workers=2, strict=True, batch_size=100))
    assert store.count_events(EventFilter()) == 0
    ok = tmp_path / "ok.jsonl"
    ok.write_text("\n".join(good) + "\n")
    summary = ingest_inputs(store, LOCAL, [str(ok)], IngestOptions(workers=2, strict=True, batch_size=100))
    assert summary.added == store.count_events(EventFilter()) > 1000
    assert not list(tmp_path.glob(".agentcost-stage-*"))
