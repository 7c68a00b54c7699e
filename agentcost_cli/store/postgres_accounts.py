"""The PostgreSQL store's account tables (migrations m004_accounts, m006_identities).

The same statements as sqlite_accounts.py, in PostgreSQL's dialect. The atomic
operations stay single conditional statements: under READ COMMITTED a second
UPDATE of the same row waits for the first to commit, then re-checks its WHERE
against the new row, so exactly one consumer of a token wins.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from ..errors import Conflict
from .accounts import AccountStore, AuditQuery, Row
from .sqlite_accounts import _KEY_COLUMNS, _checked

_HAS_ID = frozenset({"users", "projects", "api_keys", "sessions", "audit_log", "outbox", "user_identities"})


class PgAccountTables(AccountStore):
    """Mixed into PostgresStore; it provides `_run`, `transaction()` and `_atomic()`.

    A write of one statement runs on its own (autocommit: atomic by itself, and one round
    trip instead of three); inside the caller's `transaction()` it joins that one.
    """

    _run: Callable[..., psycopg.Cursor[Any]]
    transaction: Callable[[], AbstractContextManager[None]]
    _atomic: Callable[[], AbstractContextManager[None]]

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cursor = self._run(sql, params)
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, r, strict=True)) for r in cursor]

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self._all(sql, params)
        return rows[0] if rows else None

    def _insert(self, table: str, row: Row, conflict: str | None = None) -> int:
        row = _checked(table, row)
        columns = ", ".join(row)
        marks = ", ".join("%s" for _ in row)
        returning = " RETURNING id" if table in _HAS_ID else ""
        try:
            with self._atomic():
                cur = self._run(f"INSERT INTO {table} ({columns}) VALUES ({marks}){returning}", tuple(row.values()))
                found = cur.fetchone() if returning else None
        except pg_errors.UniqueViolation:
            if conflict:
                raise Conflict(conflict) from None
            raise
        return int(found[0]) if found else 0

    def _update(self, table: str, where_id: int, fields: Row, conflict: str | None = None) -> None:
        if not fields:
            return
        fields = _checked(table, fields)
        assignments = ", ".join(f"{name} = %s" for name in fields)
        try:
            with self._atomic():
                self._run(f"UPDATE {table} SET {assignments} WHERE id = %s", (*fields.values(), where_id))
        except pg_errors.UniqueViolation:
            if conflict:
                raise Conflict(conflict) from None
            raise

    def _count(self, sql: str, params: Sequence[Any]) -> int:
        """Run one statement, return the rows it changed. One statement needs no BEGIN/COMMIT
        around it (it is atomic alone); inside `transaction()` it joins that one."""
        return int(self._run(sql, params).rowcount)

    # -- users -----------------------------------------------------------
    def insert_user(self, row: Row) -> int:
        return self._insert("users", row, conflict=f"a user with email {row.get('email')} already exists")

    def get_user(self, user_id: int) -> Row | None:
        return self._one("SELECT * FROM users WHERE id = %s", (user_id,))

    def find_user(self, email: str) -> Row | None:
        return self._one("SELECT * FROM users WHERE email = %s", (email,))

    def list_users(self) -> list[Row]:
        return self._all("SELECT * FROM users ORDER BY email")

    def update_user(self, user_id: int, fields: Row) -> None:
        self._update("users", user_id, fields, conflict=f"a user with email {fields.get('email')} already exists")

    def delete_user(self, user_id: int) -> None:
        self._run("DELETE FROM users WHERE id = %s", (user_id,))  # cascades to memberships, sessions, codes

    # -- projects and memberships -----------------------------------------
    def insert_project(self, row: Row) -> int:
        return self._insert("projects", row, conflict=f"a project named {row.get('slug')} already exists")

    def get_project(self, slug: str) -> Row | None:
        return self._one("SELECT * FROM projects WHERE slug = %s", (slug,))

    def get_project_by_id(self, project_id: int) -> Row | None:
        return self._one("SELECT * FROM projects WHERE id = %s", (project_id,))

    def update_project(self, project_id: int, fields: Row) -> None:
        self._update("projects", project_id, fields, conflict=f"a project named {fields.get('slug')} already exists")

    def delete_project(self, project_id: int) -> int:
        with self.transaction():
            deleted = self._run("DELETE FROM events WHERE project_id = %s", (project_id,)).rowcount
            self._run("DELETE FROM usage_daily WHERE project_id = %s", (project_id,))
            self._run("DELETE FROM usage_hourly WHERE project_id = %s", (project_id,))
            self._run("DELETE FROM projects WHERE id = %s", (project_id,))  # cascades members, keys
        return int(deleted)

    def project_event_counts(self) -> dict[int, int]:
        return {int(pid): int(n) for pid, n in
                self._run("SELECT project_id, sum(events)::bigint FROM usage_daily GROUP BY project_id")}

    def set_membership(self, project_id: int, user_id: int, role: str, *, created_utc: str) -> None:
        self._run(
            "INSERT INTO memberships (project_id, user_id, role, created_utc) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role",
            (project_id, user_id, role, created_utc),
        )

    def remove_membership(self, project_id: int, user_id: int) -> bool:
        return self._count("DELETE FROM memberships WHERE project_id = %s AND user_id = %s",
                           (project_id, user_id)) > 0

    def members(self, project_id: int) -> list[Row]:
        return self._all(
            "SELECT m.user_id, u.email, u.display_name, m.role, m.created_utc FROM memberships m"
            " JOIN users u ON u.id = m.user_id WHERE m.project_id = %s"
            " ORDER BY CASE m.role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 WHEN 'member' THEN 2 ELSE 3 END, u.email",
            (project_id,),
        )

    def memberships(self, user_id: int) -> dict[int, str]:
        return {int(p): str(r) for p, r in
                self._run("SELECT project_id, role FROM memberships WHERE user_id = %s", (user_id,))}

    # -- API keys --------------------------------------------------------
    def insert_api_key(self, row: Row) -> int:
        return self._insert("api_keys", row)

    def get_api_key(self, key_id: int) -> Row | None:
        return self._one(f"SELECT {_KEY_COLUMNS} FROM api_keys k JOIN projects p ON p.id = k.project_id"
                         " WHERE k.id = %s", (key_id,))

    def find_api_key(self, key_hash: str) -> Row | None:
        return self._one(f"SELECT {_KEY_COLUMNS} FROM api_keys k JOIN projects p ON p.id = k.project_id"
                         " WHERE k.key_hash = %s", (key_hash,))

    def list_api_keys(self, project_ids: Sequence[int] | None = None) -> list[Row]:
        sql = f"SELECT {_KEY_COLUMNS} FROM api_keys k JOIN projects p ON p.id = k.project_id"
        params: tuple[Any, ...] = ()
        if project_ids is not None:
            if not project_ids:
                return []
            sql += " WHERE k.project_id = ANY(%s)"
            params = (list(project_ids),)
        return self._all(sql + " ORDER BY p.slug, k.id", params)

    def update_api_key(self, key_id: int, fields: Row) -> None:
        self._update("api_keys", key_id, fields)

    def touch_api_key(self, key_id: int, now_utc: str, not_since_utc: str) -> bool:
        return self._count(
            "UPDATE api_keys SET last_used_utc = %s WHERE id = %s AND (last_used_utc IS NULL OR last_used_utc <= %s)",
            (now_utc, key_id, not_since_utc),
        ) > 0

    def revoke_user_keys(self, user_id: int, now_utc: str) -> int:
        return self._count(
            "UPDATE api_keys SET revoked_utc = %s WHERE created_by_user_id = %s AND revoked_utc IS NULL",
            (now_utc, user_id),
        )

    # -- sessions and refresh tokens ---------------------------------------
    def insert_session(self, row: Row) -> int:
        return self._insert("sessions", row)

    def get_session(self, session_id: int) -> Row | None:
        return self._one("SELECT * FROM sessions WHERE id = %s", (session_id,))

    def list_sessions(self, user_id: int) -> list[Row]:
        return self._all("SELECT * FROM sessions WHERE user_id = %s ORDER BY last_used_utc DESC, id DESC", (user_id,))

    def update_session(self, session_id: int, fields: Row) -> None:
        self._update("sessions", session_id, fields)

    def revoke_sessions(self, user_id: int, *, now_utc: str, reason: str, keep: int | None = None) -> int:
        return self._count(
            "UPDATE sessions SET revoked_utc = %s, revoked_reason = %s"
            " WHERE user_id = %s AND revoked_utc IS NULL AND id IS DISTINCT FROM %s::bigint",
            (now_utc, reason, user_id, keep),
        )

    def insert_refresh_token(self, token_hash: str, session_id: int, issued_utc: str) -> None:
        self._run("INSERT INTO refresh_tokens (token_hash, session_id, issued_utc) VALUES (%s, %s, %s)",
                  (token_hash, session_id, issued_utc))

    def find_refresh_token(self, token_hash: str) -> Row | None:
        return self._one("SELECT * FROM refresh_tokens WHERE token_hash = %s", (token_hash,))

    def use_refresh_token(self, token_hash: str, now_utc: str) -> bool:
        return self._count(
            "UPDATE refresh_tokens SET used_utc = %s WHERE token_hash = %s AND used_utc IS NULL",
            (now_utc, token_hash),
        ) > 0

    # -- one-time tokens and recovery codes --------------------------------
    def insert_user_token(self, row: Row) -> None:
        self._insert("user_tokens", row)

    def consume_user_token(self, token_hash: str, purpose: str, now_utc: str) -> int | None:
        row = self._run(
            "UPDATE user_tokens SET used_utc = %s WHERE token_hash = %s AND purpose = %s AND used_utc IS NULL"
            " AND expires_utc > %s RETURNING user_id",
            (now_utc, token_hash, purpose, now_utc),
        ).fetchone()
        return None if row is None else int(row[0])

    def expire_user_tokens(self, user_id: int, purpose: str, now_utc: str) -> None:
        self._run(
            "UPDATE user_tokens SET expires_utc = %s WHERE user_id = %s AND purpose = %s AND used_utc IS NULL"
            " AND expires_utc > %s",
            (now_utc, user_id, purpose, now_utc),
        )

    def replace_recovery_codes(self, user_id: int, code_hashes: Sequence[str], now_utc: str) -> None:
        with self.transaction():
            self._run("DELETE FROM recovery_codes WHERE user_id = %s", (user_id,))
            if code_hashes:
                self._run(
                    "INSERT INTO recovery_codes (user_id, code_hash, created_utc)"
                    " SELECT %s, h, %s FROM unnest(%s::text[]) WITH ORDINALITY AS c(h, n) ORDER BY n",
                    (user_id, now_utc, list(code_hashes)),
                )

    def consume_recovery_code(self, user_id: int, code_hash: str, now_utc: str) -> bool:
        return self._count(
            "UPDATE recovery_codes SET used_utc = %s WHERE user_id = %s AND code_hash = %s AND used_utc IS NULL",
            (now_utc, user_id, code_hash),
        ) > 0

    def recovery_codes_left(self, user_id: int) -> int:
        row = self._run("SELECT count(*) FROM recovery_codes WHERE user_id = %s AND used_utc IS NULL",
                        (user_id,)).fetchone()
        return int(row[0]) if row else 0

    # -- login throttling --------------------------------------------------
    def add_login_failure(self, scope: str, subject: str, ts_utc: str) -> None:
        self._run("INSERT INTO login_failures VALUES (%s, %s, %s)", (scope, subject, ts_utc))

    def login_failures(self, scope: str, subject: str, since_utc: str) -> list[str]:
        return [str(r[0]) for r in self._run(
            "SELECT ts_utc FROM login_failures WHERE scope = %s AND subject = %s AND ts_utc > %s ORDER BY ts_utc",
            (scope, subject, since_utc),
        )]

    def clear_login_failures(self, scope: str, subject: str) -> None:
        self._run("DELETE FROM login_failures WHERE scope = %s AND subject = %s", (scope, subject))

    def prune_login_failures(self, before_utc: str) -> int:
        return self._count("DELETE FROM login_failures WHERE ts_utc < %s", (before_utc,))

    # -- single sign-on identities ----------------------------------------------
    def insert_identity(self, row: Row) -> int:
        return self._insert("user_identities", row, conflict=f"the identity {row.get('subject')!r} at "
                            f"{row.get('issuer')} or the account is linked already")

    def find_identity(self, issuer: str, subject: str) -> Row | None:
        return self._one("SELECT * FROM user_identities WHERE issuer = %s AND subject = %s", (issuer, subject))

    def list_identities(self, user_id: int) -> list[Row]:
        return self._all("SELECT * FROM user_identities WHERE user_id = %s ORDER BY issuer, id", (user_id,))

    def touch_identity(self, identity_id: int, last_login_utc: str) -> None:
        self._run("UPDATE user_identities SET last_login_utc = %s WHERE id = %s", (last_login_utc, identity_id))

    def delete_identities(self, user_id: int, issuer: str | None = None) -> int:
        if issuer is None:
            return self._count("DELETE FROM user_identities WHERE user_id = %s", (user_id,))
        return self._count("DELETE FROM user_identities WHERE user_id = %s AND issuer = %s", (user_id, issuer))

    # -- audit log ---------------------------------------------------------
    def append_audit(self, row: Row) -> int:
        return self._insert("audit_log", row)

    def list_audit(self, query: AuditQuery) -> list[Row]:
        where: list[str] = []
        params: list[Any] = []
        if query.since:
            where.append("a.ts_utc >= %s")
            params.append(query.since)
        if query.until:
            where.append("a.ts_utc < %s")
            params.append(query.until)
        if query.project_ids is not None:
            if not query.project_ids:
                return []
            where.append("a.project_id = ANY(%s)")
            params.append(list(query.project_ids))
        if query.actor_user_id is not None:
            where.append("a.actor_user_id = %s")
            params.append(query.actor_user_id)
        if query.action_prefix:
            # ILIKE: SQLite's LIKE ignores ASCII case.
            where.append("a.action ILIKE %s ESCAPE '\\'")
            params.append(query.action_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        if query.before_id is not None:
            where.append("a.id < %s")
            params.append(query.before_id)
        sql = ("SELECT a.id, a.ts_utc, a.actor, a.actor_user_id, a.action, a.target,"
               " COALESCE(p.slug, a.project_slug) AS project, a.source_addr, a.outcome, a.detail_json"
               " FROM audit_log a LEFT JOIN projects p ON p.id = a.project_id")
        if where:
            sql += " WHERE " + " AND ".join(where)
        return self._all(sql + " ORDER BY a.id DESC LIMIT %s", (*params, query.limit))

    # -- outbox ------------------------------------------------------------
    def insert_outbox(self, row: Row) -> int:
        row = _checked("outbox", row)
        columns = ", ".join(row)
        marks = ", ".join("%s" for _ in row)
        # Two daemons queueing the same message: one insert wins (the other waits for it to
        # commit, inserts nothing, then reads the winner's id).
        added = self._run(
            f"INSERT INTO outbox ({columns}) VALUES ({marks}) ON CONFLICT (idempotency_key) DO NOTHING"
            " RETURNING id", tuple(row.values())).fetchone()
        if added is not None:
            return int(added[0])
        found = self._run("SELECT id FROM outbox WHERE idempotency_key = %s", (row["idempotency_key"],)).fetchone()
        return int(found[0]) if found else 0

    def get_outbox(self, message_id: int) -> Row | None:
        return self._one("SELECT * FROM outbox WHERE id = %s", (message_id,))

    def list_outbox(self, *, status: str | None = None, limit: int = 100) -> list[Row]:
        if status:
            return self._all("SELECT * FROM outbox WHERE status = %s ORDER BY id DESC LIMIT %s", (status, limit))
        return self._all("SELECT * FROM outbox ORDER BY id DESC LIMIT %s", (limit,))
