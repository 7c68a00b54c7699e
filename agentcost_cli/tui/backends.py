"""How the TUI opens its backends: the local store (one connection per pool thread) or the
daemon of the current login (one shared session)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..services.backend import LocalBackend

if TYPE_CHECKING:
    from ..services.backend import Backend
    from ..store.base import Store


class OwnedLocalBackend(LocalBackend):
    """A LocalBackend that owns its store: closing the backend closes the connection."""

    def close(self) -> None:
        self.store.close()


def local_opener(location: str | Path, *, synchronous: str = "NORMAL") -> Callable[[], Backend]:
    """Opens the store at `location` (migrating is a no-op once the command has migrated it,
    but keeps a thread from ever reading a half-made store)."""

    def open_backend() -> Backend:
        from ..store import open_store

        store: Store = open_store(location, synchronous=synchronous)
        return OwnedLocalBackend(store)

    return open_backend
