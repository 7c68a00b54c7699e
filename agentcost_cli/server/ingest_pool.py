"""Validate and price large `POST /v1/events` batches in a worker process.

The daemon serves from one process, so its Python work is serialized by the GIL: at batches
of 100 events, validating and pricing (~1.5 ms) and turning events into rows are a third of
each request's CPU. A worker process (a fresh interpreter: the daemon has threads, so a
fork is unsafe) does that part of batches of POOL_MIN_EVENTS or more and returns the
store's plain rows (tuples pickle ~7x faster than event objects); the ingest writer then
decides created/duplicate and stores them exactly as for a batch prepared in-process.

Everything the answer depends on is decided here and sent along: the ingest scope (the
actor's permissions), the time of receipt (tests freeze services/clock) and the pricing
revision (the worker reloads its pricer when it differs, so a price change applies to the
very next request). Only an embedded SQLite store uses the pool; a worker that dies or hangs
fails its request with 503 (nothing stored) and the pool is started again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import StoreError

log = logging.getLogger("agentcost.server")

POOL_MIN_EVENTS = 16  # below this, the hand-off costs more than it saves
POOL_TIMEOUT_S = 30.0  # a batch takes milliseconds; a worker that takes this long is stuck

# In the worker process: its own store connection (read-only use) and pricer.
_WORKER: dict[str, Any] = {}


class IngestWorkerError(StoreError):
    """The worker process died or hung: the request is answered 503 and nothing was stored."""


def _init(path: str) -> None:
    from ..store.sqlite import SqliteStore

    _WORKER["store"] = SqliteStore(Path(path), synchronous="NORMAL")


def _pricer(revision: int | None) -> Any:
    pricer = _WORKER.get("pricer")
    if pricer is None or pricer.revision != revision:
        from ..services.pricing import load_pricer

        pricer = _WORKER["pricer"] = load_pricer(_WORKER["store"])
    return pricer


def _warm(revision: int | None) -> int:
    _pricer(revision)
    import os

    return os.getpid()


def _row(priced: Any) -> tuple[Any, ...]:
    from ..store.sqlite_sql import event_row

    return (*event_row(priced, priced.project, None), priced.replace_if_larger)


def _prepare(body: bytes, fmt: str, options: Any, check: Any, received: str, revision: int | None) -> Any:
    """Runs in the worker: the body's items validated, priced and turned into rows."""
    import orjson

    from ..services.usage import prepare_items

    items = batch_items(orjson.loads(body))
    assert items is not None  # the daemon checked the body before sending it
    return prepare_items(items, fmt, options, check, received, _pricer(revision), to_row=_row)


def batch_items(document: Any) -> list[Any] | None:
    """The events of a body: `{"events": [...]}` or one event object; None for anything else."""
    if isinstance(document, dict) and set(document) == {"events"} and isinstance(document["events"], list):
        return list(document["events"])
    if isinstance(document, dict):
        return [document]
    return None


class IngestPool:
    """One worker process, spoken to over a socket from the event loop: requests are written as
    they come and answered in order, so no thread of this process hands anything over (a
    multiprocessing pool's feeder and manager threads cost ~0.4 ms of CPU per request here).
    Started and closed by the app's lifespan (closed after the writer has drained)."""

    def __init__(self, store_path: str, *, min_events: int = POOL_MIN_EVENTS,
                 timeout_s: float = POOL_TIMEOUT_S) -> None:
        self.store_path = store_path
        self.min_events = min_events
        self.timeout_s = timeout_s
        self.restarts = 0
        self._worker: _Worker | None = None
        self._closed = True
        self._starting: asyncio.Lock | None = None

    @property
    def running(self) -> bool:
        return not self._closed

    @property
    def pid(self) -> int | None:
        """The worker process's id (for tests), None while none runs."""
        return self._worker.process.pid if self._worker is not None else None

    async def start(self, revision: int | None) -> None:
        """Start the worker and load its pricer now, so the first request is not slow."""
        self._closed = False
        self._starting = asyncio.Lock()
        self._worker = await _Worker.start(self.store_path)
        await asyncio.wait_for(self._worker.call(("warm", revision)), 120)

    async def prepare(self, body: bytes, fmt: str, options: Any, check: Any, received: str,
                      revision: int | None) -> Any:
        """The batch prepared by the worker (a services.usage.PreparedBatch with rows).

        Raises:
            IngestWorkerError: the worker died or did not answer in time (a new one starts).
        """
        worker = await self._alive()
        try:
            return await asyncio.wait_for(worker.call(("prepare", body, fmt, options, check, received, revision)),
                                          self.timeout_s)
        except TimeoutError:
            log.warning("an ingest worker did not answer in %.0f s; starting a new one", self.timeout_s)
            worker.kill()
        except _WorkerGone:
            log.warning("an ingest worker exited; starting a new one")
        raise IngestWorkerError("the ingest worker process failed; nothing of this batch was stored",
                                hint="retry the request")

    async def _alive(self) -> _Worker:
        if self._closed or self._starting is None:
            raise IngestWorkerError("the ingest workers are not running")
        async with self._starting:
            worker = self._worker
            if worker is None or worker.gone:
                if worker is not None:
                    worker.kill()
                self._worker = None
                worker = self._worker = await _Worker.start(self.store_path)
                self.restarts += 1
            return worker

    async def close(self) -> None:
        """Stop the worker (after the last request: nothing is waiting for it)."""
        self._closed = True
        worker, self._worker = self._worker, None
        if worker is not None:
            await worker.stop()


class _WorkerGone(Exception):
    pass


class _Worker:
    """A worker process and the event loop's end of its socket."""

    def __init__(self, process: Any, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        import collections

        self.process = process
        self._reader = reader
        self._writer = writer
        self._waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.gone = False
        self._task = asyncio.get_running_loop().create_task(self._answers())

    @classmethod
    async def start(cls, store_path: str) -> _Worker:
        import socket
        import subprocess
        import sys

        ours, theirs = socket.socketpair()
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "agentcost_cli.server.ingest_pool", str(theirs.fileno()), store_path],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        reader, writer = await asyncio.open_unix_connection(sock=ours, limit=2**26)
        return cls(process, reader, writer)

    def call(self, request: tuple[Any, ...]) -> asyncio.Future[Any]:
        import pickle

        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.gone:
            future.set_exception(_WorkerGone())
            return future
        data = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        self._writer.write(len(data).to_bytes(4, "big") + data)
        self._waiting.append(future)
        return future

    async def _answers(self) -> None:
        import pickle

        try:
            while True:
                size = int.from_bytes(await self._reader.readexactly(4), "big")
                ok, value = pickle.loads(await self._reader.readexactly(size))
                future = self._waiting.popleft()
                if future.done():  # the request timed out or was cancelled
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            self.gone = True
            while self._waiting:
                future = self._waiting.popleft()
                if not future.done():
                    future.set_exception(_WorkerGone())

    def kill(self) -> None:
        self.gone = True
        if self.process.poll() is None:
            self.process.kill()
        self._writer.close()

    async def stop(self) -> None:
        """End of input: the worker finishes what it has and exits."""
        self._writer.close()
        try:
            await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(None, self.process.wait), 10)
        except TimeoutError:
            self.process.kill()
            self.process.wait()
        await self._task


def _serve(fd: int, store_path: str) -> None:
    """The worker's loop: a request in, its answer out, until the daemon closes the socket."""
    import pickle
    import signal
    import socket

    # Ctrl-C or a service manager's SIGTERM reaches the whole process group: the daemon then
    # drains its requests, which may still need this worker. It exits when the daemon closes
    # the socket (or dies: the kernel closes it then).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _init(store_path)
    sock = socket.socket(fileno=fd)
    stream = sock.makefile("rb")
    handlers: dict[str, Callable[..., Any]] = {"warm": _warm, "prepare": _prepare}
    while True:
        head = stream.read(4)
        if len(head) < 4:
            return  # the daemon is gone or done
        name, *args = pickle.loads(stream.read(int.from_bytes(head, "big")))
        try:
            answer: tuple[bool, Any] = (True, handlers[name](*args))
        except Exception as exc:
            answer = (False, exc)
        try:
            data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            data = pickle.dumps((False, RuntimeError(f"{type(exc).__name__}: {exc}")))
        sock.sendall(len(data).to_bytes(4, "big") + data)


if __name__ == "__main__":
    import sys

    _serve(int(sys.argv[1]), sys.argv[2])
