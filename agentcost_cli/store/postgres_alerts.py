"""The PostgreSQL store's alerting tables (migration m007_alerts).

The same statements as sqlite_alerts.py, in PostgreSQL's dialect. Between daemons:
- `claim_outbox` picks due messages with `FOR UPDATE SKIP LOCKED`: a message another
  claimer is leasing is skipped, one it has leased is re-checked (and left) once it commits;
- `claim_job` and `insert_alert` are `INSERT ... ON CONFLICT`: a second writer of the same
  key waits for the first to commit, then re-checks against its row;
- `record_attempt` and `finish_outbox` check the lease in the statement that writes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from ..errors import Conflict
from .alerts import AlertStore, OutboxQuery, Row
from .sqlite_alerts import DUE_ORDER, FAILED_STATUSES, MUTE_REPLACE, checked, due_sorted, like_prefix


class PgAlertTables(AlertStore):
    """Mixed into PostgresStore; it provides `_run`, `transaction()` and `_atomic()`."""

    _run: Callable[..., psycopg.Cursor[Any]]
    transaction: Callable[[], AbstractContextManager[None]]
    _atomic: Callable[[], AbstractContextManager[None]]

    def _alert_rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cursor = self._run(sql, params)
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, r, strict=True)) for r in cursor]

    def _alert_row(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self._alert_rows(sql, params)
        return rows[0] if rows else None

    def _alert_insert(self, table: str, row: Row, conflict: str) -> int:
        row = checked(table, row)
        columns = ", ".join(row)
        marks = ", ".join("%s" for _ in row)
        try:
            with self._atomic():
                found = self._run(f"INSERT INTO {table} ({columns}) VALUES ({marks}) RETURNING id",
                                  tuple(row.values())).fetchone()
        except pg_errors.UniqueViolation:
            raise Conflict(conflict) from None
        return int(found[0]) if found else 0

    def _alert_update(self, table: str, where_id: int, fields: Row, conflict: str) -> None:
        if not fields:
            return
        fields = checked(table, fields)
        assignments = ", ".join(f"{name} = %s" for name in fields)
        try:
            with self._atomic():
                self._run(f"UPDATE {table} SET {assignments} WHERE id = %s", (*fields.values(), where_id))
        except pg_errors.UniqueViolation:
            raise Conflict(conflict) from None

    def _alert_delete(self, table: str, where_id: int) -> None:
        self._run(f"DELETE FROM {table} WHERE id = %s", (where_id,))

    # -- channels ----------------------------------------------------------
    def insert_channel(self, row: Row) -> int:
        return self._alert_insert("channels", row, f"a channel named {row.get('name')} already exists")

    def get_channel(self, channel_id: int) -> Row | None:
        return self._alert_row("SELECT * FROM channels WHERE id = %s", (channel_id,))

    def find_channel(self, name: str) -> Row | None:
        return self._alert_row("SELECT * FROM channels WHERE name = %s", (name,))

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
        return self._alert_row("SELECT * FROM budgets WHERE name = %s", (name,))

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
        return self._alert_row("SELECT * FROM alert_rules WHERE name = %s", (name,))

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
        self._run(f"INSERT INTO alert_mutes ({', '.join(row)}) VALUES ({', '.join('%s' for _ in row)})"
                  f" ON CONFLICT (target) DO UPDATE SET {MUTE_REPLACE}", tuple(row.values()))

    def delete_mute(self, target: str) -> bool:
        return int(self._run("DELETE FROM alert_mutes WHERE target = %s", (target,)).rowcount) > 0

    def list_mutes(self, now_utc: str) -> list[Row]:
        return self._alert_rows("SELECT * FROM alert_mutes WHERE until_utc > %s ORDER BY target", (now_utc,))

    # -- alerts ------------------------------------------------------------
    def insert_alert(self, row: Row) -> int | None:
        row = checked("alerts", row)
        found = self._run(
            f"INSERT INTO alerts ({', '.join(row)}) VALUES ({', '.join('%s' for _ in row)})"
            " ON CONFLICT (dedupe_key) DO NOTHING RETURNING id", tuple(row.values())).fetchone()
        return int(found[0]) if found else None

    def get_alert(self, alert_id: int) -> Row | None:
        return self._alert_row("SELECT * FROM alerts WHERE id = %s", (alert_id,))

    def alert_exists(self, dedupe_key: str) -> bool:
        return self._run("SELECT 1 FROM alerts WHERE dedupe_key = %s", (dedupe_key,)).fetchone() is not None

    def list_alerts(self, *, since: str | None = None, kind_prefix: str | None = None,
                    project_ids: tuple[int, ...] | None = None, before_id: int | None = None,
                    limit: int = 100) -> list[Row]:
        where: list[str] = []
        params: list[Any] = []
        if since:
            where.append("a.created_utc >= %s")
            params.append(since)
        if kind_prefix:
            where.append("a.kind ILIKE %s ESCAPE '\\'")  # ILIKE: SQLite's LIKE ignores ASCII case
            params.append(like_prefix(kind_prefix))
        if project_ids is not None:
            if not project_ids:
                return []
            where.append("a.project_id = ANY(%s)")
            params.append(list(project_ids))
        if before_id is not None:
            where.append("a.id < %s")
            params.append(before_id)
        sql = "SELECT a.*, p.slug AS project FROM alerts a LEFT JOIN projects p ON p.id = a.project_id"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return self._alert_rows(sql + " ORDER BY a.id DESC LIMIT %s", (*params, limit))

    # -- outbox dispatch -----------------------------------------------------
    def query_outbox(self, query: OutboxQuery) -> list[Row]:
        where: list[str] = []
        params: list[Any] = []
        if query.status:
            if query.status == "failed":
                where.append("o.status = ANY(%s)")
                params.append(list(FAILED_STATUSES))
            else:
                where.append("o.status = %s")
                params.append(query.status)
        if query.channel:
            where.append("o.channel = %s")
            params.append(query.channel)
        if query.channel_id is not None:
            where.append("o.channel_id = %s")
            params.append(query.channel_id)
        if query.since:
            where.append("o.created_utc >= %s")
            params.append(query.since)
        if query.before_id is not None:
            where.append("o.id < %s")
            params.append(query.before_id)
        sql = "SELECT o.*, c.name AS channel_name FROM outbox o LEFT JOIN channels c ON c.id = o.channel_id"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return self._alert_rows(sql + " ORDER BY o.id DESC LIMIT %s", (*params, query.limit))

    def claim_outbox(self, *, owner: str, now_utc: str, lease_until_utc: str, limit: int) -> list[Row]:
        if limit <= 0:
            return []
        rows = self._alert_rows(
            "UPDATE outbox o SET lease_owner = %s, lease_expires_utc = %s FROM ("
            " SELECT id FROM outbox WHERE status = 'pending'"
            " AND (next_attempt_utc IS NULL OR next_attempt_utc <= %s)"
            " AND (lease_owner IS NULL OR lease_expires_utc IS NULL OR lease_expires_utc <= %s)"
            f" ORDER BY {DUE_ORDER} LIMIT %s FOR UPDATE SKIP LOCKED) due"
            " WHERE o.id = due.id RETURNING o.*",
            (owner, lease_until_utc, now_utc, now_utc, limit))
        return due_sorted(rows)

    def record_attempt(self, row: Row, *, owner: str) -> bool:
        row = checked("delivery_attempts", row)
        try:
            with self.transaction():
                held = self._run("UPDATE outbox SET attempts = %s WHERE id = %s AND lease_owner = %s",
                                 (row["attempt_no"], row["outbox_id"], owner)).rowcount
                if not held:
                    return False
                self._run(
                    f"INSERT INTO delivery_attempts ({', '.join(row)}) VALUES ({', '.join('%s' for _ in row)})",
                    tuple(row.values()))
        except pg_errors.UniqueViolation:
            raise Conflict(f"attempt {row['attempt_no']} of message {row['outbox_id']} is recorded already") \
                from None
        return True

    def finish_outbox(self, message_id: int, *, owner: str, fields: Row) -> bool:
        fields = checked("outbox_finish", fields)
        assignments = "".join(f"{name} = %s, " for name in fields)
        return int(self._run(
            f"UPDATE outbox SET {assignments}lease_owner = NULL, lease_expires_utc = NULL"
            " WHERE id = %s AND lease_owner = %s", (*fields.values(), message_id, owner)).rowcount) > 0

    def requeue_outbox(self, message_ids: list[int], *, now_utc: str) -> int:
        if not message_ids:
            return 0
        return int(self._run(
            "UPDATE outbox SET status = 'pending', next_attempt_utc = %s, lease_owner = NULL,"
            " lease_expires_utc = NULL WHERE id = ANY(%s) AND status NOT IN ('pending', 'sent')",
            (now_utc, list(message_ids))).rowcount)

    def list_attempts(self, message_id: int) -> list[Row]:
        return self._alert_rows("SELECT * FROM delivery_attempts WHERE outbox_id = %s ORDER BY attempt_no, id",
                                (message_id,))

    def next_outbox_due(self) -> str | None:
        row = self._run("SELECT min(coalesce(next_attempt_utc, '')) FROM outbox WHERE status = 'pending'").fetchone()
        return None if row is None or row[0] is None else str(row[0])

    # -- scheduler leases ----------------------------------------------------
    def claim_job(self, job: str, *, slot: str, owner: str, now_utc: str, lease_until_utc: str) -> bool:
        taken = self._run(
            "INSERT INTO job_runs (job, lease_owner, lease_expires_utc, last_slot, last_start_utc, last_owner,"
            " runs) VALUES (%s, %s, %s, %s, %s, %s, 1)"
            " ON CONFLICT (job) DO UPDATE SET lease_owner = excluded.lease_owner,"
            " lease_expires_utc = excluded.lease_expires_utc, last_slot = excluded.last_slot,"
            " last_start_utc = excluded.last_start_utc, last_owner = excluded.last_owner,"
            " runs = job_runs.runs + 1"
            " WHERE (job_runs.lease_owner IS NULL OR job_runs.lease_owner = excluded.lease_owner"
            " OR job_runs.lease_expires_utc IS NULL OR job_runs.lease_expires_utc <= %s)"
            " AND (job_runs.last_slot IS NULL OR excluded.last_slot > job_runs.last_slot)"
            " RETURNING job",
            (job, owner, lease_until_utc, slot, now_utc, owner, now_utc)).fetchone()
        return taken is not None

    def finish_job(self, job: str, *, owner: str, end_utc: str, status: str, error: str | None) -> None:
        # As in sqlite_alerts: only the last run `owner` started, if nobody has started one since.
        self._run(
            "UPDATE job_runs SET lease_owner = NULL, lease_expires_utc = NULL, last_end_utc = %s,"
            " last_status = %s, last_error = %s WHERE job = %s AND last_owner = %s",
            (end_utc, status, error, job, owner))

    def list_jobs(self) -> list[Row]:
        return self._alert_rows("SELECT * FROM job_runs ORDER BY job")

    # -- retention -----------------------------------------------------------
    def purge_outbox(self, before_utc: str) -> int:
        cur = self._run("DELETE FROM outbox WHERE created_utc < %s AND status IN ('sent', 'dead', 'unknown')",
                        (before_utc,))
        return int(cur.rowcount)

    def purge_alerts(self, before_utc: str) -> int:
        return int(self._run("DELETE FROM alerts WHERE created_utc < %s", (before_utc,)).rowcount)
