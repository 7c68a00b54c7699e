"""`agentcost login / whoami / logout` through the real entry point, against a real local HTTP
server speaking the daemon's auth contract (tests/client/contract_server.py).

To run these scenarios against the real daemon, change the `auth_server` fixture in
tests/client/fixtures.py: the tests only use its URL and the `AuthServerUnderTest` hooks.
"""

# Fixtures come from tests/client/fixtures.py by name; parameters naming them are not redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import keyring
import pytest

from agentcost_cli.auth import credentials as cr
from agentcost_cli.errors import ExitCode

from ..client.contract_server import ContractAuthServer, running_contract_server
from ..client.fixtures import (  # noqa: F401  (fixtures by name)
    TEST_PASSWORD,
    auth_server,
    memory_keyring,
    no_os_keyring,
    seed_users,
)
from ..client.keyrings import JsonFileKeyring
from .conftest import Outcome
from .test_startup import imported_modules

REPO = Path(__file__).resolve().parents[2]
ANA = "ana@example.com"


@pytest.fixture
def hidden_prompts_read_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hidden prompts read sys.stdin (getpass would go to /dev/tty)."""
    import click.termui

    def ask(prompt: str) -> str:
        sys.stderr.write(prompt)
        return sys.stdin.readline().rstrip("\n")

    monkeypatch.setattr(click.termui, "hidden_prompt_func", ask)


@pytest.fixture
def outcomes() -> list[Outcome]:
    """Every outcome a test produced, for the no-secrets-in-output check."""
    return []


@pytest.fixture
def ac(run_cli: Callable[..., Outcome], outcomes: list[Outcome]) -> Callable[..., Outcome]:
    def _ac(*args: str, stdin: str = "", tty_input: str | None = None) -> Outcome:
        out = run_cli(*args, stdin=stdin.encode(), tty_input=tty_input)
        outcomes.append(out)
        return out

    return _ac


def login(ac: Callable[..., Outcome], server: ContractAuthServer, *extra: str, email: str = ANA,
          password: str = TEST_PASSWORD) -> Outcome:
    return ac("login", "--server", server.url, "--email", email, "--password-stdin", *extra, stdin=password + "\n")


def stored_token(server: ContractAuthServer, profile: str = "default") -> str | None:
    return cr.CredentialStore().get(profile, server.url)


def assert_no_secrets(server: ContractAuthServer, outcomes: list[Outcome]) -> None:
    secrets_ = server.issued_secrets() | {TEST_PASSWORD}
    assert secrets_
    for out in outcomes:
        for secret in secrets_:
            assert secret not in out.stdout and secret not in out.stderr


# -- the round trip ----------------------------------------------------------------------------
def test_login_whoami_logout_round_trip_with_a_keyring(ac, auth_server, memory_keyring, outcomes):
    out = login(ac, auth_server)
    assert out.code == 0, out.stderr
    assert out.stdout == ""
    assert f"logged in to {auth_server.url} as {ANA} (profile default)" in out.stderr
    assert "warning" not in out.stderr  # loopback http, a keyring: nothing to warn about
    assert memory_keyring.items == {("agentcost", f"default@{auth_server.url}"): stored_token(auth_server)}
    assert not cr.credentials_file().exists()
    assert cr.get_profile() == cr.Profile("default", auth_server.url, ANA)

    who = ac("whoami")
    assert who.code == 0, who.stderr
    lines = dict(line.split(None, 1) for line in who.stdout.splitlines())
    assert lines["server"] == auth_server.url and lines["profile"] == "default" and lines["user"] == ANA
    assert lines["name"] == "Ana Example" and lines["admin"] == "yes" and lines["2fa"] == "off"
    assert lines["credentials"].startswith("keyring (")

    doc = ac("whoami", "--json").json()
    assert doc["server"] == auth_server.url and doc["profile"] == "default"
    assert doc["user"]["email"] == ANA and doc["user"]["is_admin"] is True

    token = stored_token(auth_server)
    bye = ac("logout")
    assert bye.code == 0 and f"logged out of {auth_server.url} (profile default)" in bye.stderr
    assert memory_keyring.items == {} and not auth_server.session_alive(token)
    assert cr.get_profile() is not None  # the server and email stay for the next login

    after = ac("whoami")
    assert after.code == ExitCode.UNAUTHENTICATED
    assert "not logged in" in after.stderr and "hint: run `agentcost login`" in after.stderr
    again = ac("logout")
    assert again.code == 0 and "nothing to do" in again.stderr
    assert_no_secrets(auth_server, outcomes)


def test_whoami_when_never_logged_in_exits_8_with_a_hint(ac):
    out = ac("whoami")
    assert out.code == ExitCode.UNAUTHENTICATED
    assert f"not logged in to {cr.DEFAULT_SERVER} (profile default)" in out.stderr
    assert "run `agentcost login`" in out.stderr


# -- MFA ---------------------------------------------------------------------------------------------
def test_mfa_code_from_stdin_after_mfa_required(ac, auth_server, outcomes):
    code = auth_server.mfa_code("mfa@example.com")
    out = ac("login", "--server", auth_server.url, "--email", "mfa@example.com", "--password-stdin", "--code-stdin",
             stdin=f"{TEST_PASSWORD}\n{code}\n")
    assert out.code == 0, out.stderr
    assert "as mfa@example.com (profile default)" in out.stderr
    assert auth_server.count("mfa_required") == 1 and auth_server.count("login_ok") == 1
    assert ac("whoami", "--json").json()["user"]["mfa"] is True
    assert_no_secrets(auth_server, outcomes)
    assert code not in "".join(o.stderr + o.stdout for o in outcomes)


def test_mfa_without_a_code_source_is_a_usage_error(ac, auth_server):
    out = ac("login", "--server", auth_server.url, "--email", "mfa@example.com", "--password-stdin",
             stdin=f"{TEST_PASSWORD}\n")
    assert out.code == ExitCode.USAGE
    assert "mfa@example.com has two-factor authentication" in out.stderr and "--code-stdin" in out.stderr
    assert stored_token(auth_server) is None


def test_prompts_on_a_terminal_email_password_then_code(ac, auth_server, hidden_prompts_read_stdin):
    code = auth_server.mfa_code("mfa@example.com")
    out = ac("login", "--server", auth_server.url,
             tty_input=f"mfa@example.com\n{TEST_PASSWORD}\n000000\n{code}\n" if code != "000000" else
             f"mfa@example.com\n{TEST_PASSWORD}\n111111\n{code}\n")
    assert out.code == 0, out.stderr
    assert "Email" in out.stderr and "Password" in out.stderr and "Code" in out.stderr
    assert "authenticator" in out.stderr  # why a code is asked for
    assert "wrong or already used code" in out.stderr  # the first code was wrong; asked again
    assert cr.get_profile() == cr.Profile("default", auth_server.url, "mfa@example.com")


# -- failures ----------------------------------------------------------------------------------------
def test_wrong_password_exits_8_and_keeps_nothing(ac, auth_server, outcomes):
    out = login(ac, auth_server, password="not the password")
    assert out.code == ExitCode.UNAUTHENTICATED
    assert "wrong email or password" in out.stderr
    assert stored_token(auth_server) is None and cr.get_profile() is None
    assert_no_secrets(auth_server, outcomes)
    assert "not the password" not in out.stderr


def test_rate_limited_login_exits_9_with_the_retry_hint(ac, auth_server):
    auth_server.rate_limit_logins(30)
    out = login(ac, auth_server)
    assert out.code == ExitCode.THROTTLED
    assert f"too many attempts: {auth_server.url} says: " in out.stderr  # the title, then the server's detail
    assert "hint: try again in 30 s" in out.stderr or "hint: try again in 29 s" in out.stderr
    assert stored_token(auth_server) is None


def test_unreachable_server_exits_4_naming_it(ac):
    from ..client.contract_server import free_port_url

    url = free_port_url()
    out = ac("login", "--server", url, "--email", ANA, "--password-stdin", stdin="pw\n")
    assert out.code == ExitCode.UNAVAILABLE
    assert f"cannot reach the agentcost server at {url}" in out.stderr


def test_no_password_source_off_a_terminal(ac, auth_server):
    out = ac("login", "--server", auth_server.url, "--email", ANA)
    assert out.code == ExitCode.USAGE and "--password-stdin" in out.stderr
    assert auth_server.count("login") == 0


def test_no_email_off_a_terminal(ac, auth_server):
    out = ac("login", "--server", auth_server.url, "--password-stdin", stdin="pw\n")
    assert out.code == ExitCode.USAGE and "--email" in out.stderr


def test_password_is_never_a_flag_value(ac, auth_server):
    out = ac("login", "--server", auth_server.url, "--email", ANA, "--password", TEST_PASSWORD)
    assert out.code == ExitCode.USAGE


def test_plain_http_to_another_host_warns(ac):
    # No password on stdin: the command stops right after the warning, before any connection.
    out = ac("login", "--server", "http://192.0.2.1:9", "--email", ANA, "--password-stdin", stdin="")
    assert out.code == ExitCode.USAGE
    assert "warning: http://192.0.2.1:9 is plain http" in out.stderr


# -- rotation -----------------------------------------------------------------------------------------
def test_each_whoami_rotates_and_persists_the_refresh_token(ac, auth_server, memory_keyring, outcomes):
    assert login(ac, auth_server).code == 0
    tokens = [stored_token(auth_server)]
    for args in (["whoami"], ["--debug", "whoami", "--json"]):
        assert ac(*args).code == 0
        tokens.append(stored_token(auth_server))
    assert len(set(tokens)) == 3  # changed twice
    assert tokens[-1] == auth_server.last_refresh_token()
    assert auth_server.count("refresh_ok") == 2 and auth_server.reuse_detections() == 0
    assert_no_secrets(auth_server, outcomes)


def test_a_session_ended_elsewhere_exits_8(ac, auth_server):
    assert login(ac, auth_server).code == 0
    auth_server.revoke_all_sessions()
    out = ac("whoami")
    assert out.code == ExitCode.UNAUTHENTICATED
    assert "has ended" in out.stderr and "agentcost login" in out.stderr
    assert stored_token(auth_server) is None


def _subprocess_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTCOST_", "_AGENTCOST", "PYTHON_KEYRING"))}
    env.update({"AGENTCOST_HOME": str(home), "NO_COLOR": "1", "PYTHONPATH": str(REPO), **extra})
    return env


@pytest.mark.subprocess
@pytest.mark.parametrize("backend", ["file", "keyring"])
def test_concurrent_processes_never_trigger_reuse_detection(ac, backend, agentcost_home, tmp_path, monkeypatch):
    """Real `python -m agentcost_cli whoami` processes on one profile at once: the refresh lock
    makes them take turns, so none presents a token another has already rotated."""
    processes = 4
    extra: dict[str, str] = {}
    if backend == "keyring":
        monkeypatch.setenv("TEST_KEYRING_FILE", str(tmp_path / "keyring.json"))
        keyring.set_keyring(JsonFileKeyring())
        extra = {"PYTHON_KEYRING_BACKEND": "tests.client.keyrings.JsonFileKeyring",
                 "TEST_KEYRING_FILE": str(tmp_path / "keyring.json")}
    else:
        extra = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    with running_contract_server(refresh_delay=0.3) as server:
        seed_users(server)
        assert login(ac, server).code == 0
        assert cr.credentials_file().exists() == (backend == "file")
        env = _subprocess_env(agentcost_home, **extra)
        running = [subprocess.Popen([sys.executable, "-m", "agentcost_cli", "whoami", "--json"], env=env,
                                    cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                   for _ in range(processes)]
        results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in running]  # type: ignore[union-attr]
        for p in running:
            p.stdout.close()  # type: ignore[union-attr]
            p.stderr.close()  # type: ignore[union-attr]
        for code, out, err in results:
            assert code == 0, err.decode()
            doc = json.loads(out)
            assert doc["user"]["email"] == ANA
            assert doc["credentials"].startswith("file (" if backend == "file" else "keyring (")
            for secret in server.issued_secrets():
                assert secret.encode() not in out + err
        assert server.reuse_detections() == 0
        assert server.count("refresh_ok") == processes
        assert stored_token(server) == server.last_refresh_token()


# -- where the token is kept ----------------------------------------------------------------------------
def test_file_fallback_creates_a_0600_file_and_warns(ac, auth_server, outcomes):
    out = login(ac, auth_server)  # the autouse fixture leaves only keyring's fail backend
    assert out.code == 0, out.stderr
    path = cr.credentials_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert f"warning: no OS keyring is available, so the login is kept in {path}" in out.stderr
    assert out.stderr.count("warning:") == 1
    data = json.loads(path.read_text())
    assert data["tokens"] == {f"default@{auth_server.url}": auth_server.last_refresh_token()}
    who = ac("whoami")
    assert who.code == 0 and "warning" not in who.stderr  # told once, at login
    assert_no_secrets(auth_server, outcomes)


def test_a_group_readable_credentials_file_is_refused(ac, auth_server):
    assert login(ac, auth_server).code == 0
    path = cr.credentials_file()
    path.chmod(0o640)
    out = ac("whoami")
    assert out.code == ExitCode.USAGE
    assert "other users may access it" in out.stderr and f"chmod 600 {path}" in out.stderr
    assert auth_server.count("refresh") == 0  # refused before anything was sent
    path.chmod(0o600)
    assert ac("whoami").code == 0


# -- profiles and the environment ---------------------------------------------------------------------
def test_two_profiles_on_two_servers(ac, auth_server, memory_keyring):
    with running_contract_server() as other:
        other.add_user("bo@example.com", TEST_PASSWORD, display_name="Bo")
        assert login(ac, auth_server).code == 0
        out = login(ac, other, "--profile", "work", email="bo@example.com")
        assert out.code == 0 and "(profile work)" in out.stderr
        assert ac("whoami", "--json").json()["user"]["email"] == ANA  # the first profile is the default
        work = ac("whoami", "--profile", "work", "--json").json()
        assert (work["server"], work["user"]["email"]) == (other.url, "bo@example.com")
        # Logging in again to a profile reuses its server and email.
        again = ac("login", "--profile", "work", "--password-stdin", stdin=TEST_PASSWORD + "\n")
        assert again.code == 0 and f"logged in to {other.url} as bo@example.com (profile work)" in again.stderr
        assert ac("logout", "--profile", "work", "--forget").code == 0
        assert [p.name for p in cr.list_profiles()] == ["default"]


def test_a_hand_written_server_url_is_the_same_server(ac, auth_server, memory_keyring):
    """profiles.toml edited by hand (trailing slash, capitals): logging in again must not treat it as a
    move to another server and revoke the login it just made."""
    host = auth_server.url.replace("http://127.0.0.1", "HTTP://127.0.0.1")
    cr.profiles_file().parent.mkdir(parents=True)
    cr.profiles_file().write_text(f'default = "default"\n[profiles.default]\nserver = "{host}/"\nemail = "{ANA}"\n')
    out = ac("login", "--password-stdin", stdin=TEST_PASSWORD + "\n")
    assert out.code == 0, out.stderr
    assert auth_server.session_alive(stored_token(auth_server))
    assert ac("whoami").code == 0


def test_moving_a_profile_to_another_server_ends_the_old_session(ac, auth_server, memory_keyring):
    assert login(ac, auth_server).code == 0
    old = stored_token(auth_server)
    with running_contract_server() as other:
        seed_users(other)
        assert login(ac, other).code == 0
        assert not auth_server.session_alive(old)
        assert stored_token(auth_server) is None
        assert cr.get_profile().server == other.url


def test_agentcost_token_and_server_from_the_environment(ac, auth_server, monkeypatch, outcomes):
    assert login(ac, auth_server).code == 0
    token = stored_token(auth_server)
    cr.CredentialStore().delete("default", auth_server.url)
    cr.remove_profile("default")
    monkeypatch.setenv("AGENTCOST_TOKEN", token)
    monkeypatch.setenv("AGENTCOST_SERVER", auth_server.url)
    for _ in range(2):
        out = ac("whoami", "--json")
        assert out.code == 0, out.stderr
        assert out.json()["credentials"] == "AGENTCOST_TOKEN" and out.json()["user"]["email"] == ANA
    assert auth_server.reuse_detections() == 0
    refused = login(ac, auth_server)
    assert refused.code == ExitCode.USAGE and "unset AGENTCOST_TOKEN" in refused.stderr
    assert_no_secrets(auth_server, outcomes)


def test_logout_when_the_server_is_gone_still_forgets_the_token(ac, auth_server):
    assert login(ac, auth_server).code == 0
    auth_server.stop()
    out = ac("logout")
    assert out.code == 0
    assert "warning: logged out here, but" in out.stderr and "cannot reach" in out.stderr
    assert stored_token(auth_server) is None


# -- startup budget --------------------------------------------------------------------------------------
@pytest.mark.subprocess
@pytest.mark.parametrize("args", [["--version"], ["--help"], ["login", "--help"], ["whoami", "--help"]], ids=" ".join)
def test_startup_imports_neither_httpx_nor_keyring(tmp_path, args):
    loaded = {m.split(".", 1)[0] for m in imported_modules(*args, home=str(tmp_path))}
    assert not loaded & {"httpx", "keyring", "httpcore"}, sorted(loaded & {"httpx", "keyring", "httpcore"})
