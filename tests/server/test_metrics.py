"""Prometheus metrics (issue 4): a real FastAPI app wrapped in MetricsMiddleware, driven with
httpx's ASGITransport, read back both from the registry and from the `/metrics` text."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from starlette.responses import Response

from agentcost_cli import __version__
from agentcost_cli.server import problems
from agentcost_cli.server.metrics import DURATION_BUCKETS, Metrics, MetricsMiddleware, metrics_response
from agentcost_cli.server.observability import instrument

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def no_receive() -> dict[str, Any]:
    raise AssertionError("not expected to read the body")


async def no_send(message: Any) -> None:
    raise AssertionError("not expected to answer")


def make_app(metrics: Metrics) -> FastAPI:
    app = FastAPI()
    problems.install(app)

    @app.get("/things/{thing_id}")
    async def thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    @app.post("/v1/events")
    async def ingest() -> dict[str, str]:
        metrics.events("web", created=2, duplicate=1)
        return {"ok": "yes"}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    @app.get("/metrics", include_in_schema=False)
    def scrape() -> Response:
        return metrics_response(metrics)

    return app


def client_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                             base_url="http://testserver")


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [(dict(s.labels), s.value) for family in text_string_to_metric_families(text)
            for s in family.samples if s.name == name]


async def test_requests_are_counted_per_route_template() -> None:
    metrics = Metrics()
    async with client_for(MetricsMiddleware(make_app(metrics), metrics)) as client:
        for thing_id in (1, 22, 333):
            assert (await client.get(f"/things/{thing_id}")).status_code == 200
        text = (await client.get("/metrics")).text
    counts = samples(text, "agentcost_http_requests_total")
    assert counts == [({"method": "GET", "route": "/things/{thing_id}", "status": "200"}, 3.0)]
    assert metrics.registry.get_sample_value(
        "agentcost_http_requests_total", {"method": "GET", "route": "/things/{thing_id}", "status": "200"}) == 3


async def test_the_latency_histogram_has_buckets_from_1ms_to_10s() -> None:
    metrics = Metrics()
    async with client_for(MetricsMiddleware(make_app(metrics), metrics)) as client:
        for thing_id in (1, 2, 3):
            await client.get(f"/things/{thing_id}")
        text = (await client.get("/metrics")).text
    labels = {"method": "GET", "route": "/things/{thing_id}"}
    count = [v for lbl, v in samples(text, "agentcost_http_request_duration_seconds_count") if lbl == labels]
    assert count == [3.0]
    total = metrics.registry.get_sample_value("agentcost_http_request_duration_seconds_sum", labels)
    assert total is not None and 0 < total < 10
    buckets = {lbl["le"]: v for lbl, v in samples(text, "agentcost_http_request_duration_seconds_bucket")
               if lbl["route"] == "/things/{thing_id}"}
    assert set(buckets) == {*(str(float(b)) for b in DURATION_BUCKETS), "+Inf"}
    assert buckets["+Inf"] == 3 and DURATION_BUCKETS[0] == 0.001 and DURATION_BUCKETS[-1] == 10.0


async def test_metrics_itself_unmatched_routes_errors_and_odd_methods() -> None:
    metrics = Metrics()
    async with client_for(MetricsMiddleware(make_app(metrics), metrics)) as client:
        for _ in range(3):
            assert (await client.get("/metrics")).status_code == 200
        assert (await client.get("/nope/1")).status_code == 404
        assert (await client.get("/nope/2?x=1")).status_code == 404
        assert (await client.get("/boom")).status_code == 500
        assert (await client.request("PURGE", "/things/1")).status_code == 405
        text = (await client.get("/metrics")).text
    counts = {(lbl["method"], lbl["route"], lbl["status"]): v
              for lbl, v in samples(text, "agentcost_http_requests_total")}
    assert counts == {
        ("GET", "unmatched", "404"): 2.0,
        ("GET", "/boom", "500"): 1.0,
        ("OTHER", "/things/{thing_id}", "405"): 1.0,
    }
    assert "/metrics" not in text.replace("# HELP", "")


async def test_metrics_is_not_counted_under_a_root_path_either() -> None:
    metrics = Metrics()
    transport = httpx.ASGITransport(app=MetricsMiddleware(make_app(metrics), metrics), root_path="/costs")
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert (await client.get("/costs/metrics")).status_code == 200
        assert (await client.get("/costs/things/1")).status_code == 200
    counted = [lbl for lbl, _ in samples(metrics.render().decode(), "agentcost_http_requests_total")]
    assert counted == [{"method": "GET", "route": "/things/{thing_id}", "status": "200"}]


async def test_a_crash_outside_any_response_is_counted_as_500() -> None:
    metrics = Metrics()

    async def crashing(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("no answer at all")

    with pytest.raises(RuntimeError):
        await MetricsMiddleware(crashing, metrics)({"type": "http", "method": "GET", "path": "/x"}, no_receive, no_send)
    assert metrics.registry.get_sample_value(
        "agentcost_http_requests_total", {"method": "GET", "route": "unmatched", "status": "500"}) == 1


async def test_outbox_depth_comes_from_the_callback() -> None:
    metrics = Metrics()
    depth = {"value": 42}
    app = make_app(metrics)
    async with client_for(MetricsMiddleware(app, metrics)) as client:
        assert samples((await client.get("/metrics")).text, "agentcost_outbox_depth") == [({}, 0.0)]
        metrics.set_outbox_depth_source(lambda: depth["value"])
        assert samples((await client.get("/metrics")).text, "agentcost_outbox_depth") == [({}, 42.0)]
        depth["value"] = 7
        assert samples((await client.get("/metrics")).text, "agentcost_outbox_depth") == [({}, 7.0)]

        def broken() -> int:
            raise OSError("store is gone")

        metrics.set_outbox_depth_source(broken)
        response = await client.get("/metrics")  # a failing callback does not fail the scrape
    assert response.status_code == 200
    assert samples(response.text, "agentcost_outbox_depth") == []
    assert samples(response.text, "agentcost_info") == [({"version": __version__}, 1.0)]


async def test_events_and_rate_limits_are_counted() -> None:
    metrics = Metrics()
    async with client_for(MetricsMiddleware(make_app(metrics), metrics)) as client:
        await client.post("/v1/events")
        await client.post("/v1/events")
        metrics.events("api", rejected=4)
        metrics.rate_limited("per-key")
        metrics.rate_limited("per-key")
        metrics.rate_limited("auth-per-ip")
        response = await client.get("/metrics")
    events = {(lbl["project"], lbl["result"]): v
              for lbl, v in samples(response.text, "agentcost_events_ingested_total")}
    assert events == {("web", "created"): 4.0, ("web", "duplicate"): 2.0, ("api", "rejected"): 4.0}
    limited = {lbl["limit"]: v for lbl, v in samples(response.text, "agentcost_rate_limited_total")}
    assert limited == {"per-key": 2.0, "auth-per-ip": 1.0}


async def test_the_metrics_response_is_prometheus_text() -> None:
    metrics = Metrics()
    response = metrics_response(metrics)
    assert response.media_type is not None and response.media_type.startswith("text/plain; version=")
    body = bytes(response.body).decode()
    assert "# TYPE agentcost_http_requests_total counter" in body
    assert "# TYPE agentcost_outbox_depth gauge" in body
    assert "process_" in body or "python_info" in body  # this process's own metrics


def test_each_app_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics(process=False)  # no "Duplicated timeseries" error
    first.rate_limited("x")
    assert second.registry.get_sample_value("agentcost_rate_limited_total", {"limit": "x"}) is None
    assert REGISTRY.get_sample_value("agentcost_rate_limited_total", {"limit": "x"}) is None
    assert second.registry.get_sample_value("process_cpu_seconds_total") is None


async def test_instrument_puts_request_ids_and_metrics_outside_the_app() -> None:
    metrics = Metrics()
    async with client_for(instrument(make_app(metrics), metrics=metrics)) as client:
        crash = await client.get("/boom")
    assert crash.status_code == 500 and crash.headers["x-request-id"]
    assert metrics.registry.get_sample_value(
        "agentcost_http_requests_total", {"method": "GET", "route": "/boom", "status": "500"}) == 1
