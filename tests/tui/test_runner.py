"""Backend calls off the UI thread: one backend per pool thread locally, one shared remotely."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from agentcost_cli.tui.backends import OwnedLocalBackend, local_opener
from agentcost_cli.tui.runner import BackendRunner

pytestmark = pytest.mark.anyio


async def test_local_calls_run_on_pool_threads_with_their_own_connections(seeded_db: Path) -> None:
    opened: list[OwnedLocalBackend] = []
    base = local_opener(seeded_db)

    def opener():  # the real opener, counted
        backend = base()
        assert isinstance(backend, OwnedLocalBackend)
        opened.append(backend)
        return backend

    runner = BackendRunner(opener, threads=2)
    gate = threading.Barrier(2, timeout=10)

    def both_at_once(backend):
        gate.wait()  # only passes if two calls really run at the same time
        return threading.get_ident(), id(backend), len(backend.list_projects())

    results = await asyncio.gather(runner.call(both_at_once), runner.call(both_at_once))
    assert results[0][0] != threading.get_ident()  # not the event loop's thread
    assert {r[0] for r in results} == {results[0][0], results[1][0]} and results[0][0] != results[1][0]
    assert results[0][1] != results[1][1]  # each thread its own backend
    assert results[0][2] == results[1][2] == 3  # web, api, research
    runner.close()
    assert len(opened) == 2
    for backend in opened:  # closed with the runner
        with pytest.raises(Exception, match="closed"):
            backend.store.list_projects()


async def test_shared_backend_is_opened_once_and_used_serially(seeded_db: Path) -> None:
    calls: list[int] = []
    runner = BackendRunner(local_opener(seeded_db), threads=4, shared=True)
    idents = await asyncio.gather(*(runner.call(lambda b: (calls.append(1), threading.get_ident())[1])
                                    for _ in range(5)))
    assert len(set(idents)) == 1 and len(calls) == 5
    runner.close()
    runner.close()  # idempotent


async def test_errors_come_back_to_the_caller(tmp_path: Path) -> None:
    from agentcost_cli.errors import StoreError

    (tmp_path / "a-file").write_text("not a folder")
    runner = BackendRunner(local_opener(tmp_path / "a-file" / "x.db"))
    with pytest.raises(StoreError):
        await runner.call(lambda b: b.list_projects())
    runner.close()
