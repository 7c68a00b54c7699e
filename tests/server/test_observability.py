"""Logs, request ids and Sentry (issue 4): a real FastAPI app wrapped in RequestContextMiddleware,
driven with httpx's ASGITransport (and once through a real uvicorn server), with the output
of the real log handlers captured and parsed."""

from __future__ import annotations

import gzip
import json
import logging
import logging.handlers
import os
import re
import stat
import subprocess
import sys
import textwrap
import threading
import time
import types
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
import uvicorn
from fastapi import APIRouter, FastAPI, Request
from starlette.routing import Mount, Route

from agentcost_cli.auth.apikeys import looks_valid
from agentcost_cli.server import observability, problems
from agentcost_cli.server.observability import (
    REDACTED,
    UVICORN_LOG_OPTIONS,
    RequestContextMiddleware,
    before_breadcrumb,
    before_send,
    configure_logging,
    init_sentry,
    instrument,
    redact,
    redact_value,
    route_template,
    scrub,
)

pytestmark = pytest.mark.anyio

# A fixed key (test ids must be the same in every xdist worker) that passes the real checks.
KEY = "ac_live_Q7rT9xKp2LmN4vB8cW1zY6hJ3sD5fG_2KpNYn"
NAMED_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "agentcost_cli")
HEX32 = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def no_receive() -> dict[str, Any]:
    raise AssertionError("not expected to read the body")


async def no_send(message: Any) -> None:
    raise AssertionError("not expected to answer")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state: put it all back after each test."""
    root = logging.getLogger()
    saved_root = (root.handlers[:], root.level)
    saved = {name: (lg.handlers[:], lg.level, lg.propagate, lg.disabled)
             for name, lg in ((n, logging.getLogger(n)) for n in NAMED_LOGGERS)}
    yield
    for handler in root.handlers[:]:
        if handler not in saved_root[0]:
            root.removeHandler(handler)
            handler.close()
    root.handlers, root.level = saved_root[0], saved_root[1]
    for name, (handlers, level, propagate, disabled) in saved.items():
        lg = logging.getLogger(name)
        lg.handlers, lg.propagate, lg.disabled = handlers, propagate, disabled
        lg.setLevel(level)
    logging.captureWarnings(False)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def make_app() -> FastAPI:
    app = FastAPI()
    problems.install(app)
    router = APIRouter(prefix="/v1")

    @app.get("/things/{thing_id}")
    async def thing(thing_id: int, request: Request) -> dict[str, Any]:
        return {"id": thing_id, "request_id": request.state.request_id}

    @router.get("/projects/{project}/usage")
    async def usage(project: str) -> dict[str, str]:
        return {"project": project}

    @app.get("/me")
    async def me(request: Request) -> dict[str, str]:
        request.state.actor_label = "user:owner@example.com"
        return {"ok": "yes"}

    @app.get("/leaky")
    async def leaky(request: Request) -> dict[str, str]:
        # Everything a careless route could log: a secret-named field, the headers, the URL.
        structlog.get_logger("agentcost_cli.test").info(
            "login attempt", password="hunter2", headers=dict(request.headers), url=str(request.url),
            body={"user": {"email": "a@example.com", "Password": "hunter2", "refresh_token": "rt-secret"}})
        logging.getLogger("agentcost_cli.test").warning("retrying with %s after %s",
                                                        request.headers["authorization"], request.url)
        logging.getLogger("agentcost_cli.test").info("extra fields", extra={"api_key": KEY, "note": f"k={KEY}"})
        return {"ok": "yes"}

    @app.get("/boom")
    async def boom(request: Request) -> None:
        raise RuntimeError(f"upstream refused {request.headers.get('x-api-key')}")

    app.include_router(router)
    return app


def client_for(app: Any, **kwargs: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, **kwargs)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every non-empty line must be one JSON object."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def access_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line.get("logger") == "agentcost_cli.access"]


# --- request ids ------------------------------------------------------------------------------


async def test_a_valid_request_id_is_echoed_and_reaches_the_route() -> None:
    async with client_for(instrument(make_app())) as client:
        response = await client.get("/things/1", headers={"X-Request-ID": "abc-123.DEF_456"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "abc-123.DEF_456"
    assert response.json()["request_id"] == "abc-123.DEF_456"


@pytest.mark.parametrize("hostile", ["../..", "a" * 500, "a" * 129, "", "id with spaces", "x;rm -rf", "<script>",
                                     "abc\tdef"])
async def test_a_hostile_request_id_is_replaced(hostile: str) -> None:
    async with client_for(instrument(make_app())) as client:
        response = await client.get("/things/1", headers={"X-Request-ID": hostile})
    rid = response.headers["x-request-id"]
    assert HEX32.fullmatch(rid) and rid != hostile
    assert response.json()["request_id"] == rid
    assert len(response.headers.get_list("x-request-id")) == 1


async def test_a_128_character_id_is_kept_and_each_request_gets_its_own_id() -> None:
    longest = "A" * 128
    async with client_for(instrument(make_app())) as client:
        kept = await client.get("/things/1", headers={"X-Request-ID": longest})
        first = await client.get("/things/1")
        second = await client.get("/things/1")
    assert kept.headers["x-request-id"] == longest
    assert HEX32.fullmatch(first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_errors_404s_and_500s_carry_the_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging()
    async with client_for(instrument(make_app())) as client:
        missing = await client.get("/nowhere", headers={"X-Request-ID": "rid-404"})
        crash = await client.get("/boom", headers={"X-Request-ID": "rid-500", "X-Api-Key": KEY})
    assert missing.status_code == 404 and missing.headers["x-request-id"] == "rid-404"
    assert crash.status_code == 500 and crash.headers["x-request-id"] == "rid-500"
    assert crash.headers["content-type"] == problems.MEDIA_TYPE
    lines = json_lines(capsys.readouterr().err)
    crash_log = [line for line in lines if line["event"] == "unhandled error"]
    assert crash_log and crash_log[0]["request_id"] == "rid-500" and crash_log[0]["level"] == "error"
    assert "RuntimeError" in crash_log[0]["exception"] and KEY not in crash_log[0]["exception"]
    assert KEY[:12] + "…" in crash_log[0]["exception"]
    statuses = {line["request_id"]: line for line in access_lines(lines)}
    assert statuses["rid-404"]["status"] == 404 and statuses["rid-404"]["route"] == "/nowhere"
    assert statuses["rid-500"]["status"] == 500 and statuses["rid-500"]["route"] == "/boom"


async def test_the_id_is_unbound_after_the_request(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging()
    async with client_for(instrument(make_app())) as client:
        await client.get("/things/1", headers={"X-Request-ID": "only-this-one"})
    structlog.get_logger("agentcost_cli.test").info("between requests")
    lines = json_lines(capsys.readouterr().err)
    assert "request_id" not in next(line for line in lines if line["event"] == "between requests")


async def test_non_http_scopes_pass_through() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    await RequestContextMiddleware(app)({"type": "lifespan"}, no_receive, no_send)
    assert seen == ["lifespan"]


# --- the access log ---------------------------------------------------------------------------


async def test_one_access_line_per_request_with_every_field(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging()
    async with client_for(instrument(make_app()), client=("203.0.113.9", 51000)) as client:
        response = await client.get("/things/42?filter=private-value&token=secret123",
                                    headers={"X-Request-ID": "rid-1", "Cookie": "session=abc"})
        await client.get("/v1/projects/web/usage")
        actor = await client.get("/me")
    lines = json_lines(capsys.readouterr().err)
    access = access_lines(lines)
    assert len(access) == 3
    line = access[0]
    assert line["event"] == "request" and line["level"] == "info"
    assert line["request_id"] == "rid-1"
    assert line["method"] == "GET"
    assert line["path"] == "/things/42"
    assert line["route"] == "/things/{thing_id}"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert round(line["duration_ms"], 2) == line["duration_ms"]
    assert line["client"] == "203.0.113.9"
    assert line["bytes_sent"] == len(response.content)
    assert "actor" not in line
    stamp = datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00"))
    assert stamp.utcoffset() is not None and stamp.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert list(line)[:5] == ["timestamp", "level", "logger", "event", "request_id"]
    raw = json.dumps(line)
    for leaked in ("private-value", "secret123", "filter=", "session=abc", "Cookie", "cookie"):
        assert leaked not in raw
    assert access[1]["route"] == "/v1/projects/{project}/usage" and access[1]["path"] == "/v1/projects/web/usage"
    assert access[2]["actor"] == "user:owner@example.com"
    assert actor.status_code == 200


async def test_the_access_line_follows_the_level(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="warning")
    async with client_for(instrument(make_app())) as client:
        await client.get("/things/1")
    assert access_lines(json_lines(capsys.readouterr().err)) == []
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging(level="chatty")
    with pytest.raises(ValueError, match="retention_days"):
        configure_logging(retention_days=0)


async def test_without_configure_logging_nothing_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    async with client_for(instrument(make_app())) as client:
        assert (await client.get("/things/1")).status_code == 200
    assert capsys.readouterr().err == ""


def test_route_templates_under_routers_and_mounts() -> None:
    inner = FastAPI()

    @inner.get("/in/{x}")
    async def in_x(x: str) -> str:
        return x

    class FakeRoute:
        path = "/a/{b}"

    assert route_template({"route": FakeRoute(), "root_path": ""}) == "/a/{b}"
    assert route_template({"route": FakeRoute(), "root_path": "/sub"}, "") == "/sub/a/{b}"
    assert route_template({"route": Mount("/static", routes=[]), "root_path": "/static"}) == "/static/{path}"
    assert route_template({"route": Route("/", lambda r: None), "root_path": ""}) == "/"
    assert route_template({}) is None


async def test_mounted_apps_are_logged_by_template(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging()
    app = make_app()
    sub = FastAPI()

    @sub.get("/in/{x}")
    async def in_x(x: str) -> str:
        return x

    app.mount("/sub", sub)
    async with client_for(instrument(app)) as client:
        assert (await client.get("/sub/in/zz")).status_code == 200
    (line,) = access_lines(json_lines(capsys.readouterr().err))
    assert line["route"] == "/sub/in/{x}" and line["path"] == "/sub/in/zz"


# --- redaction --------------------------------------------------------------------------------


async def test_secrets_never_reach_the_log_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log_file = tmp_path / "logs" / "daemon.log"
    configure_logging(log_file=log_file)
    async with client_for(instrument(make_app())) as client:
        response = await client.get("/leaky?token=secret123&code=oauth-code-xyz",
                                    headers={"Authorization": f"Bearer {KEY}", "Cookie": "session=cookie-secret"})
        await client.get("/boom", headers={"X-Api-Key": KEY})
    assert response.status_code == 200
    for handler in logging.getLogger().handlers:
        handler.flush()
    stderr = capsys.readouterr().err
    file_text = log_file.read_text()
    for output in (stderr, file_text):
        lines = json_lines(output)
        assert any(line["event"] == "login attempt" for line in lines)
        assert any(line["event"].startswith("retrying with") for line in lines)
        for secret in ("secret123", "hunter2", KEY, KEY[12:], "oauth-code-xyz", "cookie-secret", "rt-secret"):
            assert secret not in output, secret
        assert KEY[:12] + "…" in output  # the display prefix survives, so people can tell keys apart
    attempt = next(line for line in json_lines(stderr) if line["event"] == "login attempt")
    assert attempt["password"] == REDACTED
    assert attempt["headers"]["authorization"] == REDACTED
    assert attempt["headers"]["cookie"] == REDACTED
    assert attempt["body"]["user"] == {"email": "a@example.com", "Password": REDACTED, "refresh_token": REDACTED}
    assert "token=[redacted]" in attempt["url"] and "code=[redacted]" in attempt["url"]
    retry = next(line for line in json_lines(stderr) if line["event"].startswith("retrying with"))
    assert retry["event"].startswith("retrying with Bearer [redacted] after ")
    extra = next(line for line in json_lines(stderr) if line["event"] == "extra fields")
    assert extra["api_key"] == REDACTED and extra["note"] == "k=" + KEY[:12] + "…"


def test_the_test_key_is_a_real_looking_key() -> None:
    assert looks_valid(KEY)


def test_redact_processor_masks_secret_keys_at_any_depth() -> None:
    event = {
        "event": f"created key {KEY}",
        "password": "hunter2",
        "Authorization": "Bearer abc.def.ghi",
        "API_KEY": "k",
        "apiKey": "k",
        "X-Api-Key": "k",
        "code": "123456",
        "totp_code": "123456",
        "Set-Cookie": "s=1",
        "refresh_token": "rt",
        "client_secret": "cs",
        "password_hash": "$argon2id$...",
        "nested": {"deeper": [{"secret": "s", "token": "t"}], "key": "k"},
        "status_code": 200,
        "input_tokens": 1200,
        "token_type": "bearer",
        "key_prefix": "ac_live_3kTn",
        "project": "web",
        "password_unset": None,
    }
    out = redact(None, "info", dict(event))
    for name in ("password", "Authorization", "API_KEY", "apiKey", "X-Api-Key", "code", "totp_code", "Set-Cookie",
                 "refresh_token", "client_secret", "password_hash"):
        assert out[name] == REDACTED, name
    assert out["nested"] == {"deeper": [{"secret": REDACTED, "token": REDACTED}], "key": REDACTED}
    assert out["event"] == f"created key {KEY[:12]}…"
    assert (out["status_code"], out["input_tokens"], out["token_type"]) == (200, 1200, "bearer")
    assert out["key_prefix"] == "ac_live_3kTn" and out["project"] == "web" and out["password_unset"] is None


@pytest.mark.parametrize(("text", "expected"), [
    (f"using {KEY} now", f"using {KEY[:12]}… now"),
    (f"ac_test_{KEY[8:]}", f"ac_test_{KEY[8:12]}…"),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", "Authorization: Bearer [redacted]"),
    ("bearer opaque-token-value", "bearer [redacted]"),
    ("Basic dXNlcjpwYXNzd29yZA==", "Basic [redacted]"),
    ("https://h/cb?state=s&code=abc&token=t1#x", "https://h/cb?state=s&code=[redacted]&token=[redacted]#x"),
    ("/v1/x?access_token=a&refresh_token=b&api_key=c", "/v1/x?access_token=[redacted]&refresh_token=[redacted]"
     "&api_key=[redacted]"),
    ("{'password': 'hunter2', 'n': 1}", "{'password': '[redacted]', 'n': 1}"),
    ('{"token": "t", "status_code": 200}', '{"token": "[redacted]", "status_code": 200}'),
    ("postgresql://agent:pa55word@db:5432/costs", "postgresql://agent:[redacted]@db:5432/costs"),
    ("status_code=200 max_tokens=5 input_tokens=9", "status_code=200 max_tokens=5 input_tokens=9"),
    ("the basic plan, key prefix ac_live_3kTn", "the basic plan, key prefix ac_live_3kTn"),
    ("authorization=Bearer abc.def next", "authorization=Bearer [redacted] next"),
    ("Password=hunter2&X-Api-Key=k1", "Password=[redacted]&X-Api-Key=[redacted]"),
    ("PASSWORD: 'hunter2'", "PASSWORD: '[redacted]'"),
    ("connected to [::1]:8080 from 127.0.0.1", "connected to [::1]:8080 from 127.0.0.1"),
])
def test_scrub(text: str, expected: str) -> None:
    assert scrub(text) == expected


def test_scrub_takes_linear_time_on_hostile_input() -> None:
    hostile = ("a=" + "x" * 50 + " ") * 2000 + ":" * 1000 + "y" * 100_000 + "ac_live_" * 5000
    start = time.perf_counter()
    scrub(hostile)
    assert time.perf_counter() - start < 2  # quadratic backtracking would take minutes


def test_redact_value_handles_odd_values() -> None:
    class Thing:
        def __repr__(self) -> str:
            return f"Thing(key={KEY})"

    out = redact_value({"when": datetime(2026, 1, 1), "items": (f"x {KEY}", b"token=abc"), "obj": Thing(),
                        "path": Path("/tmp/a"), 3: "three"})
    assert out["when"] == datetime(2026, 1, 1)
    assert out["items"] == [f"x {KEY[:12]}…", "token=[redacted]"]
    assert KEY not in out["obj"] and out["path"] == "/tmp/a" and out[3] == "three"


# --- configuration ----------------------------------------------------------------------------


def test_configure_logging_is_idempotent_and_routes_uvicorn(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    logging.getLogger("uvicorn.error").addHandler(logging.StreamHandler(sys.stdout))  # as uvicorn's config does
    logging.getLogger("agentcost_cli").propagate = False  # as the CLI's own configure_logging does
    configure_logging(log_file=tmp_path / "a.log")
    configure_logging(log_file=tmp_path / "a.log")
    configure_logging()
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_agentcost_observability", False)]
    assert len(ours) == 1
    for name in ("uvicorn", "uvicorn.error", "agentcost_cli"):
        lg = logging.getLogger(name)
        assert lg.handlers == [] and lg.propagate
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 123,
                                            extra={"color_message": "\x1b[1mStarted\x1b[0m"})
    logging.getLogger("uvicorn.access").info('127.0.0.1 - "GET / HTTP/1.1" 200')
    logging.getLogger("agentcost_cli.services.users").warning("user %s disabled", "a@example.com")
    captured = capsys.readouterr()
    lines = json_lines(captured.err)
    assert [(line["logger"], line["event"], line["level"]) for line in lines] == [
        ("uvicorn.error", "Started server process [123]", "info"),
        ("agentcost_cli.services.users", "user a@example.com disabled", "warning"),
    ]
    assert "color_message" not in lines[0]
    assert captured.out == ""


def test_debug_mode_writes_readable_lines(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=False, level="DEBUG")
    structlog.contextvars.bind_contextvars(request_id="rid-dev")
    structlog.get_logger("agentcost_cli.test").debug("dev line", password="hunter2", n=3)
    err = capsys.readouterr().err
    assert "dev line" in err and "request_id=rid-dev" in err and "n=3" in err
    assert "hunter2" not in err and "password=[redacted]" in err
    with pytest.raises(json.JSONDecodeError):
        json.loads(err.splitlines()[0])


def test_file_logging_rotates_at_midnight_and_keeps_the_retention(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "agentcost.log"
    configure_logging(log_file=log_file, retention_days=7, json=False)
    (handler,) = [h for h in logging.getLogger().handlers
                  if isinstance(h, logging.handlers.TimedRotatingFileHandler)]
    assert handler.when == "MIDNIGHT" and handler.backupCount == 7 and handler.utc
    assert Path(handler.baseFilename) == log_file
    structlog.get_logger("agentcost_cli.test").info("to the file", project="web")
    handler.flush()
    (line,) = json_lines(log_file.read_text())  # the file is JSON even when stderr is for people
    assert line["event"] == "to the file" and line["project"] == "web"
    assert stat.S_IMODE(os.stat(log_file).st_mode) == 0o600

    handler.doRollover()
    structlog.get_logger("agentcost_cli.test").info("after rollover")
    handler.flush()
    rotated = [p for p in log_file.parent.iterdir() if p.name.startswith("agentcost.log.")]
    assert len(rotated) == 1 and "to the file" in rotated[0].read_text()
    assert json_lines(log_file.read_text())[0]["event"] == "after rollover"
    assert stat.S_IMODE(os.stat(log_file).st_mode) == 0o600


def test_a_real_uvicorn_server_logs_json_lines_with_the_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging()
    config = uvicorn.Config(instrument(make_app()), host="127.0.0.1", port=0, lifespan="off",
                            **UVICORN_LOG_OPTIONS)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        response = httpx.get(f"http://127.0.0.1:{port}/things/5?token=secret123",
                             headers={"X-Request-ID": "real-request-1"})
        crash = httpx.get(f"http://127.0.0.1:{port}/boom", headers={"X-Request-ID": "real-request-2"})
    finally:
        server.should_exit = True
        thread.join(15)
    assert response.status_code == 200 and response.headers["x-request-id"] == "real-request-1"
    err = capsys.readouterr().err
    lines = json_lines(err)  # uvicorn's own lines included: every line is JSON
    access, crash_access = access_lines(lines)
    assert access["request_id"] == "real-request-1"
    assert access["route"] == "/things/{thing_id}" and access["path"] == "/things/5"
    assert access["client"] == "127.0.0.1" and access["status"] == 200
    assert any(line["logger"] == "uvicorn.error" for line in lines)
    assert "secret123" not in err
    # a crash: the 500 has the id, and so do our line and uvicorn's own "Exception in ASGI application"
    assert crash.status_code == 500 and crash.headers["x-request-id"] == "real-request-2"
    assert crash_access["request_id"] == "real-request-2" and crash_access["status"] == 500
    errors = [line for line in lines if line["level"] == "error"]
    assert {line["logger"] for line in errors} == {"agentcost_cli.server.problems", "uvicorn.error"}
    assert all(line["request_id"] == "real-request-2" and "RuntimeError" in line["exception"] for line in errors)


def test_python_warnings_become_log_lines(capsys: pytest.CaptureFixture[str]) -> None:
    import warnings

    configure_logging()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        logging.captureWarnings(True)  # pytest's own catch_warnings replaced the hook for this test
        warnings.warn("an old setting is used", DeprecationWarning, stacklevel=1)
    (line,) = json_lines(capsys.readouterr().err)
    assert line["logger"] == "py.warnings" and "an old setting is used" in line["event"]


# --- Sentry -----------------------------------------------------------------------------------


def test_sentry_is_off_without_a_dsn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SENTRY_DSN", raising=False)
    assert init_sentry(None) is False
    assert init_sentry("") is False


def test_a_dsn_without_sentry_sdk_warns(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "sentry_sdk", None)  # makes `import sentry_sdk` fail
    with caplog.at_level(logging.WARNING, logger=observability.__name__):
        assert init_sentry("http://public@127.0.0.1:9/1") is False
    (record,) = caplog.records
    assert record.levelno == logging.WARNING and "sentry-sdk is not installed" in record.getMessage()


def test_init_sentry_options(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    fake = types.ModuleType("sentry_sdk")
    fake.init = lambda **options: calls.append(options)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sentry_sdk", fake)
    monkeypatch.setenv("SENTRY_DSN", "http://public@127.0.0.1:9/1")
    assert init_sentry(None, environment="staging", release="agentcost@9") is True
    (options,) = calls
    assert options["dsn"] == "http://public@127.0.0.1:9/1"
    assert options["send_default_pii"] is False and options["include_local_variables"] is False
    assert options["max_request_body_size"] == "never"
    assert options["before_send"] is before_send and options["before_breadcrumb"] is before_breadcrumb
    assert (options["environment"], options["release"]) == ("staging", "agentcost@9")


def realistic_event() -> dict[str, Any]:
    """The shape sentry-sdk's ASGI and logging integrations produce for a failed request."""
    return {
        "level": "error",
        "exception": {"values": [{
            "type": "RuntimeError", "value": f"upstream refused {KEY}",
            "stacktrace": {"frames": [{"function": "boom", "vars": {"api_key": KEY, "password": "hunter2",
                                                                    "n": "3"},
                                       "context_line": "    raise RuntimeError(f'upstream refused {key}')"}]},
        }]},
        "request": {
            "url": "http://testserver/boom", "method": "GET", "query_string": "token=secret123&page=2",
            "headers": {"Authorization": f"Bearer {KEY}", "Cookie": "session=cookie-secret",
                        "X-Api-Key": KEY, "User-Agent": "python-httpx/0.28", "X-Request-ID": "rid"},
            "cookies": {"session": "cookie-secret"},
        },
        "extra": {"password": "hunter2", "note": f"key {KEY}"},
        "logentry": {"message": "unhandled error", "params": []},
        "breadcrumbs": {"values": [
            {"type": "log", "category": "agentcost_cli.auth", "message": f"login with Bearer {KEY}"},
            {"type": "http", "category": "httpx", "data": {
                "url": "https://hooks.slack.com/services/T000/B000/webhook-secret", "method": "POST",
                "http.query": "token=secret123", "status_code": 200}},
        ]},
        "contexts": {"response": {"status_code": 500}},
    }


def test_before_send_scrubs_a_realistic_event() -> None:
    event = before_send(realistic_event(), {})
    text = json.dumps(event)
    for secret in (KEY, KEY[12:], "secret123", "hunter2", "cookie-secret", "webhook-secret"):
        assert secret not in text, secret
    assert event["request"]["headers"]["Authorization"] == REDACTED
    assert event["request"]["headers"]["User-Agent"] == "python-httpx/0.28"
    assert event["request"]["query_string"] == "token=[redacted]&page=2"
    assert event["exception"]["values"][0]["value"] == f"upstream refused {KEY[:12]}…"
    crumbs = event["breadcrumbs"]["values"]
    assert crumbs[0]["message"] == "login with Bearer [redacted]"
    assert crumbs[1]["data"]["url"] == "https://hooks.slack.com/[redacted]"
    assert crumbs[1]["data"]["status_code"] == 200 and "http.query" not in crumbs[1]["data"]
    assert event["contexts"]["response"]["status_code"] == 500
    assert "tags" not in event  # outside a request: no request id


def test_before_send_tags_the_request_id() -> None:
    structlog.contextvars.bind_contextvars(request_id="rid-sentry")
    assert before_send({"message": "x"}, None)["tags"] == {"request_id": "rid-sentry"}


def test_sentry_hooks_use_the_fields_of_structlog_lines() -> None:
    record = logging.LogRecord("agentcost_cli.test", logging.ERROR, __file__, 1,
                               {"event": "login failed", "password": "hunter2", "user": "a@example.com"}, (), None)
    crumb = before_breadcrumb({"type": "log", "message": str(record.msg), "data": {"_logger": "x"}},
                              {"log_record": record})
    assert crumb["message"] == "login failed"
    assert crumb["data"] == {"password": REDACTED, "user": "a@example.com"}
    event = before_send({"logentry": {"message": str(record.msg), "params": []}, "extra": {}}, {"log_record": record})
    assert event["logentry"]["message"] == "login failed"
    assert event["extra"] == {"password": REDACTED, "user": "a@example.com"}
    assert "hunter2" not in json.dumps(event)


class _EnvelopeCollector(BaseHTTPRequestHandler):
    """A stand-in for Sentry's ingest endpoint: keeps every envelope it is sent."""

    received: list[tuple[str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.server.received.append((self.path, body))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        pass


SENTRY_SCRIPT = textwrap.dedent("""
    import asyncio, logging, sys
    import httpx, sentry_sdk, structlog
    from fastapi import FastAPI, Request
    from agentcost_cli.server import problems
    from agentcost_cli.server.observability import configure_logging, init_sentry, instrument

    dsn, key = sys.argv[1], sys.argv[2]
    configure_logging()
    assert init_sentry(dsn, environment="test")
    app = FastAPI()
    problems.install(app)

    @app.get("/boom")
    async def boom(request: Request):
        structlog.get_logger("agentcost_cli.test").info("calling upstream", password="hunter2", api_key=key)
        logging.getLogger("agentcost_cli.test").warning("retrying with %s", request.headers["authorization"])
        raise RuntimeError(f"upstream refused {key} at {request.url}")

    async def main():
        transport = httpx.ASGITransport(app=instrument(app), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.get("/boom?token=secret123", headers={
                "Authorization": f"Bearer {key}", "X-Api-Key": key, "Cookie": "session=cookie-secret"})
            assert response.status_code == 500, response.status_code

    asyncio.run(main())
    sentry_sdk.flush(timeout=10)
""")


@pytest.mark.slow
def test_sentry_envelopes_sent_to_a_local_server_hold_no_secret(tmp_path: Path) -> None:
    pytest.importorskip("sentry_sdk")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EnvelopeCollector)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        script = tmp_path / "sentry_app.py"
        script.write_text(SENTRY_SCRIPT)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRY_")}
        # A subprocess: sentry-sdk patches Starlette, logging and threading for the whole process.
        done = subprocess.run([sys.executable, str(script), f"http://publickey@127.0.0.1:{port}/1", KEY],
                              capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == 0, done.stderr
    finally:
        server.shutdown()
        server.server_close()
    received: list[tuple[str, bytes]] = server.received  # type: ignore[attr-defined]
    assert received and all(path == "/api/1/envelope/" for path, _ in received)
    text = b"\n".join(body for _, body in received).decode("utf-8")
    events = [json.loads(line) for line in text.splitlines()
              if line.startswith("{") and '"exception"' in line]
    assert events, text[:2000]
    assert any(value["type"] == "RuntimeError" for event in events for value in event["exception"]["values"])
    for secret in (KEY, KEY[12:], "secret123", "hunter2", "cookie-secret"):
        assert secret not in text, secret
    assert KEY[:12] in text
    assert all(HEX32.fullmatch(event["tags"]["request_id"]) for event in events)
    # and the daemon's own stderr, the JSON log lines, is clean too
    for secret in (KEY, "secret123", "hunter2", "cookie-secret"):
        assert secret not in done.stderr


def test_the_access_line_names_a_key_by_its_display_prefix() -> None:
    """Actor labels are built never to hold a secret; `key:<prefix>` is not a `key: value` pair."""
    from agentcost_cli.server.observability import redact

    line = redact(None, "info", {"event": "request", "actor": "key:ac_live_3kTn",
                                 "detail": "key: ac_live_3kTnQ9v2xYzABCDEFGHIJ"})
    assert line["actor"] == "key:ac_live_3kTn"
    assert "QYz" not in line["detail"] and "ac_live_3kTnQ9" not in line["detail"]
