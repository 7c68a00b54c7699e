"""A real HTTP server standing in for the daemon's `POST /v1/events`, replying per a script.

The SDK only knows a base URL and a key, so a test against the real daemon swaps
`fake_daemon.base_url` for the daemon's URL and keeps the same client calls.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

API_KEY = "ac_live_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5" + "_Zz9Yy8"


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    raw: bytes
    at: float  # time.monotonic() when the request arrived

    @property
    def body(self) -> Any:
        return json.loads(self.raw)

    @property
    def events(self) -> list[dict[str, Any]]:
        body = self.body
        return body["events"] if isinstance(body, dict) and "events" in body else [body]

    @property
    def ids(self) -> list[str]:
        return [e["id"] for e in self.events]


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # None: the default per-item answer
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


Script = Reply | Callable[[Received], Reply]


def problem(status: int, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"type": f"/problems/{title.lower().replace(' ', '-')}", "title": title, "status": status,
            "detail": detail, **extra}


class FakeDaemon:
    """Records every request; answers from `script` (in order), then like the daemon would:
    200 with `created` for new ids and `duplicate` for ids it stored before."""

    def __init__(self, port: int = 0, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.requests: list[Received] = []
        self.script: deque[Script] = deque()
        self.stored: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        self.gate: threading.Event | None = None  # when set: hold each answer until the gate opens
        daemon = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                request = Received("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, raw,
                                   time.monotonic())
                with daemon.arrived:
                    daemon.requests.append(request)
                    step = daemon.script.popleft() if daemon.script else None
                    daemon.arrived.notify_all()
                if daemon.gate is not None:
                    daemon.gate.wait(10)
                reply = step(request) if callable(step) else step
                if reply is None:
                    reply = daemon.answer(request)
                elif reply.body is None and reply.status < 300:
                    reply = Reply(reply.status, daemon.answer(request).body, reply.headers, reply.delay)
                if reply.delay:
                    time.sleep(reply.delay)
                data = json.dumps(reply.body).encode() if reply.body is not None else b""
                self.send_response(reply.status)
                kind = "application/problem+json" if reply.status >= 400 else "application/json"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    # -- the default answer: what the daemon does --------------------------------------

    def answer(self, request: Received) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return Reply(401, problem(401, "Not authenticated", "bad key"))
        successes = []
        with self.lock:
            for event in request.events:
                status = "duplicate" if event["id"] in self.stored else "created"
                self.stored.setdefault(event["id"], event)
                successes.append({"id": event["id"], "status": status})
        return Reply(200, {"successes": successes, "errors": []})

    # -- test helpers ----------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def push(self, *steps: Script) -> None:
        self.script.extend(steps)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Block until `count` requests arrived; returns them."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.requests) >= count, timeout)
            return list(self.requests)

    def sent_ids(self) -> list[str]:
        return [i for r in self.requests for i in r.ids]

    def start(self) -> FakeDaemon:
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.gate is not None:
            self.gate.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_daemon() -> Iterator[FakeDaemon]:
    daemon = FakeDaemon().start()
    yield daemon
    daemon.stop()


@pytest.fixture
def make_client(fake_daemon: FakeDaemon) -> Iterator[Callable[..., Any]]:
    """AgentCost clients pointed at the fake daemon, closed after the test."""
    from agentcost_cli.sdk import AgentCost

    clients: list[AgentCost] = []

    def make(**kwargs: Any) -> AgentCost:
        kwargs.setdefault("api_key", API_KEY)
        kwargs.setdefault("base_url", fake_daemon.base_url)
        kwargs.setdefault("flush_interval", 30.0)  # tests flush explicitly unless they test the timer
        kwargs.setdefault("backoff_base", 0.05)
        client = AgentCost(**kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close(timeout=5)
