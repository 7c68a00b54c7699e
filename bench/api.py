#!/usr/bin/env python3
"""HTTP ingestion benchmark: `POST /v1/events` on a real `agentcost daemon` vs. a bare baseline.

    python bench/api.py                                  # FULL and NORMAL, batch 100 and 1, c = 1, 2, 16
    python bench/api.py --sync FULL --batches 100 --connections 1,16 --duration 15
    python bench/api.py --baseline-modes thread,inline   # both baseline modes; the faster one counts
    python bench/api.py --profile --py-spy PATH          # afterwards, py-spy the daemon under load
    python bench/api.py --client python                  # no wrk: the bounded asyncio client in this file
    python bench/api.py --help

What runs (see bench/README.md, "HTTP ingestion"):
- the daemon: `python -m agentcost_cli --db DB daemon --port P`, one worker, on a fresh store made
  in-process with the services (a user, project `web`, an API key with the `ingest` scope), with
  AGENTCOST_HOME a temp dir, rate limits raised so they never throttle, and
  AGENTCOST_SQLITE_SYNCHRONOUS=FULL (the default) or NORMAL. Its log (JSON lines, one access
  line per request at the default level) goes to a file. Variants for information (--variants):
  `nolog` silences the access log, `t1` limits FastAPI's thread pool to one thread;
- the baseline: bench/baseline_api.py, a bare Starlette endpoint under the daemon's uvicorn
  options and SQLite settings that parses the body and inserts the rows, one transaction per
  request (`--baseline-modes`: `thread` and/or `inline`; the faster one is the baseline).

The load comes from a second process on 127.0.0.1: wrk (Debian's `wrk`, one thread, N keep-alive
connections, a Lua script that gives every event a unique, randomly ordered id), or, when wrk is
missing (or with --client python), a bounded asyncio client in this file. Every run gets a fresh
server and store, a warm-up, then the timed run; afterwards the rows in the store are counted
(every acknowledged event must be there and, for the daemon, priced), and for the daemon the
answers in its access log are counted by status.

Figures per run: events/s and requests/s of 2xx answers, latency p50/p90/p99 from the load
generator (closed loop: N connections each waiting for its answer), the server's CPU (user+sys
per request), and how much CPU other processes took meanwhile (runs are repeated when others
took more than --max-busy). A server's capacity is its best events/s over the connection counts;
the targets compare capacities at synchronous=FULL. Output: tables on stdout, TARGET lines,
bench/out/api-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = BENCH / "out"
VENV_PY = ROOT / ".venv" / "bin" / "python"
RATE_LIMITS = "key_requests=100000000/minute,key_events=1000000000/minute,ip_requests=100000000/minute"
TARGETS = {100: 0.5, 1: 0.3}  # daemon events/s over baseline events/s, at synchronous=FULL (the default)
ISSUE_BASELINE = {100: 218_000, 1: 15_000}  # events/s the issue quotes for the baseline ("here")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _ensure_venv() -> None:
    """This file imports agentcost_cli (to seed the store) and orjson: run under the project venv."""
    try:
        import orjson  # noqa: F401

        import agentcost_cli  # noqa: F401
    except ImportError:
        if VENV_PY.exists() and Path(sys.prefix).resolve() != VENV_PY.parent.parent.resolve():
            os.execv(str(VENV_PY), [str(VENV_PY), __file__, *sys.argv[1:]])
        raise


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- machine load ---------------------------------------------------------------------------------


def cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine since boot."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values[:8]) - idle, sum(values[:8])


def process_cpu(pid: int) -> float:
    """CPU seconds (user + sys, all threads) a live process has used."""
    user, system = process_times(pid)
    return user + system


def tree_times(pid: int) -> tuple[float, float]:
    """(user, sys) CPU seconds of a live process and its live descendants (the daemon's ingest
    helper process is part of the server, not "other processes")."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry))
    user = system = 0.0
    todo = [pid]
    while todo:
        current = todo.pop()
        u, s = process_times(current)
        user, system = user + u, system + s
        todo.extend(children.get(current, ()))
    return user, system


def process_times(pid: int) -> tuple[float, float]:
    """(user, sys) CPU seconds, all threads, of a live process."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def machine_busy(seconds: float = 1.0) -> float:
    a = cpu_jiffies()
    time.sleep(seconds)
    b = cpu_jiffies()
    return (b[0] - a[0]) / max(1, b[1] - a[1])


def wait_quiet(max_busy: float, limit: float) -> float:
    """Other sessions share this machine: wait (up to `limit` s) until it is idle."""
    deadline = time.monotonic() + limit
    busy = machine_busy()
    announced = False
    while busy > max_busy and time.monotonic() < deadline:
        if not announced:
            log(f"    machine {busy:.0%} busy with other processes; waiting up to {limit:.0f} s ...")
            announced = True
        time.sleep(4)
        busy = machine_busy()
    return busy


# -- the servers ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def seed_store(db: Path, home: Path) -> str:
    """A fresh store with a user, project `web` and an ingest key, made with the services
    in-process (as tests/server/conftest.py:seed_team does); returns the key's secret."""
    previous = os.environ.get("AGENTCOST_HOME")
    os.environ["AGENTCOST_HOME"] = str(home)
    try:
        from agentcost_cli.services import keys, projects, users
        from agentcost_cli.services.actor import LOCAL, user_actor
        from agentcost_cli.store import open_store

        store = open_store(db)
        try:
            users.create_user(store, LOCAL, email="bench@example.com", password="correct horse battery staple",
                              verified=True)
            row = store.find_user("bench@example.com")
            assert row is not None
            owner = user_actor(row)
            projects.create_project(store, owner, "web")
            _, secret = keys.create_key(store, owner, "web", name="bench", scopes=("ingest",))
            return str(secret)
        finally:
            store.close()
    finally:
        if previous is None:
            os.environ.pop("AGENTCOST_HOME", None)
        else:
            os.environ["AGENTCOST_HOME"] = previous


# Daemon variants other than "default" start the real daemon command through this wrapper, which
# changes one thing first (experiments, for information; the daemon has no setting for either):
#   nolog: the access logger raised to WARNING right after the daemon configures logging;
#   t1:    AnyIO's default thread limiter (FastAPI's thread pool, 40 by default) set to one thread.
DAEMON_VARIANTS = {"default": {}, "nolog": {"_BENCH_ACCESS_LOG": "off"}, "t1": {"_BENCH_THREADS": "1"}}
_WRAPPER = """
import logging, os, sys
if os.environ.get("_BENCH_ACCESS_LOG") == "off":
    import agentcost_cli.server.observability as o
    _configure = o.configure_logging
    def configure_logging(*a, **k):
        _configure(*a, **k)
        logging.getLogger(o.ACCESS_LOGGER).setLevel(logging.WARNING)
    o.configure_logging = configure_logging
threads = int(os.environ.get("_BENCH_THREADS", "0"))
if threads:
    import agentcost_cli.server.main as m
    _factory = m.app_factory
    def app_factory():
        app = _factory()
        async def limited(scope, receive, send):
            if scope["type"] == "lifespan":
                import anyio.to_thread
                anyio.to_thread.current_default_thread_limiter().total_tokens = threads
            await app(scope, receive, send)
        limited.api = app.api
        return limited
    m.app_factory = app_factory
from agentcost_cli.__main__ import main
sys.argv[0] = "agentcost"
main()
"""


@dataclass
class Server:
    kind: str  # daemon | baseline
    mode: str  # daemon: a DAEMON_VARIANTS name; baseline: thread/inline
    sync: str
    db: Path
    home: Path
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    token: str | None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def answers(self) -> dict[str, Any]:
        """From the daemon's access log (warm-up and timed run): POST /v1/events answers by status,
        and the slowest one."""
        statuses: dict[str, int] = {}
        slowest = 0.0
        with contextlib.suppress(OSError), self.log_path.open("rb") as handle:
            for line in handle:
                if b'"/v1/events"' not in line:
                    continue
                with contextlib.suppress(ValueError):
                    entry = json.loads(line)
                    key = str(entry.get("status"))
                    statuses[key] = statuses.get(key, 0) + 1
                    slowest = max(slowest, float(entry.get("duration_ms") or 0))
        return {"statuses": statuses, "slowest_ms": slowest} if statuses else {}

    def stored(self) -> dict[str, int]:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            if self.kind == "daemon":
                total, priced = conn.execute("SELECT count(*), count(cost_nanos) FROM events").fetchone()
                return {"events": int(total), "priced": int(priced)}
            return {"events": int(conn.execute("SELECT count(*) FROM events").fetchone()[0])}
        finally:
            conn.close()


def start_server(kind: str, mode: str, sync: str, python: str) -> Server:
    home = Path(tempfile.mkdtemp(prefix=f"agentcost-bench-api-{kind}-"))
    db = home / ("daemon.db" if kind == "daemon" else "baseline.db")
    port = free_port()
    log_path = home / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCOST_")}
    token = None
    if kind == "daemon":
        token = seed_store(db, home)
        env.update(AGENTCOST_HOME=str(home), AGENTCOST_RATE_LIMITS=RATE_LIMITS, AGENTCOST_SQLITE_SYNCHRONOUS=sync)
        args = ["--db", str(db), "daemon", "--port", str(port)]
        env.update(DAEMON_VARIANTS[mode])
        cmd = [python, "-m", "agentcost_cli", *args] if mode == "default" else [python, "-c", _WRAPPER, *args]
        ready = "/readyz"
    else:
        cmd = [python, str(BENCH / "baseline_api.py"), "--db", str(db), "--port", str(port), "--synchronous", sync,
               "--mode", mode]
        ready = None
    handle = open(log_path, "wb")  # noqa: SIM115 - the server owns it
    process = subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                               cwd=home)
    handle.close()
    url = f"http://127.0.0.1:{port}"
    server = Server(kind, mode, sync, db, home, url, process, log_path, token)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{kind} exited ({process.returncode}):\n{log_path.read_text()[-3000:]}")
        try:
            if ready is not None:
                with urllib.request.urlopen(url + ready, timeout=1) as answer:
                    if answer.status == 200:
                        return server
            else:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return server
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{kind} did not become ready:\n{log_path.read_text()[-3000:]}")


# -- event bodies ---------------------------------------------------------------------------------


def write_templates(path: Path, count: int = 4096) -> None:
    """Native events from bench/gen_native.py (realistic models, tokens, users, tags), all in the
    key's project `web`, each written without its `id` and opening brace: the load generator
    prepends `{"id":"<unique>",`."""
    import orjson

    sys.path.insert(0, str(BENCH))
    try:
        from gen_native import DEFAULT_END, Generator
    finally:
        sys.path.pop(0)
    gen = Generator(7, datetime.fromisoformat(DEFAULT_END).replace(tzinfo=UTC), count)
    lines = []
    for index in range(count):
        event = gen.event(index, 0)
        event.pop("id")
        event["project"] = "web"
        lines.append(orjson.dumps(event)[1:])
    path.write_bytes(b"\n".join(lines) + b"\n")


WRK_SCRIPT = r"""
-- written by bench/api.py: POST /v1/events, every event with a unique id in random order
local counter = 0
local batch, templates, count, salt
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  batch = tonumber(args[1])
  templates = {}
  for line in io.lines(args[2]) do templates[#templates + 1] = line end
  count = #templates
  salt = args[4]
  math.randomseed(tid * 1000003 + tonumber(args[5]))
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if args[3] ~= "-" then wrk.headers["Authorization"] = "Bearer " .. args[3] end
end

function request()
  local parts = {}
  for i = 1, batch do
    counter = counter + 1
    parts[i] = string.format('{"id":"evt_%08x%06x_%s_%d_%d",%s', math.random(0, 2147483647),
      math.random(0, 16777215), salt, tid, counter, templates[(counter % count) + 1])
  end
  local body
  if batch == 1 then body = parts[1] else body = '{"events":[' .. table.concat(parts, ",") .. ']}' end
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
end
"""


# -- the bounded Python client (when wrk is missing) -----------------------------------------------


async def _client_main(args: argparse.Namespace) -> dict[str, Any]:
    templates = Path(args.templates).read_bytes().splitlines()
    host, _, port = args.url.removeprefix("http://").partition(":")
    rng = random.Random(args.seed)
    latencies: list[float] = []
    errors = {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}
    counter = 0
    sent_bytes = 0
    auth = f"Authorization: Bearer {args.token}\r\n".encode() if args.token != "-" else b""

    def body() -> bytes:
        nonlocal counter
        parts = []
        for _ in range(args.batch):
            counter += 1
            parts.append(b'{"id":"evt_%08x%06x_%s_0_%d",%s' % (rng.getrandbits(31), rng.getrandbits(24),
                                                              args.salt.encode(), counter,
                                                              templates[counter % len(templates)]))
        return parts[0] if args.batch == 1 else b'{"events":[' + b",".join(parts) + b"]}"

    async def connection(stop_at: float) -> None:
        nonlocal sent_bytes
        try:
            reader, writer = await asyncio.open_connection(host, int(port))
        except OSError:
            errors["connect"] += 1
            return
        while time.perf_counter() < stop_at:
            payload = body()
            request = (b"POST /v1/events HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n%s"
                       b"Content-Length: %d\r\n\r\n" % (host.encode(), auth, len(payload))) + payload
            started = time.perf_counter()
            try:
                writer.write(request)
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), args.timeout)
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                answer = await asyncio.wait_for(reader.readexactly(length), args.timeout) if length else b""
            except TimeoutError:
                errors["timeout"] += 1
                break
            except (OSError, asyncio.IncompleteReadError):
                errors["read"] += 1
                break
            latencies.append(time.perf_counter() - started)
            sent_bytes += len(head) + len(answer)
            if int(head.split(b" ", 2)[1]) >= 400:
                errors["status"] += 1
        writer.close()

    started = time.perf_counter()
    stop_at = started + args.duration
    await asyncio.gather(*(connection(stop_at) for _ in range(args.connections)))
    duration = time.perf_counter() - started
    ordered = sorted(latencies) or [0.0]

    def pct(p: float) -> int:
        return int(ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] * 1e6)

    return {"requests": len(latencies), "duration_us": int(duration * 1e6), "bytes": sent_bytes, "errors": errors,
            "latency_us": {"min": int(ordered[0] * 1e6), "mean": sum(ordered) / len(ordered) * 1e6,
                           "max": int(ordered[-1] * 1e6), "p50": pct(50), "p90": pct(90), "p99": pct(99),
                           "p999": pct(99.9)}}


def client_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="api.py _client")
    for name, kind in (("--url", str), ("--templates", str), ("--token", str), ("--salt", str), ("--batch", int),
                       ("--connections", int), ("--duration", float), ("--timeout", float), ("--seed", int)):
        parser.add_argument(name, type=kind, required=True)
    args = parser.parse_args(argv)
    print("BENCH_JSON " + json.dumps(asyncio.run(_client_main(args))), flush=True)
    return 0


# -- one measurement ------------------------------------------------------------------------------


@dataclass
class Measurement:
    kind: str  # daemon | baseline
    mode: str  # daemon variant (DAEMON_VARIANTS) or baseline mode (thread | inline)
    sync: str
    batch: int
    connections: int
    duration_s: float
    requests: int  # answered requests, any status
    non_2xx: int
    requests_per_s: float  # 2xx answers per second
    events_per_s: float  # events in 2xx answers per second
    latency_ms: dict[str, float]  # over all answered requests
    errors: dict[str, int]
    server_cpu_s: float
    server_cpu_share: float  # of one core
    client_cpu_s: float
    other_busy: float  # share of the machine's CPU other processes took meanwhile (0..1)
    stored: dict[str, int] = field(default_factory=dict)
    acknowledged_events: int = 0
    verified: bool = False
    log_bytes: int = 0
    server_user_us_per_request: float = 0.0
    server_sys_us_per_request: float = 0.0
    server_log: dict[str, Any] = field(default_factory=dict)  # daemon: answers by status in its access log

    @property
    def label(self) -> str:
        return f"{self.kind}[{self.mode}] {self.sync} batch={self.batch} c={self.connections}"

    @property
    def name(self) -> str:
        if self.kind == "baseline":
            return f"baseline ({self.mode})"
        return {"default": "daemon", "nolog": "daemon, access log off", "t1": "daemon, 1 pool thread"}.get(
            self.mode, f"daemon ({self.mode})")


def load(args: argparse.Namespace, server: Server, templates: Path, batch: int, connections: int,
         duration: float, salt: str) -> tuple[dict[str, Any], float]:
    """Run the load generator once; (its figures, its CPU seconds)."""
    token = server.token or "-"
    seed = str(random.randrange(1, 1 << 30))
    if args.client == "wrk":
        script = templates.parent / "post_events.lua"
        cmd = [args.wrk, "-t", str(min(args.client_threads, connections)), "-c", str(connections), "-d",
               f"{max(1, round(duration))}s", "--timeout", f"{args.timeout:g}s", "-s", str(script),
               server.url + "/v1/events", "--", str(batch), str(templates), token, salt, seed]
    else:
        cmd = [sys.executable, __file__, "_client", "--url", server.url, "--templates", str(templates), "--token",
               token, "--salt", salt, "--batch", str(batch), "--connections", str(connections), "--duration",
               f"{duration:g}", "--timeout", f"{args.timeout:g}", "--seed", seed]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        out.seek(0)
        err.seek(0)
        text, errtext = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0 or "BENCH_JSON " not in text:
        raise RuntimeError(f"load generator failed: {' '.join(cmd)}\n{text[-2000:]}\n{errtext[-2000:]}")
    figures = json.loads(text.split("BENCH_JSON ", 1)[1].splitlines()[0])
    return figures, usage.ru_utime + usage.ru_stime


def measure(args: argparse.Namespace, templates: Path, kind: str, mode: str, sync: str, batch: int,
            connections: int, duration: float, warnings: list[str]) -> Measurement:
    """One figure: a fresh server and store, warm-up, the timed run, then the rows are counted.
    Measured again (up to --retries) when other processes took more than --max-busy meanwhile."""
    best: Measurement | None = None
    for attempt in range(args.retries + 1):
        wait_quiet(args.max_busy, args.wait_idle)
        server = start_server(kind, mode, sync, args.python)
        try:
            acknowledged = 0
            if args.warmup > 0:
                warm, _ = load(args, server, templates, batch, connections, args.warmup, "w")
                acknowledged += (warm["requests"] - warm["errors"]["status"]) * batch
            log_before = server.log_path.stat().st_size
            times_before, jiffies_before = tree_times(server.process.pid), cpu_jiffies()
            figures, client_cpu = load(args, server, templates, batch, connections, duration, "m")
            times_after, jiffies_after = tree_times(server.process.pid), cpu_jiffies()
            log_bytes = server.log_path.stat().st_size - log_before
            non_2xx = figures["errors"]["status"]
            acknowledged += (figures["requests"] - non_2xx) * batch
        finally:
            server.stop()
        try:
            stored = server.stored()
            answers = server.answers() if kind == "daemon" else {}
        finally:
            if not args.keep:
                shutil.rmtree(server.home, ignore_errors=True)
        seconds = figures["duration_us"] / 1e6
        user, system = times_after[0] - times_before[0], times_after[1] - times_before[1]
        server_cpu = user + system
        busy = (jiffies_after[0] - jiffies_before[0]) / CLK_TCK
        other = max(0.0, busy - server_cpu - client_cpu) / (seconds * (os.cpu_count() or 1))
        # Every acknowledged event must be stored. Requests still in flight when a load generator
        # stopped (at most one per connection, in the warm-up and in the timed run) may have been
        # stored without their answer being counted.
        slack = 2 * connections * batch
        ok = acknowledged <= stored["events"] <= acknowledged + slack
        if kind == "daemon":  # ~1% of the generated events use a model no catalog knows (unpriced)
            ok = ok and stored["events"] - stored.get("priced", 0) <= max(3, stored["events"] * 0.05)
        ok_requests = figures["requests"] - non_2xx
        lat = {k: round(v / 1000, 3) for k, v in figures["latency_us"].items()}
        m = Measurement(kind, mode, sync, batch, connections, round(seconds, 3), figures["requests"], non_2xx,
                        round(ok_requests / seconds, 1), round(ok_requests * batch / seconds, 1), lat,
                        figures["errors"], round(server_cpu, 2), round(server_cpu / seconds, 3),
                        round(client_cpu, 2), round(min(other, 1.0), 3), stored, acknowledged, ok, log_bytes,
                        round(user / max(ok_requests, 1) * 1e6, 1), round(system / max(ok_requests, 1) * 1e6, 1),
                        answers)
        log(f"  {m.label}: {m.events_per_s:>9,.0f} events/s {m.requests_per_s:>7,.0f} req/s"
            f"{f' ({non_2xx} non-2xx)' if non_2xx else ''}  p50 {lat['p50']:.2f} ms  p99 {lat['p99']:.2f} ms  "
            f"server CPU {m.server_cpu_share:.0%}  others {m.other_busy:.0%}  "
            f"stored {'ok' if ok else 'MISMATCH'}"
            + (f"  daemon log: {answers['statuses']}, slowest {answers['slowest_ms']:,.0f} ms" if answers else ""))
        if not ok:
            warnings.append(f"{m.label}: stored {stored} for {acknowledged} acknowledged events")
        if best is None or m.other_busy < best.other_busy:
            best = m
        if m.other_busy <= args.max_busy:
            return m
        if attempt < args.retries:
            log(f"    (other processes used {m.other_busy:.0%} of the machine; measuring again when quiet)")
    assert best is not None
    warnings.append(f"{best.label}: other processes used {best.other_busy:.0%} of the machine during the kept run")
    return best


# -- profiling ------------------------------------------------------------------------------------


def find_pyspy(explicit: str | None) -> str | None:
    for candidate in (explicit, shutil.which("py-spy"), str(ROOT / ".venv" / "bin" / "py-spy")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def profile_daemon(args: argparse.Namespace, pyspy: str, templates: Path, variant: str, batch: int,
                   connections: int, stamp: str) -> dict[str, Any]:
    """py-spy (every thread, on-CPU samples only) on a server under load: the raw stacks, the load
    figures and the server's CPU time meanwhile. `variant` is a daemon variant, or baseline-MODE."""
    kind, mode = ("baseline", variant.split("-", 1)[1]) if variant.startswith("baseline-") else ("daemon", variant)
    server = start_server(kind, mode, args.profile_sync, args.python)
    raw = OUT / f"api-profile-{stamp}-{variant}-batch{batch}-c{connections}.txt"
    try:
        load(args, server, templates, batch, connections, 2, "w")
        cpu_before = process_cpu(server.process.pid)
        spy = subprocess.Popen([pyspy, "record", "-r", str(args.profile_rate), "--format", "raw", "-o", str(raw),
                                "--threads", "--nonblocking", *(["--gil"] if args.profile_gil else []),
                                "-d", str(round(args.profile_seconds)),
                                "-p", str(server.process.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        figures, _ = load(args, server, templates, batch, connections, args.profile_seconds - 1, "p")
        cpu = process_cpu(server.process.pid) - cpu_before
        spy.wait(timeout=120)
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(server.home, ignore_errors=True)
    seconds = figures["duration_us"] / 1e6
    ok = figures["requests"] - figures["errors"]["status"]
    return {"variant": variant, "batch": batch, "connections": connections, "raw": raw, "requests": ok,
            "requests_per_s": round(ok / seconds, 1), "server_cpu_share": round(cpu / seconds, 3),
            "cpu_us_per_request": round(cpu / max(ok, 1) * 1e6, 1), "latency_ms": {
                k: round(v / 1000, 2) for k, v in figures["latency_us"].items()}}


# Where a sample's time goes: the innermost frame that matches decides (rules are tried in order at
# each frame, from the leaf outwards). Heuristic buckets for a per-request cost breakdown.
PROFILE_BUCKETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("SQLite BEGIN/COMMIT (commit, fsync, lock waits)", ("SqliteStore.transaction (",)),
    ("store: insert events + rollups", ("insert_events (", "insert_prepared", "_fold_daily", "_fold_hourly",
                                        "event_row (")),
    ("store: dedupe lookup", ("existing_dedupe_keys", "_stored_keys")),
    ("pricing", ("agentcost_cli/pricing/", "_pricer (")),
    ("parse + validate events", ("agentcost_cli/ingest/", "_parse_item")),
    ("auth: API key lookup + touch", ("actor_from_api_key", "actor_from_access_token")),
    ("permission checks (project lookup)", ("_ingest_scope", "agentcost_cli/services/permissions.py")),
    ("rate limits", ("agentcost_cli/server/ratelimit.py", "agentcost_cli/server/limiting.py", "limits/")),
    ("request id + access log (observability, logging, structlog)", ("logging/__init__.py", "structlog/",
                                                                    "observability.py:")),
    ("metrics (prometheus)", ("agentcost_cli/server/metrics.py", "prometheus_client/")),
    ("security headers, proxy, https", ("agentcost_cli/server/security.py",)),
    ("route: read body, orjson, answer", ("agentcost_cli/server/routes/events.py",)),
    ("FastAPI/Starlette routing, dependencies, responses", ("fastapi/", "starlette/", "pydantic")),
    ("thread pool handoff (anyio, threading)", ("anyio/", "threading.py", "queue.py", "_write_to_self",
                                                "_read_from_self", "concurrent/futures")),
    ("HTTP server (uvicorn, h11, asyncio)", ("uvicorn/", "h11/", "asyncio/", "selectors.py")),
)


IDLE_LEAVES = (".select (selectors.py", "Condition.wait (", "Queue.get (", "Event.wait (")


def bucket_profile(raw: Path) -> tuple[list[tuple[str, int]], int]:
    """Samples per bucket, and the samples left out: a thread waiting for work (the event loop in
    epoll, a pool thread waiting for a task), which py-spy does not always see as idle."""
    counts: dict[str, int] = {}
    idle = 0
    for line in raw.read_text().splitlines():
        if not line.strip():
            continue
        stack, _, count_text = line.rpartition(" ")
        frames = stack.split(";")
        if any(leaf in frames[-1] for leaf in IDLE_LEAVES):
            idle += int(count_text)
            continue
        name = "other"
        for frame in reversed(frames):
            hit = next((bucket for bucket, marks in PROFILE_BUCKETS if any(mark in frame for mark in marks)), None)
            if hit is not None:
                name = hit
                break
        counts[name] = counts.get(name, 0) + int(count_text)
    return sorted(counts.items(), key=lambda item: -item[1]), idle


def summarize_profile(result: dict[str, Any], rate: int, top: int) -> list[dict[str, Any]]:
    """Thread time per request in each bucket above (samples / rate / requests), then
    bench/profile.py's summary of the same samples (inclusive, self, innermost agentcost_cli line)."""
    import importlib.util

    raw: Path = result["raw"]
    buckets, idle = bucket_profile(raw)
    total = sum(count for _, count in buckets) or 1
    requests = max(result["requests"], 1)
    print(f"\n{'share':>6}  {'us/request':>10}  where (thread time of all threads; {idle} samples waiting for "
          "work left out)")
    rows = []
    for name, count in buckets:
        share = count / total
        per_request = count / rate / requests * 1e6
        rows.append({"bucket": name, "share": round(share, 3), "us_per_request": round(per_request, 1)})
        print(f"{share:6.1%}  {per_request:10.0f}  {name}")
    print(f"{'':6}  {total / rate / requests * 1e6:10.0f}  total (the server's measured CPU time: "
          f"{result['cpu_us_per_request']:,.0f} us/request)")
    spec = importlib.util.spec_from_file_location("bench_profile", BENCH / "profile.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    print()
    module.summarize(raw, top)
    return rows


# -- report ---------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {"cores": os.cpu_count(), "python": platform.python_version(),
                            "sqlite": sqlite3.sqlite_version, "platform": platform.platform()}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        info["mem_gib"] = round(int(Path("/proc/meminfo").read_text().split()[1]) / 1024**2, 1)
    import importlib.util

    info["uvicorn_http"] = "httptools" if importlib.util.find_spec("httptools") else "h11"
    info["uvicorn_loop"] = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    from importlib.metadata import version

    for package in ("uvicorn", "starlette", "fastapi", "orjson"):
        info[package] = version(package)
    git = ["git", "-C", str(ROOT)]
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        info["git"] = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                     check=True).stdout.strip()
        dirty = subprocess.run([*git, "status", "--porcelain", "--", "agentcost_cli"], capture_output=True,
                               text=True, check=True).stdout.splitlines()
        info["agentcost_cli_uncommitted_files"] = len(dirty)
    return info


def source_files() -> dict[str, str]:
    """sha256 per agentcost_cli Python source: every server start imports the tree as it is then,
    so a change during a run means the runs measured different code."""
    import hashlib

    return {str(path.relative_to(ROOT)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted((ROOT / "agentcost_cli").rglob("*.py"))}


def source_digest(files: dict[str, str]) -> str:
    import hashlib

    return hashlib.sha256("".join(f"{k}:{v}\n" for k, v in files.items()).encode()).hexdigest()[:16]


def fsync_cost(directory: Path, rounds: int = 200) -> float:
    """Microseconds per write + fsync of 4 KiB on the file system the stores live on."""
    path = directory / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        started = time.perf_counter()
        for _ in range(rounds):
            os.write(fd, b"x" * 4096)
            os.fsync(fd)
        return (time.perf_counter() - started) / rounds * 1e6
    finally:
        os.close(fd)
        path.unlink()


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_client"]:
        return client_command(argv[1:])
    _ensure_venv()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10, help="seconds per timed run (default 10)")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of load before each timed run (default 2)")
    parser.add_argument("--connections", default="1,2,16",
                        help="keep-alive connections, comma-separated; each server's best is its capacity "
                        "(default 1,2,16)")
    parser.add_argument("--batches", default="100,1", help="events per request, comma-separated (default 100,1)")
    parser.add_argument("--sync", default="FULL,NORMAL", help="SQLite synchronous settings (default FULL,NORMAL)")
    parser.add_argument("--baseline-modes", default="thread,inline",
                        help="baseline_api.py modes (thread, inline); the faster is the baseline (default both)")
    parser.add_argument("--variants", default="t1@16,nolog@1",
                        help="daemon experiments besides the daemon as shipped, VARIANT@CONNECTIONS (without @: "
                        "the highest connection count; run when that count is in --connections), comma-separated: "
                        "t1 (one pool thread), nolog (access log off); '' for none (default %(default)s)")
    parser.add_argument("--only", choices=("daemon", "baseline"), help="run one side only (no ratios)")
    parser.add_argument("--client", choices=("wrk", "python"), help="load generator (default wrk when installed)")
    parser.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    parser.add_argument("--client-threads", type=int, default=1, help="wrk threads (default 1: one core for load)")
    parser.add_argument("--timeout", type=float, default=30, help="per-request timeout of the client (s)")
    parser.add_argument("--python", default=str(VENV_PY if VENV_PY.exists() else sys.executable),
                        help="interpreter for the servers (default the project venv)")
    parser.add_argument("--max-busy", type=float, default=0.15,
                        help="measure again when other processes used more than this share of the machine")
    parser.add_argument("--retries", type=int, default=1)
    parser.add_argument("--wait-idle", type=float, default=300, help="wait up to this long for a quiet machine")
    parser.add_argument("--profile", action="store_true", help="afterwards, profile the daemon under load (py-spy)")
    parser.add_argument("--profile-only", action="store_true", help="only the profile, no measurements")
    parser.add_argument("--profile-runs", default="default:1:1,default:100:1",
                        help="VARIANT:BATCH:CONNECTIONS, comma-separated; VARIANT is a daemon variant or "
                        "baseline-thread / baseline-inline (default %(default)s)")
    parser.add_argument("--profile-sync", default="FULL")
    parser.add_argument("--profile-seconds", type=float, default=10)
    parser.add_argument("--profile-rate", type=int, default=250)
    parser.add_argument("--profile-gil", action="store_true",
                        help="sample only the thread holding the GIL (where Python time goes, not SQLite's)")
    parser.add_argument("--py-spy", help="path to py-spy (default: PATH, then .venv/bin)")
    parser.add_argument("--top", type=int, default=25, help="lines per profile section")
    parser.add_argument("--keep", action="store_true", help="keep the servers' temp dirs (stores, logs)")
    parser.add_argument("--out", type=Path, help="results file (default bench/out/api-<timestamp>.json)")
    args = parser.parse_args(argv)
    if args.client is None:
        args.client = "wrk" if shutil.which(args.wrk) else "python"
    if args.client == "wrk" and not shutil.which(args.wrk):
        parser.error("wrk not found (apt-get install -y wrk), or use --client python")
    connections, batches = _ints(args.connections), _ints(args.batches)
    syncs = [s.upper() for s in _names(args.sync)]
    modes = _names(args.baseline_modes)
    variants: list[tuple[str, int]] = []
    for spec in _names(args.variants):
        name, _, at = spec.partition("@")
        if name not in DAEMON_VARIANTS:
            parser.error(f"unknown daemon variant {name!r}: {', '.join(DAEMON_VARIANTS)}")
        variants.append((name, int(at) if at else max(connections)))
    pyspy = None
    if args.profile or args.profile_only:
        pyspy = find_pyspy(args.py_spy)
        if pyspy is None:
            parser.error("py-spy not found: pip install py-spy (any venv), then --py-spy PATH")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    OUT.mkdir(parents=True, exist_ok=True)
    out_path = args.out or OUT / f"api-{stamp}.json"

    work = Path(tempfile.mkdtemp(prefix="agentcost-bench-api-"))
    templates = work / "events.txt"
    write_templates(templates)
    (work / "post_events.lua").write_text(WRK_SCRIPT)
    info = machine_info()
    info["fsync_us"] = round(fsync_cost(work), 1)
    sources = source_files()
    info["agentcost_source_sha256"] = source_digest(sources)
    info["load_generator"] = (f"wrk {args.client_threads} thread" if args.client == "wrk"
                              else "bench/api.py _client (asyncio)")
    log(f"machine: {info.get('cpu')}, {info['cores']} cores; uvicorn {info['uvicorn']} "
        f"({info['uvicorn_loop']} + {info['uvicorn_http']}); write+fsync of 4 KiB: {info['fsync_us']:.0f} us")
    log(f"load: {info['load_generator']}, connections {connections}, {args.duration:g} s per run after "
        f"{args.warmup:g} s of warm-up")

    results: list[Measurement] = []
    warnings: list[str] = []
    profiles: list[dict[str, Any]] = []
    try:
        if not args.profile_only:
            for sync in syncs:
                for batch in batches:
                    for conns in connections:
                        if args.only != "baseline":
                            runs = ["default", *(name for name, at in variants if at == conns)]
                            for variant in runs:
                                results.append(measure(args, templates, "daemon", variant, sync, batch, conns,
                                                       args.duration, warnings))
                        if args.only != "daemon":
                            for mode in modes:
                                results.append(measure(args, templates, "baseline", mode, sync, batch, conns,
                                                       args.duration, warnings))
        if pyspy is not None:
            for spec in _names(args.profile_runs):
                variant, batch_text, conns_text = spec.split(":")
                wait_quiet(args.max_busy, args.wait_idle)
                result = profile_daemon(args, pyspy, templates, variant, int(batch_text), int(conns_text), stamp)
                raw = result["raw"]
                result["raw"] = str(raw.relative_to(ROOT))
                who = variant if variant.startswith("baseline") else f"daemon[{variant}]"
                print(f"\n=== py-spy: {who}, synchronous={args.profile_sync}, batch {batch_text}, "
                      f"{conns_text} connection(s): {result['requests_per_s']:,.0f} req/s under py-spy, server CPU "
                      f"{result['server_cpu_share']:.0%} of a core = {result['cpu_us_per_request']:,.0f} us per "
                      f"request; p50 {result['latency_ms']['p50']} ms (raw: {result['raw']}) ===")
                if raw.exists():
                    result["buckets"] = summarize_profile({**result, "raw": raw}, args.profile_rate, args.top)
                profiles.append(result)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    now = source_files()
    changed = sorted(name for name in set(sources) | set(now) if sources.get(name) != now.get(name))
    if changed:
        warnings.append(f"agentcost_cli's sources changed during the run (runs may have measured different code): "
                        f"{', '.join(changed)}")
    summary = report(results, warnings, info, args)
    document = {"when": stamp, "machine": info, "settings": {
        "duration_s": args.duration, "warmup_s": args.warmup, "connections": connections, "batches": batches,
        "sync": syncs, "baseline_modes": modes, "daemon_variants": [f"{n}@{c}" for n, c in variants],
        "client": args.client, "client_threads": args.client_threads, "rate_limits": RATE_LIMITS,
        "max_busy": args.max_busy,
        "daemon_access_log": "on (default INFO level, JSON lines to the log file) except variant nolog"},
        "runs": [{**asdict(m), "label": m.label} for m in results], "summary": summary, "warnings": warnings,
        "profiles": profiles}
    out_path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nresults: {out_path.relative_to(ROOT) if out_path.is_relative_to(ROOT) else out_path}")
    return 0


def _best(runs: list[Measurement]) -> Measurement:
    return max(runs, key=lambda m: m.events_per_s)


def report(results: list[Measurement], warnings: list[str], info: dict[str, Any],
           args: argparse.Namespace) -> dict[str, Any]:
    summary: dict[str, Any] = {"capacity": [], "targets": [], "by_connections": [], "single_event_latency_ms": [],
                               "normal_over_full": []}
    if not results:
        return summary
    print(f"\nHTTP ingestion: {info['cores']} cores ({info.get('cpu', '?')}), load from {info['load_generator']}, "
          f"{args.duration:g} s runs after {args.warmup:g} s warm-up; write+fsync of 4 KiB {info['fsync_us']:.0f} us; "
          f"agentcost git {info.get('git', '?')} ({info.get('agentcost_cli_uncommitted_files', '?')} uncommitted "
          f"file(s) in agentcost_cli, sources {info['agentcost_source_sha256']})\n")
    print("| server | sync | batch | conns | events/s | requests/s | non-2xx | p50 ms | p90 ms | p99 ms | "
          "server CPU | CPU us/request (user+sys) | others | stored |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for m in results:
        per_request = (f"{m.server_user_us_per_request + m.server_sys_us_per_request:,.0f} "
                       f"({m.server_user_us_per_request:,.0f}+{m.server_sys_us_per_request:,.0f})"
                       if m.requests_per_s else "-")
        print(f"| {m.name} | {m.sync} | {m.batch} | {m.connections} | {m.events_per_s:,.0f} | "
              f"{m.requests_per_s:,.0f} | {m.non_2xx} | {m.latency_ms['p50']:.2f} | {m.latency_ms['p90']:.2f} | "
              f"{m.latency_ms['p99']:.2f} | {m.server_cpu_share:.0%} | {per_request} | {m.other_busy:.0%} | "
              f"{'ok' if m.verified else 'MISMATCH'} |")
    for m in results:
        log_statuses = m.server_log.get("statuses", {})
        if set(log_statuses) - {"200"} or (m.kind == "daemon" and not m.requests_per_s):
            slowest = f", the slowest after {m.server_log['slowest_ms']:,.0f} ms" if log_statuses else ""
            print(f"\n{m.label}: the daemon's access log (warm-up + timed run) shows answers "
                  f"{log_statuses or 'none'}{slowest}")

    groups: dict[tuple[str, int], list[Measurement]] = {}
    for m in results:
        groups.setdefault((m.sync, m.batch), []).append(m)
    lines = []
    for (sync, batch), runs in groups.items():
        daemon = [m for m in runs if m.kind == "daemon" and m.mode == "default"]
        base = [m for m in runs if m.kind == "baseline"]
        for m in daemon:
            if m.batch == 1:
                summary["single_event_latency_ms"].append({"sync": sync, "connections": m.connections,
                                                           "non_2xx": m.non_2xx, **m.latency_ms})
        if not daemon or not base:
            continue
        for conns in sorted({m.connections for m in daemon}):
            d = [m for m in daemon if m.connections == conns]
            b = [m for m in base if m.connections == conns]
            if d and b:
                ratio = round(d[0].events_per_s / max(_best(b).events_per_s, 1e-9), 3)
                summary["by_connections"].append({"sync": sync, "batch": batch, "connections": conns,
                                                  "daemon": d[0].events_per_s, "baseline": _best(b).events_per_s,
                                                  "ratio": round(ratio, 3)})
        d_best, b_best = _best(daemon), _best(base)
        ratio = round(d_best.events_per_s / max(b_best.events_per_s, 1e-9), 3)
        entry = {"sync": sync, "batch": batch, "daemon_events_per_s": d_best.events_per_s,
                 "daemon_connections": d_best.connections, "baseline_events_per_s": b_best.events_per_s,
                 "baseline_connections": b_best.connections, "baseline_mode": b_best.mode, "ratio": round(ratio, 3)}
        summary["capacity"].append(entry)
        target = TARGETS.get(batch) if sync == "FULL" else None
        if target is not None:
            summary["targets"].append({**entry, "target": target, "met": ratio >= target})
        status = "info" if target is None else ("**met**" if ratio >= target else "**missed**")
        lines.append(f"| {'single events' if batch == 1 else f'batch {batch}'}, synchronous={sync} | "
                     f"{d_best.events_per_s:,.0f} (c={d_best.connections}) | {b_best.events_per_s:,.0f} "
                     f"(c={b_best.connections}, {b_best.mode}) | {ratio:.2f}x | "
                     f"{f'>= {target:.1f}x' if target is not None else '-'} | {status} |")
    if lines:
        print("\nCapacity: each side's best events/s over the connection counts measured.\n")
        print("| load | daemon events/s | baseline events/s | ratio | target | status |")
        print("|---|---|---|---|---|---|")
        print("\n".join(lines))
    if summary["by_connections"]:
        print("\n| sync | batch | connections | daemon / baseline |")
        print("|---|---|---|---|")
        for item in summary["by_connections"]:
            print(f"| {item['sync']} | {item['batch']} | {item['connections']} | {item['ratio']:.2f}x "
                  f"({item['daemon']:,.0f} / {item['baseline']:,.0f}) |")
    for kind, mode in (("daemon", "default"), ("baseline", None)):
        for batch in sorted({m.batch for m in results}, reverse=True):
            full = [m for m in results if m.kind == kind and m.batch == batch and m.sync == "FULL"
                    and (mode is None or m.mode == mode)]
            normal = [m for m in results if m.kind == kind and m.batch == batch and m.sync == "NORMAL"
                      and (mode is None or m.mode == mode)]
            if full and normal:
                f, n = _best(full), _best(normal)
                summary["normal_over_full"].append({"server": kind, "batch": batch, "full": f.events_per_s,
                                                    "normal": n.events_per_s,
                                                    "speedup": round(n.events_per_s / max(f.events_per_s, 1e-9), 2)})
    print()
    for item in summary["normal_over_full"]:
        print(f"synchronous=NORMAL vs FULL, {item['server']}, batch {item['batch']}: {item['normal']:,.0f} vs "
              f"{item['full']:,.0f} events/s ({item['speedup']:.2f}x)")
    for t in summary["targets"]:
        label = "single events" if t["batch"] == 1 else f"batch {t['batch']}"
        print(f"TARGET {'MET' if t['met'] else 'MISSED'}: {label}, synchronous=FULL: {t['ratio']:.2f}x of the "
              f"baseline (>= {t['target']:.1f}x)")
    for w in warnings:
        print("WARNING " + w)
    return summary


if __name__ == "__main__":
    raise SystemExit(main())
