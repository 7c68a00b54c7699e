"""`agentcost account ...` in-process against a real temporary store: two-factor enrolment with a
code computed from the printed secret, recovery codes, passwords, sessions, and the email-link
commands (reset-password, verify-email)."""

# The fixtures come from test_accounts_cli.py; test parameters naming them would read as redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import re

import pyotp
import pytest

from agentcost_cli.errors import ExitCode

from .test_accounts_cli import (  # noqa: F401  (fixtures by name)
    PASSWORD,
    PUBLIC_URL,
    ac,
    ac_lazy,
    create_user,
    db,
    hidden_prompts_read_stdin,
    stored_text,
)

RECOVERY_RE = re.compile(r"^[a-z2-7]{4}(-[a-z2-7]{4}){5}$")
NEW_PASSWORD = "a much longer passphrase 42"


def totp_for_printed_secret(stderr: str) -> str:
    """What an authenticator app shows for the secret the command printed."""
    match = re.search(r"^secret: ([A-Z2-7]{32})$", stderr, re.MULTILINE)
    assert match, stderr
    return pyotp.TOTP(match.group(1)).now()


def enable_mfa(ac_lazy, email: str, *extra: str, tty: bool = False):
    out = ac_lazy("account", "mfa", "enable", "--user", email, *extra, answer=totp_for_printed_secret, tty=tty)
    assert out.code == 0, out.stderr
    return out


def login(db, email: str, password: str, code: str | None = None):
    from agentcost_cli.services.sessions import login as service_login
    from agentcost_cli.store import open_store

    store = open_store(db)
    try:
        return service_login(store, email=email, password=password, code=code, user_agent="pytest")
    finally:
        store.close()


def test_mfa_enable_then_disable_with_a_recovery_code(ac, ac_lazy, db):
    create_user(ac, "ana@example.com")
    out = enable_mfa(ac_lazy, "ana@example.com", "--code-stdin")
    codes = out.stdout.splitlines()
    assert len(codes) == 10 and all(RECOVERY_RE.match(c) for c in codes), out.stdout
    assert len(set(codes)) == 10
    assert "otpauth://totp/agentcost:ana%40example.com" in out.stderr
    assert "█" in out.stderr  # the QR code, on stderr
    assert "two-factor authentication is on for ana@example.com" in out.stderr
    assert "will not be shown again" in out.stderr
    secret = re.search(r"^secret: (\S+)$", out.stderr, re.MULTILINE).group(1)  # type: ignore[union-attr]
    text = stored_text(db)
    assert secret not in text and not any(c in text or c.replace("-", "") in text for c in codes)

    shown = ac("users", "show", "ana@example.com", "--json").json()
    assert shown["mfa"] is True and shown["recovery_codes_left"] == 10
    again = ac_lazy("account", "mfa", "enable", "--user", "ana@example.com", "--code-stdin",
                    answer=totp_for_printed_secret)
    assert again.code == ExitCode.USAGE and "already on" in again.stderr

    wrong = ac("account", "mfa", "disable", "--user", "ana@example.com", "--code-stdin", stdin="000000\n")
    assert wrong.code == ExitCode.UNAUTHENTICATED
    assert wrong.stderr.startswith("not authenticated: wrong or already used code")

    off = ac("account", "mfa", "disable", "--user", "ana@example.com", "--code-stdin", stdin=codes[0] + "\n")
    assert off.code == 0, off.stderr
    assert "two-factor authentication is off" in off.stderr
    assert ac("users", "show", "ana@example.com", "--json").json()["mfa"] is False
    not_on = ac("account", "mfa", "disable", "--user", "ana@example.com", "--code-stdin", stdin=codes[1] + "\n")
    assert not_on.code == ExitCode.USAGE and "not on" in not_on.stderr

    actions = [r["action"] for r in ac("audit", "list", "--action", "mfa.", "--json").json()["records"]]
    assert actions == ["mfa.disable", "mfa.disable", "mfa.enable"]  # the failed attempt is recorded too
    outcomes = [r["outcome"] for r in ac("audit", "list", "--action", "mfa.", "--json").json()["records"]]
    assert outcomes == ["ok", "failed", "ok"]
    templates = [m["template"] for m in ac("outbox", "list", "--json").json()["messages"]]
    assert templates.count("mfa_changed") == 2


def test_mfa_enable_prompts_on_a_terminal_and_signs_in_with_the_second_factor(ac, ac_lazy, db):
    create_user(ac, "ana@example.com")
    out = enable_mfa(ac_lazy, "ana@example.com", "--json", tty=True)
    doc = out.json()
    assert doc["email"] == "ana@example.com" and len(doc["recovery_codes"]) == 10

    from agentcost_cli.errors import MfaRequired

    with pytest.raises(MfaRequired):
        login(db, "ana@example.com", PASSWORD)
    tokens = login(db, "ana@example.com", PASSWORD, code=doc["recovery_codes"][3])
    assert tokens.session_id


def test_mfa_enable_retries_a_wrong_code_on_a_terminal(ac, ac_lazy):
    create_user(ac, "ana@example.com")
    answers = iter(["123", "000000"])

    def answer(stderr: str) -> str:
        return next(answers, None) or totp_for_printed_secret(stderr)

    out = ac_lazy("account", "mfa", "enable", "--user", "ana@example.com", answer=answer, tty=True)
    assert out.code == 0, out.stderr
    assert out.stderr.count("not authenticated: wrong code") == 2
    assert len(out.stdout.splitlines()) == 10


def test_mfa_enable_with_a_wrong_code_from_stdin_fails_once(ac):
    create_user(ac, "ana@example.com")
    out = ac("account", "mfa", "enable", "--user", "ana@example.com", "--code-stdin", stdin="000000\n")
    assert out.code == ExitCode.UNAUTHENTICATED
    assert out.stdout == ""
    assert "secret: " in out.stderr and "wrong code" in out.stderr
    assert ac("users", "show", "ana@example.com", "--json").json()["mfa"] is False


def test_mfa_enable_without_a_code_source_changes_nothing(ac):
    create_user(ac, "ana@example.com")
    out = ac("account", "mfa", "enable", "--user", "ana@example.com")
    assert out.code == ExitCode.USAGE
    assert "no code given" in out.stderr and "--code-stdin" in out.stderr
    assert "secret" not in out.stderr  # no secret was made or shown


def test_recovery_codes_are_replaced(ac, ac_lazy, db):
    create_user(ac, "ana@example.com")
    old = enable_mfa(ac_lazy, "ana@example.com", "--code-stdin").stdout.splitlines()
    out = ac("account", "recovery-codes", "--user", "ana@example.com", "--code-stdin", stdin=old[0] + "\n")
    assert out.code == 0, out.stderr
    new = out.stdout.splitlines()
    assert len(new) == 10 and not set(new) & set(old)
    assert "will not be shown again" in out.stderr
    stale = ac("account", "mfa", "disable", "--user", "ana@example.com", "--code-stdin", stdin=old[1] + "\n")
    assert stale.code == ExitCode.UNAUTHENTICATED
    as_json = ac("account", "recovery-codes", "--user", "ana@example.com", "--code-stdin", "--json",
                 stdin=new[0] + "\n")
    assert as_json.code == 0 and len(as_json.json()["recovery_codes"]) == 10
    no_mfa = create_user(ac, "bo@example.com")
    assert no_mfa.code == 0
    refused = ac("account", "recovery-codes", "--user", "bo@example.com", "--code-stdin", stdin="x\n")
    assert refused.code == ExitCode.USAGE and "mfa enable" in refused.stderr


@pytest.mark.parametrize("args", [("account", "password"), ("account", "mfa", "enable"),
                                  ("account", "mfa", "disable"), ("account", "recovery-codes"),
                                  ("account", "sessions")], ids=" ".join)
def test_local_mode_needs_a_user(ac, args):
    out = ac(*args, stdin="ignored\n")
    assert out.code == ExitCode.USAGE
    assert out.stderr.startswith("invalid input: say whose account with --user EMAIL")


def test_password_change_sessions_and_revoke(ac, db, tmp_path):
    create_user(ac, "ana@example.com")
    first = login(db, "ana@example.com", PASSWORD)
    second = login(db, "ana@example.com", PASSWORD)

    sessions = ac("account", "sessions", "--user", "ana@example.com", "--json")
    assert sessions.code == 0 and sessions.stderr == ""
    rows = sessions.json()["sessions"]
    assert sorted(r["id"] for r in rows) == sorted([first.session_id, second.session_id])
    assert all(r["active"] and r["user_agent"] == "pytest" for r in rows)
    assert first.refresh_token not in sessions.stdout and first.access_token not in sessions.stdout
    table = ac("account", "sessions", "--user", "ana@example.com")
    assert "pytest" in table.stdout and "active" in table.stdout
    assert ac("account", "sessions", "--user", "ana@example.com", "--csv").stdout.startswith("id,created_utc,")

    revoked = ac("account", "revoke-session", str(first.session_id))
    assert revoked.code == 0 and f"session {first.session_id} revoked" in revoked.stderr
    by_id = {r["id"]: r for r in ac("account", "sessions", "--user", "ana@example.com", "--json").json()["sessions"]}
    assert by_id[first.session_id]["active"] is False and by_id[first.session_id]["revoked_utc"]
    assert by_id[second.session_id]["active"] is True
    assert ac("account", "revoke-session", "999").code == ExitCode.NOT_FOUND

    weak = ac("account", "password", "--user", "ana@example.com", "--password-stdin", stdin="short\n")
    assert weak.code == ExitCode.USAGE and "at least 8 characters" in weak.stderr
    unknown = ac("account", "password", "--user", "nobody@example.com", "--password-stdin", stdin=NEW_PASSWORD)
    assert unknown.code == ExitCode.NOT_FOUND

    secret_file = tmp_path / "new.pw"
    secret_file.write_text(NEW_PASSWORD + "\n")
    secret_file.chmod(0o600)
    changed = ac("account", "password", "--user", "ana@example.com", "--password-file", str(secret_file))
    assert changed.code == 0, changed.stderr
    assert "password changed for ana@example.com" in changed.stderr
    after = ac("account", "sessions", "--user", "ana@example.com", "--json").json()["sessions"]
    assert not any(r["active"] for r in after)  # every session ended

    from agentcost_cli.errors import AuthError

    with pytest.raises(AuthError):
        login(db, "ana@example.com", PASSWORD)
    assert login(db, "ana@example.com", NEW_PASSWORD).session_id
    assert NEW_PASSWORD not in stored_text(db)
    assert "password_changed" in [m["template"] for m in ac("outbox", "list", "--json").json()["messages"]]


def _token_from_outbox(ac, template: str) -> tuple[str, str]:
    messages = ac("outbox", "list", "--json").json()["messages"]
    message = next(m for m in messages if m["template"] == template)
    body = ac("outbox", "show", str(message["id"]), "--json").json()["body"]
    match = re.search(rf"{re.escape(PUBLIC_URL)}/[a-z-]+\?token=([\w-]+)", body)
    assert match, body
    return match.group(1), body


def test_invited_user_chooses_a_password_with_the_emailed_token(ac, db):
    ac("users", "create", "bo@example.com", "--invite")
    token, body = _token_from_outbox(ac, "account_invite")
    assert f"{PUBLIC_URL}/reset-password?token={token}" in body

    weak = ac("account", "reset-password", "--token-stdin", "--password-stdin", stdin=f"{token}\npassword\n")
    assert weak.code == ExitCode.USAGE  # the policy is checked before the token is used up
    out = ac("account", "reset-password", "--token-stdin", "--password-stdin", stdin=f"{token}\n{PASSWORD}\n")
    assert out.code == 0, out.stderr
    assert "password set" in out.stderr and out.stdout == ""
    assert login(db, "bo@example.com", PASSWORD).session_id

    reused = ac("account", "reset-password", "--token-stdin", "--password-stdin", stdin=f"{token}\n{PASSWORD}\n")
    assert reused.code == ExitCode.UNAUTHENTICATED
    assert "invalid, used or expired" in reused.stderr and "hint: ask for a new one" in reused.stderr
    no_token = ac("account", "reset-password", "--password-stdin", stdin=f"{PASSWORD}\n")
    assert no_token.code == ExitCode.USAGE and "--token-stdin" in no_token.stderr


def test_reset_password_prompts_for_token_and_password_on_a_terminal(ac, db, hidden_prompts_read_stdin):
    ac("users", "create", "bo@example.com", "--invite")
    token, _ = _token_from_outbox(ac, "account_invite")
    out = ac("account", "reset-password", tty_input=f"{token}\n{PASSWORD}\n{PASSWORD}\n")
    assert out.code == 0, out.stderr
    assert "Token" in out.stderr and "New password" in out.stderr
    assert token not in out.stderr and PASSWORD not in out.stderr  # hidden input is not echoed
    assert login(db, "bo@example.com", PASSWORD).session_id


def test_verify_email_with_the_emailed_token(ac):
    create_user(ac, "ana@example.com")
    assert ac("users", "show", "ana@example.com", "--json").json()["email_verified_utc"] is None
    token, body = _token_from_outbox(ac, "verify_email")
    assert f"{PUBLIC_URL}/verify-email?token=" in body
    out = ac("account", "verify-email", "--token-stdin", stdin=token + "\n")
    assert out.code == 0, out.stderr
    assert "verified ana@example.com" in out.stderr
    assert ac("users", "show", "ana@example.com", "--json").json()["email_verified_utc"]
    again = ac("account", "verify-email", "--token-stdin", stdin=token + "\n")
    assert again.code == ExitCode.UNAUTHENTICATED
    not_tty = ac("account", "verify-email")
    assert not_tty.code == ExitCode.USAGE and "--token-stdin" in not_tty.stderr
    actions = [r["action"] for r in ac("audit", "list", "--json").json()["records"]]
    assert actions[0] == "user.verify_email"
