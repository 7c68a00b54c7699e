"""Remote mode prints what local mode prints: the same commands, run through the real entry point
against a real `agentcost daemon` (signed in as a server admin, who may do what the local owner
may) and against a copy of the same store in local mode (`--db`), give the same stdout, stderr
and exit code. Then what only remote mode has: refusals by role, the signed-in user's own
password, email links without a sign-in, and an incremental `import claude-code` whose cursors
stay on this machine.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentcost_cli.errors import ExitCode

from ..client.fixtures import no_os_keyring  # noqa: F401  (autouse by name)
from ..contract.test_backends import PRICES, ROOT, daemon_env, seed_operator_data
from ..server.conftest import PASSWORD, Daemon, seed_team, start_daemon
from ..services.test_import_agents import cc_line
from .conftest import Outcome


def _template(folder: Path) -> Path:
    """A team (owner, viewer, project `web`), a server admin, an invitation in the outbox, a price
    override, and events, one of them for a model nobody prices."""
    from agentcost_cli.services.actor import LOCAL
    from agentcost_cli.services.usage import record_events
    from agentcost_cli.store import open_store

    db = folder / "template.db"
    seed_team(db)
    seed_operator_data(db)
    store = open_store(db)
    try:
        events = [{"id": f"e-{i}", "timestamp": f"2026-11-{10 + i % 5:02d}T10:00:00Z", "provider": "openai",
                   "model": "gpt-4o" if i % 2 else "gpt-4o-mini", "input_tokens": 1000 + i, "output_tokens": 100}
                  for i in range(12)]
        events.append({"id": "e-acme", "timestamp": "2026-11-12T10:00:00Z", "provider": "acme",
                       "model": "acme-internal-llm", "input_tokens": 5, "output_tokens": 1})
        record_events(store, LOCAL, events, project="web")
    finally:
        store.close()
    return db


def _copy(template: Path, target: Path) -> Path:
    for suffix in ("", ".key"):
        shutil.copy(f"{template}{suffix}", f"{target}{suffix}")
    return target


@dataclass
class Pair:
    """A daemon on one copy of a store, and the other copy for local mode."""

    daemon: Daemon
    local_db: Path


def _pair(folder: Path) -> Iterator[Pair]:
    template = _template(folder)
    remote_db = _copy(template, folder / "remote.db")
    running = start_daemon(folder, remote_db, env=daemon_env(folder))
    try:
        yield Pair(running, _copy(template, folder / "local.db"))
    finally:
        running.stop()


@pytest.fixture(scope="module")
def shared_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """For commands that change nothing."""
    yield from _pair(tmp_path_factory.mktemp("remote-mode"))


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    """For commands that change something."""
    yield from _pair(tmp_path / "pair")


Run = Callable[..., Outcome]


@pytest.fixture
def ac(run_cli: Run, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setenv("AGENTCOST_PRICING_URL", str(PRICES))  # local mode's source: on disk, never the internet

    def _ac(*args: str, stdin: str = "") -> Outcome:
        return run_cli(*args, stdin=stdin.encode())

    return _ac


def login(ac: Run, running: Daemon, email: str = ROOT) -> None:
    out = ac("login", "--server", running.url, "--email", email, "--password-stdin", stdin=PASSWORD + "\n")
    assert out.code == 0, out.stderr


def both(ac: Run, p: Pair, *args: str, stdin: str = "") -> tuple[Outcome, Outcome]:
    """(remote, local): the command against the daemon, then against the local copy."""
    return ac(*args, stdin=stdin), ac("--db", str(p.local_db), *args, stdin=stdin)


def assert_same(remote: Outcome, local: Outcome) -> None:
    assert (remote.code, remote.stdout, remote.stderr) == (local.code, local.stdout, local.stderr)


READS = [
    ("pricing", "list", "--search", "gpt-4o"),
    ("pricing", "list", "--search", "gpt-4o", "--json"),
    ("pricing", "list", "--provider", "anthropic", "--at", "2026-01-01"),
    ("pricing", "show", "claude-sonnet-4-5-20250929"),
    ("pricing", "show", "gpt-4o-mini", "--provider", "openai", "--json"),
    ("pricing", "show", "no-such-model-x1"),
    ("pricing", "history"),
    ("pricing", "history", "gpt-4o-mini", "--provider", "openai", "--json"),
    ("pricing", "missing"),
    ("pricing", "missing", "--json"),
    ("pricing", "reprice", "--dry-run"),
    ("pricing", "reprice", "--dry-run", "--json", "--since", "2026-11-11"),
    ("outbox", "list"),
    ("outbox", "list", "--json"),
    ("outbox", "list", "--status", "pending", "--csv", "--limit", "1"),
    ("outbox", "show", "1"),
    ("outbox", "show", "1", "--json"),
    ("outbox", "show", "99"),
]


@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_reading_prices_and_the_outbox_prints_the_same_in_both_modes(ac: Run, shared_pair: Pair,
                                                                     args: tuple[str, ...]) -> None:
    login(ac, shared_pair.daemon)
    remote, local = both(ac, shared_pair, *args)
    assert_same(remote, local)
    assert remote.stdout or remote.stderr  # something was said, the same both ways


def test_changing_prices_prints_the_same_in_both_modes(ac: Run, pair: Pair) -> None:
    login(ac, pair.daemon)
    steps = [
        ("pricing", "set", "gpt-4o", "--provider", "openai", "--input", "2", "--output", "8", "--reason", "deal",
         "--from", "2026-11-12"),
        ("pricing", "show", "gpt-4o", "--provider", "openai", "--at", "2026-11-13"),
        ("pricing", "reprice", "--dry-run"),
        ("pricing", "reprice", "--yes", "--json"),
        ("pricing", "history", "gpt-4o", "--json"),
        ("pricing", "unset", "gpt-4o", "--provider", "openai", "--yes"),
        ("pricing", "unset", "gpt-4o", "--provider", "openai", "--yes"),  # nothing left: not found
        ("pricing", "set", "gpt-4o", "--provider", "openai", "--input", "lots", "--reason", "x"),
        ("pricing", "reprice", "--yes"),
        ("pricing", "update", "--json"),
        ("pricing", "update"),
        ("pricing", "missing"),
    ]
    for args in steps:
        remote, local = both(ac, pair, *args)
        if args[1] == "history":  # the same changes, recorded at different moments
            def masked(text: str) -> str:
                return re.sub(r'"recorded_utc": "[^"]+"', "", text)

            remote, local = (Outcome(o.code, masked(o.stdout), o.stderr) for o in (remote, local))
        assert_same(remote, local)
    refused = ac("pricing", "update", "--source", str(PRICES))
    assert refused.code == ExitCode.USAGE and "--source works only on this machine's store" in refused.stderr


def test_a_non_admin_reads_prices_but_may_not_change_them_or_read_the_outbox(ac: Run, shared_pair: Pair) -> None:
    login(ac, shared_pair.daemon, "viewer@example.com")
    assert ac("pricing", "show", "gpt-4o", "--provider", "openai").code == 0
    for args, refusal in [
        (("pricing", "set", "gpt-4o", "--provider", "openai", "--input", "1", "--reason", "x"),
         "may not pricing manage"),
        (("pricing", "reprice", "--yes"), "may not pricing manage"),
        (("pricing", "update"), "may not pricing manage"),
        (("outbox", "list"), "may not store admin"),
        (("outbox", "show", "1"), "may not store admin"),
    ]:
        out = ac(*args)
        assert out.code == ExitCode.NOT_PERMITTED, out.stderr
        assert f"not permitted: user:viewer@example.com {refusal}" in out.stderr


def _outbox_token(db: Path, recipient: str, template: str) -> str:
    from agentcost_cli.services import outbox
    from agentcost_cli.services.actor import LOCAL
    from agentcost_cli.store import open_store

    store = open_store(db)
    try:
        message = next(m for m in outbox.list_messages(store, LOCAL)
                       if m["recipient"] == recipient and m["template"] == template)
        found = re.search(r"token=([A-Za-z0-9_\-]+)", outbox.show_message(store, LOCAL, message["id"])["body"])
    finally:
        store.close()
    assert found is not None
    return found.group(1)


def test_account_commands_against_a_daemon(ac: Run, pair: Pair) -> None:
    """Your own password (the current one first; this login stays), then the links from emails,
    which need no sign-in."""
    running = pair.daemon
    login(ac, running, "viewer@example.com")
    other = ac("account", "password", "--user", "owner@example.com", "--password-stdin", stdin="x\n")
    assert other.code == ExitCode.USAGE and "your own account" in other.stderr
    wrong = ac("account", "password", "--current-password-stdin", "--password-stdin",
               stdin="not my password\nmy changed passphrase\n")
    assert wrong.code == ExitCode.UNAUTHENTICATED
    assert "the current password is wrong" in wrong.stderr and "hint: give the password you sign in with now" \
        in wrong.stderr
    with sqlite3.connect(running.db) as conn:  # one mistyped password is one failed attempt, not a retried two
        assert conn.execute("SELECT count(*) FROM audit_log WHERE action = 'password.change' "
                            "AND outcome = 'failed'").fetchone()[0] == 1
    no_source = ac("account", "password", "--password-stdin", stdin="my changed passphrase\n")
    assert no_source.code == ExitCode.USAGE and "--current-password-stdin" in no_source.stderr
    changed = ac("account", "password", "--current-password-stdin", "--password-stdin",
                 stdin=f"{PASSWORD}\nmy changed passphrase\n")
    assert changed.code == 0, changed.stderr
    assert changed.stderr.startswith("password changed for viewer@example.com; your other sessions have ended")
    assert ac("whoami").code == 0  # this login's session is kept
    local_only = ac("--db", str(pair.local_db), "account", "password", "--user", "viewer@example.com",
                    "--current-password-stdin", "--password-stdin", stdin="a\nb\n")
    assert local_only.code == ExitCode.USAGE and "against a daemon" in local_only.stderr

    # links from emails: the daemon's outbox holds them; logged out, --profile names the daemon
    from agentcost_cli.services import users
    from agentcost_cli.services.actor import LOCAL
    from agentcost_cli.store import open_store

    store = open_store(running.db)
    try:
        users.create_user(store, LOCAL, email="new@example.com", password=PASSWORD)
        users.request_password_reset(store, "viewer@example.com")
    finally:
        store.close()
    assert ac("logout").code == 0
    locally = ac("account", "verify-email", "--token-stdin", stdin="wrong-token\n")  # logged out: local mode
    assert locally.code == ExitCode.UNAUTHENTICATED and "--profile NAME" in locally.stderr
    verify = _outbox_token(running.db, "new@example.com", "verify_email")
    verified = ac("--profile", "default", "account", "verify-email", "--token-stdin", stdin=verify + "\n")
    assert verified.code == 0 and verified.stderr == "verified new@example.com\n", verified.stderr
    again = ac("--profile", "default", "account", "verify-email", "--token-stdin", stdin=verify + "\n")
    assert again.code == ExitCode.UNAUTHENTICATED and "invalid, used or expired" in again.stderr
    reset = _outbox_token(running.db, "viewer@example.com", "password_reset")
    done = ac("--profile", "default", "account", "reset-password", "--token-stdin", "--password-stdin",
              stdin=f"{reset}\na passphrase after the reset\n")
    assert done.code == 0 and "password set" in done.stderr, done.stderr
    out = ac("login", "--server", running.url, "--email", "viewer@example.com", "--password-stdin",
             stdin="a passphrase after the reset\n")
    assert out.code == 0, out.stderr


def _claude_projects(folder: Path) -> Path:
    projects = folder / "claude" / "projects"
    shutil.copytree(Path(__file__).parents[1] / "fixtures" / "ingest" / "claude_code" / "projects", projects)
    session = projects / "-home-me-src-web" / "s.jsonl"
    session.parent.mkdir()
    session.write_text(web_line("m1", "r1", 1) + web_line("m1", "r1", 40) + web_line("m2", "r2", 5))
    return projects


def web_line(msg: str, req: str, out: int) -> str:
    """A Claude Code reply logged in /home/me/src/web: project `web`."""
    return cc_line(msg, req, out).replace("/home/me/src/shop", "/home/me/src/web")


def _stored(db: Path) -> list[tuple[str, str, int, int | None]]:
    with sqlite3.connect(db) as conn:
        return sorted(conn.execute("SELECT dedupe_key, model, output_tokens, cost_nanos FROM events"))


def test_import_claude_code_against_a_daemon_reads_only_new_bytes(ac: Run, pair: Pair, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    projects = _claude_projects(tmp_path)
    login(ac, pair.daemon)
    before = len(_stored(pair.daemon.db))
    first = both(ac, pair, "import", "claude-code", "--path", str(projects))
    assert_same(*first)
    assert first[0].stderr.startswith("imported 6 file(s): read ") and "unpriced 1" in first[0].stderr
    added = _stored(pair.daemon.db)
    assert len(added) > before and added == _stored(pair.local_db)
    book = Path(os.environ["AGENTCOST_HOME"]) / "data" / "imports" / "default.json"
    assert stat.S_IMODE(book.stat().st_mode) == 0o600

    # a second run reads no old bytes: nothing is even opened
    from agentcost_cli.ingest.pipeline import Ingestor

    opened: list[str] = []
    real = Ingestor.ingest_stream

    def spy(self: Ingestor, stream: object, display: str, **kw: object) -> object:
        opened.append(display)
        return real(self, stream, display, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(Ingestor, "ingest_stream", spy)
    second = both(ac, pair, "import", "claude-code", "--path", str(projects))
    assert_same(*second)
    assert second[0].stderr.startswith("imported 0 file(s): read 0, added 0") and "unchanged files 6" in \
        second[0].stderr
    assert opened == [] and _stored(pair.daemon.db) == added

    with (projects / "-home-me-src-web" / "s.jsonl").open("a") as handle:
        handle.write(web_line("m3", "r3", 11))
    third = both(ac, pair, "import", "claude-code", "--path", str(projects))
    assert_same(*third)
    assert third[0].stderr.startswith("imported 1 file(s): read 1, added 1, duplicates 0")
    assert opened == [str(projects / "-home-me-src-web" / "s.jsonl")] * 2  # one file each mode, from its cursor
    assert len(_stored(pair.daemon.db)) == len(added) + 1 and _stored(pair.daemon.db) == _stored(pair.local_db)
    # another server's cursors are its own: a daemon this login never imported into reads everything
    from agentcost_cli.client.upload import CursorBook

    assert CursorBook(book, "http://elsewhere.example").load("claude-code") == {}
    assert len(CursorBook(book, pair.daemon.url).load("claude-code")) == 6


def test_import_refusals_name_file_and_line_as_locally(ac: Run, pair: Pair, tmp_path: Path) -> None:
    """A member imports: `--project` they may not write to stops the run before anything is read;
    records of folders naming no project of theirs are rejected with their file and line."""
    from agentcost_cli.services import projects as project_service
    from agentcost_cli.services.actor import LOCAL
    from agentcost_cli.store import open_store

    store = open_store(pair.daemon.db)
    try:
        project_service.share_project(store, LOCAL, "web", "viewer@example.com", "member")
    finally:
        store.close()
    logs = _claude_projects(tmp_path)
    login(ac, pair.daemon, "viewer@example.com")
    refused = ac("import", "claude-code", "--path", str(logs), "--project", "secret")
    assert refused.code == ExitCode.NOT_FOUND and "no project named 'secret'" in refused.stderr
    run = ac("import", "claude-code", "--path", str(logs))
    assert run.code == ExitCode.REJECTED
    assert re.search(r"-home-user-src-my-app/[^:]+\.jsonl:\d+: no project named 'my-app'", run.stderr), run.stderr
    assert "added 2, duplicates 1" in run.stderr  # the web folder's replies (one logged twice)
    again = ac("import", "claude-code", "--path", str(logs))  # rejected lines are not read again, as locally
    assert again.code == 0 and "imported 0 file(s)" in again.stderr
