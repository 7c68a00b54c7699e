"""`POST /v1/events` under concurrent load on a real socket: every acknowledged event is stored
once, commits are shared, and a client that hangs up mid-body is not a server error."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import seed_team
from .live_uvicorn import serve


def _event(event_id: str) -> dict[str, Any]:
    return {"id": event_id, "timestamp": "2026-11-20T12:00:00Z", "provider": "openai", "model": "gpt-4o",
            "project": "web", "input_tokens": 1200, "output_tokens": 30}


def _app(db: Path) -> Any:
    from agentcost_cli.server.app import create_app
    from agentcost_cli.server.config import DEFAULT_LIMITS, ServerConfig

    limits = dict.fromkeys(DEFAULT_LIMITS, "100000/minute")
    return create_app(ServerConfig(store_path=str(db), limits=limits))


def test_concurrent_clients_each_get_their_answer_after_a_shared_commit(tmp_path: Path) -> None:
    db = tmp_path / "daemon.db"
    app = _app(db)
    keys = seed_team(db)
    headers = {"Authorization": f"Bearer {keys['ingest']}"}

    async def client(url: str, worker: int) -> list[dict[str, Any]]:
        answers = []
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
            for n in range(25):
                body: Any = _event(f"w{worker}-{n}") if n % 2 else {"events": [_event(f"w{worker}-{n}-{i}")
                                                                               for i in range(3)]}
                if n == 7:  # a retry of an earlier event: answered as a duplicate
                    body = _event(f"w{worker}-1")
                response = await http.post("/v1/events", json=body)
                assert response.status_code == 200, response.text
                answers.extend(response.json()["successes"])
        return answers

    async def main(url: str) -> list[list[dict[str, Any]]]:
        return await asyncio.gather(*(client(url, w) for w in range(12)))

    with serve(app) as url:
        results = asyncio.run(main(url))
    writer = app.api.state.writer
    created = [a["id"] for answers in results for a in answers if a["status"] == "created"]
    duplicates = [a["id"] for answers in results for a in answers if a["status"] == "duplicate"]
    assert len(duplicates) == 12 and len(created) == len(set(created))
    with sqlite3.connect(db) as conn:
        stored = {r[0] for r in conn.execute("SELECT dedupe_key FROM events")}
    assert stored == set(created)
    assert writer.requests == 12 * 25  # every request went through the writer
    assert writer.groups < writer.requests  # concurrent requests shared commits


def test_a_client_that_hangs_up_mid_body_is_logged_as_499(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from agentcost_cli.server.observability import ACCESS_LOGGER

    db = tmp_path / "daemon.db"
    app = _app(db)
    keys = seed_team(db)
    body = json.dumps({"events": [_event("gone")]}).encode()
    sent: list[dict[str, Any]] = []

    async def main() -> None:
        messages = [{"type": "http.request", "body": body[:10], "more_body": True}, {"type": "http.disconnect"}]

        async def receive() -> dict[str, Any]:
            return messages.pop(0)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/v1/events", "raw_path": b"/v1/events", "query_string": b"",
                 "root_path": "", "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80),
                 "headers": [(b"host", b"x"), (b"content-type", b"application/json"),
                             (b"authorization", f"Bearer {keys['ingest']}".encode())]}
        await app(scope, receive, send)

    from starlette.testclient import TestClient

    with TestClient(app), caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):  # runs the lifespan
        asyncio.run(main())
    assert sent[0]["status"] == 499
    lines = [r for r in caplog.records if r.name == ACCESS_LOGGER]
    assert lines and getattr(lines[-1], "status", None) == 499
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 0
