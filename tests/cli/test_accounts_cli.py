"""The account commands in-process against a real temporary store: users, projects, keys,
audit and outbox, plus the rules every account command keeps (no secret as an argument,
no auth library loaded by --help, errors mapped to their exit codes).

`account ...` (passwords, MFA, sessions, email links) is in test_accounts_security_cli.py.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer

from agentcost_cli.cli import app
from agentcost_cli.errors import ExitCode

from .conftest import Outcome

PUBLIC_URL = "https://cost.example.test"
PASSWORD = "correct horse battery staple"
KEY_RE = re.compile(r"^ac_live_[0-9A-Za-z]{30}_[0-9A-Za-z]{6}$")
ACCOUNT_GROUPS = ("users", "projects", "keys", "account", "audit", "outbox")


# -- helpers shared with test_accounts_security_cli.py ---------------------------------------------

@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
def ac(run_cli: Callable[..., Outcome], db: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Outcome]:
    """`agentcost --db <tmp store> ARGS`, through the real error boundary."""
    monkeypatch.setenv("AGENTCOST_PUBLIC_URL", PUBLIC_URL)

    def _ac(*args: str, stdin: str = "", tty_input: str | None = None) -> Outcome:
        return run_cli("--db", str(db), *args, stdin=stdin.encode(), tty_input=tty_input)

    return _ac


class LazyStdin(io.TextIOBase):
    """A stdin whose next line is computed when the command reads it, from what the command has
    written to stderr so far (e.g. a TOTP code for the secret it just printed)."""

    def __init__(self, answer: Callable[[str], str], tty: bool) -> None:
        self._answer = answer
        self._tty = tty

    def readable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self._tty

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        return self._answer(sys.stderr.getvalue()) + "\n"  # type: ignore[attr-defined]  # capsys's CaptureIO


@pytest.fixture
def ac_lazy(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, db: Path) -> Callable[..., Outcome]:
    from agentcost_cli.cli import run

    monkeypatch.setenv("AGENTCOST_PUBLIC_URL", PUBLIC_URL)

    def _run(*args: str, answer: Callable[[str], str], tty: bool = False) -> Outcome:
        monkeypatch.setattr(sys, "stdin", LazyStdin(answer, tty))
        previous = signal.getsignal(signal.SIGPIPE) if hasattr(signal, "SIGPIPE") else None
        capsys.readouterr()
        try:
            code = run(["--db", str(db), *args])
        finally:
            if previous is not None:
                signal.signal(signal.SIGPIPE, previous)
        out, err = capsys.readouterr()
        return Outcome(code, out, err)

    return _run


@pytest.fixture
def hidden_prompts_read_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hidden prompts read sys.stdin (getpass would go to /dev/tty), as CliRunner arranges."""
    import click.termui

    def ask(prompt: str) -> str:
        sys.stderr.write(prompt)  # getpass writes it to the terminal
        return sys.stdin.readline().rstrip("\n")

    monkeypatch.setattr(click.termui, "hidden_prompt_func", ask)


def create_user(ac: Callable[..., Outcome], email: str, *extra: str, password: str = PASSWORD) -> Outcome:
    out = ac("users", "create", email, "--password-stdin", *extra, stdin=password + "\n")
    assert out.code == 0, out.stderr
    return out


def stored_text(db: Path) -> str:
    """Every value in every table, and the raw bytes of the database files (free pages and WAL too)."""
    con = sqlite3.connect(db)
    try:
        chunks = []
        for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            for row in con.execute(f'SELECT * FROM "{table}"'):
                chunks.extend(str(v) for v in row if v is not None)
    finally:
        con.close()
    for suffix in ("", "-wal"):
        path = Path(str(db) + suffix)
        if path.exists():
            chunks.append(path.read_bytes().decode("latin-1"))
    return "\n".join(chunks)


# -- the rules for every account command ----------------------------------------------------------

def _commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    import click

    assert isinstance(group, click.Group)
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name), command


SECRET_WORDS = re.compile(r"password|passwd|token|secret|code|credential|otp")


def test_no_secret_is_accepted_as_an_option_value():
    """Secrets come from prompts, stdin or files; an option that takes a value never carries one."""
    import click

    root = typer.main.get_command(app)
    assert isinstance(root, click.Group)
    checked = 0
    for group in ACCOUNT_GROUPS:
        for path, command in _commands(root.commands[group], (group,)):
            for param in command.params:
                names = " ".join([*param.opts, *param.secondary_opts, param.name or ""]).lower()
                if not SECRET_WORDS.search(names):
                    continue
                checked += 1
                takes_file = isinstance(param, click.Option) and all(o.endswith("-file") for o in param.opts)
                is_flag = isinstance(param, click.Option) and param.is_flag
                assert is_flag or takes_file, f"{' '.join(path)}: {param.opts or param.name} takes a value"
    assert checked >= 10  # the stdin/file options were found


def test_users_create_help_has_no_password_value_option(ac):
    out = ac("users", "create", "--help")
    assert out.code == 0
    assert "--password-stdin" in out.stdout and "--password-file" in out.stdout
    assert not re.search(r"--password\s+(TEXT|PASSWORD)", out.stdout)
    refused = ac("users", "create", "ana@example.com", "--password", PASSWORD)
    assert refused.code == ExitCode.USAGE
    assert "No such option" in refused.stderr and "--password" in refused.stderr


@pytest.mark.parametrize("command", [("account", "password"), ("account", "reset-password"),
                                     ("account", "verify-email"), ("account", "mfa", "disable")])
def test_secret_options_are_stdin_or_file(ac, command):
    out = ac(*command, "--help")
    assert out.code == 0
    for option in re.findall(r"--[a-z][a-z-]*", out.stdout):
        if SECRET_WORDS.search(option):
            assert option.endswith(("-stdin", "-file")), option


HEAVY_AUTH = ("argon2", "jwt", "pyotp", "segno", "cryptography", "jinja2")


@pytest.mark.subprocess
@pytest.mark.parametrize("args", [["--help"], ["users", "--help"], ["account", "mfa", "enable", "--help"],
                                  ["keys", "create", "--help"]], ids=" ".join)
def test_help_does_not_load_auth_libraries_or_services(tmp_path, args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCOST_")}
    env.update({"AGENTCOST_HOME": str(tmp_path), "NO_COLOR": "1"})
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "agentcost_cli", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "agentcost_cli.commands.account" in loaded  # parsed, and the modules are registered
    assert not {m.split(".")[0] for m in loaded} & set(HEAVY_AUTH)
    assert not {m for m in loaded if m.startswith(("agentcost_cli.services", "agentcost_cli.auth."))}


@pytest.mark.parametrize(("error", "code", "title"), [
    ("PermissionDenied", ExitCode.NOT_PERMITTED, "not permitted"),
    ("AuthError", ExitCode.UNAUTHENTICATED, "not authenticated"),
    ("Conflict", ExitCode.USAGE, "conflict"),
    ("Throttled", ExitCode.THROTTLED, "too many attempts"),
])
def test_account_errors_print_title_message_and_hint(ac, monkeypatch, error, code, title):
    import agentcost_cli.errors as errors
    import agentcost_cli.services.users as users_service

    cls = getattr(errors, error)

    def refuse(*args, **kwargs):
        if cls is errors.Throttled:
            raise cls("too many failed sign-ins for this account", retry_after=30)
        raise cls("the reason", hint="what to do")

    monkeypatch.setattr(users_service, "list_users", refuse)
    out = ac("users", "list")
    assert out.code == code
    assert out.stdout == ""
    lines = out.stderr.splitlines()
    assert lines[0].startswith(f"{title}: ")
    assert lines[1] == ("hint: try again in 30 s" if cls is errors.Throttled else "hint: what to do")
    assert "Traceback" not in out.stderr


# -- users ----------------------------------------------------------------------------------------

def test_users_create_list_show(ac, db):
    created = ac("users", "create", "Ana@Example.com", "--name", "Ana", "--password-stdin", "--json",
                 stdin=PASSWORD + "\n")
    assert created.code == 0, created.stderr
    user = created.json()
    assert (user["email"], user["display_name"], user["status"], user["has_password"]) == (
        "ana@example.com", "Ana", "active", True)
    assert "created user ana@example.com" in created.stderr
    assert "verification email" in created.stderr and "agentcost outbox list" in created.stderr
    create_user(ac, "admin@example.com", "--admin", "--verified")

    listed = ac("users", "list", "--json")
    assert listed.code == 0 and listed.stderr == ""
    rows = listed.json()["users"]
    assert [r["email"] for r in rows] == ["admin@example.com", "ana@example.com"]
    assert rows[0]["is_admin"] is True and rows[0]["email_verified_utc"]
    assert set(rows[0]) == set(user)  # stable keys: what the service returns
    assert not any("hash" in k or "sealed" in k for k in rows[0])

    shown = ac("users", "show", "ana@example.com", "--json").json()
    assert shown["projects"] == {} and shown["mfa"] is False and shown["recovery_codes_left"] is None

    table = ac("users", "list")
    assert "ana@example.com" in table.stdout and "2 user(s)" in table.stderr
    csv_out = ac("users", "list", "--csv")
    assert csv_out.stdout.splitlines()[0].startswith("id,email,display_name,status,is_admin")
    assert PASSWORD not in stored_text(db)


@pytest.mark.parametrize(("password", "message"), [
    ("short", "at least 8 characters"),
    ("password", "most common passwords"),
])
def test_weak_password_is_refused(ac, password, message):
    out = ac("users", "create", "ana@example.com", "--password-stdin", stdin=password + "\n")
    assert out.code == ExitCode.USAGE
    assert out.stderr.startswith("invalid input: password ") and message in out.stderr
    assert ac("users", "list", "--json").json()["users"] == []


def test_password_needs_a_source_when_not_a_terminal(ac):
    out = ac("users", "create", "ana@example.com")
    assert out.code == ExitCode.USAGE
    assert "no password given" in out.stderr and "--password-stdin" in out.stderr
    both = ac("users", "create", "ana@example.com", "--password-stdin", "--password-file", "x.pw", stdin="x\n")
    assert both.code == ExitCode.USAGE and "choose one of" in both.stderr
    empty = ac("users", "create", "ana@example.com", "--password-stdin")
    assert empty.code == ExitCode.USAGE and "no password on stdin" in empty.stderr


def test_password_from_a_file(ac, tmp_path):
    secret_file = tmp_path / "ana.pw"
    secret_file.write_text(PASSWORD + "\nignored second line\n")
    secret_file.chmod(0o600)
    out = ac("users", "create", "ana@example.com", "--password-file", str(secret_file))
    assert out.code == 0, out.stderr
    assert "warning" not in out.stderr
    secret_file.chmod(0o644)
    loose = ac("users", "create", "bo@example.com", "--password-file", str(secret_file))
    assert loose.code == 0 and "can be read by other users" in loose.stderr
    missing = ac("users", "create", "cy@example.com", "--password-file", str(tmp_path / "nope"))
    assert missing.code == ExitCode.USAGE and "cannot read the password file" in missing.stderr


def test_password_prompt_on_a_terminal_asks_twice_and_retries_weak_ones(ac, hidden_prompts_read_stdin):
    out = ac("users", "create", "ana@example.com", tty_input=f"password\npassword\n{PASSWORD}\n{PASSWORD}\n")
    assert out.code == 0, out.stderr
    assert "most common passwords" in out.stderr  # shown, then asked again
    assert "Repeat for confirmation" in out.stderr
    assert ac("users", "show", "ana@example.com", "--json").json()["has_password"] is True


def test_invite_creates_without_password_and_queues_an_email(ac):
    out = ac("users", "create", "bo@example.com", "--invite", "--name", "Bo")
    assert out.code == 0, out.stderr
    assert "invitation email" in out.stderr and "agentcost outbox list" in out.stderr
    assert out.stdout == ""
    assert ac("users", "show", "bo@example.com", "--json").json()["has_password"] is False
    refused = ac("users", "create", "cy@example.com", "--invite", "--password-stdin", stdin=PASSWORD + "\n")
    assert refused.code == ExitCode.USAGE and "--invite" in refused.stderr


def test_duplicate_and_malformed_emails(ac):
    create_user(ac, "ana@example.com")
    again = ac("users", "create", "ANA@example.com", "--password-stdin", stdin=PASSWORD + "\n")
    assert again.code == ExitCode.USAGE and again.stderr.startswith("conflict: ")
    bad = ac("users", "create", "not-an-email")  # refused before any password is asked for
    assert bad.code == ExitCode.USAGE and "is not an email address" in bad.stderr
    missing = ac("users", "show", "nobody@example.com")
    assert missing.code == ExitCode.NOT_FOUND and missing.stderr.startswith("not found: ")
    no_arg = ac("users", "show")
    assert no_arg.code == ExitCode.USAGE and "agentcost users show EMAIL" in no_arg.stderr


def test_disable_needs_yes_when_not_a_terminal(ac):
    create_user(ac, "bo@example.com")
    out = ac("users", "disable", "bo@example.com")
    assert out.code == ExitCode.USAGE
    assert "pass --yes to confirm" in out.stderr
    assert ac("users", "show", "bo@example.com", "--json").json()["status"] == "active"

    declined = ac("users", "disable", "bo@example.com", tty_input="n\n")
    assert declined.code == 1 and "nothing changed" in declined.stderr
    asked = ac("users", "disable", "bo@example.com", tty_input="y\n")
    assert asked.code == 0, asked.stderr
    assert ac("users", "show", "bo@example.com", "--json").json()["status"] == "disabled"

    enabled = ac("users", "enable", "bo@example.com", "--json")
    assert enabled.code == 0 and enabled.json()["status"] == "active"
    disabled = ac("users", "disable", "bo@example.com", "--yes", "--json")
    assert disabled.code == 0 and disabled.json()["status"] == "disabled"
    assert "disabled bo@example.com" in disabled.stderr


def test_delete_user(ac):
    create_user(ac, "bo@example.com")
    assert ac("users", "delete", "bo@example.com").code == ExitCode.USAGE
    out = ac("users", "delete", "bo@example.com", "--yes")
    assert out.code == 0 and "deleted bo@example.com" in out.stderr
    assert ac("users", "list", "--json").json()["users"] == []
    assert ac("users", "delete", "bo@example.com", "--yes").code == ExitCode.NOT_FOUND


# -- projects -------------------------------------------------------------------------------------

def test_project_sharing_flow(ac):
    create_user(ac, "ana@example.com")
    create_user(ac, "bo@example.com")
    created = ac("projects", "create", "web", "--name", "Web app", "--json")
    assert created.code == 0, created.stderr
    assert created.json()["slug"] == "web" and created.json()["name"] == "Web app"
    assert ac("projects", "create", "web").code == ExitCode.USAGE  # taken
    bad = ac("projects", "create", "Not A Slug")
    assert bad.code == ExitCode.USAGE and "not a valid project name" in bad.stderr

    shared = ac("projects", "share", "web", "ana@example.com", "--role", "owner", "--json")
    assert shared.code == 0, shared.stderr
    assert shared.json() == {"project": "web", "email": "ana@example.com", "role": "owner", "previous": None}
    member = ac("projects", "share", "web", "bo@example.com")
    assert member.code == 0 and "bo@example.com is now member of web" in member.stderr
    wrong_role = ac("projects", "share", "web", "bo@example.com", "--role", "boss")
    assert wrong_role.code == ExitCode.USAGE and "unknown role 'boss'" in wrong_role.stderr

    shown = ac("projects", "show", "web", "--json").json()
    assert [(m["email"], m["role"]) for m in shown["member_list"]] == [
        ("ana@example.com", "owner"), ("bo@example.com", "member")]
    table = ac("projects", "show", "web")
    assert "members (2):" in table.stdout and "ana@example.com" in table.stdout
    assert ac("users", "show", "ana@example.com", "--json").json()["projects"] == {"web": "owner"}

    # The last owner can neither leave nor be demoted.
    last = ac("projects", "unshare", "web", "ana@example.com", "--yes")
    assert last.code == ExitCode.USAGE
    assert last.stderr.startswith("conflict: ana@example.com is the last owner of web")
    assert "hint: transfer the project" in last.stderr
    demote = ac("projects", "share", "web", "ana@example.com", "--role", "admin")
    assert demote.code == ExitCode.USAGE and "last owner" in demote.stderr
    busy = ac("users", "delete", "ana@example.com", "--yes")
    assert busy.code == ExitCode.USAGE and "last owner of web" in busy.stderr

    assert ac("projects", "transfer", "web", "bo@example.com").code == ExitCode.USAGE  # needs --yes
    moved = ac("projects", "transfer", "web", "bo@example.com", "--yes", "--json")
    assert moved.code == 0, moved.stderr
    assert {m["email"]: m["role"] for m in moved.json()["member_list"]} == {
        "ana@example.com": "owner", "bo@example.com": "owner"}

    assert ac("projects", "unshare", "web", "ana@example.com").code == ExitCode.USAGE  # needs --yes
    left = ac("projects", "unshare", "web", "ana@example.com", "--yes")
    assert left.code == 0 and "removed ana@example.com from web" in left.stderr
    again = ac("projects", "unshare", "web", "ana@example.com", "--yes")
    assert again.code == ExitCode.NOT_FOUND and "not a member" in again.stderr

    renamed = ac("projects", "rename", "web", "--to", "website", "--name", "Website", "--json")
    assert renamed.code == 0, renamed.stderr
    assert (renamed.json()["slug"], renamed.json()["name"]) == ("website", "Website")
    assert ac("projects", "rename", "website").code == ExitCode.USAGE  # nothing to change
    listed = ac("projects", "list", "--json").json()["projects"]
    assert [(p["slug"], p["members"]) for p in listed] == [("website", 1)]
    assert ac("projects", "list", "--csv").stdout.splitlines()[0] == (
        "slug,name,role,members,events,created_utc,retention_days")

    refused = ac("projects", "delete", "website")
    assert refused.code == ExitCode.USAGE and "pass --yes to confirm" in refused.stderr
    deleted = ac("projects", "delete", "website", "--yes")
    assert deleted.code == 0 and "deleted project website and 0 event(s)" in deleted.stderr
    assert ac("projects", "show", "website").code == ExitCode.NOT_FOUND
    assert ac("projects", "delete", "website", "--yes").code == ExitCode.NOT_FOUND


def test_project_delete_counts_its_events(run_cli, demo_db):
    listed = run_cli("--db", str(demo_db), "projects", "list", "--json")
    assert listed.code == 0, listed.stderr
    project = max(listed.json()["projects"], key=lambda p: p["events"])
    assert project["events"] > 0
    asked = run_cli("--db", str(demo_db), "projects", "delete", project["slug"])
    assert asked.code == ExitCode.USAGE and f"{project['events']:,} event(s)" in asked.stderr
    out = run_cli("--db", str(demo_db), "projects", "delete", project["slug"], "--yes")
    assert out.code == 0, out.stderr
    assert f"deleted project {project['slug']} and {project['events']:,} event(s)" in out.stderr


# -- keys -----------------------------------------------------------------------------------------

def test_key_is_printed_once_and_never_stored(ac, db):
    ac("projects", "create", "web")
    out = ac("keys", "create", "--project", "web", "--name", "ci", "--scope", "ingest")
    assert out.code == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 1 and KEY_RE.match(lines[0]), out.stdout
    key = lines[0]
    assert out.stdout == key + "\n"  # KEY=$(agentcost keys create ...) gets exactly the key
    assert key not in out.stderr
    assert "shown only once" in out.stderr

    text = stored_text(db)
    assert key not in text and key.split("_")[2] not in text  # neither the key nor its random part

    listed = ac("keys", "list", "--json")
    assert key not in listed.stdout and key.split("_")[2] not in listed.stdout
    (row,) = listed.json()["keys"]
    assert (row["project"], row["name"], row["scopes"], row["state"]) == ("web", "ci", ["ingest"], "active")
    assert row["display"] == f"{key[:12]}…{key[-4:]}"
    table = ac("keys", "list")
    assert key not in table.stdout and row["display"] in table.stdout
    assert key not in ac("keys", "list", "--csv").stdout
    assert key not in ac("audit", "list", "--json").stdout

    from agentcost_cli.services.sessions import actor_from_api_key
    from agentcost_cli.store import open_store

    store = open_store(db)
    try:
        actor = actor_from_api_key(store, key)  # the printed key is the real one
        assert actor.scopes == frozenset({"ingest"})
    finally:
        store.close()


def test_key_create_json_scopes_and_expiry(ac):
    ac("projects", "create", "web")
    out = ac("keys", "create", "-p", "web", "--name", "reader", "--scope", "ingest,read", "--scope", "read",
             "--expires", "30d", "--env", "test", "--json")
    assert out.code == 0, out.stderr
    doc = out.json()
    assert re.match(r"^ac_test_[0-9A-Za-z]{30}_[0-9A-Za-z]{6}$", doc["key"])
    assert doc["scopes"] == ["ingest", "read"]
    expires = datetime.fromisoformat(doc["expires_utc"])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=5)
    assert "shown only once" in out.stderr

    dated = ac("keys", "create", "-p", "web", "--name", "dated", "--scope", "read", "--expires", "2099-01-31",
               "--json")
    assert dated.code == 0 and dated.json()["expires_utc"].startswith("2099-01-31")
    for bad, message in ((["--scope", "write"], "unknown scope 'write'"),
                         ([], "at least one scope"),
                         (["--scope", "read", "--expires", "yesterday"], "in the future"),
                         (["--scope", "read", "--expires", "2001-01-01"], "in the future"),
                         (["--scope", "read", "--env", "prod"], "unknown key environment")):
        refused = ac("keys", "create", "-p", "web", "--name", "x", *bad)
        assert refused.code == ExitCode.USAGE, (bad, refused.stderr)
        assert message in refused.stderr
        assert refused.stdout == ""
    missing = ac("keys", "create", "-p", "nope", "--name", "x", "--scope", "read")
    assert missing.code == ExitCode.NOT_FOUND


def test_key_revoke_and_rotate(ac):
    ac("projects", "create", "web")
    first = ac("keys", "create", "-p", "web", "--name", "ci", "--scope", "ingest", "--json").json()
    prefix = first["display"].split("…")[0]

    rotated = ac("keys", "rotate", prefix, "--overlap", "1h")
    assert rotated.code == 0, rotated.stderr
    new_key = rotated.stdout.strip()
    assert KEY_RE.match(new_key) and rotated.stdout == new_key + "\n"
    assert new_key != first["key"] and "shown only once" in rotated.stderr
    keys = {k["id"]: k for k in ac("keys", "list", "--json").json()["keys"]}
    assert len(keys) == 2
    old, new = keys[first["id"]], next(k for i, k in keys.items() if i != first["id"])
    assert old["replaced_by"] == new["id"] and old["state"] == "active"
    assert datetime.fromisoformat(old["expires_utc"]) - datetime.now(UTC) <= timedelta(hours=1)
    assert (new["name"], new["scopes"]) == ("ci", ["ingest"])
    bad = ac("keys", "rotate", str(new["id"]), "--overlap", "forever")
    assert bad.code == ExitCode.USAGE and "cannot read --overlap" in bad.stderr

    refused = ac("keys", "revoke", str(first["id"]))
    assert refused.code == ExitCode.USAGE and "pass --yes to confirm" in refused.stderr
    revoked = ac("keys", "revoke", str(first["id"]), "--yes", "--json")
    assert revoked.code == 0 and revoked.json()["state"] == "revoked"
    assert [k["id"] for k in ac("keys", "list", "--json").json()["keys"]] == [new["id"]]
    everything = ac("keys", "list", "--all", "--json").json()["keys"]
    assert {k["id"]: k["state"] for k in everything} == {first["id"]: "revoked", new["id"]: "active"}
    assert ac("keys", "list", "--project", "web", "--json").json()["keys"][0]["id"] == new["id"]
    again = ac("keys", "rotate", str(first["id"]))
    assert again.code == ExitCode.USAGE and "revoked" in again.stderr
    assert ac("keys", "revoke", "ac_live_nope", "--yes").code == ExitCode.NOT_FOUND


# -- audit and outbox -----------------------------------------------------------------------------

def test_audit_list_shows_the_actions_in_order(ac):
    create_user(ac, "ana@example.com")
    ac("projects", "create", "web")
    ac("projects", "share", "web", "ana@example.com", "--role", "owner")
    key = ac("keys", "create", "-p", "web", "--name", "ci", "--scope", "ingest", "--json").json()
    ac("keys", "revoke", str(key["id"]), "--yes")
    ac("users", "disable", "ana@example.com", "--yes")

    out = ac("audit", "list", "--json")
    assert out.code == 0 and out.stderr == ""
    records = out.json()["records"]
    assert [r["action"] for r in reversed(records)] == [
        "user.create", "project.create", "member.add", "key.create", "key.revoke", "user.disable"]
    assert [r["id"] for r in records] == sorted((r["id"] for r in records), reverse=True)  # newest first
    assert all(r["actor"] == "local" and r["outcome"] == "ok" for r in records)
    assert set(records[0]) == {"id", "ts_utc", "actor", "actor_user_id", "action", "target", "project",
                               "source_addr", "outcome", "detail"}

    keys_only = ac("audit", "list", "--action", "key.", "--json").json()["records"]
    assert [r["action"] for r in keys_only] == ["key.revoke", "key.create"]
    assert [r["action"] for r in ac("audit", "list", "--project", "web", "--json").json()["records"]] == [
        "key.revoke", "key.create", "member.add", "project.create"]
    assert len(ac("audit", "list", "--limit", "2", "--json").json()["records"]) == 2
    assert ac("audit", "list", "--since", "1h", "--json").json()["records"] == records
    assert ac("audit", "list", "--until", "2000-01-01", "--json").json()["records"] == []
    csv_lines = ac("audit", "list", "--csv").stdout.splitlines()
    assert csv_lines[0] == "id,ts_utc,actor,actor_user_id,action,target,project,source_addr,outcome,detail"
    assert len(csv_lines) == 7
    table = ac("audit", "list")
    assert "user.disable" in table.stdout and "key.create" in table.stdout
    assert ac("audit", "list", "--json", "--csv").code == ExitCode.USAGE
    assert ac("audit", "list", "--project", "nope").code == ExitCode.NOT_FOUND


def test_outbox_lists_and_renders_account_emails(ac, db):
    create_user(ac, "ana@example.com")  # unverified: a verification email
    ac("users", "create", "bo@example.com", "--invite")
    create_user(ac, "cy@example.com", "--verified")  # nothing to send

    listed = ac("outbox", "list", "--json")
    assert listed.code == 0 and listed.stderr == ""
    messages = listed.json()["messages"]
    assert [(m["recipient"], m["template"], m["status"]) for m in messages] == [
        ("bo@example.com", "account_invite", "pending"), ("ana@example.com", "verify_email", "pending")]
    assert "body" not in messages[0] and "payload_sealed" not in messages[0]
    assert len(ac("outbox", "list", "--status", "pending", "--json").json()["messages"]) == 2
    assert ac("outbox", "list", "--status", "sent", "--json").json()["messages"] == []
    table = ac("outbox", "list")
    assert "You have an agentcost account" in table.stdout and "bo@example.com" in table.stdout

    invite = ac("outbox", "show", str(messages[0]["id"]))
    assert invite.code == 0, invite.stderr
    assert invite.stdout.startswith("To: bo@example.com\nSubject: You have an agentcost account\n")
    link = re.search(rf"{re.escape(PUBLIC_URL)}/reset-password\?token=([\w-]+)", invite.stdout)
    assert link, invite.stdout
    assert link.group(1) not in stored_text(db)  # the token is sealed in the store

    verify = ac("outbox", "show", str(messages[1]["id"]), "--json").json()
    assert verify["recipient"] == "ana@example.com"
    assert f"{PUBLIC_URL}/verify-email?token=" in verify["body"]
    missing = ac("outbox", "show", "999")
    assert missing.code == ExitCode.NOT_FOUND and "no message 999" in missing.stderr


@pytest.mark.parametrize("group", ACCOUNT_GROUPS)
def test_groups_without_a_command_show_help(ac, group):
    out = ac(group)
    assert "Usage:" in out.stdout + out.stderr
    assert out.code in (0, ExitCode.USAGE)


def test_json_outputs_are_one_document(ac):
    create_user(ac, "ana@example.com")
    ac("projects", "create", "web")
    for args in (["users", "list"], ["users", "show", "ana@example.com"], ["projects", "list"],
                 ["projects", "show", "web"], ["keys", "list"], ["audit", "list"], ["outbox", "list"],
                 ["outbox", "show", "1"]):
        out = ac(*args, "--json")
        assert out.code == 0, (args, out.stderr)
        json.loads(out.stdout)
        assert out.stderr == "", args


def test_users_update_grants_and_removes_admin(ac: Callable[..., Outcome]) -> None:
    assert create_user(ac, "bo@example.com").code == 0
    granted = ac("users", "update", "bo@example.com", "--admin", "--name", "Bo", "--json")
    assert granted.code == 0 and granted.json()["is_admin"] is True and granted.json()["display_name"] == "Bo"
    removed = ac("users", "update", "bo@example.com", "--no-admin", "--json")
    assert removed.json()["is_admin"] is False
    nothing = ac("users", "update", "bo@example.com")
    assert nothing.code == ExitCode.USAGE and "nothing to change" in nothing.stderr
    records = ac("audit", "list", "--action", "user.update", "--json").json()["records"]
    assert [r["detail"] for r in records] == [{"is_admin": False}, {"display_name": "Bo", "is_admin": True}]


def test_users_identities_lists_and_unlinks_single_sign_on_links(ac: Callable[..., Outcome], db: Path) -> None:
    from agentcost_cli.store import open_store

    assert create_user(ac, "bo@example.com").code == 0
    store = open_store(db)
    user_id = store.find_user("bo@example.com")["id"]
    for issuer, subject in (("https://github.com", "583231"), ("https://idp.example.com", "00u1ab")):
        store.insert_identity({"user_id": user_id, "issuer": issuer, "subject": subject,
                               "email_at_link": "bo@example.com", "created_utc": "2026-11-20T12:00:00Z"})
    store.close()
    listed = ac("users", "identities", "bo@example.com", "--json")
    assert listed.code == 0 and [(i["issuer"], i["subject"]) for i in listed.json()["identities"]] == [
        ("https://github.com", "583231"), ("https://idp.example.com", "00u1ab")]
    table = ac("users", "identities", "bo@example.com")
    assert "583231" in table.stdout and "idp.example.com" in table.stdout
    refused = ac("users", "unlink-identity", "bo@example.com")  # not a terminal, no --yes
    assert refused.code == ExitCode.USAGE and "--yes" in refused.stderr
    one = ac("users", "unlink-identity", "bo@example.com", "--issuer", "https://github.com", "--yes")
    assert one.code == 0 and "removed 1 link(s)" in one.stderr
    assert [i["issuer"] for i in ac("users", "identities", "bo@example.com", "--json").json()["identities"]] == [
        "https://idp.example.com"]
    assert ac("users", "unlink-identity", "bo@example.com", "--yes").code == 0
    assert "no single sign-on identity" in ac("users", "identities", "bo@example.com").stderr
    records = ac("audit", "list", "--action", "user.identity.unlink", "--json").json()["records"]
    assert len(records) == 2 and records[-1]["detail"]["identities"] == [
        {"issuer": "https://github.com", "subject": "583231"}]


def test_account_email_moves_the_sign_in_address(ac: Callable[..., Outcome]) -> None:
    assert create_user(ac, "ana@example.com").code == 0
    moved = ac("account", "email", "Ana@New.example", "--user", "ana@example.com", "--json")
    assert moved.code == 0, moved.stderr
    assert moved.json()["email"] == "ana@new.example" and moved.json()["email_verified_utc"] is None
    messages = ac("outbox", "list", "--json").json()["messages"]
    assert {(m["template"], m["recipient"]) for m in messages} >= {("email_changed", "ana@example.com"),
                                                                  ("verify_email", "ana@new.example")}
    assert ac("users", "show", "ana@example.com").code == ExitCode.NOT_FOUND
