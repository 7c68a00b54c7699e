"""Users, passwords, verification and reset (AU-01, AU-02, AU-06, AU-07, AU-08, AU-09)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from argon2 import PasswordHasher

from agentcost_cli.errors import AuthError, Conflict, InvalidInput, NotFound, PermissionDenied
from agentcost_cli.services import clock, outbox, sessions, users
from agentcost_cli.services.actor import LOCAL
from agentcost_cli.store.base import Store

from .conftest import PASSWORD, as_user, make_user, project_with


def _last_message(store: Store, template: str) -> dict:
    rows = [m for m in outbox.list_messages(store, LOCAL) if m["template"] == template]
    assert rows, f"no {template} message in the outbox"
    return outbox.show_message(store, LOCAL, rows[0]["id"])


def _token_from(message: dict) -> str:
    link = next(line.strip() for line in message["body"].splitlines() if line.strip().startswith("http"))
    return parse_qs(urlparse(link).query)["token"][0]


def test_created_password_is_argon2id_with_current_parameters(store: Store) -> None:
    users.create_user(store, LOCAL, email="Ada@Example.COM ", password=PASSWORD, name="Ada")
    row = store.find_user("ada@example.com")
    assert row is not None and row["email"] == "ada@example.com"
    assert row["password_hash"].startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_weaker_hash_is_upgraded_on_login(store: Store) -> None:
    weak = PasswordHasher(memory_cost=19456, time_cost=2, parallelism=1).hash(PASSWORD)
    store.insert_user({"email": "old@example.com", "password_hash": weak, "created_utc": clock.now_text()})
    sessions.login(store, email="old@example.com", password=PASSWORD)
    row = store.find_user("old@example.com")
    assert row is not None and row["password_hash"].startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    sessions.login(store, email="old@example.com", password=PASSWORD)  # the new hash verifies


@pytest.mark.parametrize("bad", ["password1", "PASSWORD1", "short", "        "])
def test_policy_rejects_common_short_and_blank(store: Store, bad: str) -> None:
    with pytest.raises(InvalidInput):
        users.create_user(store, LOCAL, email="a@example.com", password=bad)
    assert store.find_user("a@example.com") is None


def test_long_and_unicode_passwords_round_trip(store: Store) -> None:
    long = "x7" * 32
    users.create_user(store, LOCAL, email="long@example.com", password=long)
    sessions.login(store, email="long@example.com", password=long)
    users.create_user(store, LOCAL, email="uni@example.com", password="Pässwörd-long-enough")
    sessions.login(store, email="uni@example.com", password="Pässwörd-long-enough")
    # typed decomposed (NFD) on another keyboard: the same password after NFC
    sessions.login(store, email="uni@example.com", password="Pa\u0308sswo\u0308rd-long-enough")


def test_email_is_unique_after_normalisation(store: Store) -> None:
    users.create_user(store, LOCAL, email="bob@example.com", password=PASSWORD)
    with pytest.raises(Conflict):
        users.create_user(store, LOCAL, email=" BOB@example.com", password=PASSWORD)
    with pytest.raises(InvalidInput):
        users.create_user(store, LOCAL, email="not-an-address", password=PASSWORD)


def test_only_operators_manage_users(store: Store) -> None:
    make_user(store, "op@example.com", admin=True)
    make_user(store, "u@example.com")
    with pytest.raises(PermissionDenied):
        users.create_user(store, as_user(store, "u@example.com"), email="x@example.com", password=PASSWORD)
    users.create_user(store, as_user(store, "op@example.com"), email="x@example.com", password=PASSWORD)
    assert {u["email"] for u in users.list_users(store, LOCAL)} == {"op@example.com", "u@example.com", "x@example.com"}


def test_reset_token_is_single_use_hashed_and_on_the_public_url(store: Store, monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path) -> None:
    monkeypatch.setenv("AGENTCOST_PUBLIC_URL", "https://costs.example.org/")
    from agentcost_cli.services.auth_config import _ATTR

    if hasattr(store, _ATTR):
        delattr(store, _ATTR)
    make_user(store, "r@example.com")
    users.request_password_reset(store, "r@example.com", source="203.0.113.9")
    message = _last_message(store, "password_reset")
    link = next(line for line in message["body"].splitlines() if "token=" in line).strip()
    assert link.startswith("https://costs.example.org/reset-password?token=")  # AU-07: never a request's Host
    token = _token_from(message)
    assert len(token) >= 43  # 256 bits
    raw = sqlite3.connect(store.location).execute("SELECT * FROM user_tokens").fetchall()
    dump = "\n".join(sqlite3.connect(store.location).iterdump())
    assert raw and token not in dump  # AU-06: only the hash is stored, and the outbox payload is sealed
    users.reset_password(store, token, "a brand new passphrase")
    with pytest.raises(AuthError):
        users.reset_password(store, token, "yet another passphrase")  # single use
    sessions.login(store, email="r@example.com", password="a brand new passphrase")


def test_reset_token_expires_after_30_minutes(store: Store) -> None:
    make_user(store, "late@example.com")
    users.request_password_reset(store, "late@example.com")
    token = _token_from(_last_message(store, "password_reset"))
    clock.advance(timedelta(minutes=30, seconds=1))
    with pytest.raises(AuthError):
        users.reset_password(store, token, "a brand new passphrase")


def test_verification_token_lasts_24_hours_once(store: Store) -> None:
    users.create_user(store, LOCAL, email="v@example.com", password=PASSWORD)
    token = _token_from(_last_message(store, "verify_email"))
    clock.advance(timedelta(hours=23, minutes=59))
    assert users.verify_email(store, token) == "v@example.com"
    with pytest.raises(AuthError):
        users.verify_email(store, token)
    row = store.find_user("v@example.com")
    assert row is not None and row["email_verified_utc"]
    users.create_user(store, LOCAL, email="w@example.com", password=PASSWORD)
    token = _token_from(_last_message(store, "verify_email"))
    clock.advance(timedelta(hours=24, seconds=1))
    with pytest.raises(AuthError):
        users.verify_email(store, token)


def test_reset_revokes_every_session_notifies_and_does_not_sign_in(store: Store) -> None:
    make_user(store, "s@example.com")
    first = sessions.login(store, email="s@example.com", password=PASSWORD)
    users.request_password_reset(store, "s@example.com")
    result = users.reset_password(store, _token_from(_last_message(store, "password_reset")), "a fresh passphrase!")
    assert result == "s@example.com"
    assert not any(s["active"] for s in sessions.list_sessions(store, LOCAL, "s@example.com"))  # AU-08: no sign-in
    with pytest.raises(AuthError):
        sessions.refresh(store, first.refresh_token)
    with pytest.raises(AuthError):
        sessions.actor_from_access_token(store, first.access_token)
    notice = _last_message(store, "password_changed")
    assert notice["recipient"] == "s@example.com" and "reset" in notice["body"]


def test_change_needs_the_current_password_and_keeps_only_this_session(store: Store) -> None:
    make_user(store, "c@example.com")
    mine = sessions.login(store, email="c@example.com", password=PASSWORD)
    other = sessions.login(store, email="c@example.com", password=PASSWORD)
    me = sessions.actor_from_access_token(store, mine.access_token)
    with pytest.raises(AuthError):
        users.change_password(store, me, new_password="another good passphrase")
    with pytest.raises(AuthError):
        users.change_password(store, me, new_password="another good passphrase", current_password="wrong one!")
    users.change_password(store, me, new_password="another good passphrase", current_password=PASSWORD)
    sessions.refresh(store, mine.refresh_token)  # the session that changed it lives on
    with pytest.raises(AuthError):
        sessions.refresh(store, other.refresh_token)
    assert _last_message(store, "password_changed")["recipient"] == "c@example.com"


def test_users_cannot_change_each_others_passwords(store: Store) -> None:
    make_user(store, "a@example.com")
    make_user(store, "b@example.com")
    with pytest.raises(PermissionDenied):
        users.change_password(store, as_user(store, "a@example.com"), email="b@example.com",
                              new_password="another good passphrase", current_password=PASSWORD)


def test_forgot_password_for_unknown_email_is_silent(store: Store) -> None:
    make_user(store, "known@example.com")
    assert users.request_password_reset(store, "known@example.com") is None
    assert users.request_password_reset(store, "nobody@example.com") is None
    assert [m["recipient"] for m in outbox.list_messages(store, LOCAL)] == ["known@example.com"]


def test_register_answers_alike_for_new_and_taken_addresses(store: Store) -> None:
    make_user(store, "taken@example.com")
    assert users.register(store, email="taken@example.com", password="a long passphrase") is None
    assert users.register(store, email="new@example.com", password="a long passphrase") is None
    with pytest.raises(AuthError):  # the existing account's password did not change
        sessions.login(store, email="taken@example.com", password="a long passphrase")
    assert store.find_user("new@example.com") is not None


def test_invited_user_sets_a_password_through_the_link(store: Store) -> None:
    users.create_user(store, LOCAL, email="inv@example.com", password=None)
    with pytest.raises(AuthError):
        sessions.login(store, email="inv@example.com", password="anything long")
    token = _token_from(_last_message(store, "account_invite"))
    users.reset_password(store, token, "my chosen passphrase")
    sessions.login(store, email="inv@example.com", password="my chosen passphrase")


def test_disable_revokes_sessions_and_keys_then_enable_restores_sign_in(store: Store) -> None:
    from agentcost_cli.services import keys

    make_user(store, "d@example.com")
    project_with(store, "p", member="d@example.com")
    me = as_user(store, "d@example.com")
    _, key = keys.create_key(store, me, "p", name="ci", scopes=("ingest",))
    tokens = sessions.login(store, email="d@example.com", password=PASSWORD)
    users.set_status(store, LOCAL, "d@example.com", active=False)
    with pytest.raises(AuthError):
        sessions.refresh(store, tokens.refresh_token)
    with pytest.raises(AuthError):
        sessions.actor_from_api_key(store, key)
    with pytest.raises(AuthError):
        sessions.login(store, email="d@example.com", password=PASSWORD)
    users.set_status(store, LOCAL, "d@example.com", active=True)
    sessions.login(store, email="d@example.com", password=PASSWORD)
    with pytest.raises(AuthError):  # revoked keys stay revoked
        sessions.actor_from_api_key(store, key)


def test_delete_user_refuses_last_owner_and_removes_personal_rows(store: Store) -> None:
    make_user(store, "o@example.com")
    project_with(store, "solo", owner="o@example.com")
    with pytest.raises(Conflict, match="last owner"):
        users.delete_user(store, LOCAL, "o@example.com")
    make_user(store, "o2@example.com")
    project_with(store, "other", owner="o2@example.com", member="o@example.com")
    store.delete_project(int(store.get_project("solo")["id"]))
    sessions.login(store, email="o@example.com", password=PASSWORD)
    from agentcost_cli.services import keys

    _, key = keys.create_key(store, as_user(store, "o@example.com"), "other", name="theirs", scopes=("ingest",))
    users.delete_user(store, LOCAL, "o@example.com")
    with pytest.raises(AuthError):  # AU-13: deleting an account revokes its keys
        sessions.actor_from_api_key(store, key)
    with pytest.raises(NotFound):
        users.show_user(store, LOCAL, "o@example.com")
    conn = sqlite3.connect(store.location)
    assert conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM api_keys WHERE revoked_utc IS NULL").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM memberships WHERE project_id = "
                        "(SELECT id FROM projects WHERE slug = 'other')").fetchone()[0] == 1
    deletion = conn.execute("SELECT target FROM audit_log WHERE action = 'user.delete'").fetchone()[0]
    assert "o@example.com" not in deletion


def test_operators_rename_and_promote_but_not_demote_themselves(store: Store) -> None:
    make_user(store, "op@example.com", admin=True)
    make_user(store, "u@example.com")
    op = as_user(store, "op@example.com")
    with pytest.raises(PermissionDenied):
        users.update_user(store, as_user(store, "u@example.com"), "op@example.com", name="x")
    assert users.update_user(store, op, "u@example.com", name="You", admin=True)["is_admin"] is True
    with pytest.raises(Conflict):
        users.update_user(store, op, "op@example.com", admin=False)
    with pytest.raises(InvalidInput):
        users.update_user(store, op, "u@example.com")


def test_email_change_needs_recent_sign_in_and_reverification(store: Store) -> None:
    make_user(store, "old@example.com")
    make_user(store, "taken@example.com")
    pair = sessions.login(store, email="old@example.com", password=PASSWORD)
    other = sessions.login(store, email="old@example.com", password=PASSWORD)
    me = sessions.actor_from_access_token(store, pair.access_token)
    with pytest.raises(Conflict):
        users.change_email(store, me, "taken@example.com")
    clock.advance(timedelta(minutes=6))
    stale = sessions.actor_from_access_token(store, sessions.refresh(store, pair.refresh_token).access_token)
    with pytest.raises(AuthError, match="fresh sign-in"):
        users.change_email(store, stale, "new@example.com")
    fresh = sessions.login(store, email="old@example.com", password=PASSWORD)
    changed = users.change_email(store, sessions.actor_from_access_token(store, fresh.access_token),
                                 "New@Example.com")
    assert changed["email"] == "new@example.com" and changed["email_verified_utc"] is None
    assert _last_message(store, "email_changed")["recipient"] == "old@example.com"
    assert _last_message(store, "verify_email")["recipient"] == "new@example.com"
    with pytest.raises(AuthError):  # other sessions ended
        sessions.refresh(store, other.refresh_token)
    sessions.login(store, email="new@example.com", password=PASSWORD)
