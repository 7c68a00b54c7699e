"""Group commit (server/ingest_writer.py): concurrent requests share commits, each is answered
only after its own events are committed, and one request's failure costs no other its events."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from agentcost_cli.errors import StoreError
from agentcost_cli.server.ingest_writer import GroupCommitWriter
from agentcost_cli.server.stores import StoreProvider
from agentcost_cli.services.actor import LOCAL
from agentcost_cli.services.auth_config import AuthConfig
from agentcost_cli.services.usage import prepare_events


def _event(event_id: str) -> dict[str, Any]:
    return {"id": event_id, "timestamp": "2026-11-20T12:00:00Z", "provider": "openai", "model": "gpt-4o",
            "project": "web", "input_tokens": 1000, "output_tokens": 10}


@pytest.fixture
def provider(tmp_path: Path) -> Any:
    from agentcost_cli.store import open_store

    db = tmp_path / "w.db"
    open_store(db).close()
    auth = AuthConfig(public_url="http://127.0.0.1", key_file=tmp_path / "w.key", session_idle=timedelta(days=7),
                      session_max=timedelta(days=30))
    stores = StoreProvider(str(db), synchronous="FULL", auth=auth)
    yield stores
    stores.close()


def _rows(provider: Any) -> list[str]:
    with sqlite3.connect(provider.location) as conn:
        return [r[0] for r in conn.execute("SELECT dedupe_key FROM events ORDER BY dedupe_key")]


def test_concurrent_requests_share_commits_and_each_sees_its_own_answer(provider: Any) -> None:
    writer = GroupCommitWriter(provider)
    store = provider.get()
    other = sqlite3.connect(provider.location, isolation_level=None)  # another process, say the CLI

    async def main() -> list[Any]:
        writer.start()
        batches = [prepare_events(store, LOCAL, [_event(f"e{i:02}"), _event(f"e{i:02}b")]) for i in range(40)]
        other.execute("BEGIN IMMEDIATE")  # holds the store: the writer's first commit waits
        tasks = [asyncio.ensure_future(writer.submit(batch)) for batch in batches]
        await asyncio.sleep(0.2)
        assert not any(task.done() for task in tasks)  # nothing is answered before its commit
        other.execute("COMMIT")
        return await asyncio.gather(*tasks)

    results = asyncio.run(main())
    writer.close()
    other.close()
    assert [r.count("created") for r in results] == [2] * 40
    assert len(_rows(provider)) == 80
    assert writer.requests == 40 and writer.groups <= 3  # the queued 39 went in one or two commits


def test_the_same_id_in_two_concurrent_requests_is_stored_once(provider: Any) -> None:
    writer = GroupCommitWriter(provider)
    store = provider.get()

    async def main() -> list[Any]:
        writer.start()
        first = prepare_events(store, LOCAL, [_event("same"), _event("only-a")])
        second = prepare_events(store, LOCAL, [_event("same")])
        return await asyncio.gather(writer.submit(first), writer.submit(second))

    a, b = asyncio.run(main())
    writer.close()
    statuses = sorted([item.status for item in a.items if item.id == "same"] + [item.status for item in b.items])
    assert statuses == ["created", "duplicate"]
    assert _rows(provider).count("same") == 1


def test_a_failing_request_costs_the_others_nothing(provider: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from agentcost_cli.services import usage

    writer = GroupCommitWriter(provider)
    store = provider.get()
    real = usage.commit_batches
    poisoned: set[int] = set()

    def commit(target: Any, batches: Any) -> Any:
        if any(id(b) in poisoned for b in batches):
            raise StoreError("disk I/O error")
        return real(target, batches)

    monkeypatch.setattr("agentcost_cli.server.ingest_writer.commit_batches", commit)

    async def main() -> list[Any]:
        writer.start()
        batches = [prepare_events(store, LOCAL, [_event(f"x{i}")]) for i in range(6)]
        poisoned.add(id(batches[2]))
        return await asyncio.gather(*(writer.submit(b) for b in batches), return_exceptions=True)

    answers = asyncio.run(main())
    writer.close()
    assert isinstance(answers[2], StoreError)
    assert [a.count("created") for i, a in enumerate(answers) if i != 2] == [1] * 5
    assert _rows(provider) == ["x0", "x1", "x3", "x4", "x5"]


def test_close_commits_what_is_queued(provider: Any) -> None:
    writer = GroupCommitWriter(provider)
    store = provider.get()

    async def main() -> Any:
        writer.start()
        task = asyncio.ensure_future(writer.submit(prepare_events(store, LOCAL, [_event("last")])))
        await asyncio.sleep(0)  # queued
        await asyncio.get_running_loop().run_in_executor(None, writer.close)
        return await task

    assert asyncio.run(main()).count("created") == 1
    assert _rows(provider) == ["last"]


def test_a_batch_with_nothing_to_store_needs_no_writer(provider: Any) -> None:
    writer = GroupCommitWriter(provider)  # never started
    batch = prepare_events(provider.get(), LOCAL, [{"id": "bad"}])
    result = asyncio.run(writer.submit(batch))
    assert [item.status for item in result.items] == ["rejected"]


def test_checkpoints_are_left_to_their_own_thread(provider: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer's connection does not checkpoint the WAL (unless it grows past a bound): a
    thread of its own does, after commits and once more at shutdown."""
    from agentcost_cli.server import ingest_writer

    monkeypatch.setattr(ingest_writer, "CHECKPOINT_EVERY_S", 0.01)
    writer = GroupCommitWriter(provider)
    store = provider.get()

    async def main() -> None:
        writer.start()
        for i in range(5):
            await writer.submit(prepare_events(store, LOCAL, [_event(f"c{i}")]))

    asyncio.run(main())
    writer.close()
    assert writer.checkpoints >= 1 and len(_rows(provider)) == 5
    writer_conn = next(s for s in provider._all if s is not store and s.conn.execute(
        "PRAGMA wal_autocheckpoint").fetchone()[0] == ingest_writer.CHECKPOINT_BOUND_PAGES)
    assert writer_conn is not None
    with sqlite3.connect(provider.location) as conn:  # everything committed is in the database file
        busy, log_frames, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert busy == 0 and log_frames == done
