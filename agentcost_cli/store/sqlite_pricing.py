"""The SQLite store's pricing tables: snapshots, revisions, overrides and history."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import orjson

from ..timeutil import now_utc


class PricingTables:
    """Mixed into SqliteStore; it provides `conn` and `transaction()`."""

    conn: sqlite3.Connection
    transaction: Callable[[], AbstractContextManager[None]]

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self.conn.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, r, strict=True)) for r in cursor]

    def current_pricing_revision(self) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM pricing_revisions ORDER BY id DESC LIMIT 1")
        return rows[0] if rows else None

    def add_pricing_revision(self, *, snapshot_id: int | None, reason: str) -> int:
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO pricing_revisions (created_utc, snapshot_id, reason) VALUES (?, ?, ?)",
                (now_utc(), snapshot_id, reason),
            )
        return int(cur.lastrowid or 0)

    def add_pricing_snapshot(self, info: dict[str, Any]) -> int:
        with self.transaction():
            self.conn.execute("UPDATE pricing_snapshots SET active = 0")
            cur = self.conn.execute(
                "INSERT INTO pricing_snapshots (sha256, format, source_url, fetched_utc, path, provider_count,"
                " model_count, etag, last_modified, active) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                (info["sha256"], info["format"], info["source_url"], info["fetched_utc"], info["path"],
                 info["provider_count"], info["model_count"], info.get("etag"), info.get("last_modified")),
            )
        return int(cur.lastrowid or 0)

    def active_pricing_snapshot(self) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM pricing_snapshots WHERE active = 1 ORDER BY id DESC LIMIT 1")
        return rows[0] if rows else None

    def list_pricing_snapshots(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM pricing_snapshots ORDER BY id")

    def add_price_override(self, override: dict[str, Any]) -> int:
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO price_overrides (provider, model, rates_json, effective_from_utc, reason, created_utc)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (override["provider"], override["model"], orjson.dumps(override["rates"]).decode(),
                 override["effective_from_utc"], override["reason"], override["created_utc"]),
            )
        return int(cur.lastrowid or 0)

    def remove_price_overrides(self, provider: str, model: str, *, removed_utc: str) -> int:
        with self.transaction():
            cur = self.conn.execute(
                "UPDATE price_overrides SET removed_utc = ? WHERE provider = ? AND model = ? AND removed_utc IS NULL",
                (removed_utc, provider, model),
            )
        return cur.rowcount

    def active_price_overrides(self) -> list[dict[str, Any]]:
        rows = self._rows(
            "SELECT * FROM price_overrides WHERE removed_utc IS NULL ORDER BY provider, model, effective_from_utc, id"
        )
        for row in rows:
            row["rates"] = orjson.loads(row.pop("rates_json"))
        return rows

    def add_price_history(self, rows: Sequence[dict[str, Any]]) -> None:
        with self.transaction():
            self.conn.executemany(
                "INSERT INTO price_history (recorded_utc, revision_id, provider, model, field, old_value,"
                " new_value, pct_change, source) VALUES (:recorded_utc, :revision_id, :provider, :model, :field,"
                " :old_value, :new_value, :pct_change, :source)",
                rows,
            )

    def price_history(self, provider: str | None = None, model: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM price_history WHERE 1"
        params: list[Any] = []
        if provider:
            sql += " AND provider = ?"
            params.append(provider)
        if model:
            sql += " AND model = ?"
            params.append(model)
        return self._rows(sql + " ORDER BY id", params)
