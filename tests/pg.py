"""PostgreSQL for tests: a fresh schema (or database) per test, dropped afterwards.

Tests run under `pytest -n auto`, so every schema and database gets a unique name and
nothing is shared between tests or xdist workers. The server comes from
AGENTCOST_TEST_PG_DSN (CI sets it; without it these tests skip, and in CI a skip fails).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

PG_DSN = os.environ.get("AGENTCOST_TEST_PG_DSN")  # read at import: the autouse fixture clears AGENTCOST_*
SKIP_REASON = ("needs PostgreSQL: set AGENTCOST_TEST_PG_DSN, e.g. postgresql://postgres@127.0.0.1:5432/test "
               "(CI does)")


def require_pg() -> str:
    if not PG_DSN:
        pytest.skip(SKIP_REASON)
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("needs psycopg: pip install 'agentcost[postgres]'")
    return PG_DSN


def admin() -> Any:
    import psycopg

    return psycopg.connect(require_pg(), autocommit=True)


def with_query(url: str, **params: str) -> str:
    """`url` with libpq parameters added to its query string."""
    parts = urlsplit(url)
    extra = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@contextmanager
def pg_schema() -> Iterator[str]:
    """A URL whose search_path is a new, empty schema (dropped, with everything in it, after)."""
    dsn = require_pg()
    name = f"agentcost_test_{uuid.uuid4().hex[:16]}"
    with admin() as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    try:
        yield with_query(dsn, options=f"-c search_path={name}")
    finally:
        with admin() as conn:
            conn.execute(f"DROP SCHEMA {name} CASCADE")


@contextmanager
def pg_database(**settings: str) -> Iterator[str]:
    """A URL of a new database with these settings (ALTER DATABASE ... SET), dropped after."""
    dsn = require_pg()
    name = f"agentcost_test_{uuid.uuid4().hex[:16]}"
    with admin() as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE template0")  # nobody ever connects to it
        for key, value in settings.items():
            conn.execute(f"ALTER DATABASE {name} SET {key} = {value}")
    try:
        yield with_database(dsn, name)
    finally:
        with admin() as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
