"""The store contract's fixtures: every test runs once per backend (SQLite, PostgreSQL).

`location` is a fresh, empty store location with raw SQL access beside the store, for
the tests that reach under the contract (roll a schema back, check the columns).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agentcost_cli.store import open_store
from agentcost_cli.store.base import Store

from ..pg import pg_schema


@dataclass
class Location:
    kind: str  # "sqlite" | "postgres"
    url: str

    def open(self, **options: Any) -> Store:
        return open_store(self.url, **options)

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement outside the store (autocommit); `?` placeholders on both backends."""
        if self.kind == "sqlite":
            import sqlite3

            conn = sqlite3.connect(self.url, isolation_level=None)
            try:
                return conn.execute(statement, params).fetchall()
            finally:
                conn.close()
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as pg:
            cursor = pg.execute(statement.replace("?", "%s"), params or None)
            return cursor.fetchall() if cursor.description else []

    def columns(self, table: str) -> list[str]:
        """The table's columns, in order."""
        if self.kind == "sqlite":
            return [row[1] for row in self.sql(f"PRAGMA table_info({table})")]
        return [row[0] for row in self.sql(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND table_name = ? ORDER BY ordinal_position", (table,))]

    @property
    def migrations(self) -> list[tuple[str, list[str]]]:
        if self.kind == "sqlite":
            from agentcost_cli.store.migrations.sqlite import MIGRATIONS
        else:
            from agentcost_cli.store.migrations.postgres import MIGRATIONS
        return MIGRATIONS


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Location]:
    if request.param == "sqlite":
        yield Location("sqlite", str(tmp_path / "contract.db"))
        return
    with pg_schema() as url:
        yield Location("postgres", url)


@pytest.fixture
def backend(location: Location) -> Iterator[Store]:
    store = location.open()
    yield store
    store.close()
