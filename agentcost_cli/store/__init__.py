"""Persistence. All SQL lives under this package, behind the `Store` interface."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Store


def open_store(location: str | Path, *, synchronous: str = "FULL", migrate: bool = True,
               rollup_zone: str = "UTC") -> Store:
    """Open the store at `location` (a SQLite path today; a postgresql:// URL later).

    `rollup_zone` (an IANA name or UTC) is where a new store's daily rollup cuts days;
    an existing store keeps the zone it was created with (`agentcost db rollup-zone`).

    Raises:
        StoreError: the store cannot be opened, or its schema is newer than this program.
    """
    from .sqlite import SqliteStore

    text = str(location)
    if text.startswith(("postgres://", "postgresql://")):
        from ..errors import ConfigError

        raise ConfigError(
            "PostgreSQL stores are not supported by this version",
            hint="use a SQLite path for store.path",
        )
    store = SqliteStore(Path(text).expanduser(), synchronous=synchronous, rollup_zone=rollup_zone)
    if migrate:
        store.migrate()
    return store
