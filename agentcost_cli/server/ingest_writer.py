"""Group commit for `POST /v1/events`: one thread stores every request's batch, many per transaction.

A commit waits for the disk (fsync with `synchronous=FULL`), and rollups are folded once per
transaction. Committing each request alone makes concurrent requests queue behind one another's
fsync; here, whatever arrives while a commit is on disk goes into the next one. Each request
is still answered only after its own events are committed (API-06), and a failed group is
retried request by request, so one request's failure never costs another its events.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

from ..services.usage import BatchResult, PreparedBatch, commit_batches

log = logging.getLogger("agentcost.server")

# A bound on one transaction, so one commit does not hold the write lock for long.
MAX_GROUP_EVENTS = 5_000
# SQLite: the writer leaves WAL checkpoints (copying the log into the database, and an fsync
# of it) to a thread of their own, so commits do not wait for them (measured: +25% events/s at
# batches of 100). It checkpoints at most every CHECKPOINT_EVERY_S while commits come in; the
# writer checkpoints itself only if the log grows past CHECKPOINT_BOUND_PAGES regardless.
CHECKPOINT_EVERY_S = 0.5
CHECKPOINT_BOUND_PAGES = 20_000


@dataclass
class _Job:
    batch: PreparedBatch
    future: asyncio.Future[BatchResult]
    loop: asyncio.AbstractEventLoop

    @property
    def size(self) -> int:
        return sum(len(priced) for _, _, priced in self.batch.accepted)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the request was cancelled (client gone): its events are stored anyway
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class GroupCommitWriter:
    """Started and stopped by the app's lifespan; `submit` is awaited by request handlers."""

    def __init__(self, stores: Any, *, max_group_events: int = MAX_GROUP_EVENTS) -> None:
        self._stores = stores
        self._max = max_group_events
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._checkpointer: threading.Thread | None = None
        self._committed = threading.Event()
        self._stopping = False
        self.checkpoints = 0
        self.groups = 0  # commits made (for tests and benchmarks: requests / groups = sharing)
        self.requests = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="agentcost-ingest-writer", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Commit what is queued, then stop (graceful shutdown)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        if self._checkpointer is not None:
            self._stopping = True
            self._committed.set()
            self._checkpointer.join()
            self._checkpointer = None

    async def submit(self, batch: PreparedBatch) -> BatchResult:
        if not batch.accepted:  # nothing to store: no transaction, no wait
            return BatchResult([r for r in batch.results if r is not None])
        if self._thread is None:
            raise RuntimeError("the ingest writer is not running")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[BatchResult] = loop.create_future()
        self._queue.put(_Job(batch, future, loop))
        return await future

    def _run(self) -> None:
        store = self._stores.get()  # this thread's own connection
        if store.defer_checkpoints(CHECKPOINT_BOUND_PAGES):
            self._stopping = False
            self._checkpointer = threading.Thread(target=self._checkpoints, name="agentcost-checkpointer",
                                                  daemon=True)
            self._checkpointer.start()
        stopping = False
        while not stopping:
            job = self._queue.get()
            if job is None:
                break
            group, size = [job], job.size
            while size < self._max:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                group.append(more)
                size += more.size
            self._commit(store, group)

    def _commit(self, store: Any, group: list[_Job]) -> None:
        try:
            results = commit_batches(store, [job.batch for job in group])
        except BaseException as exc:
            if len(group) > 1:  # find the one that fails; the others still get stored
                for job in group:
                    self._commit(store, [job])
                return
            if not isinstance(exc, Exception):
                raise
            log.warning("ingest commit failed: %s", exc.__class__.__name__)
            self._answer(group[0], None, exc)
            return
        self.groups += 1
        self.requests += len(group)
        self._committed.set()
        for job, result in zip(group, results, strict=True):
            self._answer(job, result, None)

    def _checkpoints(self) -> None:
        store = self._stores.get()  # this thread's own connection
        while True:
            self._committed.wait()
            self._committed.clear()
            try:
                store.checkpoint()
                self.checkpoints += 1
            except Exception as exc:  # the writer's own bound still holds the log in check
                log.warning("WAL checkpoint failed: %s", exc)
            if self._stopping:
                return
            time.sleep(CHECKPOINT_EVERY_S)

    @staticmethod
    def _answer(job: _Job, result: BatchResult | None, error: BaseException | None) -> None:
        try:
            job.loop.call_soon_threadsafe(_settle, job.future, result, error)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass
