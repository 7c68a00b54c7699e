"""A real HTTP server (ThreadingHTTPServer on 127.0.0.1:0) speaking the daemon's auth contract.

It stands in for `agentcost daemon` until that lands, and implements the contract faithfully:

* `POST /v1/auth/login` `{"email", "password", "code"?}` -> 200 tokens; 401 problem
  `/problems/mfa-required` when the account has MFA and no/blank code came; 401
  `/problems/unauthenticated` for a wrong email, password or code (a TOTP code works once);
  429 `/problems/rate-limited` with `Retry-After` while `rate_limit_logins()` is in force.
* `POST /v1/auth/refresh` `{"refresh_token"}` -> 200 with a NEW refresh token; the old one is
  retired, and presenting a retired token again ends the whole session (reuse detection).
* `POST /v1/auth/logout` `{"refresh_token"}` -> 204 (unknown tokens too: logging out twice is fine).
* `GET /v1/me` with `Authorization: Bearer <access>` -> 200 the user.
* Errors: `application/problem+json` `{"type", "title", "status", "detail"}`.

POINTING THE SCENARIOS AT THE REAL DAEMON: the tests only use the `AuthServerUnderTest`
protocol below (`url` plus a few hooks to seed users and observe reuse). Write an adapter
that starts `agentcost daemon` on a free port with a temporary store, implements those hooks
through the store/services (users via `services.users`, TOTP codes with pyotp from the
enrolment secret, rate limiting by failed logins, reuse from the audit action
`session.reuse_detected`), and return it from the `auth_server` fixtures in
tests/client/conftest.py and tests/cli/test_login.py. Nothing else changes.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import pyotp

ACCESS_TTL = 900


class AuthServerUnderTest(Protocol):
    """What the remote-mode scenarios need from a server: its URL and hooks to arrange and observe."""

    url: str

    def add_user(self, email: str, password: str, *, mfa: bool = False, display_name: str | None = None,
                 is_admin: bool = False) -> None: ...

    def mfa_code(self, email: str) -> str: ...

    def rate_limit_logins(self, retry_after: int) -> None: ...

    def reuse_detections(self) -> int: ...

    def issued_secrets(self) -> set[str]: ...


@dataclass
class _User:
    id: int
    email: str
    password: str
    display_name: str
    is_admin: bool
    totp_secret: str | None
    used_codes: set[str] = field(default_factory=set)


@dataclass
class _Session:
    id: int
    user: _User
    mfa: bool
    current_refresh: str
    revoked_reason: str | None = None


class ContractAuthServer:
    """The fake daemon. Thread-safe; every counter is read under its lock."""

    def __init__(self, *, access_ttl: float = ACCESS_TTL, refresh_delay: float = 0.0) -> None:
        self.access_ttl = access_ttl
        self.refresh_delay = refresh_delay  # widens the race window two unlocked refreshes would hit
        self._lock = threading.Lock()
        self._users: dict[str, _User] = {}
        self._sessions: dict[int, _Session] = {}
        self._refresh: dict[str, tuple[int, bool]] = {}  # token -> (session id, retired)
        self._access: dict[str, tuple[int, float]] = {}  # token -> (session id, expires at)
        self._issued: list[str] = []
        self._throttle_until = 0.0
        self._throttle_after = 0
        self.counts: dict[str, int] = {"login": 0, "login_ok": 0, "mfa_required": 0, "refresh": 0,
                                       "refresh_ok": 0, "reuse": 0, "logout": 0, "me": 0}
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- hooks (AuthServerUnderTest) -------------------------------------------------
    def add_user(self, email: str, password: str, *, mfa: bool = False, display_name: str | None = None,
                 is_admin: bool = False) -> None:
        with self._lock:
            self._users[email.lower()] = _User(len(self._users) + 1, email.lower(), password,
                                               display_name or email.split("@")[0].title(), is_admin,
                                               pyotp.random_base32() if mfa else None)

    def mfa_code(self, email: str) -> str:
        secret = self._users[email.lower()].totp_secret
        assert secret, f"{email} has no MFA"
        return pyotp.TOTP(secret).now()

    def rate_limit_logins(self, retry_after: int) -> None:
        with self._lock:
            self._throttle_until = time.monotonic() + retry_after
            self._throttle_after = retry_after

    def reuse_detections(self) -> int:
        with self._lock:
            return self.counts["reuse"]

    def issued_secrets(self) -> set[str]:
        with self._lock:
            return set(self._issued)

    # -- observation helpers for the fake only ----------------------------------------
    def count(self, name: str) -> int:
        with self._lock:
            return self.counts[name]

    def last_refresh_token(self) -> str | None:
        with self._lock:
            live = [s.current_refresh for s in self._sessions.values()]
            return live[-1] if live else None

    def session_alive(self, refresh_token: str) -> bool:
        with self._lock:
            found = self._refresh.get(refresh_token)
            return found is not None and self._sessions[found[0]].revoked_reason is None

    def revoked_reasons(self) -> list[str | None]:
        with self._lock:
            return [s.revoked_reason for s in self._sessions.values()]

    def expire_access_tokens(self) -> None:
        with self._lock:
            self._access.clear()

    def revoke_all_sessions(self, reason: str = "admin") -> None:
        with self._lock:
            for session in self._sessions.values():
                session.revoked_reason = session.revoked_reason or reason

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> ContractAuthServer:
        server = self

        class Handler(_Handler):
            app = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        host, port = self._httpd.server_address[:2]
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="contract-auth-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- the contract ------------------------------------------------------------------------
    def _tokens(self, session: _Session) -> dict[str, Any]:
        access = "at_" + secrets.token_urlsafe(32)
        self._access[access] = (session.id, time.monotonic() + self.access_ttl)
        self._issued.extend([access, session.current_refresh])
        return {"access_token": access, "refresh_token": session.current_refresh, "token_type": "Bearer",
                "expires_in": self.access_ttl, "session_id": session.id,
                "refresh_expires_at": "2099-01-01T00:00:00Z"}

    def _new_refresh(self, session_id: int) -> str:
        token = "rt_" + secrets.token_urlsafe(32)
        self._refresh[token] = (session_id, False)
        return token

    def handle_login(self, body: dict[str, Any]) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        email, password, code = body.get("email"), body.get("password"), body.get("code")
        if not isinstance(email, str) or not isinstance(password, str) or (code is not None
                                                                           and not isinstance(code, str)):
            return _problem(422, "validation-error", "email and password are required strings")
        with self._lock:
            self.counts["login"] += 1
            if time.monotonic() < self._throttle_until:
                left = max(1, round(self._throttle_until - time.monotonic()))
                return _problem(429, "rate-limited", "too many failed sign-in attempts",
                                headers={"Retry-After": str(left)})
            user = self._users.get(email.strip().lower())
            if user is None or not secrets.compare_digest(user.password.encode(), password.encode()):
                return _problem(401, "unauthenticated", "wrong email or password")
            if user.totp_secret:
                if not (code or "").strip():
                    self.counts["mfa_required"] += 1
                    return _problem(401, "mfa-required", "enter the code from your authenticator app, or a "
                                    "recovery code")
                given = code.strip() if code else ""
                if given in user.used_codes or not pyotp.TOTP(user.totp_secret).verify(given, valid_window=1):
                    return _problem(401, "unauthenticated", "wrong or already used code")
                user.used_codes.add(given)
            session_id = len(self._sessions) + 1
            session = _Session(session_id, user, bool(user.totp_secret), "")
            session.current_refresh = self._new_refresh(session_id)
            self._sessions[session_id] = session
            self.counts["login_ok"] += 1
            return 200, self._tokens(session), {"Cache-Control": "no-store"}

    def handle_refresh(self, body: dict[str, Any]) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        token = body.get("refresh_token")
        if not isinstance(token, str):
            return _problem(422, "validation-error", "refresh_token is required")
        if self.refresh_delay:
            time.sleep(self.refresh_delay)
        with self._lock:
            self.counts["refresh"] += 1
            found = self._refresh.get(token)
            if found is None:
                return _problem(401, "unauthenticated", "invalid or expired session")
            session_id, retired = found
            session = self._sessions[session_id]
            if retired:
                self.counts["reuse"] += 1
                session.revoked_reason = "refresh token reuse"
                return _problem(401, "unauthenticated", "invalid or expired session")
            if session.revoked_reason is not None:
                return _problem(401, "unauthenticated", "invalid or expired session")
            self._refresh[token] = (session_id, True)
            session.current_refresh = self._new_refresh(session_id)
            self.counts["refresh_ok"] += 1
            return 200, self._tokens(session), {"Cache-Control": "no-store"}

    def handle_logout(self, body: dict[str, Any]) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        token = body.get("refresh_token")
        if not isinstance(token, str):
            return _problem(422, "validation-error", "refresh_token is required")
        with self._lock:
            self.counts["logout"] += 1
            found = self._refresh.get(token)
            if found is not None:
                session = self._sessions[found[0]]
                session.revoked_reason = session.revoked_reason or "logout"
        return 204, None, {}

    def handle_me(self, authorization: str) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        scheme, _, token = authorization.partition(" ")
        with self._lock:
            self.counts["me"] += 1
            found = self._access.get(token.strip()) if scheme.lower() == "bearer" else None
            if found is None or found[1] <= time.monotonic():
                return _problem(401, "unauthenticated", "invalid or expired access token", _INVALID_TOKEN)
            session = self._sessions[found[0]]
            if session.revoked_reason is not None:
                return _problem(401, "unauthenticated", "invalid or expired access token", _INVALID_TOKEN)
            user = session.user
            return 200, {"id": user.id, "email": user.email, "display_name": user.display_name,
                         "is_admin": user.is_admin, "mfa": bool(user.totp_secret), "status": "active"}, {
                "Cache-Control": "no-store"}


_INVALID_TOKEN = {"WWW-Authenticate": 'Bearer error="invalid_token"'}  # as the daemon: RFC 6750
_TITLES = {401: "Not authenticated", 404: "Not found", 405: "Method not allowed", 422: "Validation failed",
           429: "Too many requests", 400: "Malformed JSON"}


def _problem(status: int, slug: str, detail: str, headers: dict[str, str] | None = None
             ) -> tuple[int, dict[str, Any], dict[str, str]]:
    extra = dict(headers or {})
    if status == 401:
        extra.setdefault("WWW-Authenticate", "Bearer")
    return status, {"type": f"/problems/{slug}", "title": _TITLES.get(status, "Error"), "status": status,
                    "detail": detail}, extra


class _Handler(BaseHTTPRequestHandler):
    app: ContractAuthServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: dict[str, Any] | None, headers: dict[str, str]) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            kind = "application/problem+json" if status >= 400 else "application/json"
            self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    def _json_body(self) -> dict[str, Any] | None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def do_POST(self) -> None:
        routes = {"/v1/auth/login": self.app.handle_login, "/v1/auth/refresh": self.app.handle_refresh,
                  "/v1/auth/logout": self.app.handle_logout}
        route = routes.get(self.path)
        body = self._json_body()
        if route is None:
            self._send(*_problem(404, "not-found", f"no route {self.path}"))
        elif body is None:
            self._send(*_problem(400, "malformed-json", "the body is not a JSON object"))
        else:
            self._send(*route(body))

    def do_GET(self) -> None:
        if self.path == "/v1/me":
            self._send(*self.app.handle_me(self.headers.get("Authorization", "")))
        else:
            self._send(*_problem(404, "not-found", f"no route {self.path}"))


@contextmanager
def running_contract_server(**options: Any) -> Iterator[ContractAuthServer]:
    """Start a ContractAuthServer for the duration of the block."""
    server = ContractAuthServer(**options).start()
    try:
        yield server
    finally:
        server.stop()


def free_port_url() -> str:
    """An http:// URL on 127.0.0.1 where nothing listens (for unreachable-server tests)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
