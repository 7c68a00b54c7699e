"""The clients against a real `agentcost daemon` process: the SDK, `agentcost login` with a
password, remote-mode commands, and two daemons sharing Redis for their rate limits (API-10)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from .conftest import PASSWORD, Daemon, seed_team, start_daemon

REDIS_URL = os.environ.get("AGENTCOST_TEST_REDIS_URL")  # read at import: the autouse fixture clears AGENTCOST_*


@pytest.fixture
def live(tmp_path: Path) -> tuple[Daemon, dict[str, str]]:
    db = tmp_path / "live.db"
    keys = seed_team(db)
    running = start_daemon(tmp_path, db)
    yield running, keys
    running.stop()


def test_the_sdk_records_through_a_real_daemon_and_retries_are_duplicates(live: tuple[Daemon, dict[str, str]]
                                                                         ) -> None:
    from agentcost_cli.sdk import AgentCost

    running, keys = live
    events = [{"id": f"sdk-{i}", "timestamp": "2026-11-20T10:00:00Z", "provider": "openai", "model": "gpt-4o",
               "input_tokens": 10 + i, "output_tokens": 5} for i in range(250)]
    with AgentCost(api_key=keys["ingest"], base_url=running.url, batch_size=100) as client:
        for event in events:
            client.record(event)
        first = client.flush(timeout=30)
        for event in events[:10]:  # the same ids again, as a retry would send them
            client.record(event)
        again = client.flush(timeout=30)
    assert (first.created, first.duplicate, first.rejected) == (250, 0, 0)
    assert (again.created, again.duplicate) == (0, 10)
    import sqlite3

    with sqlite3.connect(running.db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 250


def _cli(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AGENTCOST_HOME": str(home), "NO_COLOR": "1"}
    env.pop("AGENTCOST_DB", None)
    return subprocess.run([sys.executable, "-m", "agentcost_cli", *args], input=stdin, capture_output=True,
                          text=True, env=env, timeout=60, check=False)


def _login(home: Path, running: Daemon, email: str) -> subprocess.CompletedProcess[str]:
    return _cli(home, "login", "--server", running.url, "--email", email, "--password-stdin", stdin=PASSWORD + "\n")


def test_login_then_remote_commands_then_logout(live: tuple[Daemon, dict[str, str]], tmp_path: Path) -> None:
    running, keys = live
    home = tmp_path / "laptop"
    httpx.post(f"{running.url}/v1/events", headers={"Authorization": f"Bearer {keys['ingest']}"}, json={"events": [
        {"id": f"r-{i}", "timestamp": "2026-11-20T10:00:00Z", "model": "gpt-4o", "input_tokens": 100,
         "output_tokens": 10} for i in range(3)]})
    login = _login(home, running, "viewer@example.com")
    assert login.returncode == 0, login.stderr
    whoami = _cli(home, "whoami", "--json")
    assert json.loads(whoami.stdout)["user"]["email"] == "viewer@example.com"
    report = _cli(home, "report", "--by", "model", "--json")  # remote: the daemon's store, the viewer's role
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["totals"]["events"] == 3
    local = _cli(home, "--local", "report", "--json")  # this laptop's own (empty) store
    assert json.loads(local.stdout)["totals"]["events"] == 0
    refused = _cli(home, "projects", "delete", "web", "--yes")  # a viewer may not
    assert refused.returncode == 7 and "not permitted" in refused.stderr
    assert PASSWORD not in login.stderr + whoami.stderr + report.stderr
    logout = _cli(home, "logout")
    assert logout.returncode == 0, logout.stderr
    after = _cli(home, "whoami")
    assert after.returncode == 8


@pytest.mark.skipif(not REDIS_URL, reason="needs Redis: set AGENTCOST_TEST_REDIS_URL (CI does)")
def test_two_daemons_sharing_redis_enforce_one_limit(tmp_path: Path) -> None:
    import redis

    assert REDIS_URL is not None
    redis.Redis.from_url(REDIS_URL).flushdb()
    db = tmp_path / "shared.db"
    keys = seed_team(db)
    env = {"AGENTCOST_RATE_LIMIT_STORAGE": REDIS_URL, "AGENTCOST_RATE_LIMITS": "key_requests=6/minute"}
    first = start_daemon(tmp_path, db, env=env)
    second = start_daemon(tmp_path, db, env=env)
    try:
        codes = []
        for i in range(8):  # alternate between the two daemons
            daemon = (first, second)[i % 2]
            codes.append(httpx.get(f"{daemon.url}/v1/projects", headers={"Authorization": f"Bearer {keys['read']}"}
                                   ).status_code)
    finally:
        first.stop()
        second.stop()
    assert codes == [200] * 6 + [429, 429]


def test_memory_limits_refuse_several_workers(tmp_path: Path) -> None:
    """API-10: with --workers > 1, in-memory counters would let each worker allow the limit."""
    home = tmp_path / "home"
    run = _cli(home, "--db", str(tmp_path / "w.db"), "daemon", "--port", "0", "--workers", "2")
    assert run.returncode != 0
    assert "AGENTCOST_RATE_LIMIT_STORAGE=redis://" in run.stderr


def test_remote_ingest_parses_here_and_stores_there_once(live: tuple[Daemon, dict[str, str]],
                                                         tmp_path: Path) -> None:
    running, _ = live
    home = tmp_path / "laptop"
    assert _login(home, running, "owner@example.com").returncode == 0
    usage = tmp_path / "usage.jsonl"
    lines = [json.dumps({"id": f"f-{i}", "timestamp": "2026-11-20T10:00:00Z", "model": "gpt-4o", "project": "web",
                         "input_tokens": 100, "output_tokens": 10}) for i in range(2500)]
    lines.insert(7, "{not json")
    usage.write_text("\n".join(lines) + "\n")
    first = _cli(home, "ingest", str(usage))
    assert first.returncode == 6, first.stderr  # one bad line: named, the rest kept
    assert f"{usage}:8: invalid JSON" in first.stderr
    assert "added 2,500, duplicates 0, rejected 1" in first.stderr
    again = _cli(home, "ingest", str(usage))  # a re-run: every id is answered duplicate, nothing counts twice
    assert "added 0, duplicates 2,500, rejected 1" in again.stderr
    import sqlite3

    with sqlite3.connect(running.db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 2500
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"id": "x-1", "timestamp": "2026-11-20T10:00:00Z", "model": "gpt-4o",
                                 "project": "not-mine", "input_tokens": 1}) + "\n")
    refused = _cli(home, "ingest", str(other))
    assert refused.returncode == 6 and "not-mine" in refused.stderr
    logs = tmp_path / "claude" / "projects"  # never the real ~/.claude: remote imports upload what they read
    logs.mkdir(parents=True)
    imported = _cli(home, "import", "claude-code", "--path", str(logs))  # remote too (tests/cli/test_remote_mode.py)
    assert imported.returncode == 0 and "imported 0 file(s)" in imported.stderr, imported.stderr


def test_remote_ingest_keeps_the_largest_copy_of_a_streamed_agent_message(live: tuple[Daemon, dict[str, str]],
                                                                           tmp_path: Path) -> None:
    from ..services.test_import_agents import cc_line

    running, _ = live
    home = tmp_path / "laptop"
    assert _login(home, running, "owner@example.com").returncode == 0
    log = tmp_path / "session.jsonl"
    log.write_text(cc_line("msg_1", "req_1", 5) + cc_line("msg_1", "req_1", 50) + cc_line("msg_2", "req_2", 7))
    run = _cli(home, "ingest", "--format", "claude-code", "--project", "web", str(log))
    assert run.returncode == 0, run.stderr
    import sqlite3

    with sqlite3.connect(running.db) as conn:
        outputs = sorted(r[0] for r in conn.execute("SELECT output_tokens FROM events"))
    assert outputs == [7, 50]


def test_account_commands_act_on_the_signed_in_user_remotely(live: tuple[Daemon, dict[str, str]],
                                                             tmp_path: Path) -> None:
    import re

    import pyotp

    running, _ = live
    home = tmp_path / "laptop"
    assert _login(home, running, "viewer@example.com").returncode == 0
    sessions = json.loads(_cli(home, "account", "sessions", "--json").stdout)
    assert sessions["email"] == "viewer@example.com" and len(sessions["sessions"]) == 1
    other = _cli(home, "account", "sessions", "--user", "owner@example.com")
    assert other.returncode == 2 and "your own account" in other.stderr
    # MFA: the secret comes back on stderr; the code answers on stdin (computed here, as an app would)
    begin = subprocess.Popen([sys.executable, "-m", "agentcost_cli", "account", "mfa", "enable", "--code-stdin",
                              "--json"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env={**os.environ, "AGENTCOST_HOME": str(home), "NO_COLOR": "1"})
    assert begin.stderr is not None and begin.stdin is not None
    secret = ""
    for line in begin.stderr:
        found = re.match(r"secret: ([A-Z2-7]+)", line)
        if found:
            secret = found.group(1)
            break
    begin.stdin.write(pyotp.TOTP(secret).now() + "\n")
    begin.stdin.flush()
    out, err = begin.communicate(timeout=60)
    assert begin.returncode == 0, err
    codes = json.loads(out)["recovery_codes"]
    assert len(codes) == 10
    disable = _cli(home, "account", "mfa", "disable", "--code-stdin", stdin=codes[0] + "\n")
    assert disable.returncode == 0, disable.stderr
    import sqlite3

    with sqlite3.connect(running.db) as conn:
        assert conn.execute("SELECT mfa_secret_sealed FROM users WHERE email = 'viewer@example.com'"
                            ).fetchone()[0] is None
