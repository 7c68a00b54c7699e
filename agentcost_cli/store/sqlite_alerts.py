"""The SQLite store's alerting tables (migration m007_alerts).

The operations that must be atomic between dispatchers or daemons (store/alerts.py) are
single conditional statements inside the store's write transaction (BEGIN IMMEDIATE:
one writer at a time on the file), so a second claimer sees the first one's lease.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from ..errors import Conflict
from .alerts import AlertStore, OutboxQuery, Row
from .sqlite_accounts import _COLUMNS as _ACCOUNT_COLUMNS

# Columns a caller may set through the generic insert/update helpers (as sqlite_accounts._COLUMNS).
ALERT_COLUMNS: dict[str, frozenset[str]] = {
    "channels": frozenset({
        "name", "kind", "target_sealed", "target_hint", "secret_sealed", "previous_secret_sealed",
        "previous_secret_until_utc", "options_json", "project_id", "created_by_user_id", "created_utc", "status",
        "disabled_reason", "disabled_utc", "failing_since_utc", "last_failure_utc", "last_success_utc",
    }),
    "budgets": frozenset({
        "name", "scope_kind", "scope_value", "project_id", "amount_nanos", "period", "zone", "thresholds",
        "forecast", "channels_json", "created_by_user_id", "created_utc", "updated_utc",
    }),
    "alert_rules": frozenset({
        "name", "expression", "project_id", "channels_json", "enabled", "created_by_user_id", "created_utc",
        "updated_utc",
    }),
    "alert_mutes": frozenset({"target", "until_utc", "reason", "created_by_user_id", "created_utc"}),
    "alerts": frozenset({
        "dedupe_key", "kind", "source", "project_id", "created_utc", "severity", "summary", "data_json", "muted",
    }),
    "delivery_attempts": frozenset({
        "outbox_id", "attempt_no", "started_utc", "provider", "outcome", "status_code", "latency_ms",
        "response_excerpt", "error",
    }),
    # finish_outbox: any outbox column but the lease, which only claim/finish move.
    "outbox_finish": _ACCOUNT_COLUMNS["outbox"] - {"lease_owner", "lease_expires_utc"},
}

# A mute replaces the whole row: columns the caller leaves out go back to NULL.
MUTE_REPLACE = ", ".join(f"{c} = excluded.{c}" for c in sorted(ALERT_COLUMNS["alert_mutes"] - {"target"}))
FAILED_STATUSES = ("failed", "dead", "unknown")  # OutboxQuery.status "failed" matches these
# Oldest due first, NULL (due now) before any time.
DUE_ORDER = "coalesce(next_attempt_utc, ''), id"


def checked(table: str, fields: Row) -> Row:
    unknown = set(fields) - ALERT_COLUMNS[table]
    if unknown:
        raise ValueError(f"{table}: unknown columns {sorted(unknown)}")
    return fields


def like_prefix(prefix: str) -> str:
    """A LIKE pattern (ESCAPE '\\') matching text that starts with `prefix`."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def due_sorted(rows: list[Row]) -> list[Row]:
    """Claimed rows in DUE_ORDER (RETURNING hands them out in no promised order)."""
    return sorted(rows, key=lambda r: (r["next_attempt_utc"] or "", r["id"]))


class AlertTables(AlertStore):
    """Mixed into SqliteStore; it provides `conn` and `transaction()`."""

    conn: sqlite3.Connection
    transaction: Callable[[], AbstractContextManager[None]]

    def _alert_rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cursor = self.conn.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, r, strict=True)) for r in cursor]

    def _alert_row(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self._alert_rows(sql, params)
        return rows[0] if rows else None

    def _alert_insert(self, table: str, row: Row, conflict: str) -> int:
        row = checked(table, row)
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        try:
            with self.transaction():
                cur = self.conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuple(row.values()))
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc):
                raise Conflict(conflict) from None
            raise
        return int(cur.lastrowid or 0)

    def _alert_update(self, table: str, where_id: int, fields: Row, conflict: str) -> None:
        if not fields:
            return
        fields = checked(table, fields)
        assignments = ", ".join(f"{name} = ?" for name in fields)
        try:
            with self.transaction():
                self.conn.execute(f"UPDATE {table} SET {assignments} WHERE id = ?", (*fields.values(), where_id))
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc):
                raise Conflict(conflict) from None
            raise

    def _alert_delete(self, table: str, where_id: int) -> None:
        with self.transaction():
            self.conn.execute(f"DELETE FROM {table} WHERE id = ?", (where_id,))

    # -- channels ----------------------------------------------------------
    def insert_channel(self, row: Row) -> int:
        return self._alert_insert("channels", row, f"a channel named {row.get('name')} already exists")

    def get_channel(self, channel_id: int) -> Row | None:
        return self._alert_row("SELECT * FROM channels WHERE id = ?", (channel_id,))

    def find_channel(self, name: str) -> Row | None:
        return self._alert_row("SELECT * FROM channels WHERE name = ?", (name,))

    def list_channels(self) -> list[Row]:
        return self._alert_rows("SELECT c.*, p.slug AS project FROM channels c"
                                " LEFT JOIN projects p ON p.id = c.project_id ORDER BY c.name")

    def update_channel(self, channel_id: int, fields: Row) -> None:
        self._alert_update("channels", channel_id, fields, f"a channel named {fields.get('name')} already exists")

    def delete_channel(self, channel_id: int) -> None:
        self._alert_delete("channels", channel_id)  # outbox.channel_id: ON DELETE SET NULL

    # -- budgets -----------------------------------------------------------
    def insert_budget(self, row: Row) -> int:
        return self._alert_insert("budgets", row, f"a budget named {row.get('name')} already exists")

    def find_budget(self, name: str) -> Row | None:
        return self._alert_row("SELECT * FROM budgets WHERE name = ?", (name,))

    def list_budgets(self) -> list[Row]:
        return self._alert_rows("SELECT b.*, p.slug AS project FROM budgets b"
                                " LEFT JOIN projects p ON p.id = b.project_id ORDER BY b.name")

    def update_budget(self, budget_id: int, fields: Row) -> None:
        self._alert_update("budgets", budget_id, fields, f"a budget named {fields.get('name')} already exists")

    def delete_budget(self, budget_id: int) -> None:
        self._alert_delete("budgets", budget_id)

    # -- alert rules ---------------------------------------------------------
    def insert_rule(self, row: Row) -> int:
        return self._alert_insert("alert_rules", row, f"a rule named {row.get('name')} already exists")

    def find_rule(self, name: str) -> Row | None:
        return self._alert_row("SELECT * FROM alert_rules WHERE name = ?", (name,))

    def list_rules(self) -> list[Row]:
        return self._alert_rows("SELECT r.*, p.slug AS project FROM alert_rules r"
                                " LEFT JOIN projects p ON p.id = r.project_id ORDER BY r.name")

    def update_rule(self, rule_id: int, fields: Row) -> None:
        self._alert_update("alert_rules", rule_id, fields, f"a rule named {fields.get('name')} already exists")

    def delete_rule(self, rule_id: int) -> None:
        self._alert_delete("alert_rules", rule_id)

    # -- mutes -------------------------------------------------------------
    def set_mute(self, row: Row) -> None:
        row = checked("alert_mutes", row)
        with self.transaction():
            self.conn.execute(
                f"INSERT INTO alert_mutes ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})"
                f" ON CONFLICT (target) DO UPDATE SET {MUTE_REPLACE}", tuple(row.values()))

    def delete_mute(self, target: str) -> bool:
        with self.transaction():
            cur = self.conn.execute("DELETE FROM alert_mutes WHERE target = ?", (target,))
        return cur.rowcount > 0

    def list_mutes(self, now_utc: str) -> list[Row]:
        return self._alert_rows("SELECT * FROM alert_mutes WHERE until_utc > ? ORDER BY target", (now_utc,))

    # -- alerts ------------------------------------------------------------
    def insert_alert(self, row: Row) -> int | None:
        row = checked("alerts", row)
        with self.transaction():
            found = self.conn.execute(
                f"INSERT INTO alerts ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})"
                " ON CONFLICT (dedupe_key) DO NOTHING RETURNING id", tuple(row.values())).fetchall()
        return int(found[0][0]) if found else None

    def get_alert(self, alert_id: int) -> Row | None:
        return self._alert_row("SELECT * FROM alerts WHERE id = ?", (alert_id,))

    def alert_exists(self, dedupe_key: str) -> bool:
        return self.conn.execute("SELECT 1 FROM alerts WHERE dedupe_key = ?", (dedupe_key,)).fetchone() is not None

    def list_alerts(self, *, since: str | None = None, kind_prefix: str | None = None,
                    project_ids: tuple[int, ...] | None = None, before_id: int | None = None,
                    limit: int = 100) -> list[Row]:
        where: list[str] = []
        params: list[Any] = []
        if since:
            where.append("a.created_utc >= ?")
            params.append(since)
        if kind_prefix:
            where.append("a.kind LIKE ? ESCAPE '\\'")
            params.append(like_prefix(kind_prefix))
        if project_ids is not None:
            if not project_ids:
                return []
            where.append(f"a.project_id IN ({', '.join('?' for _ in project_ids)})")
            params.extend(project_ids)
        if before_id is not None:
            where.append("a.id < ?")
            params.append(before_id)
        sql = "SELECT a.*, p.slug AS project FROM alerts a LEFT JOIN projects p ON p.id = a.project_id"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return self._alert_rows(sql + " ORDER BY a.id DESC LIMIT ?", (*params, limit))

    # -- outbox dispatch -----------------------------------------------------
    def query_outbox(self, query: OutboxQuery) -> list[Row]:
        where: list[str] = []
        params: list[Any] = []
        if query.status:
            if query.status == "failed":
                where.append(f"o.status IN ({', '.join('?' for _ in FAILED_STATUSES)})")
                params.extend(FAILED_STATUSES)
            else:
                where.append("o.status = ?")
                params.append(query.status)
        if query.channel:
            where.append("o.channel = ?")
            params.append(query.channel)
        if query.channel_id is not None:
            where.append("o.channel_id = ?")
            params.append(query.channel_id)
        if query.since:
            where.append("o.created_utc >= ?")
            params.append(query.since)
        if query.before_id is not None:
            where.append("o.id < ?")
            params.append(query.before_id)
        sql = "SELECT o.*, c.name AS channel_name FROM outbox o LEFT JOIN channels c ON c.id = o.channel_id"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return self._alert_rows(sql + " ORDER BY o.id DESC LIMIT ?", (*params, query.limit))

    def claim_outbox(self, *, owner: str, now_utc: str, lease_until_utc: str, limit: int) -> list[Row]:
        if limit <= 0:
            return []
        with self.transaction():
            rows = self._alert_rows(
                "UPDATE outbox SET lease_owner = ?, lease_expires_utc = ? WHERE id IN ("
                " SELECT id FROM outbox WHERE status = 'pending'"
                " AND (next_attempt_utc IS NULL OR next_attempt_utc <= ?)"
                " AND (lease_owner IS NULL OR lease_expires_utc IS NULL OR lease_expires_utc <= ?)"
                f" ORDER BY {DUE_ORDER} LIMIT ?) RETURNING *",
                (owner, lease_until_utc, now_utc, now_utc, limit))
        return due_sorted(rows)

    def record_attempt(self, row: Row, *, owner: str) -> bool:
        row = checked("delivery_attempts", row)
        try:
            with self.transaction():
                held = self.conn.execute("UPDATE outbox SET attempts = ? WHERE id = ? AND lease_owner = ?",
                                         (row["attempt_no"], row["outbox_id"], owner)).rowcount
                if not held:
                    return False
                self.conn.execute(
                    f"INSERT INTO delivery_attempts ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                    tuple(row.values()))
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc):
                raise Conflict(f"attempt {row['attempt_no']} of message {row['outbox_id']} is recorded already")\
                    from None
            raise
        return True

    def finish_outbox(self, message_id: int, *, owner: str, fields: Row) -> bool:
        fields = checked("outbox_finish", fields)
        assignments = "".join(f"{name} = ?, " for name in fields)
        with self.transaction():
            cur = self.conn.execute(
                f"UPDATE outbox SET {assignments}lease_owner = NULL, lease_expires_utc = NULL"
                " WHERE id = ? AND lease_owner = ?", (*fields.values(), message_id, owner))
        return cur.rowcount > 0

    def requeue_outbox(self, message_ids: list[int], *, now_utc: str) -> int:
        if not message_ids:
            return 0
        with self.transaction():
            cur = self.conn.execute(
                "UPDATE outbox SET status = 'pending', next_attempt_utc = ?, lease_owner = NULL,"
                f" lease_expires_utc = NULL WHERE id IN ({', '.join('?' for _ in message_ids)})"
                " AND status NOT IN ('pending', 'sent')", (now_utc, *message_ids))
        return cur.rowcount

    def list_attempts(self, message_id: int) -> list[Row]:
        return self._alert_rows("SELECT * FROM delivery_attempts WHERE outbox_id = ? ORDER BY attempt_no, id",
                                (message_id,))

    def next_outbox_due(self) -> str | None:
        row = self.conn.execute(
            "SELECT min(coalesce(next_attempt_utc, '')) FROM outbox WHERE status = 'pending'").fetchone()
        return None if row is None or row[0] is None else str(row[0])

    # -- scheduler leases ----------------------------------------------------
    def claim_job(self, job: str, *, slot: str, owner: str, now_utc: str, lease_until_utc: str) -> bool:
        with self.transaction():
            taken = self.conn.execute(
                "INSERT INTO job_runs (job, lease_owner, lease_expires_utc, last_slot, last_start_utc, last_owner,"
                " runs) VALUES (?, ?, ?, ?, ?, ?, 1)"
                " ON CONFLICT (job) DO UPDATE SET lease_owner = excluded.lease_owner,"
                " lease_expires_utc = excluded.lease_expires_utc, last_slot = excluded.last_slot,"
                " last_start_utc = excluded.last_start_utc, last_owner = excluded.last_owner,"
                " runs = job_runs.runs + 1"
                " WHERE (job_runs.lease_owner IS NULL OR job_runs.lease_owner = excluded.lease_owner"
                " OR job_runs.lease_expires_utc IS NULL OR job_runs.lease_expires_utc <= ?)"
                " AND (job_runs.last_slot IS NULL OR excluded.last_slot > job_runs.last_slot)"
                " RETURNING job",
                (job, owner, lease_until_utc, slot, now_utc, owner, now_utc)).fetchall()
        return bool(taken)

    def finish_job(self, job: str, *, owner: str, end_utc: str, status: str, error: str | None) -> None:
        # The run that ends is the last one `owner` started; if another owner has started one
        # since (this lease expired), that run's record and lease are left alone.
        with self.transaction():
            self.conn.execute(
                "UPDATE job_runs SET lease_owner = NULL, lease_expires_utc = NULL, last_end_utc = ?,"
                " last_status = ?, last_error = ? WHERE job = ? AND last_owner = ?",
                (end_utc, status, error, job, owner))

    def list_jobs(self) -> list[Row]:
        return self._alert_rows("SELECT * FROM job_runs ORDER BY job")

    # -- retention -----------------------------------------------------------
    def purge_outbox(self, before_utc: str) -> int:
        with self.transaction():
            cur = self.conn.execute(
                "DELETE FROM outbox WHERE created_utc < ? AND status IN ('sent', 'dead', 'unknown')", (before_utc,))
        return int(cur.rowcount)

    def purge_alerts(self, before_utc: str) -> int:
        with self.transaction():
            cur = self.conn.execute("DELETE FROM alerts WHERE created_utc < ?", (before_utc,))
        return int(cur.rowcount)
