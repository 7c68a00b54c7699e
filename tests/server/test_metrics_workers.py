"""Prometheus metrics with several worker processes (`agentcost daemon --workers N`): every scrape
answers the sum over all workers (prometheus-client's multiprocess mode), whichever worker
answers it; the directory that holds the workers' files is private and goes away with the daemon.

In-process tests simulate workers with distinct process ids writing to one directory; the real
test runs `agentcost daemon --workers 2` (it needs Redis for the shared rate limits)."""

from __future__ import annotations

import os
import signal
import stat
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import values
from prometheus_client.parser import text_string_to_metric_families

from agentcost_cli import __version__
from agentcost_cli.server import metrics as metrics_mod
from agentcost_cli.server.metrics import MULTIPROC_ENV, MULTIPROC_PREFIX, Metrics, multiprocess_directory

from .conftest import seed_team, start_daemon

REDIS_URL = os.environ.get("AGENTCOST_TEST_REDIS_URL")  # read at import: the autouse fixture clears AGENTCOST_*
HEALTHZ = {"method": "GET", "route": "/healthz", "status": "200"}


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [(dict(s.labels), s.value) for family in text_string_to_metric_families(text)
            for s in family.samples if s.name == name]


def value(text: str, name: str, labels: dict[str, str] | None = None) -> float:
    found = [v for lbl, v in samples(text, name) if labels is None or lbl == labels]
    assert len(found) <= 1, found
    return found[0] if found else 0.0


# -- in one process: workers simulated by their process ids ---------------------------------------
@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def shared_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "mp"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv(MULTIPROC_ENV, str(folder))
    monkeypatch.setattr(values, "ValueClass", values.ValueClass)  # restored afterwards
    yield folder
    for value_class in _WORKER_VALUES:
        value_class.close_all_files()
    _WORKER_VALUES.clear()


_WORKER_VALUES: list[Any] = []


def as_worker(pid: int, folder: Path) -> Metrics:
    """A worker's Metrics as uvicorn's spawned process would build it (values in mmap files)."""
    values.ValueClass = values.MultiProcessValue(lambda: pid)
    _WORKER_VALUES.append(values.ValueClass)
    return Metrics(multiprocess_dir=str(folder))


def test_a_scrape_sums_every_workers_counts(shared_dir: Path) -> None:
    first = as_worker(1001, shared_dir)
    for _ in range(3):
        first.observe_request("GET", "/healthz", 200, 0.002)
    first.events("web", created=5, duplicate=1)
    first.rate_limited("key_requests")
    second = as_worker(1002, shared_dir)
    for _ in range(4):
        second.observe_request("GET", "/healthz", 200, 0.004)
    second.events("web", created=2)

    for scraper in (first, second):  # whichever worker answers, the same totals
        text = scraper.render().decode()
        assert value(text, "agentcost_http_requests_total", HEALTHZ) == 7
        assert value(text, "agentcost_http_request_duration_seconds_count",
                     {"method": "GET", "route": "/healthz"}) == 7
        assert value(text, "agentcost_events_ingested_total", {"project": "web", "result": "created"}) == 7
        assert value(text, "agentcost_events_ingested_total", {"project": "web", "result": "duplicate"}) == 1
        assert value(text, "agentcost_rate_limited_total", {"limit": "key_requests"}) == 1
        assert samples(text, "agentcost_info") == [({"version": __version__}, 1.0)]  # livemax: one sample
        assert "process_cpu_seconds_total" not in text  # one random worker's figures would mislead
        assert "agentcost_outbox_depth" in text
    assert first.registry.get_sample_value("agentcost_http_requests_total", HEALTHZ) == 7
    assert {p.name for p in shared_dir.iterdir()} == {
        "counter_1001.db", "counter_1002.db", "histogram_1001.db", "histogram_1002.db",
        "gauge_livemax_1001.db", "gauge_livemax_1002.db"}


def test_a_worker_that_exits_keeps_its_counts_and_retires_its_live_gauges(shared_dir: Path) -> None:
    first = as_worker(2001, shared_dir)
    first.observe_request("POST", "/v1/events", 200, 0.01)
    second = as_worker(2002, shared_dir)
    second.observe_request("POST", "/v1/events", 200, 0.01)
    first.process_exited(2001)
    assert not (shared_dir / "gauge_livemax_2001.db").exists()
    assert (shared_dir / "counter_2001.db").exists()
    text = second.render().decode()
    assert value(text, "agentcost_http_requests_total", {"method": "POST", "route": "/v1/events",
                                                         "status": "200"}) == 2  # totals never go down
    assert samples(text, "agentcost_info") == [({"version": __version__}, 1.0)]


@pytest.mark.anyio
async def test_the_lifespan_shutdown_retires_the_worker(shared_dir: Path) -> None:
    from agentcost_cli.server.metrics import MetricsMiddleware

    worker = as_worker(os.getpid(), shared_dir)
    events: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        await send({"type": "lifespan.startup.complete"})
        assert live.exists()  # still live while serving
        events.append("app shut down")
        await send({"type": "lifespan.shutdown.complete"})

    async def receive() -> Any:
        raise AssertionError("not read by this app")

    async def send(message: Any) -> None:
        events.append(message["type"])

    live = shared_dir / f"gauge_livemax_{os.getpid()}.db"
    assert live.exists()
    await MetricsMiddleware(app, worker)({"type": "lifespan"}, receive, send)
    assert events == ["lifespan.startup.complete", "app shut down", "lifespan.shutdown.complete"]
    assert not live.exists()


def test_single_process_mode_is_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    metrics = Metrics()
    assert metrics.multiprocess_dir is None
    metrics.observe_request("GET", "/healthz", 200, 0.001)
    metrics.process_exited()  # a no-op
    assert metrics.registry.get_sample_value("agentcost_http_requests_total", HEALTHZ) == 1
    assert metrics.registry.get_sample_value("process_cpu_seconds_total") is not None


# -- the daemon's directory ----------------------------------------------------------------------------
def test_the_directory_is_private_fresh_and_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MULTIPROC_ENV, "/somewhere/inherited")
    old = os.umask(0o000)  # even a permissive umask gives a private directory
    try:
        with multiprocess_directory(2, base=tmp_path) as folder:
            assert folder is not None and folder.parent == tmp_path
            assert folder.name.startswith(f"{MULTIPROC_PREFIX}{os.getpid()}-")
            info = folder.stat()
            assert stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == os.getuid()
            assert os.environ[MULTIPROC_ENV] == str(folder) and list(folder.iterdir()) == []
            (folder / "counter_1.db").write_bytes(b"x")
    finally:
        os.umask(old)
    assert not folder.exists()
    assert os.environ[MULTIPROC_ENV] == "/somewhere/inherited"  # the caller's environment is restored


def test_one_worker_keeps_metrics_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    with multiprocess_directory(1, base=tmp_path) as folder:
        assert folder is None and MULTIPROC_ENV not in os.environ
    assert os.environ[MULTIPROC_ENV] == str(tmp_path) and list(tmp_path.iterdir()) == []


def test_directories_of_dead_daemons_are_wiped_at_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    dead = tmp_path / f"{MULTIPROC_PREFIX}999999999-abc"  # no such process
    dead.mkdir()
    (dead / "counter_5.db").write_bytes(b"old")
    alive = tmp_path / f"{MULTIPROC_PREFIX}{os.getppid()}-def"  # a running daemon's: left alone
    alive.mkdir()
    other = tmp_path / "unrelated"
    other.mkdir()
    with multiprocess_directory(3, base=tmp_path) as folder:
        assert folder is not None
        assert {p.name for p in tmp_path.iterdir()} == {folder.name, alive.name, "unrelated"}
    assert {p.name for p in tmp_path.iterdir()} == {alive.name, "unrelated"}


def test_the_runtime_dir_is_preferred(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert metrics_mod.runtime_base() == tmp_path
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "missing"))
    assert metrics_mod.runtime_base() != tmp_path / "missing"


# -- a real daemon with two workers ------------------------------------------------------------------
def _pids(folder: Path, kind: str) -> set[int]:
    return {int(p.stem.rsplit("_", 1)[1]) for p in folder.glob(f"{kind}_*.db")}


def _scrape(url: str) -> str:
    answer = httpx.get(f"{url}/metrics", timeout=10)  # a new connection each time: any worker may answer
    assert answer.status_code == 200
    return answer.text


@pytest.mark.subprocess
@pytest.mark.skipif(not REDIS_URL, reason="needs Redis for the workers' shared rate limits: set "
                                          "AGENTCOST_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/0)")
def test_two_workers_answer_the_same_totals_on_every_scrape(tmp_path: Path) -> None:
    assert REDIS_URL is not None
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    db = tmp_path / "w.db"
    keys = seed_team(db)
    daemon = start_daemon(tmp_path, db, "--workers", "2", env={
        "AGENTCOST_RATE_LIMIT_STORAGE": REDIS_URL, "XDG_RUNTIME_DIR": str(runtime),
        "AGENTCOST_RATE_LIMITS": "ip_requests=100000/minute,key_requests=100000/minute"})
    try:
        [folder] = list(runtime.iterdir())
        assert folder.name.startswith(MULTIPROC_PREFIX)
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and folder.stat().st_uid == os.getuid()

        def healthz(_: int) -> int:
            return httpx.get(f"{daemon.url}/healthz", timeout=10).status_code

        sent = 0
        with ThreadPoolExecutor(8) as pool:
            for _ in range(20):  # until both workers have answered some (the kernel picks who accepts)
                assert set(pool.map(healthz, range(20))) == {200}
                sent += 20
                if len(_pids(folder, "counter")) >= 2:
                    break
        workers = _pids(folder, "counter")
        assert len(workers) == 2, "one worker answered every request"
        events = [{"id": f"w-{i}", "timestamp": "2026-11-20T10:00:00Z", "provider": "openai", "model": "gpt-4o",
                   "input_tokens": 10, "output_tokens": 5} for i in range(30)]
        for batch in range(3):
            answer = httpx.post(f"{daemon.url}/v1/events", json={"events": events[batch * 10:(batch + 1) * 10]},
                                headers={"Authorization": f"Bearer {keys['ingest']}"}, timeout=10)
            assert answer.status_code == 200, answer.text

        deadline = time.monotonic() + 10  # a request is counted just after its answer is sent
        while value(_scrape(daemon.url), "agentcost_http_requests_total", HEALTHZ) != sent:
            assert time.monotonic() < deadline, "the count never reached the requests sent"
            time.sleep(0.05)
        for _ in range(12):  # every scrape, whichever worker answers it, sees every worker's counts
            text = _scrape(daemon.url)
            assert value(text, "agentcost_http_requests_total", HEALTHZ) == sent
            assert value(text, "agentcost_http_request_duration_seconds_count",
                         {"method": "GET", "route": "/healthz"}) == sent
            assert sum(v for lbl, v in samples(text, "agentcost_events_ingested_total")
                       if lbl["result"] == "created") == 30
            assert samples(text, "agentcost_info") == [({"version": __version__}, 1.0)]

        # A worker that ends (SIGTERM: its lifespan shuts down) retires its live gauges; its counts
        # stay in the totals; uvicorn starts a replacement.
        gone = min(workers)
        os.kill(gone, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while (folder / f"gauge_livemax_{gone}.db").exists() or len(_pids(folder, "gauge_livemax")) < 2:
            assert time.monotonic() < deadline, sorted(p.name for p in folder.iterdir())
            time.sleep(0.1)
        assert (folder / f"counter_{gone}.db").exists()
        for _ in range(4):
            assert value(_scrape(daemon.url), "agentcost_http_requests_total", HEALTHZ) == sent
    finally:
        daemon.stop(signal.SIGTERM)
    assert list(runtime.iterdir()) == []  # removed with the daemon
