"""`agentcost login --sso` end to end: the real entry point, a real `agentcost daemon` configured
with single sign-on, and the local fake OpenID Connect provider (tests/server/fake_idp.py), which
approves each device code after a few polls. Then `whoami` and `logout` on the stored login."""

# Fixtures come from tests/client/fixtures.py by name; parameters naming them are not redefinitions.
# ruff: noqa: F811

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agentcost_cli.auth import credentials as cr
from agentcost_cli.commands import login as login_cmd
from agentcost_cli.errors import ExitCode

from ..client.fixtures import memory_keyring, no_os_keyring  # noqa: F401  (fixtures by name)
from ..server.conftest import Daemon, seed_team, start_daemon
from ..server.fake_idp import CLIENT_ID, CLIENT_SECRET, FakeIdp, running_idp
from .conftest import Outcome

pytestmark = pytest.mark.subprocess


@pytest.fixture
def idp() -> Iterator[FakeIdp]:
    with running_idp(pending_polls=3, slow_down_polls={2}) as provider:
        yield provider


@pytest.fixture
def daemon(tmp_path: Path, idp: FakeIdp) -> Iterator[Daemon]:
    db = tmp_path / "daemon.db"
    seed_team(db)
    secret = tmp_path / "client-secret"
    secret.write_text(CLIENT_SECRET + "\n")
    secret.chmod(0o600)
    running = start_daemon(tmp_path, db, env={"AGENTCOST_SSO_ISSUER": idp.issuer,
                                              "AGENTCOST_SSO_CLIENT_ID": CLIENT_ID,
                                              "AGENTCOST_SSO_CLIENT_SECRET_FILE": str(secret)})
    yield running
    running.stop()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The poll loop's waits, recorded instead of slept."""
    waited: list[float] = []
    monkeypatch.setattr(login_cmd, "_sleep", waited.append)
    return waited


@pytest.fixture
def ac(run_cli: Callable[..., Outcome]) -> Callable[..., Outcome]:
    def _ac(*args: str, stdin: str = "", tty_input: str | None = None) -> Outcome:
        return run_cli(*args, stdin=stdin.encode(), tty_input=tty_input)

    return _ac


def test_login_sso_then_whoami_and_logout(ac, daemon, idp, sleeps, memory_keyring, monkeypatch):
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    out = ac("login", "--sso", "--server", daemon.url)
    assert out.code == 0, out.stderr
    assert out.stdout == ""
    device = next(r for r in idp.requests if r["path"] == "/device")
    user_code = next(iter(idp.devices.values())).user_code
    assert f"open {idp.url}/activate and enter the code {user_code}" in out.stderr
    assert f"{idp.url}/activate?user_code={user_code}" in out.stderr
    assert f"logged in to {daemon.url} as owner@example.com (profile default) through single sign-on" in out.stderr
    assert opened == []  # not a terminal: no browser
    # every `interval` (1 s), and 5 s more after the provider's slow_down (RFC 8628 3.5)
    assert sleeps == [1, 1, 6, 6]
    assert device["headers"]["authorization"].startswith("Basic ")  # the daemon, not the CLI, is the client

    token = cr.CredentialStore().get("default", daemon.url)
    assert token and memory_keyring.items == {("agentcost", f"default@{daemon.url}"): token}
    assert token not in out.stderr and CLIENT_SECRET not in out.stderr
    assert cr.get_profile() == cr.Profile("default", daemon.url, "owner@example.com")

    who = ac("whoami", "--json")
    assert who.code == 0, who.stderr
    doc = who.json()
    assert doc["server"] == daemon.url and doc["user"]["email"] == "owner@example.com"
    assert doc["user"]["projects"] == {"web": "owner"} and doc["user"]["mfa"] is False

    bye = ac("logout")
    assert bye.code == 0 and "logged out" in bye.stderr
    assert ac("whoami").code == ExitCode.UNAUTHENTICATED


def test_login_sso_with_two_factor_reads_the_code(ac, daemon, idp, sleeps, tmp_path):
    import pyotp

    from agentcost_cli.services import clock, mfa
    from agentcost_cli.services.actor import LOCAL
    from agentcost_cli.store import open_store

    store = open_store(daemon.db)
    enrolment = mfa.begin_enrolment(store, LOCAL, "owner@example.com")
    recovery = mfa.confirm_enrolment(store, LOCAL, pyotp.TOTP(enrolment.secret).at(clock.now()), "owner@example.com")
    store.close()

    idp.slow_down_polls = set()
    refused = ac("login", "--sso", "--server", daemon.url)
    assert refused.code == ExitCode.USAGE and "--code-stdin" in refused.stderr
    assert cr.CredentialStore().get("default", daemon.url) is None

    wrong = ac("login", "--sso", "--server", daemon.url, "--code-stdin", stdin="000000\n")
    assert wrong.code == ExitCode.UNAUTHENTICATED and "wrong or already used code" in wrong.stderr

    out = ac("login", "--sso", "--server", daemon.url, "--code-stdin", stdin=recovery[0] + "\n")
    assert out.code == 0, out.stderr
    assert recovery[0] not in out.stderr
    assert ac("whoami", "--json").json()["user"]["mfa"] is True


def test_login_sso_on_a_terminal_opens_the_browser_and_asks_for_the_code(ac, daemon, idp, sleeps, monkeypatch):
    import pyotp

    from agentcost_cli.services import clock, mfa
    from agentcost_cli.services.actor import LOCAL
    from agentcost_cli.store import open_store

    store = open_store(daemon.db)
    enrolment = mfa.begin_enrolment(store, LOCAL, "owner@example.com")
    recovery = mfa.confirm_enrolment(store, LOCAL, pyotp.TOTP(enrolment.secret).at(clock.now()), "owner@example.com")
    store.close()
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    out = ac("login", "--sso", "--server", daemon.url, tty_input=f"111111\n{recovery[1]}\n")
    assert out.code == 0, out.stderr
    assert opened == [f"{idp.url}/activate?user_code={next(iter(idp.devices.values())).user_code}"]
    assert "authenticator" in out.stderr and "wrong or already used code" in out.stderr  # asked again

    again = ac("login", "--sso", "--no-browser", "--server", daemon.url, tty_input=f"{recovery[2]}\n")
    assert again.code == 0, again.stderr
    assert len(opened) == 1


def test_login_sso_refused_when_no_account_uses_the_address(ac, daemon, idp, sleeps):
    idp.claims = {"sub": "x", "email": "stranger@example.com", "email_verified": True}
    out = ac("login", "--sso", "--server", daemon.url)
    assert out.code == ExitCode.UNAUTHENTICATED
    assert "no agentcost account uses stranger@example.com" in out.stderr
    assert cr.CredentialStore().get("default", daemon.url) is None and cr.get_profile() is None


def test_login_sso_declined_or_expired_at_the_provider(ac, daemon, idp, sleeps):
    idp.outcome = "deny"
    out = ac("login", "--sso", "--server", daemon.url)
    assert out.code == ExitCode.UNAUTHENTICATED and "declined" in out.stderr
    idp.outcome = "expire"
    out = ac("login", "--sso", "--server", daemon.url)
    assert out.code == ExitCode.UNAUTHENTICATED and "expired" in out.stderr and "agentcost login --sso" in out.stderr


def test_login_sso_takes_no_email_or_password(ac):
    out = ac("login", "--sso", "--email", "a@example.com")
    assert out.code == ExitCode.USAGE and "--sso" in out.stderr
    out = ac("login", "--no-browser", "--email", "a@example.com", "--password-stdin", stdin="pw\n")
    assert out.code == ExitCode.USAGE and "--no-browser goes with --sso" in out.stderr


def test_login_sso_through_github_links_the_identity(ac, tmp_path, sleeps, memory_keyring):
    """A real daemon configured for GitHub (sso.api_url derived: <issuer>/api/v3, as for GitHub
    Enterprise Server), the local fake GitHub, and the CLI unchanged."""
    from agentcost_cli.services import sso
    from agentcost_cli.services.actor import LOCAL
    from agentcost_cli.store import open_store

    from ..server.fake_github import GITHUB_CLIENT_ID, GITHUB_SECRET, running_github

    db = tmp_path / "github.db"
    seed_team(db)
    secret = tmp_path / "github-secret"
    secret.write_text(GITHUB_SECRET + "\n")
    with running_github(pending_polls=1) as gh:
        running = start_daemon(tmp_path, db, env={"AGENTCOST_SSO_PROVIDER": "github", "AGENTCOST_SSO_ISSUER": gh.url,
                                                  "AGENTCOST_SSO_CLIENT_ID": GITHUB_CLIENT_ID,
                                                  "AGENTCOST_SSO_CLIENT_SECRET_FILE": str(secret)})
        try:
            out = ac("login", "--sso", "--server", running.url)
            assert out.code == 0, out.stderr
            user_code = next(iter(gh.devices.values())).user_code
            assert f"open {gh.url}/login/device and enter the code {user_code}" in out.stderr
            assert "logged in to" in out.stderr and "as owner@example.com" in out.stderr
            assert ac("whoami", "--json").json()["user"]["email"] == "owner@example.com"
            assert set(gh.tokens.values()) == {"revoked"}

            # Someone else at GitHub with the owner's address: refused, with what to do.
            gh.user = {"id": 424242, "login": "newcomer"}
            refused = ac("login", "--sso", "--server", running.url)
            assert refused.code == ExitCode.USAGE  # a conflict (409)
            assert "owner@example.com is linked to another identity" in refused.stderr
            assert "/v1/users/owner@example.com/identities" in refused.stderr
        finally:
            running.stop()
    log = running.log.read_text()
    assert GITHUB_SECRET not in log and "gho_" not in log
    store = open_store(db)
    try:
        linked = sso.list_identities(store, LOCAL, "owner@example.com")
    finally:
        store.close()
    assert [(i["issuer"], i["subject"]) for i in linked] == [(gh.url, "583231")]
