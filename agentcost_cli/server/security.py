"""Transport security for the daemon: OWASP response headers (AU-14), trusted-proxy handling,
refusing plain HTTP from the network, and the CORS allow-list.

Everything here is plain ASGI so the app factory can wire it without this module knowing the
app. Order, outermost first (see `secure_app`)::

    ProxyHeadersMiddleware      # rewrite client/scheme from a *trusted* proxy only
      SecurityHeadersMiddleware # headers on every answer, including the 403 below and 500s
        HttpsOnlyMiddleware     # 403 https-required for plain HTTP from the network
          <FastAPI app>         # its own middleware: rate-limit headers, CORS, ...

Wrap the FastAPI app from the outside (rather than `app.add_middleware`) so that the 500s
Starlette's ServerErrorMiddleware (always the outermost layer of the app) produces also carry
the headers. Run uvicorn with `UVICORN_OPTIONS` (no `Server: uvicorn`, no second proxy layer).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .problems import problem

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# uvicorn writes `server: uvicorn` below the ASGI layer (no middleware can remove it), and by
# default trusts X-Forwarded-* from 127.0.0.1; ProxyHeadersMiddleware is the one place that does.
UVICORN_OPTIONS: dict[str, Any] = {"server_header": False, "proxy_headers": False}

CSP = "default-src 'self'; frame-ancestors 'none'; object-src 'none'; form-action 'self'"
# Swagger UI and ReDoc pages use inline bootstrap scripts and styles and data: images; their
# assets are served by the daemon itself, never a CDN, so 'self' stays the only origin.
DOCS_CSP = CSP + "; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:"
DOCS_PATHS = ("/docs", "/redoc")
HSTS = "max-age=31536000; includeSubDomains"
PERMISSIONS_POLICY = ("accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
                      "microphone=(), payment=(), usb=()")

BASE_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": PERMISSIONS_POLICY,
}
REMOVED_HEADERS = ("server", "x-powered-by")
CREDENTIAL_HEADERS = ("authorization", "x-api-key")

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def _app_path(scope: Scope) -> str:
    """The path inside the app (without a root_path prefix, which ASGI includes in `path`)."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    return path or "/"


def is_docs_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in DOCS_PATHS)


class SecurityHeadersMiddleware:
    """Adds the OWASP headers to every HTTP answer and removes `Server`/`X-Powered-By`.

    HSTS is sent when `tls` is on, or when the request's scheme is https (as rewritten by
    ProxyHeadersMiddleware for a trusted TLS-terminating proxy). Answers to requests carrying
    credentials get `Cache-Control: no-store` unless the route chose a Cache-Control itself.
    """

    def __init__(self, app: ASGIApp, *, tls: bool) -> None:
        self.app = app
        self.tls = tls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_headers = Headers(scope=scope)
        credentials = any(name in request_headers for name in CREDENTIAL_HEADERS)
        csp = DOCS_CSP if is_docs_path(_app_path(scope)) else CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name in REMOVED_HEADERS:
                    del headers[name]
                for name, value in BASE_HEADERS.items():
                    headers[name] = value
                headers["Content-Security-Policy"] = csp
                # Read at send time: the scheme is the one after proxy rewriting.
                if self.tls or scope.get("scheme") == "https":
                    headers["Strict-Transport-Security"] = HSTS
                if credentials and "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def parse_networks(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """IPs and CIDR networks ("10.0.0.0/8", "::1", "192.168.1.7"); ValueError names a bad entry."""
    networks: list[IPNetwork] = []
    for entry in entries:
        text = entry.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"trusted proxy {entry!r} is not an IP address or CIDR network") from None
    return tuple(networks)


def parse_ip(text: str) -> IPAddress | None:
    """An address from a socket or X-Forwarded-For hop ("1.2.3.4", "1.2.3.4:80", "[::1]:80");
    IPv4-mapped IPv6 addresses become IPv4. None when it is not an address."""
    host = text.strip().strip('"')
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _in(ip: IPAddress | None, networks: Iterable[IPNetwork]) -> bool:
    return ip is not None and any(ip.version == n.version and ip in n for n in networks)


def is_loopback(ip: IPAddress | None) -> bool:
    return _in(ip, LOOPBACK)


class ProxyHeadersMiddleware:
    """Honours X-Forwarded-For / X-Forwarded-Proto only from a trusted proxy.

    When the direct peer is in `trusted_proxies`, `scope["client"]` becomes the last untrusted
    hop of X-Forwarded-For (walking from the right, skipping trusted proxies) and
    `scope["scheme"]` the proxy's X-Forwarded-Proto (http/https only). From anyone else the
    headers are ignored entirely.
    """

    def __init__(self, app: ASGIApp, *, trusted_proxies: list[str]) -> None:
        self.app = app
        self.trusted = parse_networks(trusted_proxies)

    def _client_from(self, forwarded_for: str) -> IPAddress | None:
        hops = [h for h in (part.strip() for part in forwarded_for.split(",")) if h]
        ips = [parse_ip(h) for h in hops]
        for ip in reversed(ips):
            if ip is None:
                return None  # garbage in the chain: do not guess, keep the proxy as the client
            if not _in(ip, self.trusted):
                return ip
        return ips[0] if ips else None  # every hop is a trusted proxy: the first one is the origin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.trusted:
            client = scope.get("client")
            if client and _in(parse_ip(str(client[0])), self.trusted):
                headers = Headers(scope=scope)
                forwarded_for = ", ".join(headers.getlist("x-forwarded-for"))
                if forwarded_for:
                    real = self._client_from(forwarded_for)
                    if real is not None:
                        scope["client"] = (str(real), 0)
                proto = headers.get("x-forwarded-proto", "")
                # Several proxies: the last value is the one our trusted proxy set.
                last = proto.split(",")[-1].strip().lower() if proto else ""
                if last in ("http", "https"):
                    if scope["type"] == "websocket":
                        scope["scheme"] = "wss" if last == "https" else "ws"
                    else:
                        scope["scheme"] = last
        await self.app(scope, receive, send)


class HttpsOnlyMiddleware:
    """When enabled, refuses plain HTTP except from loopback: 403 problem+json `https-required`.

    Runs inside ProxyHeadersMiddleware, so a trusted proxy's `X-Forwarded-Proto: https` counts
    as https. A Unix-socket connection (no client address) is local and allowed.
    """

    def __init__(self, app: ASGIApp, *, enabled: bool) -> None:
        self.app = app
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.enabled and scope["type"] in ("http", "websocket") and scope.get("scheme") in ("http", "ws"):
            client = scope.get("client")
            if client is not None and not is_loopback(parse_ip(str(client[0]))):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008, "reason": "https required"})
                    return
                response = problem("https-required",
                                   "plain HTTP is accepted only from loopback; use https:// "
                                   "(or a trusted proxy that terminates TLS)")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def secure_app(app: ASGIApp, *, tls: bool, trusted_proxies: list[str], https_only: bool) -> ASGIApp:
    """`app` wrapped in the three layers above in the right order."""
    inner = HttpsOnlyMiddleware(app, enabled=https_only)
    return ProxyHeadersMiddleware(SecurityHeadersMiddleware(inner, tls=tls), trusted_proxies=trusted_proxies)


def cors_options(origins: list[str]) -> dict[str, Any] | None:
    """Keyword arguments for Starlette's CORSMiddleware, or None (CORS off) without an allow-list."""
    allowed = [o.strip().rstrip("/") for o in origins if o.strip()]
    if not allowed:
        return None
    return {
        "allow_origins": allowed,
        "allow_methods": ["GET", "POST", "PUT", "PATCH", "DELETE"],
        "allow_headers": ["Authorization", "Content-Type", "X-API-Key", "X-Request-ID"],
        "expose_headers": ["RateLimit", "RateLimit-Policy", "Retry-After", "X-Request-ID"],
        "max_age": 600,
        "allow_credentials": False,
    }
