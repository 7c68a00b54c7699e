"""The account half of the Store contract (store/accounts.py), run on each backend (conftest.py).

The atomic operations are tested for what makes them atomic: a second consumer of a
one-time token, a refresh token or a recovery code gets nothing.
"""

from __future__ import annotations

import pytest

from agentcost_cli.errors import Conflict
from agentcost_cli.store.accounts import AuditQuery
from agentcost_cli.store.base import Store

from .conftest import Location

NOW = "2026-11-20T12:00:00.000000Z"
LATER = "2026-11-20T13:00:00.000000Z"


def _user(store: Store, email: str = "a@example.com") -> int:
    return store.insert_user({"email": email, "created_utc": NOW})


def test_users_are_unique_by_email_and_updatable(backend: Store) -> None:
    uid = _user(backend)
    with pytest.raises(Conflict):
        _user(backend)
    backend.update_user(uid, {"display_name": "Ada", "status": "disabled"})
    row = backend.find_user("a@example.com")
    assert row is not None and (row["display_name"], row["status"], row["is_admin"]) == ("Ada", "disabled", 0)
    with pytest.raises(ValueError):
        backend.update_user(uid, {"password_hash; DROP TABLE users": "x"})


def test_memberships_and_cascading_user_delete(backend: Store) -> None:
    uid = _user(backend)
    pid = backend.insert_project({"slug": "p", "name": "P", "created_utc": NOW})
    backend.set_membership(pid, uid, "viewer", created_utc=NOW)
    backend.set_membership(pid, uid, "admin", created_utc=LATER)
    assert backend.memberships(uid) == {pid: "admin"}
    sid = backend.insert_session({"user_id": uid, "created_utc": NOW, "last_used_utc": NOW, "expires_utc": LATER})
    backend.insert_refresh_token("h1", sid, NOW)
    backend.delete_user(uid)
    assert backend.members(pid) == [] and backend.get_session(sid) is None and backend.find_refresh_token("h1") is None


def test_one_time_tokens_are_consumed_once_and_expire(backend: Store) -> None:
    uid = _user(backend)
    backend.insert_user_token({"token_hash": "t1", "user_id": uid, "purpose": "reset", "created_utc": NOW,
                               "expires_utc": LATER})
    assert backend.consume_user_token("t1", "verify", NOW) is None  # wrong purpose
    assert backend.consume_user_token("t1", "reset", NOW) == uid
    assert backend.consume_user_token("t1", "reset", NOW) is None
    backend.insert_user_token({"token_hash": "t2", "user_id": uid, "purpose": "reset", "created_utc": NOW,
                               "expires_utc": LATER})
    assert backend.consume_user_token("t2", "reset", LATER) is None  # expiry is exclusive
    backend.insert_user_token({"token_hash": "t3", "user_id": uid, "purpose": "reset", "created_utc": NOW,
                               "expires_utc": LATER})
    backend.expire_user_tokens(uid, "reset", NOW)
    assert backend.consume_user_token("t3", "reset", NOW) is None


def test_refresh_tokens_and_recovery_codes_are_used_once(backend: Store) -> None:
    uid = _user(backend)
    sid = backend.insert_session({"user_id": uid, "created_utc": NOW, "last_used_utc": NOW, "expires_utc": LATER})
    backend.insert_refresh_token("r1", sid, NOW)
    assert backend.use_refresh_token("r1", NOW) is True
    assert backend.use_refresh_token("r1", NOW) is False
    backend.replace_recovery_codes(uid, ["c1", "c2"], NOW)
    assert backend.consume_recovery_code(uid, "c1", NOW) and not backend.consume_recovery_code(uid, "c1", NOW)
    assert backend.recovery_codes_left(uid) == 1


def test_sessions_revoke_all_but_one(backend: Store) -> None:
    uid = _user(backend)
    ids = [backend.insert_session({"user_id": uid, "created_utc": NOW, "last_used_utc": NOW, "expires_utc": LATER})
           for _ in range(3)]
    assert backend.revoke_sessions(uid, now_utc=NOW, reason="test", keep=ids[0]) == 2
    assert [s["revoked_utc"] is None for s in sorted(backend.list_sessions(uid), key=lambda s: s["id"])] == [
        True, False, False]


def test_api_keys_touch_is_rate_limited_by_the_condition(backend: Store) -> None:
    uid = _user(backend)
    pid = backend.insert_project({"slug": "p", "name": "P", "created_utc": NOW})
    kid = backend.insert_api_key({"project_id": pid, "name": "k", "key_hash": "kh", "prefix": "ac_live_abcd",
                                  "last_four": "wxyz", "scopes": "ingest", "created_by_user_id": uid,
                                  "created_utc": NOW})
    assert backend.touch_api_key(kid, NOW, "2026-11-20T11:59:00.000000Z") is True
    assert backend.touch_api_key(kid, "2026-11-20T12:00:30.000000Z", "2026-11-20T11:59:30.000000Z") is False
    assert backend.touch_api_key(kid, "2026-11-20T12:01:00.000000Z", NOW) is True
    assert backend.find_api_key("kh")["project"] == "p"  # type: ignore[index]
    assert backend.revoke_user_keys(uid, NOW) == 1 and backend.revoke_user_keys(uid, NOW) == 0


def test_login_failures_window_and_prune(backend: Store) -> None:
    for ts in (NOW, "2026-11-20T12:30:00.000000Z", LATER):
        backend.add_login_failure("account", "s", ts)
    assert backend.login_failures("account", "s", NOW) == ["2026-11-20T12:30:00.000000Z", LATER]
    assert backend.prune_login_failures("2026-11-20T12:30:00.000000Z") == 1
    backend.clear_login_failures("account", "s")
    assert backend.login_failures("account", "s", "2000-01-01T00:00:00.000000Z") == []


def test_audit_query_filters(backend: Store) -> None:
    pid = backend.insert_project({"slug": "p", "name": "P", "created_utc": NOW})
    for i, action in enumerate(("login", "key.create", "key_x")):
        backend.append_audit({"ts_utc": NOW, "actor": "local", "action": action, "outcome": "ok",
                              "project_id": pid if i else None})
    assert [r["action"] for r in backend.list_audit(AuditQuery(action_prefix="key."))] == ["key.create"]
    assert [r["project"] for r in backend.list_audit(AuditQuery(project_ids=(pid,)))] == ["p", "p"]
    assert backend.list_audit(AuditQuery(project_ids=())) == []


def test_outbox_idempotency_key(backend: Store) -> None:
    row = {"created_utc": NOW, "channel": "email", "recipient": "a@example.com", "template": "t", "subject": "s",
           "payload_sealed": "x", "idempotency_key": "k1"}
    first = backend.insert_outbox(row)
    assert backend.insert_outbox(row) == first
    assert [m["id"] for m in backend.list_outbox(status="pending")] == [first]


def test_the_audit_log_is_append_only(backend: Store, location: Location) -> None:
    backend.append_audit({"ts_utc": NOW, "actor": "local", "action": "login", "outcome": "ok"})
    for statement in ("UPDATE audit_log SET outcome = 'denied'", "DELETE FROM audit_log"):
        with pytest.raises(Exception, match="append-only"):
            location.sql(statement)
    assert [r["outcome"] for r in backend.list_audit(AuditQuery())] == ["ok"]


def test_a_conflict_inside_a_transaction_leaves_it_usable(backend: Store) -> None:
    """SQLite undoes only the failed statement; PostgreSQL would abort the whole transaction
    unless the store guards the statement (a savepoint)."""
    _user(backend)
    with backend.transaction():
        pid = backend.insert_project({"slug": "p", "name": "P", "created_utc": NOW})
        with pytest.raises(Conflict):
            _user(backend)
        backend.set_membership(pid, backend.find_user("a@example.com")["id"], "owner",  # type: ignore[index]
                               created_utc=NOW)
    assert backend.get_project("p") is not None and len(backend.members(pid)) == 1


def test_identities_are_unique_per_issuer(backend: Store) -> None:
    uid = _user(backend)
    other = _user(backend, "b@example.com")
    row = {"user_id": uid, "issuer": "https://idp", "subject": "s1", "email_at_link": "a@example.com",
           "created_utc": NOW}
    iid = backend.insert_identity(row)
    with pytest.raises(Conflict):
        backend.insert_identity({**row, "user_id": other})  # the subject is linked already
    with pytest.raises(Conflict):
        backend.insert_identity({**row, "subject": "s2"})  # the account has one at this issuer
    backend.touch_identity(iid, LATER)
    found = backend.find_identity("https://idp", "s1")
    assert found is not None and (found["user_id"], found["last_login_utc"]) == (uid, LATER)
    assert [i["id"] for i in backend.list_identities(uid)] == [iid]
    assert backend.delete_identities(uid, "https://other") == 0 and backend.delete_identities(uid) == 1
