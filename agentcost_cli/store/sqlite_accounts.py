"""The SQLite store's account tables (migrations m004_accounts, m006_identities)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from ..errors import Conflict
from .accounts import AccountStore, AuditQuery, Row

# Columns a caller may set through the generic insert/update helpers. Names never come
# from users, but a whitelist keeps a typo from becoming SQL.
_COLUMNS: dict[str, frozenset[str]] = {
    "users": frozenset({
        "email", "display_name", "password_hash", "status", "is_admin", "email_verified_utc", "mfa_secret_sealed",
        "mfa_pending_sealed", "mfa_last_step", "mfa_enabled_utc", "created_utc", "last_login_utc",
        "password_changed_utc",
    }),
    "projects": frozenset({"slug", "name", "created_utc", "retention_days", "created_by_user_id",
                           "allowed_networks"}),
    "api_keys": frozenset({
        "project_id", "name", "key_hash", "prefix", "last_four", "scopes", "created_by_user_id", "created_utc",
        "expires_utc", "revoked_utc", "last_used_utc", "replaced_by",
    }),
    "sessions": frozenset({
        "user_id", "created_utc", "last_used_utc", "expires_utc", "revoked_utc", "revoked_reason", "mfa",
        "source_addr", "user_agent",
    }),
    "user_tokens": frozenset({"token_hash", "user_id", "purpose", "created_utc", "expires_utc", "used_utc"}),
    "audit_log": frozenset({
        "ts_utc", "actor", "actor_user_id", "action", "target", "project_id", "project_slug", "source_addr", "outcome",
        "detail_json",
    }),
    "outbox": frozenset({
        "created_utc", "channel", "recipient", "template", "subject", "payload_sealed", "idempotency_key", "status",
        "attempts", "next_attempt_utc", "sent_utc", "last_error", "alert_id", "channel_id", "message_uid",
        "lease_owner", "lease_expires_utc", "provider", "provider_message_id", "first_attempt_utc",
    }),
    "user_identities": frozenset({"user_id", "issuer", "subject", "email_at_link", "created_utc", "last_login_utc"}),
}

_KEY_COLUMNS = (
    "k.id, k.project_id, p.slug AS project, k.name, k.prefix, k.last_four, k.scopes, k.created_by_user_id,"
    " k.created_utc, k.expires_utc, k.revoked_utc, k.last_used_utc, k.replaced_by"
)


def _checked(table: str, fields: Row) -> Row:
    unknown = set(fields) - _COLUMNS[table]
    if unknown:
        raise ValueError(f"{table}: unknown columns {sorted(unknown)}")
    return fields


class AccountTables(AccountStore):
    """Mixed into SqliteStore; it provides `conn` and `transaction()`."""

    conn: sqlite3.Connection
    transaction: Callable[[], AbstractContextManager[None]]

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cursor = self.conn.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, r, strict=True)) for r in cursor]

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self._all(sql, params)
        return rows[0] if rows else None

    def _insert(self, table: str, row: Row, conflict: str | None = None) -> int:
        row = _checked(table, row)
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        try:
            with self.transaction():
                cur = self.conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuple(row.values()))
        except sqlite3.IntegrityError as exc:
            if conflict and "UNIQUE" in str(exc):
                raise Conflict(conflict) from None
            raise
        return int(cur.lastrowid or 0)

    def _update(self, table: str, where_id: int, fields: Row, conflict: str | None = None) -> None:
        if not fields:
            return
        fields = _checked(table, fields)
        assignments = ", ".join(f"{name} = ?" for name in fields)
        try:
            with self.transaction():
                self.conn.execute(f"UPDATE {table} SET {assignments} WHERE id = ?", (*fields.values(), where_id))
        except sqlite3.IntegrityError as exc:
            if conflict and "UNIQUE" in str(exc):
                raise Conflict(conflict) from None
            raise

    # -- users -----------------------------------------------------------
    def insert_user(self, row: Row) -> int:
        return self._insert("users", row, conflict=f"a user with email {row.get('email')} already exists")

    def get_user(self, user_id: int) -> Row | None:
        return self._one("SELECT * FROM users WHERE id = ?", (user_id,))

    def find_user(self, email: str) -> Row | None:
        return self._one("SELECT * FROM users WHERE email = ?", (email,))

    def list_users(self) -> list[Row]:
        return self._all("SELECT * FROM users ORDER BY email")

    def update_user(self, user_id: int, fields: Row) -> None:
        self._update("users", user_id, fields, conflict=f"a user with email {fields.get('email')} already exists")

    def delete_user(self, user_id: int) -> None:
        with self.transaction():  # foreign keys cascade to memberships, sessions, tokens, codes
            self.conn.execute("DELETE FROM users WHERE id = ?", (user_id,))

    # -- projects and memberships -----------------------------------------
    def insert_project(self, row: Row) -> int:
        return self._insert("projects", row, conflict=f"a project named {row.get('slug')} already exists")

    def get_project(self, slug: str) -> Row | None:
        return self._one("SELECT * FROM projects WHERE slug = ?", (slug,))

    def get_project_by_id(self, project_id: int) -> Row | None:
        return self._one("SELECT * FROM projects WHERE id = ?", (project_id,))

    def update_project(self, project_id: int, fields: Row) -> None:
        self._update("projects", project_id, fields, conflict=f"a project named {fields.get('slug')} already exists")

    def delete_project(self, project_id: int) -> int:
        with self.transaction():
            deleted = self.conn.execute("DELETE FROM events WHERE project_id = ?", (project_id,)).rowcount
            self.conn.execute("DELETE FROM usage_daily WHERE project_id = ?", (project_id,))
            self.conn.execute("DELETE FROM usage_hourly WHERE project_id = ?", (project_id,))
            self.conn.execute("DELETE FROM projects WHERE id = ?", (project_id,))  # cascades members, keys
        return int(deleted)

    def project_event_counts(self) -> dict[int, int]:
        return {int(pid): int(n) for pid, n in
                self.conn.execute("SELECT project_id, SUM(events) FROM usage_daily GROUP BY project_id")}

    def set_membership(self, project_id: int, user_id: int, role: str, *, created_utc: str) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT INTO memberships (project_id, user_id, role, created_utc) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role",
                (project_id, user_id, role, created_utc),
            )

    def remove_membership(self, project_id: int, user_id: int) -> bool:
        with self.transaction():
            cur = self.conn.execute("DELETE FROM memberships WHERE project_id = ? AND user_id = ?",
                                    (project_id, user_id))
        return cur.rowcount > 0

    def members(self, project_id: int) -> list[Row]:
        return self._all(
            "SELECT m.user_id, u.email, u.display_name, m.role, m.created_utc FROM memberships m"
            " JOIN users u ON u.id = m.user_id WHERE m.project_id = ?"
            " ORDER BY CASE m.role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 WHEN 'member' THEN 2 ELSE 3 END, u.email",
            (project_id,),
        )

    def memberships(self, user_id: int) -> dict[int, str]:
        return {int(p): str(r) for p, r in
                self.conn.execute("SELECT project_id, role FROM memberships WHERE user_id = ?", (user_id,))}

    # -- API keys --------------------------------------------------------
    def insert_api_key(self, row: Row) -> int:
        return self._insert("api_keys", row)

    def get_api_key(self, key_id: int) -> Row | None:
        return self._one(f"SELECT {_KEY_COLUMNS} FROM api_keys k JOIN projects p ON p.id = k.project_id"
                         " WHERE k.id = ?", (key_id,))

    def find_api_key(self, key_hash: str) -> Row | None:
        return self._one(f"SELECT {_KEY_COLUMNS} FROM api_keys k JOIN projects p ON p.id = k.project_id"
                         " WHERE k.key_hash = ?", (key_hash,))

    def list_api_keys(self, project_ids: Sequence[int] | None = None) -> list[Row]:
        sql = f"SELECT {_KEY_COLUMNS} FROM api_keys k JOIN projects p ON p.id = k.project_id"
        params: tuple[Any, ...] = ()
        if project_ids is not None:
            if not project_ids:
                return []
            sql += f" WHERE k.project_id IN ({', '.join('?' for _ in project_ids)})"
            params = tuple(project_ids)
        return self._all(sql + " ORDER BY p.slug, k.id", params)

    def update_api_key(self, key_id: int, fields: Row) -> None:
        self._update("api_keys", key_id, fields)

    def touch_api_key(self, key_id: int, now_utc: str, not_since_utc: str) -> bool:
        with self.transaction():
            cur = self.conn.execute(
                "UPDATE api_keys SET last_used_utc = ? WHERE id = ? AND (last_used_utc IS NULL OR last_used_utc <= ?)",
                (now_utc, key_id, not_since_utc),
            )
        return cur.rowcount > 0

    def revoke_user_keys(self, user_id: int, now_utc: str) -> int:
        with self.transaction():
            cur = self.conn.execute(
                "UPDATE api_keys SET revoked_utc = ? WHERE created_by_user_id = ? AND revoked_utc IS NULL",
                (now_utc, user_id),
            )
        return cur.rowcount

    # -- sessions and refresh tokens ---------------------------------------
    def insert_session(self, row: Row) -> int:
        return self._insert("sessions", row)

    def get_session(self, session_id: int) -> Row | None:
        return self._one("SELECT * FROM sessions WHERE id = ?", (session_id,))

    def list_sessions(self, user_id: int) -> list[Row]:
        return self._all("SELECT * FROM sessions WHERE user_id = ? ORDER BY last_used_utc DESC, id DESC", (user_id,))

    def update_session(self, session_id: int, fields: Row) -> None:
        self._update("sessions", session_id, fields)

    def revoke_sessions(self, user_id: int, *, now_utc: str, reason: str, keep: int | None = None) -> int:
        with self.transaction():
            cur = self.conn.execute(
                "UPDATE sessions SET revoked_utc = ?, revoked_reason = ?"
                " WHERE user_id = ? AND revoked_utc IS NULL AND id IS NOT ?",
                (now_utc, reason, user_id, keep),
            )
        return cur.rowcount

    def insert_refresh_token(self, token_hash: str, session_id: int, issued_utc: str) -> None:
        with self.transaction():
            self.conn.execute("INSERT INTO refresh_tokens (token_hash, session_id, issued_utc) VALUES (?, ?, ?)",
                              (token_hash, session_id, issued_utc))

    def find_refresh_token(self, token_hash: str) -> Row | None:
        return self._one("SELECT * FROM refresh_tokens WHERE token_hash = ?", (token_hash,))

    def use_refresh_token(self, token_hash: str, now_utc: str) -> bool:
        with self.transaction():
            cur = self.conn.execute(
                "UPDATE refresh_tokens SET used_utc = ? WHERE token_hash = ? AND used_utc IS NULL",
                (now_utc, token_hash),
            )
        return cur.rowcount > 0

    # -- one-time tokens and recovery codes --------------------------------
    def insert_user_token(self, row: Row) -> None:
        self._insert("user_tokens", row)

    def consume_user_token(self, token_hash: str, purpose: str, now_utc: str) -> int | None:
        with self.transaction():
            row = self.conn.execute(
                "UPDATE user_tokens SET used_utc = ? WHERE token_hash = ? AND purpose = ? AND used_utc IS NULL"
                " AND expires_utc > ? RETURNING user_id",
                (now_utc, token_hash, purpose, now_utc),
            ).fetchone()
        return None if row is None else int(row[0])

    def expire_user_tokens(self, user_id: int, purpose: str, now_utc: str) -> None:
        with self.transaction():
            self.conn.execute(
                "UPDATE user_tokens SET expires_utc = ? WHERE user_id = ? AND purpose = ? AND used_utc IS NULL"
                " AND expires_utc > ?",
                (now_utc, user_id, purpose, now_utc),
            )

    def replace_recovery_codes(self, user_id: int, code_hashes: Sequence[str], now_utc: str) -> None:
        with self.transaction():
            self.conn.execute("DELETE FROM recovery_codes WHERE user_id = ?", (user_id,))
            self.conn.executemany("INSERT INTO recovery_codes (user_id, code_hash, created_utc) VALUES (?, ?, ?)",
                                  [(user_id, h, now_utc) for h in code_hashes])

    def consume_recovery_code(self, user_id: int, code_hash: str, now_utc: str) -> bool:
        with self.transaction():
            cur = self.conn.execute(
                "UPDATE recovery_codes SET used_utc = ? WHERE user_id = ? AND code_hash = ? AND used_utc IS NULL",
                (now_utc, user_id, code_hash),
            )
        return cur.rowcount > 0

    def recovery_codes_left(self, user_id: int) -> int:
        row = self.conn.execute("SELECT COUNT(*) FROM recovery_codes WHERE user_id = ? AND used_utc IS NULL",
                                (user_id,)).fetchone()
        return int(row[0])

    # -- login throttling --------------------------------------------------
    def add_login_failure(self, scope: str, subject: str, ts_utc: str) -> None:
        with self.transaction():
            self.conn.execute("INSERT INTO login_failures VALUES (?, ?, ?)", (scope, subject, ts_utc))

    def login_failures(self, scope: str, subject: str, since_utc: str) -> list[str]:
        return [str(r[0]) for r in self.conn.execute(
            "SELECT ts_utc FROM login_failures WHERE scope = ? AND subject = ? AND ts_utc > ? ORDER BY ts_utc",
            (scope, subject, since_utc),
        )]

    def clear_login_failures(self, scope: str, subject: str) -> None:
        with self.transaction():
            self.conn.execute("DELETE FROM login_failures WHERE scope = ? AND subject = ?", (scope, subject))

    def prune_login_failures(self, before_utc: str) -> int:
        with self.transaction():
            return self.conn.execute("DELETE FROM login_failures WHERE ts_utc < ?", (before_utc,)).rowcount

    # -- single sign-on identities ----------------------------------------------
    def insert_identity(self, row: Row) -> int:
        return self._insert("user_identities", row, conflict=f"the identity {row.get('subject')!r} at "
                            f"{row.get('issuer')} or the account is linked already")

    def find_identity(self, issuer: str, subject: str) -> Row | None:
        return self._one("SELECT * FROM user_identities WHERE issuer = ? AND subject = ?", (issuer, subject))

    def list_identities(self, user_id: int) -> list[Row]:
        return self._all("SELECT * FROM user_identities WHERE user_id = ? ORDER BY issuer, id", (user_id,))

    def touch_identity(self, identity_id: int, last_login_utc: str) -> None:
        with self.transaction():
            self.conn.execute("UPDATE user_identities SET last_login_utc = ? WHERE id = ?",
                              (last_login_utc, identity_id))

    def delete_identities(self, user_id: int, issuer: str | None = None) -> int:
        with self.transaction():
            if issuer is None:
                cur = self.conn.execute("DELETE FROM user_identities WHERE user_id = ?", (user_id,))
            else:
                cur = self.conn.execute("DELETE FROM user_identities WHERE user_id = ? AND issuer = ?",
                                        (user_id, issuer))
        return cur.rowcount

    # -- audit log ---------------------------------------------------------
    def append_audit(self, row: Row) -> int:
        return self._insert("audit_log", row)

    def list_audit(self, query: AuditQuery) -> list[Row]:
        where: list[str] = []
        params: list[Any] = []
        if query.since:
            where.append("a.ts_utc >= ?")
            params.append(query.since)
        if query.until:
            where.append("a.ts_utc < ?")
            params.append(query.until)
        if query.project_ids is not None:
            if not query.project_ids:
                return []
            where.append(f"a.project_id IN ({', '.join('?' for _ in query.project_ids)})")
            params.extend(query.project_ids)
        if query.actor_user_id is not None:
            where.append("a.actor_user_id = ?")
            params.append(query.actor_user_id)
        if query.action_prefix:
            where.append("a.action LIKE ? ESCAPE '\\'")
            params.append(query.action_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        if query.before_id is not None:
            where.append("a.id < ?")
            params.append(query.before_id)
        sql = ("SELECT a.id, a.ts_utc, a.actor, a.actor_user_id, a.action, a.target,"
               " COALESCE(p.slug, a.project_slug) AS project, a.source_addr, a.outcome, a.detail_json"
               " FROM audit_log a LEFT JOIN projects p ON p.id = a.project_id")
        if where:
            sql += " WHERE " + " AND ".join(where)
        return self._all(sql + " ORDER BY a.id DESC LIMIT ?", (*params, query.limit))

    # -- outbox ------------------------------------------------------------
    def insert_outbox(self, row: Row) -> int:
        row = _checked("outbox", row)
        with self.transaction():
            found = self.conn.execute("SELECT id FROM outbox WHERE idempotency_key = ?",
                                      (row["idempotency_key"],)).fetchone()
            if found:
                return int(found[0])
            return self._insert("outbox", row)

    def get_outbox(self, message_id: int) -> Row | None:
        return self._one("SELECT * FROM outbox WHERE id = ?", (message_id,))

    def list_outbox(self, *, status: str | None = None, limit: int = 100) -> list[Row]:
        if status:
            return self._all("SELECT * FROM outbox WHERE status = ? ORDER BY id DESC LIMIT ?", (status, limit))
        return self._all("SELECT * FROM outbox ORDER BY id DESC LIMIT ?", (limit,))
