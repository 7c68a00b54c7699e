"""Backend calls off the UI thread.

Every screen asks its questions through `BackendRunner.call`, awaited inside a Textual
worker, so a slow store or daemon never freezes the interface. The calls run on a small
thread pool:

- local mode gives each pool thread its own backend (its own SQLite or PostgreSQL
  connection): connections belong to a thread, and SQLite's WAL lets several threads read
  while the daemon or an import writes;
- remote mode shares one backend on a single thread, because its session may refresh
  its token: two threads refreshing the same refresh token at once would trip the daemon's
  reuse detection and end the session.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from ..services.backend import Backend

T = TypeVar("T")


class BackendRunner:
    """Args:
        open_backend: opens a backend; called once per pool thread (local) or once (shared).
        threads: how many calls may run at once (forced to 1 when `shared`).
        shared: one backend for every call (remote mode).
    """

    def __init__(self, open_backend: Callable[[], Backend], *, threads: int = 3, shared: bool = False) -> None:
        self._open = open_backend
        self._shared = shared
        self._pool = ThreadPoolExecutor(max_workers=1 if shared else max(1, threads),
                                        thread_name_prefix="agentcost-tui")
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opened: list[Backend] = []
        self._closed = False

    def _backend(self) -> Backend:
        backend: Backend | None = getattr(self._local, "backend", None)
        if backend is None:
            backend = self._open()
            with self._lock:
                self._opened.append(backend)
            self._local.backend = backend
        return backend

    def _run(self, fn: Callable[[Backend], T]) -> T:
        return fn(self._backend())

    async def call(self, fn: Callable[[Backend], T]) -> T:
        """`fn(backend)` on a pool thread; its exceptions are raised here."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._run, fn)

    def call_sync(self, fn: Callable[[Backend], T]) -> T:
        """The same, blocking: for tests and the shutdown path, never from the UI thread."""
        return self._pool.submit(self._run, fn).result()

    def close(self) -> None:
        """Wait for running calls, then close every backend opened (in its own thread's stead:
        closing a connection from another thread is allowed by sqlite3 with
        check_same_thread=False, which the store uses, and by psycopg)."""
        if self._closed:
            return
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            opened, self._opened = self._opened, []
        for backend in opened:
            backend.close()
