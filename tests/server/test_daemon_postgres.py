"""`agentcost daemon` processes on a PostgreSQL store: two daemons share it (one server key
file, Redis rate limits), ingest over HTTP, answer reports; API-08's warning is logged."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import httpx
import pytest

from ..pg import pg_database, pg_schema, require_pg
from .conftest import seed_team, start_daemon

pytestmark = pytest.mark.subprocess

REDIS_URL = os.environ.get("AGENTCOST_TEST_REDIS_URL")  # read at import: the autouse fixture clears AGENTCOST_*


@pytest.fixture
def shared_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """What several daemons on one store must share: the key file and the rate-limit storage."""
    require_pg()
    if not REDIS_URL:
        pytest.skip("a daemon on PostgreSQL needs shared rate limits: set AGENTCOST_TEST_REDIS_URL (CI does)")
    env = {"AGENTCOST_KEY_FILE": str(tmp_path / "server.key"), "AGENTCOST_RATE_LIMIT_STORAGE": REDIS_URL}
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # seed_team opens the store in this process
    return env


def _event(i: int, *, project: str | None = None) -> dict[str, object]:
    return {"id": f"pg-{i}", "timestamp": f"2026-11-20T{10 + i % 3}:00:00Z", "provider": "openai",
            "model": "gpt-4o", "input_tokens": 1000, "output_tokens": 100 + i}


def _log_lines(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def test_two_daemons_share_one_postgres_store(tmp_path: Path, shared_env: dict[str, str]) -> None:
    with pg_schema() as url:
        first = start_daemon(tmp_path, url, env=shared_env)  # type: ignore[arg-type]
        second = start_daemon(tmp_path, url, env=shared_env)  # type: ignore[arg-type]
        try:
            keys = seed_team(url)  # type: ignore[arg-type]
            ingest = {"Authorization": f"Bearer {keys['ingest']}"}
            batch = {"events": [_event(i) for i in range(30)]}
            one = httpx.post(f"{first.url}/v1/events", json=batch, headers=ingest)
            assert one.status_code == 200, one.text
            assert {s["status"] for s in one.json()["successes"]} == {"created"}
            again = httpx.post(f"{second.url}/v1/events", json=batch, headers=ingest)  # the other daemon
            assert {s["status"] for s in again.json()["successes"]} == {"duplicate"}
            more = httpx.post(f"{second.url}/v1/events", json={"events": [_event(i) for i in range(30, 40)]},
                              headers=ingest)
            assert more.status_code == 200, more.text
            read = {"Authorization": f"Bearer {keys['read']}"}
            reports = [httpx.get(f"{d.url}/v1/report", params={"by": "day,model"}, headers=read).json()
                       for d in (first, second)]
            assert reports[0] == reports[1]
            assert reports[0]["rows"][0]["day"] == "2026-11-20" and reports[0]["totals"]["input_tokens"] == 40_000
            assert httpx.get(f"{first.url}/readyz").json()["status"] == "ready"
        finally:
            codes = [first.stop(signal.SIGTERM), second.stop(signal.SIGTERM)]
        assert all(code in (0, -signal.SIGTERM) for code in codes)
    for daemon in (first, second):
        text = daemon.log.read_text()
        assert "synchronous_commit" not in text
        assert "Application shutdown complete" in text


def test_the_daemon_warns_when_synchronous_commit_is_off(tmp_path: Path, shared_env: dict[str, str]) -> None:
    """API-08: acknowledged events could vanish in a crash; the daemon says so when it starts."""
    with pg_database(synchronous_commit="off") as url:
        running = start_daemon(tmp_path, url, env=shared_env)  # type: ignore[arg-type]
        running.stop()
    warnings = [line for line in _log_lines(running.log)
                if line.get("level") == "warning" and "synchronous_commit=off" in str(line.get("event"))]
    assert len(warnings) == 1, running.log.read_text()
