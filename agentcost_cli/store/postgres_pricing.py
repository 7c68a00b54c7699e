"""The PostgreSQL store's pricing tables: snapshots, revisions, overrides and history."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import orjson
import psycopg

from ..timeutil import now_utc


class PgPricingTables:
    """Mixed into PostgresStore; it provides `_run` and `transaction()`."""

    _run: Callable[..., psycopg.Cursor[Any]]
    transaction: Callable[[], AbstractContextManager[None]]

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self._run(sql, params)
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, r, strict=True)) for r in cursor]

    def _new_id(self, sql: str, params: Sequence[Any]) -> int:
        row = self._run(sql + " RETURNING id", params).fetchone()
        return int(row[0]) if row else 0

    def current_pricing_revision(self) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM pricing_revisions ORDER BY id DESC LIMIT 1")
        return rows[0] if rows else None

    def add_pricing_revision(self, *, snapshot_id: int | None, reason: str) -> int:
        return self._new_id("INSERT INTO pricing_revisions (created_utc, snapshot_id, reason) VALUES (%s, %s, %s)",
                            (now_utc(), snapshot_id, reason))

    def add_pricing_snapshot(self, info: dict[str, Any]) -> int:
        with self.transaction():
            # One active snapshot even when two daemons refresh at once: the second waits here.
            self._run("LOCK TABLE pricing_snapshots IN SHARE ROW EXCLUSIVE MODE")
            self._run("UPDATE pricing_snapshots SET active = 0 WHERE active <> 0")
            return self._new_id(
                "INSERT INTO pricing_snapshots (sha256, format, source_url, fetched_utc, path, provider_count,"
                " model_count, etag, last_modified, active) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 1)",
                (info["sha256"], info["format"], info["source_url"], info["fetched_utc"], info["path"],
                 info["provider_count"], info["model_count"], info.get("etag"), info.get("last_modified")),
            )

    def active_pricing_snapshot(self) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM pricing_snapshots WHERE active = 1 ORDER BY id DESC LIMIT 1")
        return rows[0] if rows else None

    def list_pricing_snapshots(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM pricing_snapshots ORDER BY id")

    def add_price_override(self, override: dict[str, Any]) -> int:
        return self._new_id(
            "INSERT INTO price_overrides (provider, model, rates_json, effective_from_utc, reason, created_utc)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (override["provider"], override["model"], orjson.dumps(override["rates"]).decode(),
             override["effective_from_utc"], override["reason"], override["created_utc"]),
        )

    def remove_price_overrides(self, provider: str, model: str, *, removed_utc: str) -> int:
        cur = self._run(
            "UPDATE price_overrides SET removed_utc = %s WHERE provider = %s AND model = %s AND removed_utc IS NULL",
            (removed_utc, provider, model),
        )
        return int(cur.rowcount)

    def active_price_overrides(self) -> list[dict[str, Any]]:
        rows = self._rows(
            "SELECT * FROM price_overrides WHERE removed_utc IS NULL ORDER BY provider, model, effective_from_utc, id"
        )
        for row in rows:
            row["rates"] = orjson.loads(row.pop("rates_json"))
        return rows

    def add_price_history(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        columns = ("recorded_utc", "revision_id", "provider", "model", "field", "old_value", "new_value",
                   "pct_change", "source")
        types = {"revision_id": "bigint"}
        # One statement, rows in their order (ids follow it, as executemany's would).
        self._run(
            f"INSERT INTO price_history ({', '.join(columns)}) SELECT {', '.join(columns)} FROM unnest("
            + ", ".join(f"%s::{types.get(c, 'text')}[]" for c in columns)
            + f") WITH ORDINALITY AS r({', '.join(columns)}, ord) ORDER BY ord",
            [[_text(row[c]) if c not in types else row[c] for row in rows] for c in columns],
        )

    def price_history(self, provider: str | None = None, model: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM price_history WHERE TRUE"
        params: list[Any] = []
        if provider:
            sql += " AND provider = %s"
            params.append(provider)
        if model:
            sql += " AND model = %s"
            params.append(model)
        return self._rows(sql + " ORDER BY id", params)


def _text(value: Any) -> str | None:
    """What SQLite's TEXT affinity stores for a value: numbers become their text."""
    if value is None or isinstance(value, str):
        return value
    return str(value)
