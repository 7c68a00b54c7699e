#!/usr/bin/env python3
"""The bare ingest baseline the issue measures agentcost against.

    python bench/baseline.py EVENTS.jsonl [--db PATH] [--mode executemany|execute]

Per line: orjson parse, then one INSERT into a table with a UNIQUE key (the
event's "id"; duplicates ignored), all in ONE transaction, on a fresh SQLite
file with the same pragmas as agentcost's store (WAL, synchronous=FULL).
Nothing else: no validation, no pricing, no rollups, no projects.

The row keeps the columns a usage report needs (time, provider, model,
project, the six token counts), so the write volume is in the same ballpark
as a real event row without being a copy of agentcost's schema.

Prints one JSON object: rows, seconds, rows_per_s. `--mode executemany`
(default) streams rows into one executemany (each row is still its own INSERT
execution); `--mode execute` calls cursor.execute once per row from Python.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time

import orjson

SCHEMA = """
CREATE TABLE events (
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


def rows(path: str):  # type: ignore[no-untyped-def]
    loads = orjson.loads
    with open(path, "rb") as handle:
        for line in handle:
            r = loads(line)
            g = r.get
            yield (r["id"], r["timestamp"], g("provider"), g("model"), g("project"), g("input_tokens", 0),
                   g("cache_read_tokens", 0), g("cache_write_tokens", 0), g("cache_write_1h_tokens", 0),
                   g("output_tokens", 0), g("reasoning_tokens", 0))


def run(path: str, db: str, mode: str, cache_mb: int = 0) -> dict[str, float | int | str]:
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(db + suffix)
        except FileNotFoundError:
            pass
    started = time.perf_counter()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    if cache_mb:
        conn.execute(f"PRAGMA cache_size = -{cache_mb * 1024}")
    conn.execute(SCHEMA)
    conn.execute("BEGIN IMMEDIATE")
    if mode == "executemany":
        conn.executemany(INSERT, rows(path))
    else:
        cur = conn.cursor()
        execute = cur.execute
        for row in rows(path):
            execute(INSERT, row)
    conn.execute("COMMIT")
    count = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    conn.close()
    seconds = time.perf_counter() - started
    return {"mode": mode, "cache_mb": cache_mb, "rows": count, "seconds": round(seconds, 3),
            "rows_per_s": round(count / seconds)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("events", help="native JSONL file (bench/gen_native.py)")
    parser.add_argument("--db", help="SQLite file to (re)create (default: a temp file, removed afterwards)")
    parser.add_argument("--mode", choices=("executemany", "execute"), default="executemany")
    parser.add_argument("--cache-mb", type=int, default=0,
                        help="PRAGMA cache_size in MiB (default 0: SQLite's default, about 2 MiB)")
    args = parser.parse_args(argv)
    if args.db:
        result = run(args.events, args.db, args.mode, args.cache_mb)
    else:
        with tempfile.TemporaryDirectory(prefix="agentcost-baseline-") as tmp:
            result = run(args.events, os.path.join(tmp, "baseline.db"), args.mode, args.cache_mb)
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
