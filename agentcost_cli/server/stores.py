"""One store connection per worker thread. FastAPI runs the (synchronous) routes in a thread
pool; a SQLite connection is cheap to open and must not be shared between threads that
write, so each thread opens its own on first use, and all are closed at shutdown."""

from __future__ import annotations

import threading
from pathlib import Path

from ..services.auth_config import AuthConfig, use_auth_config
from ..services.notify_config import load_notify_config, use_notify_config
from ..store.base import Store


class StoreProvider:
    def __init__(self, location: str, *, synchronous: str, auth: AuthConfig) -> None:
        self.location = location
        self.synchronous = synchronous
        self.auth = auth
        # One delivery configuration per daemon, shared by its threads' stores (routes see them
        # through deps._ThreadStore, which takes no attributes of its own).
        self.notify = load_notify_config()
        self._local = threading.local()
        self._all: list[Store] = []
        self._lock = threading.Lock()

    def get(self) -> Store:
        store: Store | None = getattr(self._local, "store", None)
        if store is None:
            from ..store import open_store

            store = open_store(self.location, synchronous=self.synchronous, migrate=False)
            use_auth_config(store, self.auth)
            use_notify_config(store, self.notify)
            self._local.store = store
            with self._lock:
                self._all.append(store)
        return store

    def migrate(self) -> list[str]:
        from ..store import open_store

        store = open_store(self.location, synchronous=self.synchronous, migrate=False)
        try:
            return store.migrate()
        finally:
            store.close()

    def close(self) -> None:
        with self._lock:
            stores, self._all = self._all, []
        for store in stores:
            try:
                store.close()
            except Exception:
                pass


def key_file_for(location: str) -> Path:
    return Path(location + ".key")
