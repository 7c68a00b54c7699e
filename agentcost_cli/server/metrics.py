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

With `--workers N` each worker process has its own registry: a scrape sees one worker's counts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

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
from prometheus_client.registry import Collector
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentcost_cli import __version__

from .observability import route_template

__all__ = ["DURATION_BUCKETS", "Metrics", "MetricsMiddleware", "metrics_response"]

DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
EVENT_RESULTS = ("created", "duplicate", "rejected")
UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

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

    def __init__(self, *, process: bool = True) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "agentcost_http_requests", "HTTP requests answered, by route template and status.",
            ["method", "route", "status"], registry=self.registry)
        self.http_duration = Histogram(
            "agentcost_http_request_duration_seconds", "Time to answer an HTTP request, by route template.",
            ["method", "route"], buckets=DURATION_BUCKETS, registry=self.registry)
        self.events_ingested = Counter(
            "agentcost_events_ingested", "Usage events received, by project and result "
            "(created, duplicate, rejected).", ["project", "result"], registry=self.registry)
        self.rate_limited_total = Counter(
            "agentcost_rate_limited", "Requests refused by a rate limit, by limit name.",
            ["limit"], registry=self.registry)
        self._outbox = _OutboxDepthCollector()
        self.registry.register(self._outbox)
        self.info = Gauge("agentcost_info", "The running agentcost version (always 1).", ["version"],
                          registry=self.registry)
        self.info.labels(version=__version__).set(1)
        if process:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)

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


def metrics_response(metrics: Metrics) -> Response:
    """The Prometheus text exposition of `metrics`, for `GET /metrics`."""
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)
