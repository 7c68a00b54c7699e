"""Large `POST /v1/events` batches prepared by a worker process (server/ingest_pool.py), through
a real uvicorn: the same answers and stored rows as the in-process path, price changes applied
at once, a dead worker costing only its request(s), and a clean shutdown."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.conftest import seed_team
from tests.server.live_uvicorn import serve

AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@contextmanager
def _daemon(db: Path, *, workers: int) -> Iterator[tuple[str, Any]]:
    from agentcost_cli.server.app import create_app
    from agentcost_cli.server.config import ServerConfig

    app = create_app(ServerConfig(store_path=str(db), public_url="https://costs.example.org",
                                  ingest_workers=workers))
    with serve(app) as url:
        yield url, app.api


def _event(index: int, **extra: Any) -> dict[str, Any]:
    event = {"id": f"e{index}", "provider": "openai", "model": "gpt-4o", "input_tokens": 1000 + index,
             "output_tokens": 10 * index, "timestamp": "2026-11-20T11:00:00Z", "tags": {"n": str(index)}}
    event.update(extra)
    return event


def _mixed() -> list[Any]:
    """Created, duplicated (within the batch and of an earlier batch), and rejected events."""
    events: list[Any] = [_event(i) for i in range(30)]
    events += [_event(3), _event(0, input_tokens=5)]  # later copies: duplicates
    events += [{"id": "no-model", "provider": "openai", "input_tokens": 1}, "not an object",
               {"provider": "openai", "model": "gpt-4o"}, {"id": "x" * 200, "model": "gpt-4o"},
               {"id": "other", "provider": "openai", "model": "gpt-4o", "project": "elsewhere",
                "input_tokens": 3}]
    events += [{k: v for k, v in _event(i).items() if k != "timestamp"} for i in range(100, 110)]
    events += [_event(200, model="no-such-model-anywhere")]  # unpriced
    return events


def _completion(index: int) -> dict[str, Any]:
    return {"id": f"chatcmpl-{index}", "object": "chat.completion", "model": "gpt-4o-2024-08-06",
            "usage": {"prompt_tokens": 100 + index, "completion_tokens": 7, "total_tokens": 107 + index}}


def _post(url: str, key: str, events: list[Any]) -> httpx.Response:
    return httpx.post(f"{url}/v1/events", json={"events": events}, timeout=30,
                      headers={"Authorization": f"Bearer {key}"})


def _rows(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        events = conn.execute("SELECT * FROM events ORDER BY id").fetchall()
        hourly = conn.execute("SELECT * FROM usage_hourly ORDER BY 1, 2, 3, 4").fetchall()
        daily = conn.execute("SELECT * FROM usage_daily ORDER BY 1, 2, 3, 4, 5, 6, 7").fetchall()
    return [*events, *hourly, *daily]


def test_a_pooled_batch_is_answered_and_stored_exactly_as_in_process(tmp_path: Path) -> None:
    from agentcost_cli.services import clock

    seen = []
    for workers in (0, 1):
        db = tmp_path / f"w{workers}.db"
        key = seed_team(db)["ingest"]
        with clock.frozen(AT), _daemon(db, workers=workers) as (url, app):
            first = _post(url, key, _mixed())
            again = _post(url, key, [_event(i) for i in range(5, 25)])  # all duplicates of the first
            # Provider responses with no time of their own: stamped with the time of receipt.
            openai = httpx.post(f"{url}/v1/events/openai", timeout=30, headers={"Authorization": f"Bearer {key}"},
                                json={"events": [_completion(i) for i in range(20)] + [_completion(3)]})
            assert openai.status_code == 200, openai.text
            pool = app.state.ingest_pool
            assert (pool is not None) == bool(workers)
            if pool is not None:
                assert pool.pid is not None and pool.restarts == 0
        seen.append(((first.status_code, first.json()), (again.status_code, again.json()), openai.json(),
                     _rows(db)))
    assert seen[0] == seen[1]
    (status, answer), (_, repeat), _, rows = seen[1]
    assert status == 207 and len(answer["successes"]) == 33 and {s["status"] for s in repeat["successes"]} == {
        "duplicate"}
    assert rows


def test_a_price_change_applies_to_the_next_pooled_request(tmp_path: Path) -> None:
    from agentcost_cli.services import pricing
    from agentcost_cli.services.actor import LOCAL
    from agentcost_cli.store import open_store

    db = tmp_path / "daemon.db"
    key = seed_team(db)["ingest"]

    def cost(url: str, prefix: str) -> set[int]:
        answer = _post(url, key, [_event(i, id=f"{prefix}{i}", input_tokens=1_000_000, output_tokens=0)
                                  for i in range(20)])
        assert answer.status_code == 200, answer.text
        with sqlite3.connect(db) as conn:
            return {row[0] for row in conn.execute("SELECT cost_nanos FROM events WHERE dedupe_key LIKE ?",
                                                   (f"{prefix}%",))}

    with _daemon(db, workers=1) as (url, _):
        before = cost(url, "before")
        store = open_store(db)
        try:
            pricing.set_override(store, LOCAL, provider="openai", model="gpt-4o", rates={"input": "7"},
                                 effective_from=None, reason="negotiated")
        finally:
            store.close()
        assert before != {7_000_000_000} and cost(url, "after") == {7_000_000_000}


def test_a_killed_worker_fails_its_request_with_503_then_a_new_one_serves(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    db = tmp_path / "daemon.db"
    key = seed_team(db)["ingest"]
    with _daemon(db, workers=1) as (url, app):
        pool = app.state.ingest_pool
        assert _post(url, key, [_event(i) for i in range(20)]).status_code == 200
        doomed = pool.pid
        os.kill(doomed, signal.SIGSTOP)  # so that the request is surely in its hands when it dies
        with ThreadPoolExecutor(1) as runner:
            pending = runner.submit(_post, url, key, [_event(i, id=f"k{i}") for i in range(20)])
            time.sleep(0.5)
            os.kill(doomed, signal.SIGKILL)
            failed = pending.result()
        assert failed.status_code == 503, failed.text
        assert failed.headers["content-type"].startswith("application/problem+json")
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM events WHERE dedupe_key LIKE 'k%'").fetchone()[0] == 0
        retried = _post(url, key, [_event(i, id=f"k{i}") for i in range(20)])
        assert retried.status_code == 200 and pool.restarts == 1 and pool.pid != doomed
        assert {s["status"] for s in retried.json()["successes"]} == {"created"}


def test_a_worker_that_hangs_fails_its_request_with_503(tmp_path: Path) -> None:
    db = tmp_path / "daemon.db"
    key = seed_team(db)["ingest"]
    with _daemon(db, workers=1) as (url, app):
        pool = app.state.ingest_pool
        pool.timeout_s = 1.0
        stuck = pool.pid
        os.kill(stuck, signal.SIGSTOP)
        try:
            failed = _post(url, key, [_event(i) for i in range(20)])
        finally:
            os.kill(stuck, signal.SIGCONT)
        assert failed.status_code == 503
        assert failed.headers["content-type"].startswith("application/problem+json")
        assert _post(url, key, [_event(i) for i in range(20)]).status_code == 200
        assert pool.pid != stuck


def test_shutdown_stops_the_worker_and_leaves_no_files(tmp_path: Path) -> None:
    db = tmp_path / "daemon.db"
    key = seed_team(db)["ingest"]
    before = set(tmp_path.iterdir())
    with _daemon(db, workers=1) as (url, app):
        pool = app.state.ingest_pool
        pid = pool.pid
        assert _post(url, key, [_event(i) for i in range(50)]).status_code == 200
    assert pool.pid is None and not pool.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert {p.name for p in set(tmp_path.iterdir()) - before} <= {"daemon.db-wal", "daemon.db-shm", "daemon.db.key"}
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 50


def test_small_batches_stay_in_the_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "daemon.db"
    key = seed_team(db)["ingest"]
    with _daemon(db, workers=1) as (url, app):
        pool = app.state.ingest_pool

        async def refuse(*args: Any) -> Any:
            raise AssertionError("a small batch went to the worker")

        monkeypatch.setattr(pool, "prepare", refuse)
        assert _post(url, key, [_event(i) for i in range(pool.min_events - 1)]).status_code == 200
