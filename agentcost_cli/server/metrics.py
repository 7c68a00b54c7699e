"""Prometheus metrics for the daemon, in a registry of its own per app (never the process-wide
default one, so several apps, and tests, do not collide).

    agentcost_http_requests_total{method,route,status}
    agentcost_http_request_duration_seconds{method,route}      histogram, 1 ms .. 10 s
    agentcost_events_ingested_total{project,result}            result: created|duplicate|rejected
    agentcost_rate_limited_total{limit}
    agentcost_outbox_depth                                     read from a callback at scrape time
    agentcost_info{version}                                    always 1
    process_*, python_*                                        this process (Linux)

Routes are labelled by their template (`/v1/projects/{project}`), never the raw path, so label
cardinality stays bounded; requests no route matched are `route="unmatched"`, unusual methods
`method="OTHER"`. `/metrics` itself is not counted.

With `--workers N` (uvicorn spawns N processes, and a scrape reaches any one of them) the
metrics use prometheus-client's multiprocess mode: `agentcost daemon` makes a private directory
(`multiprocess_directory`) and exports it as PROMETHEUS_MULTIPROC_DIR before the workers start;
each worker writes its counters and histograms to memory-mapped files there, and `/metrics`
answers the sum over every worker (the files of workers that exited included, so totals never go
down). `agentcost_info` is a `livemax` gauge; a worker's live gauge files are removed when its
lifespan ends (`mark_process_dead`). The outbox depth is read from the shared store by the
worker that answers the scrape, so it needs no per-process value. process_* and the GC metrics
are left out in that mode: they would describe one random worker per scrape.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentcost_cli import __version__

from .observability import route_template

__all__ = ["DURATION_BUCKETS", "MULTIPROC_ENV", "Metrics", "MetricsMiddleware", "metrics_response",
           "multiprocess_directory"]

DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
EVENT_RESULTS = ("created", "duplicate", "rejected")
UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
MULTIPROC_PREFIX = "agentcost-metrics-"

log = logging.getLogger(__name__)


class _OutboxDepthCollector(Collector):
    """`agentcost_outbox_depth` from a callback, read at scrape time. A failing callback leaves
    the sample out (and logs why) rather than failing the whole scrape."""

    NAME = "agentcost_outbox_depth"
    HELP = "Notifications waiting in the outbox to be delivered."

    def __init__(self) -> None:
        self.source: Callable[[], int] | None = None

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(self.NAME, self.HELP)]

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(self.NAME, self.HELP)
        try:
            value = float(self.source()) if self.source is not None else 0.0
        except Exception as exc:
            log.warning("the outbox depth could not be read: %s", exc)
            return [family]
        family.add_metric([], value)
        return [family]


class Metrics:
    """The daemon's metrics and the registry that holds them (`metrics.registry`)."""

    def __init__(self, *, process: bool = True, multiprocess_dir: str | None = None) -> None:
        """Args:
            process: add this process's own metrics (process_*, python_*; single-process mode).
            multiprocess_dir: gather every worker's values from this directory; default: the
                PROMETHEUS_MULTIPROC_DIR environment variable (set by `agentcost daemon --workers N`).
        """
        self.multiprocess_dir = multiprocess_dir if multiprocess_dir is not None else os.environ.get(MULTIPROC_ENV)
        self.registry = CollectorRegistry()  # what /metrics renders
        own: CollectorRegistry | None = self.registry
        if self.multiprocess_dir:
            _use_multiprocess_values(self.multiprocess_dir)
            MultiProcessCollector(self.registry, path=self.multiprocess_dir)
            own = None  # the values reach the scrape through the files, every worker's summed
        self.http_requests = Counter(
            "agentcost_http_requests", "HTTP requests answered, by route template and status.",
            ["method", "route", "status"], registry=own)
        self.http_duration = Histogram(
            "agentcost_http_request_duration_seconds", "Time to answer an HTTP request, by route template.",
            ["method", "route"], buckets=DURATION_BUCKETS, registry=own)
        self.events_ingested = Counter(
            "agentcost_events_ingested", "Usage events received, by project and result "
            "(created, duplicate, rejected).", ["project", "result"], registry=own)
        self.rate_limited_total = Counter(
            "agentcost_rate_limited", "Requests refused by a rate limit, by limit name.",
            ["limit"], registry=own)
        self._outbox = _OutboxDepthCollector()
        self.registry.register(self._outbox)
        self.info = Gauge("agentcost_info", "The running agentcost version (always 1).", ["version"],
                          registry=own, multiprocess_mode="livemax")
        self.info.labels(version=__version__).set(1)
        if process and not self.multiprocess_dir:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)
        elif process:
            PlatformCollector(registry=self.registry)  # python_info: the same in every worker

    def process_exited(self, pid: int | None = None) -> None:
        """Multiprocess bookkeeping when a worker ends (its lifespan shutdown): its live gauges
        leave the scrape; its counters stay in the totals. A no-op in single-process mode."""
        if self.multiprocess_dir:
            mark_process_dead(os.getpid() if pid is None else pid, self.multiprocess_dir)

    def set_outbox_depth_source(self, source: Callable[[], int] | None) -> None:
        """`source()` gives the outbox depth; it is called at each scrape (keep it cheap)."""
        self._outbox.source = source

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method.upper() if method.upper() in _METHODS else "OTHER"
        self.http_requests.labels(method=method, route=route, status=str(status)).inc()
        self.http_duration.labels(method=method, route=route).observe(seconds)

    def events(self, project: str, created: int = 0, duplicate: int = 0, rejected: int = 0) -> None:
        """Count the outcome of one ingestion request for `project`."""
        for result, count in zip(EVENT_RESULTS, (created, duplicate, rejected), strict=True):
            if count:
                self.events_ingested.labels(project=project, result=result).inc(count)

    def rate_limited(self, limit_name: str) -> None:
        """Count one request refused by the limit called `limit_name`."""
        self.rate_limited_total.labels(limit=limit_name).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI: counts and times every HTTP request by method, route template and status,
    except requests for `skip_paths` (by path or by route template).

    Put it outside the FastAPI app (see `observability.instrument`) so that 500s from Starlette's
    ServerErrorMiddleware and answers from outer layers (https-only 403s) are counted; the route
    template is read from the scope after the router has run.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics, *, skip_paths: Iterable[str] = ("/metrics",)) -> None:
        self.app = app
        self.metrics = metrics
        self.skip_paths = frozenset(skip_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if scope["type"] != "http" or scope.get("path") in self.skip_paths:
            await self.app(scope, receive, send)
            return
        root_path = str(scope.get("root_path", ""))
        status = 0
        start = time.perf_counter()

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = route_template(scope, root_path) or UNMATCHED
            if route not in self.skip_paths:  # /metrics under a root_path, say
                self.metrics.observe_request(str(scope.get("method", "")), route, status or 500,
                                             time.perf_counter() - start)


    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the lifespan through; once the app's shutdown is done (or failed), this worker's
        live gauges are retired (`Metrics.process_exited`)."""

        async def send_and_retire(message: Message) -> None:
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                try:
                    self.metrics.process_exited()
                except OSError as exc:
                    log.warning("the metrics of this worker could not be retired: %s", exc)
            await send(message)

        await self.app(scope, receive, send_and_retire)


def metrics_response(metrics: Metrics) -> Response:
    """The Prometheus text exposition of `metrics`, for `GET /metrics`."""
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)


# -- multiprocess mode (`agentcost daemon --workers N`) -------------------------------------------
def _use_multiprocess_values(path: str) -> None:
    """prometheus-client picks memory-mapped values when it is first imported with
    PROMETHEUS_MULTIPROC_DIR set (as in uvicorn's spawned workers). If it was imported earlier,
    switch now: metrics made from here on write to `path` (named after the environment variable,
    which the value files read)."""
    from prometheus_client import values

    os.environ[MULTIPROC_ENV] = path
    if not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.MultiProcessValue()


def runtime_base() -> Path:
    """Where the multiprocess directory goes: $XDG_RUNTIME_DIR (a per-user tmpfs, 0700) when it is
    usable, else the system temporary directory."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir() and os.access(runtime, os.W_OK | os.X_OK):
        return Path(runtime)
    return Path(tempfile.gettempdir())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _sweep_stale(base: Path) -> None:
    """Remove the directories that daemons killed without cleaning up (kill -9, a crash) left
    behind: ours (same owner) whose daemon process is gone."""
    try:
        candidates = list(base.glob(f"{MULTIPROC_PREFIX}*"))
    except OSError:
        return
    for path in candidates:
        pid_text = path.name.removeprefix(MULTIPROC_PREFIX).split("-", 1)[0]
        try:
            stale = (pid_text.isdigit() and not _pid_alive(int(pid_text)) and path.is_dir()
                     and not path.is_symlink() and path.stat().st_uid == os.getuid())
        except OSError:
            continue
        if stale:
            shutil.rmtree(path, ignore_errors=True)


@contextmanager
def multiprocess_directory(workers: int, *, base: Path | None = None) -> Iterator[Path | None]:
    """For the daemon's parent process, around `uvicorn.run`: with several workers, a new private
    directory (0700, `agentcost-metrics-<pid>-<random>` under `runtime_base()`), exported as
    PROMETHEUS_MULTIPROC_DIR so that the workers, which inherit the environment, share it; removed
    (and the variable restored) on the way out. Directories left by daemons that died without
    cleaning up are removed first. With one worker: None, and the variable is unset for the
    duration (a single process keeps its metrics in memory, as without this).
    """
    previous = os.environ.get(MULTIPROC_ENV)
    path: Path | None = None
    try:
        if workers > 1:
            where = base or runtime_base()
            _sweep_stale(where)
            path = Path(tempfile.mkdtemp(prefix=f"{MULTIPROC_PREFIX}{os.getpid()}-", dir=where))
            path.chmod(0o700)  # mkdtemp's default; said again so no umask or platform can loosen it
            os.environ[MULTIPROC_ENV] = str(path)
            log.info("metrics of %d workers are gathered in %s", workers, path)
        else:
            os.environ.pop(MULTIPROC_ENV, None)
        yield path
    finally:
        if path is not None:
            shutil.rmtree(path, ignore_errors=True)
        if previous is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = previous
