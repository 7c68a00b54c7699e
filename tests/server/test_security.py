"""AU-14 security headers, trusted-proxy handling, HTTPS-only and CORS, against a real FastAPI
app (httpx ASGITransport) and, for what only a socket shows, a real uvicorn server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from agentcost_cli.server import problems
from agentcost_cli.server.security import (
    UVICORN_OPTIONS,
    HttpsOnlyMiddleware,
    ProxyHeadersMiddleware,
    SecurityHeadersMiddleware,
    cors_options,
    parse_networks,
    secure_app,
)

from .live_uvicorn import serve

pytestmark = pytest.mark.anyio

BASE_CSP = "default-src 'self'; frame-ancestors 'none'; object-src 'none'; form-action 'self'"
DOCS_CSP = (BASE_CSP + "; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:")
AU14 = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "content-security-policy": BASE_CSP,
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": ("accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
                           "microphone=(), payment=(), usb=()"),
}
HSTS = "max-age=31536000; includeSubDomains"
PROXY = ("10.0.0.2", 40000)
OUTSIDER = ("203.0.113.9", 50000)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_app(cors: list[str] | None = None) -> FastAPI:
    app = FastAPI()
    problems.install(app)

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return "<!doctype html><title>agentcost</title>"

    @app.get("/api/v1/things")
    def things() -> dict[str, Any]:
        return {"items": [], "next": None}

    @app.post("/auth/login")
    def login(body: dict[str, str]) -> dict[str, str]:
        return {"access_token": "t", "token_type": "bearer"}

    @app.get("/whoami")
    def whoami(request: Request) -> dict[str, Any]:
        return {"client": request.client.host if request.client else None, "scheme": request.url.scheme}

    @app.get("/leaky")
    def leaky(response: Response) -> dict[str, bool]:
        response.headers["Server"] = "nginx/1.0"
        response.headers["X-Powered-By"] = "PHP/5.4"
        return {"ok": True}

    @app.get("/cached")
    def cached(response: Response) -> dict[str, bool]:
        response.headers["Cache-Control"] = "private, max-age=60"
        return {"ok": True}

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("induced failure")

    options = cors_options(cors or [])
    if options is not None:
        app.add_middleware(CORSMiddleware, **options)
    return app


def wrapped(*, tls: bool = False, trusted: list[str] | None = None, https_only: bool = False,
            cors: list[str] | None = None) -> ASGIApp:
    return secure_app(make_app(cors), tls=tls, trusted_proxies=trusted or [], https_only=https_only)


@asynccontextmanager
async def client_for(app: ASGIApp, *, peer: tuple[str, int] = ("127.0.0.1", 123), scheme: str = "http",
                     raise_app_exceptions: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=peer, raise_app_exceptions=raise_app_exceptions)
    async with httpx.AsyncClient(transport=transport, base_url=f"{scheme}://testserver") as client:
        yield client


def assert_au14(response: httpx.Response, *, csp: str = BASE_CSP) -> None:
    for name, value in AU14.items():
        expected = csp if name == "content-security-policy" else value
        assert response.headers.get(name) == expected, (name, response.headers.get(name))
        assert len(response.headers.get_list(name)) == 1, name
    assert "server" not in response.headers
    assert "x-powered-by" not in response.headers


# --- AU-14 on every kind of answer -------------------------------------------------------------

async def test_headers_on_index_api_404_login_and_500() -> None:
    async with client_for(wrapped(), raise_app_exceptions=False) as client:
        answers = {
            "index": await client.get("/"),
            "api": await client.get("/api/v1/things"),
            "404": await client.get("/api/v1/nope"),
            "login": await client.post("/auth/login", json={"email": "a@example.com", "password": "x"}),
            "422": await client.post("/auth/login", content=b"{not json", headers={"content-type": "application/json"}),
            "405": await client.delete("/api/v1/things"),
            "500": await client.get("/boom"),
        }
    assert [a.status_code for a in answers.values()] == [200, 200, 404, 200, 400, 405, 500]
    for kind, response in answers.items():
        assert_au14(response)
        assert "strict-transport-security" not in response.headers, kind
    for kind in ("404", "422", "405", "500"):
        assert answers[kind].headers["content-type"] == "application/problem+json", kind
        assert "Traceback" not in answers[kind].text


async def test_middleware_added_inside_the_app_also_works() -> None:
    app = make_app()
    app.add_middleware(SecurityHeadersMiddleware, tls=True)
    async with client_for(app) as client:
        for response in (await client.get("/"), await client.get("/api/v1/things"), await client.get("/missing")):
            assert_au14(response)
            assert response.headers["strict-transport-security"] == HSTS


async def test_hsts_only_with_tls() -> None:
    async with client_for(wrapped(tls=False)) as client:
        assert "strict-transport-security" not in (await client.get("/")).headers
    async with client_for(wrapped(tls=True)) as client:
        for response in (await client.get("/"), await client.get("/nope"),
                         await client.post("/auth/login", json={"email": "a", "password": "b"})):
            assert response.headers["strict-transport-security"] == HSTS


async def test_server_and_powered_by_removed_from_app_answers() -> None:
    async with client_for(wrapped()) as client:
        response = await client.get("/leaky")
    assert response.status_code == 200
    assert "server" not in response.headers
    assert "x-powered-by" not in response.headers


async def test_no_store_when_request_carries_credentials() -> None:
    async with client_for(wrapped()) as client:
        anonymous = await client.get("/api/v1/things")
        bearer = await client.get("/api/v1/things", headers={"Authorization": "Bearer abc"})
        api_key = await client.get("/api/v1/things", headers={"X-API-Key": "ac_live_x"})
        failed = await client.get("/api/v1/nope", headers={"Authorization": "Bearer abc"})
        own_choice = await client.get("/cached", headers={"Authorization": "Bearer abc"})
    assert "cache-control" not in anonymous.headers
    assert bearer.headers["cache-control"] == "no-store"
    assert api_key.headers["cache-control"] == "no-store"
    assert failed.headers["cache-control"] == "no-store"
    assert own_choice.headers.get_list("cache-control") == ["private, max-age=60"]


async def test_docs_pages_get_the_relaxed_csp_and_nothing_else_does() -> None:
    async with client_for(wrapped()) as client:
        docs = await client.get("/docs")
        redoc = await client.get("/redoc")
        redirect = await client.get("/docs/oauth2-redirect")
        lookalike = await client.get("/docsearch")
        spec = await client.get("/openapi.json")
    for response in (docs, redoc, redirect):
        assert response.status_code == 200
        assert_au14(response, csp=DOCS_CSP)
    assert_au14(lookalike)
    assert_au14(spec)
    assert "unsafe-inline" not in spec.headers["content-security-policy"]


# --- trusted proxies and HTTPS-only -------------------------------------------------------------

async def test_trusted_proxy_https_gives_hsts_and_real_client() -> None:
    app = wrapped(trusted=["10.0.0.0/8"], https_only=True)
    forwarded = {"X-Forwarded-For": "6.6.6.6, 198.51.100.7, 10.0.0.3", "X-Forwarded-Proto": "https"}
    async with client_for(app, peer=PROXY) as client:
        response = await client.get("/whoami", headers=forwarded)
    assert response.status_code == 200
    # The last hop that is not a trusted proxy: the spoofable left part is not believed.
    assert response.json() == {"client": "198.51.100.7", "scheme": "https"}
    assert response.headers["strict-transport-security"] == HSTS
    assert_au14(response)


async def test_forwarded_headers_from_untrusted_client_are_ignored() -> None:
    forwarded = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"}
    async with client_for(wrapped(trusted=["10.0.0.0/8"], https_only=True), peer=OUTSIDER) as client:
        refused = await client.get("/whoami", headers=forwarded)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert body["type"] == "/problems/https-required"
    assert body["status"] == 403
    assert body["title"] == "HTTPS required"
    assert "strict-transport-security" not in refused.headers
    assert_au14(refused)

    async with client_for(wrapped(trusted=["10.0.0.0/8"]), peer=OUTSIDER) as client:
        seen = await client.get("/whoami", headers=forwarded)
    assert seen.json() == {"client": "203.0.113.9", "scheme": "http"}
    assert "strict-transport-security" not in seen.headers


async def test_no_trusted_proxies_means_headers_never_trusted() -> None:
    forwarded = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"}
    async with client_for(wrapped(), peer=PROXY) as client:
        seen = await client.get("/whoami", headers=forwarded)
    assert seen.json() == {"client": "10.0.0.2", "scheme": "http"}


async def test_trusted_proxy_forwarding_plain_http_is_refused() -> None:
    forwarded = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "http"}
    async with client_for(wrapped(trusted=["10.0.0.2"], https_only=True), peer=PROXY) as client:
        refused = await client.get("/whoami", headers=forwarded)
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/https-required"


@pytest.mark.parametrize("peer", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
async def test_https_only_allows_loopback(peer: str) -> None:
    async with client_for(wrapped(https_only=True), peer=(peer, 1)) as client:
        response = await client.get("/whoami")
    assert response.status_code == 200


async def test_https_only_allows_https_and_disabled_allows_everything() -> None:
    async with client_for(wrapped(https_only=True), peer=OUTSIDER, scheme="https") as client:
        assert (await client.get("/whoami")).status_code == 200
    async with client_for(wrapped(https_only=False), peer=OUTSIDER) as client:
        assert (await client.get("/whoami")).status_code == 200


async def test_proxy_chain_edge_cases() -> None:
    app = make_app()
    chain = ProxyHeadersMiddleware(app, trusted_proxies=["10.0.0.0/8", "fd00::/8"])
    async with client_for(chain, peer=("fd00::1", 1)) as client:
        ipv6 = await client.get("/whoami", headers={"X-Forwarded-For": "[2001:db8::5]:443",
                                                    "X-Forwarded-Proto": "HTTPS"})
        all_trusted = await client.get("/whoami", headers={"X-Forwarded-For": "10.1.1.1, 10.2.2.2"})
        garbage = await client.get("/whoami", headers={"X-Forwarded-For": "198.51.100.7, not-an-ip",
                                                       "X-Forwarded-Proto": "gopher"})
        split = await client.get("/whoami", headers=[("X-Forwarded-For", "198.51.100.1"),
                                                     ("X-Forwarded-For", "198.51.100.2")])
    assert ipv6.json() == {"client": "2001:db8::5", "scheme": "https"}
    assert all_trusted.json()["client"] == "10.1.1.1"
    assert garbage.json() == {"client": "fd00::1", "scheme": "http"}
    assert split.json()["client"] == "198.51.100.2"


def test_bad_trusted_proxy_entry_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="not-a-network"):
        parse_networks(["10.0.0.0/8", "not-a-network"])
    with pytest.raises(ValueError, match="trusted proxy"):
        ProxyHeadersMiddleware(make_app(), trusted_proxies=["300.1.2.3"])


async def test_https_only_layer_alone() -> None:
    app = HttpsOnlyMiddleware(make_app(), enabled=True)
    async with client_for(app, peer=OUTSIDER) as client:
        response = await client.get("/api/v1/things")
    assert response.status_code == 403
    assert response.json()["detail"].startswith("plain HTTP is accepted only from loopback")


# --- CORS ---------------------------------------------------------------------------------------

def test_cors_options() -> None:
    assert cors_options([]) is None
    assert cors_options(["  "]) is None
    options = cors_options(["https://app.example.com"])
    assert options == {
        "allow_origins": ["https://app.example.com"],
        "allow_methods": ["GET", "POST", "PUT", "PATCH", "DELETE"],
        "allow_headers": ["Authorization", "Content-Type", "X-API-Key", "X-Request-ID"],
        "expose_headers": ["RateLimit", "RateLimit-Policy", "Retry-After", "X-Request-ID"],
        "max_age": 600,
        "allow_credentials": False,
    }


async def test_cors_off_by_default_and_allow_list_when_set() -> None:
    preflight = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, content-type"}
    async with client_for(wrapped()) as client:
        off = await client.get("/api/v1/things", headers={"Origin": "https://app.example.com"})
    assert "access-control-allow-origin" not in off.headers

    async with client_for(wrapped(cors=["https://app.example.com"])) as client:
        allowed = await client.options("/api/v1/things", headers=preflight)
        simple = await client.get("/api/v1/things", headers={"Origin": "https://app.example.com"})
        other = await client.options("/api/v1/things", headers={**preflight, "Origin": "https://evil.example"})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert allowed.headers["access-control-max-age"] == "600"
    assert "access-control-allow-credentials" not in allowed.headers
    assert_au14(allowed)
    assert simple.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "ratelimit-policy" in simple.headers["access-control-expose-headers"].lower()
    assert other.status_code == 400
    assert "access-control-allow-origin" not in other.headers


# --- a real uvicorn server on 127.0.0.1 ---------------------------------------------------------

def test_real_uvicorn_socket_carries_headers_and_no_server_header() -> None:
    app = wrapped(https_only=True)
    with serve(app, lifespan="on", **UVICORN_OPTIONS) as url, httpx.Client(base_url=url) as client:
        answers = [client.get("/"), client.get("/api/v1/things"), client.get("/nope"),
                   client.post("/auth/login", json={"email": "a", "password": "b"},
                               headers={"Authorization": "Bearer x"}),
                   client.get("/leaky"),
                   # uvicorn's own proxy layer is off: loopback cannot claim https either.
                   client.get("/whoami", headers={"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"})]
    for response in answers:
        assert response.status_code in (200, 404)
        assert_au14(response)
        assert "strict-transport-security" not in response.headers
        assert "server" not in response.headers
    assert answers[3].headers["cache-control"] == "no-store"
    assert answers[5].json() == {"client": "127.0.0.1", "scheme": "http"}


def test_uvicorn_default_server_header_is_below_asgi() -> None:
    """Why UVICORN_OPTIONS exists: uvicorn writes `server: uvicorn` after the app's headers,
    so no middleware can remove it; only `server_header=False` does."""
    options = {"lifespan": "on", "server_header": True, "proxy_headers": False}
    with serve(wrapped(), **options) as url, httpx.Client(base_url=url) as client:
        response = client.get("/")
    assert response.headers["server"] == "uvicorn"
    assert response.headers["x-frame-options"] == "DENY"
