"""`agentcost daemon` as a real process: it serves, its SQLite settings are the durable ones,
and acknowledged events survive kill -9 (API-07); SIGTERM ends it cleanly."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import httpx

from .conftest import Daemon, seed_team, start_daemon


def _event(i: int) -> dict[str, object]:
    return {"id": f"k9-{i}", "timestamp": "2026-11-20T10:00:00Z", "provider": "openai", "model": "gpt-4o",
            "input_tokens": 10, "output_tokens": 5}


def test_the_daemon_serves_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    running = start_daemon(tmp_path, db)
    try:
        assert httpx.get(f"{running.url}/healthz").json()["status"] == "ok"
        with sqlite3.connect(db) as conn:  # the daemon migrated the store and runs it in WAL mode
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        code = running.stop(signal.SIGTERM)
    # uvicorn finishes the requests in flight, runs the app's shutdown (closing the store), then
    # ends by the signal it received, which systemd counts as a clean stop.
    assert code in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in running.log.read_text()


def test_acknowledged_events_survive_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    first = start_daemon(tmp_path, db)
    keys = seed_team(db)
    acknowledged: list[str] = []
    daemon: Daemon = first
    for round_ in range(3):
        with httpx.Client(base_url=daemon.url, headers={"Authorization": f"Bearer {keys['ingest']}"}) as client:
            for batch in range(5):
                ids = [_event(round_ * 1000 + batch * 10 + i) for i in range(10)]
                answer = client.post("/v1/events", json={"events": ids})
                assert answer.status_code == 200, answer.text
                acknowledged += [s["id"] for s in answer.json()["successes"]]
        daemon.stop(signal.SIGKILL)
        daemon = start_daemon(tmp_path, db)
    try:
        with sqlite3.connect(db) as conn:
            stored = {row[0] for row in conn.execute("SELECT dedupe_key FROM events")}
        assert set(acknowledged) <= stored and len(acknowledged) == 150
    finally:
        daemon.stop()


def test_the_log_is_json_with_request_ids_and_no_secrets(tmp_path: Path) -> None:
    import json

    db = tmp_path / "d.db"
    running = start_daemon(tmp_path, db)
    keys = seed_team(db)
    try:
        answer = httpx.post(f"{running.url}/v1/events", json=_event(1), headers={
            "Authorization": f"Bearer {keys['ingest']}", "X-Request-ID": "req-abc-123"})
        assert answer.status_code == 200 and answer.headers["x-request-id"] == "req-abc-123"
    finally:
        running.stop()
    text = running.log.read_text()
    assert keys["ingest"] not in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("request_id") == "req-abc-123"]
    assert access and access[-1].get("status") == 200


def test_a_client_hanging_up_mid_answer_does_not_kill_the_daemon(tmp_path: Path) -> None:
    """Clients that reset the connection in the middle of a streamed export leave the daemon
    serving (it also ignores SIGPIPE, whose default the CLI's entry point restores)."""
    import socket

    db = tmp_path / "d.db"
    running = start_daemon(tmp_path, db)
    keys = seed_team(db)
    try:
        with httpx.Client(base_url=running.url, headers={"Authorization": f"Bearer {keys['ingest']}"}) as client:
            for batch in range(5):
                client.post("/v1/events", json={"events": [_event(batch * 1000 + i) for i in range(1000)]})
        host, port = running.url.removeprefix("http://").split(":")
        for _ in range(5):  # ask for a large export, read a little, hang up
            with socket.create_connection((host, int(port))) as sock:
                sock.sendall(f"GET /v1/export/events?format=jsonl HTTP/1.1\r\nHost: x\r\n"
                             f"Authorization: Bearer {keys['read']}\r\n\r\n".encode())
                sock.recv(1024)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        assert httpx.get(f"{running.url}/healthz").status_code == 200
        assert running.process.poll() is None
    finally:
        running.stop()
