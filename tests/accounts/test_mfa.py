"""TOTP enrolment, replay protection, recovery codes, disabling (AU-09, AU-10, AU-11)."""

from __future__ import annotations

import base64
from datetime import timedelta

import pyotp
import pytest

from agentcost_cli.errors import AuthError, Conflict, MfaRequired
from agentcost_cli.services import clock, mfa, outbox, sessions
from agentcost_cli.services.actor import LOCAL
from agentcost_cli.store.base import Store

from .conftest import PASSWORD, as_user, make_user


def _enrol(store: Store, email: str) -> tuple[str, list[str]]:
    enrolment = mfa.begin_enrolment(store, LOCAL, email)
    assert len(base64.b32decode(enrolment.secret)) == 20  # 160-bit secret
    assert enrolment.uri.startswith("otpauth://totp/") and "\x1b" not in enrolment.qr
    codes = mfa.confirm_enrolment(store, LOCAL, pyotp.TOTP(enrolment.secret).at(clock.now()), email)
    return enrolment.secret, codes


def test_enrolment_needs_a_first_valid_code(store: Store) -> None:
    make_user(store, "m@example.com")
    enrolment = mfa.begin_enrolment(store, LOCAL, "m@example.com")
    sessions.login(store, email="m@example.com", password=PASSWORD)  # not on yet: no code asked
    with pytest.raises(AuthError):
        mfa.confirm_enrolment(store, LOCAL, "000000", "m@example.com")
    codes = mfa.confirm_enrolment(store, LOCAL, pyotp.TOTP(enrolment.secret).at(clock.now()), "m@example.com")
    assert len(codes) == 10 and len(set(codes)) == 10
    with pytest.raises(MfaRequired):
        sessions.login(store, email="m@example.com", password=PASSWORD)
    row = store.find_user("m@example.com")
    assert row is not None and enrolment.secret not in str(row)  # the secret is sealed, not in clear


def test_totp_code_works_once_and_old_codes_fail(store: Store) -> None:
    make_user(store, "t@example.com")
    secret, _ = _enrol(store, "t@example.com")
    clock.advance(timedelta(seconds=60))
    totp = pyotp.TOTP(secret)
    code = totp.at(clock.now())
    pair = sessions.login(store, email="t@example.com", password=PASSWORD, code=code)
    assert sessions.actor_from_access_token(store, pair.access_token).mfa
    with pytest.raises(AuthError):  # the same step again: a replay
        sessions.login(store, email="t@example.com", password=PASSWORD, code=code)
    clock.advance(timedelta(seconds=90))
    two_steps_ago = totp.at(clock.now() - timedelta(seconds=60))
    with pytest.raises(AuthError):
        sessions.login(store, email="t@example.com", password=PASSWORD, code=two_steps_ago)
    one_step_ago = totp.at(clock.now() - timedelta(seconds=30))  # one step of drift is accepted (once)
    sessions.login(store, email="t@example.com", password=PASSWORD, code=one_step_ago)


def test_recovery_codes_are_single_use_and_stored_hashed(store: Store) -> None:
    make_user(store, "r@example.com")
    _, codes = _enrol(store, "r@example.com")
    sessions.login(store, email="r@example.com", password=PASSWORD, code=codes[0].upper())
    with pytest.raises(AuthError):
        sessions.login(store, email="r@example.com", password=PASSWORD, code=codes[0])
    stored = [r[0] for r in store.conn.execute("SELECT code_hash FROM recovery_codes")]  # type: ignore[attr-defined]
    assert len(stored) == 10 and all(len(h) == 64 for h in stored)
    dump = "\n".join(store.conn.iterdump())  # type: ignore[attr-defined]
    assert not any(code.replace("-", "") in dump or code in dump for code in codes)


def test_disabling_needs_a_current_or_recovery_code(store: Store) -> None:
    make_user(store, "d@example.com")
    secret, codes = _enrol(store, "d@example.com")
    clock.advance(timedelta(seconds=30))
    with pytest.raises(AuthError):
        mfa.disable(store, LOCAL, "123456", "d@example.com")
    mfa.disable(store, LOCAL, codes[3], "d@example.com")
    sessions.login(store, email="d@example.com", password=PASSWORD)  # off: no code needed
    with pytest.raises(Conflict):
        mfa.disable(store, LOCAL, pyotp.TOTP(secret).now(), "d@example.com")
    assert [m["subject"] for m in outbox.list_messages(store, LOCAL) if m["template"] == "mfa_changed"] == [
        "Two-factor authentication was disabled on your agentcost account",
        "Two-factor authentication was enabled on your agentcost account"]


def test_new_recovery_codes_replace_the_old_ones(store: Store) -> None:
    make_user(store, "n@example.com")
    secret, old = _enrol(store, "n@example.com")
    clock.advance(timedelta(seconds=30))
    new = mfa.regenerate_recovery_codes(store, LOCAL, pyotp.TOTP(secret).at(clock.now()), "n@example.com")
    assert not set(new) & set(old)
    with pytest.raises(AuthError):
        sessions.login(store, email="n@example.com", password=PASSWORD, code=old[0])
    sessions.login(store, email="n@example.com", password=PASSWORD, code=new[0])


def test_mfa_changes_need_a_recent_sign_in(store: Store) -> None:
    make_user(store, "s@example.com")
    pair = sessions.login(store, email="s@example.com", password=PASSWORD)
    me = sessions.actor_from_access_token(store, pair.access_token)
    mfa.begin_enrolment(store, me)  # just signed in: fine
    clock.advance(timedelta(minutes=5, seconds=1))
    fresh_token = sessions.refresh(store, pair.refresh_token)  # refreshing is not re-authenticating
    stale = sessions.actor_from_access_token(store, fresh_token.access_token)
    with pytest.raises(AuthError, match="fresh sign-in"):
        mfa.begin_enrolment(store, stale)
    with pytest.raises(AuthError, match="fresh sign-in"):
        mfa.disable(store, as_user(store, "s@example.com", authenticated_utc="2026-11-20T11:00:00.000000Z"), "1")
