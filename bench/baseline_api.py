#!/usr/bin/env python3
"""The bare HTTP ingestion baseline that `bench/api.py` measures the daemon against.

    python bench/baseline_api.py --db PATH --port PORT [--synchronous FULL|NORMAL] [--mode thread|inline]

A Starlette app with one route, `POST /v1/events`, served by uvicorn exactly like the daemon
(one worker, the same loop and HTTP implementation uvicorn picks for the daemon, no access log,
no server header). The endpoint reads the body, parses it with orjson (one event object or
`{"events": [...]}`), inserts one row per event into a table with a UNIQUE text key
(`INSERT OR IGNORE`, so a re-sent id stores nothing), commits, and only then answers 200
with the number of events. Nothing else: no authentication, validation, pricing, rollups,
rate limits, middleware or logging.

SQLite settings are the daemon's: WAL, `synchronous` FULL (default) or NORMAL, busy_timeout
10 s, 64 MiB page cache. One connection serves every request, so writers never wait in
SQLite's busy handler; each request is its own transaction (`BEGIN IMMEDIATE` .. `COMMIT`).

Modes:
- `thread` (default): the insert and commit run in Starlette's thread pool, one at a time under
  a lock, so the event loop keeps parsing requests while a commit waits for fsync (the daemon
  also writes from its thread pool);
- `inline`: the insert and commit run on the event loop itself.
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    ts TEXT NOT NULL,
    provider TEXT,
    model TEXT,
    project TEXT,
    input_tokens INTEGER,
    cache_read_tokens INTEGER,
    cache_write_tokens INTEGER,
    cache_write_1h_tokens INTEGER,
    output_tokens INTEGER,
    reasoning_tokens INTEGER
)
"""
INSERT = "INSERT OR IGNORE INTO events (key, ts, provider, model, project, input_tokens, cache_read_tokens," \
         " cache_write_tokens, cache_write_1h_tokens, output_tokens, reasoning_tokens)" \
         " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


def connect(db: str, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {'FULL' if synchronous.upper() == 'FULL' else 'NORMAL'}")
    conn.execute("PRAGMA cache_size = -65536")
    conn.execute(SCHEMA)
    return conn


def create_app(db: str, synchronous: str = "FULL", mode: str = "thread") -> Starlette:
    conn = connect(db, synchronous)
    lock = threading.Lock()

    def store(rows: Sequence[tuple[Any, ...]]) -> None:
        with lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(INSERT, rows)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    async def post_events(request: Request) -> Response:
        try:
            document = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return Response(b'{"detail":"malformed JSON"}', status_code=400, media_type="application/json")
        items = document["events"] if isinstance(document, dict) and "events" in document else [document]
        try:
            rows = [(r["id"], r["timestamp"], r.get("provider"), r.get("model"), r.get("project"),
                     r.get("input_tokens", 0), r.get("cache_read_tokens", 0), r.get("cache_write_tokens", 0),
                     r.get("cache_write_1h_tokens", 0), r.get("output_tokens", 0), r.get("reasoning_tokens", 0))
                    for r in items]
        except (KeyError, TypeError, AttributeError):
            return Response(b'{"detail":"bad event"}', status_code=422, media_type="application/json")
        if mode == "inline":
            store(rows)
        else:
            await run_in_threadpool(store, rows)
        return Response(orjson.dumps({"stored": len(rows)}), media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            conn.close()

    return Starlette(routes=[Route("/v1/events", post_events, methods=["POST"])], lifespan=lifespan)


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--synchronous", default="FULL", choices=("FULL", "NORMAL"))
    parser.add_argument("--mode", default="thread", choices=("thread", "inline"))
    args = parser.parse_args(argv)
    app = create_app(args.db, args.synchronous, args.mode)
    # the daemon's uvicorn options (agentcost_cli/commands/daemon.py), minus TLS and the factory
    uvicorn.run(app, host=args.host, port=args.port, workers=1, log_config=None, access_log=False,
                server_header=False, date_header=True, timeout_graceful_shutdown=30, proxy_headers=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
