"""Fixtures for the daemon: the app in-process (Starlette's TestClient runs its lifespan) and
a real `agentcost daemon` process on a free port, both on a real SQLite file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

PASSWORD = "correct horse battery staple"


@dataclass
class Api:
    client: Any  # starlette.testclient.TestClient
    db: Path

    def store(self) -> Any:
        from agentcost_cli.store import open_store

        return open_store(self.db)


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    from starlette.testclient import TestClient

    from agentcost_cli.server.app import create_app
    from agentcost_cli.server.config import ServerConfig

    monkeypatch.setenv("AGENTCOST_PUBLIC_URL", "https://costs.example.org")
    db = tmp_path / "daemon.db"
    config = ServerConfig(store_path=str(db), public_url="https://costs.example.org")
    with TestClient(create_app(config), raise_server_exceptions=False) as client:
        yield Api(client, db)


def seed_team(db: Path) -> dict[str, str]:
    """Users (owner, viewer), project `web`, and keys with each scope; returns the secrets."""
    from agentcost_cli.services import keys, projects, users
    from agentcost_cli.services.actor import LOCAL, user_actor
    from agentcost_cli.store import open_store

    store = open_store(db)
    try:
        users.create_user(store, LOCAL, email="owner@example.com", password=PASSWORD, verified=True)
        users.create_user(store, LOCAL, email="viewer@example.com", password=PASSWORD, verified=True)
        owner = user_actor(store.find_user("owner@example.com"))
        projects.create_project(store, owner, "web")
        projects.share_project(store, owner, "web", "viewer@example.com", "viewer")
        found = {}
        for scope in ("ingest", "read", "admin"):
            _, found[scope] = keys.create_key(store, owner, "web", name=scope, scopes=(scope,))
        return found
    finally:
        store.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Daemon:
    url: str
    db: Path
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self, sig: int = 15) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


def start_daemon(tmp_path: Path, db: Path, *extra: str, env: dict[str, str] | None = None) -> Daemon:
    port = free_port()
    log = tmp_path / f"daemon-{port}.log"
    full_env = {**os.environ, "AGENTCOST_PUBLIC_URL": "https://costs.example.org", **(env or {})}
    handle = open(log, "wb")  # noqa: SIM115 - the process owns it until it ends
    process = subprocess.Popen([sys.executable, "-m", "agentcost_cli", "--db", str(db), "daemon", "--port",
                                str(port), *extra], stdout=handle, stderr=subprocess.STDOUT, env=full_env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the daemon exited ({process.returncode}):\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return Daemon(url, db, process, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the daemon did not become ready:\n{log.read_text()}")


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    running = start_daemon(tmp_path, tmp_path / "daemon.db")
    yield running
    running.stop()
