"""Persistence. All SQL lives under this package, behind the `Store` interface."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Store

URL_SCHEMES = ("postgres://", "postgresql://")


def is_url(location: str | Path) -> bool:
    """True for a server store (a postgresql:// URL), False for a SQLite file path."""
    return str(location).startswith(URL_SCHEMES)


def store_location(setting: str) -> str:
    """The store.path setting as `open_store` takes it: a URL unchanged (a Path would fold
    its `//`), a file path with `~` expanded."""
    return setting if is_url(setting) else str(Path(setting).expanduser())


def redact_location(location: str) -> str:
    """The location with any password in it masked, fit for logs and `db status`."""
    if not is_url(location):
        return location
    from urllib.parse import parse_qsl, urlencode, urlsplit

    parts = urlsplit(location)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hosts = netloc.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}{':***' if colon else ''}@{hosts}"
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(k.lower() == "password" for k, _ in pairs):
        query = urlencode([(k, "***" if k.lower() == "password" else v) for k, v in pairs], safe="*")
    if (netloc, query) == (parts.netloc, parts.query):
        return location
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


def open_store(location: str | Path, *, synchronous: str = "FULL", migrate: bool = True,
               rollup_zone: str = "UTC") -> Store:
    """Open the store at `location`: a SQLite file path, or a postgresql:// URL (the `postgres`
    extra; psycopg is imported only then). `synchronous` applies to SQLite only.

    `rollup_zone` (an IANA name or UTC) is where a new store's daily rollup cuts days;
    an existing store keeps the zone it was created with (`agentcost db rollup-zone`).

    Raises:
        StoreError: the store cannot be opened, or its schema is newer than this program.
        ConfigError: a PostgreSQL URL without psycopg installed, or a malformed URL.
    """
    store: Store
    text = str(location)
    if is_url(text):
        try:
            from .postgres import PostgresStore
        except ImportError as exc:
            if exc.name is None or not exc.name.startswith("psycopg"):
                raise
            from ..errors import ConfigError

            raise ConfigError("PostgreSQL stores need psycopg",
                              hint="pip install 'agentcost[postgres]'") from None
        store = PostgresStore(text, rollup_zone=rollup_zone)
    else:
        from .sqlite import SqliteStore

        store = SqliteStore(Path(text).expanduser(), synchronous=synchronous, rollup_zone=rollup_zone)
    if migrate:
        try:
            store.migrate()
        except BaseException:
            store.close()
            raise
    return store
