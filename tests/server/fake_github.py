"""A local GitHub for the single sign-on tests: a real HTTP server (in a thread) speaking GitHub's
OAuth device flow and the bits of its REST API the daemon reads.

* `POST /login/device/code` and `POST /login/oauth/access_token`, on the web address. Like GitHub,
  the token endpoint answers its errors with HTTP 200 and an `error` member, and answers
  form-encoded unless asked for JSON (`Accept: application/json`);
* `GET <api>/user`, `GET <api>/user/emails` (with a Bearer access token it issued), and
  `DELETE <api>/applications/<client id>/token` (HTTP Basic with the app's id and secret), where
  `<api>` is `api_prefix` (GitHub Enterprise Server's `/api/v3` by default).

Each device code answers `authorization_pending` for `pending_polls` polls (`slow_down` on the
polls in `slow_down_polls`), then is approved for `user` (or denied, or expired, per `outcome`).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode

GITHUB_CLIENT_ID = "Iv1.agentcost0test"
GITHUB_SECRET = "github-app-secret-0123456789abcdef"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass
class GhDevice:
    code: str
    user_code: str
    polls: int = 0
    used: bool = False


@dataclass
class FakeGitHub:
    url: str = ""
    client_id: str = GITHUB_CLIENT_ID
    client_secret: str = GITHUB_SECRET
    api_prefix: str = "/api/v3"
    user: dict[str, Any] = field(default_factory=lambda: {"id": 583231, "login": "octo-owner", "name": "Olivia Owner"})
    emails: list[dict[str, Any]] = field(default_factory=lambda: [
        {"email": "olivia@users.noreply.github.com", "primary": False, "verified": True, "visibility": None},
        {"email": "owner@example.com", "primary": True, "verified": True, "visibility": "private"},
    ])
    emails_status: int = 200  # 404: the user:email scope was not granted
    pending_polls: int = 1
    slow_down_polls: set[int] = field(default_factory=set)
    outcome: str = "approve"  # approve | deny | expire
    interval: int = 1
    expires_in: int = 900
    devices: dict[str, GhDevice] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # access token -> "live" | "revoked"
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def api(self) -> str:
        return self.url + self.api_prefix

    # -- the web side (the device flow) -------------------------------------------------------------
    def device(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("client_id") != self.client_id:
            return 404, {"error": "Not Found"}
        device = GhDevice(secrets.token_hex(20), f"{secrets.token_hex(2).upper()}-{secrets.token_hex(2).upper()}")
        with self.lock:
            self.devices[device.code] = device
        return 200, {"device_code": device.code, "user_code": device.user_code,
                     "verification_uri": f"{self.url}/login/device", "expires_in": self.expires_in,
                     "interval": self.interval}

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("client_id") != self.client_id:
            return 200, {"error": "incorrect_client_credentials"}
        if form.get("grant_type") != DEVICE_GRANT:
            return 200, {"error": "unsupported_grant_type"}
        with self.lock:
            device = self.devices.get(form.get("device_code", ""))
            if device is None or device.used:
                return 200, {"error": "incorrect_device_code",
                             "error_description": "The device_code provided is not valid."}
            device.polls += 1
            poll = device.polls
        if poll in self.slow_down_polls:
            return 200, {"error": "slow_down", "interval": self.interval + 5}
        if poll <= self.pending_polls:
            return 200, {"error": "authorization_pending"}
        if self.outcome == "deny":
            return 200, {"error": "access_denied"}
        if self.outcome == "expire":
            return 200, {"error": "expired_token"}
        device.used = True
        token = "gho_" + secrets.token_hex(18)
        with self.lock:
            self.tokens[token] = "live"
        return 200, {"access_token": token, "token_type": "bearer", "scope": form.get("scope", "read:user,user:email")}

    # -- the API -------------------------------------------------------------------------------------
    def authorized(self, headers: dict[str, str]) -> bool:
        header = headers.get("authorization", "")
        return header.startswith("Bearer ") and self.tokens.get(header[7:]) == "live"

    def get(self, path: str, headers: dict[str, str]) -> tuple[int, Any]:
        if not self.authorized(headers):
            return 401, {"message": "Bad credentials"}
        if path == "/user":
            return 200, {**self.user, "email": None, "type": "User"}
        if path == "/user/emails":
            return (200, self.emails) if self.emails_status == 200 else (self.emails_status, {"message": "Not Found"})
        return 404, {"message": "Not Found"}

    def delete(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        if path != f"/applications/{self.client_id}/token":
            return 404, {"message": "Not Found"}
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if headers.get("authorization") != f"Basic {expected}":
            return 401, {"message": "Requires authentication"}
        with self.lock:
            if self.tokens.get(str(body.get("access_token"))) != "live":
                return 404, {"message": "Not Found"}
            self.tokens[str(body["access_token"])] = "revoked"
        return 204, None


def _handler(gh: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: Any, *, form: bool = False) -> None:
            data = b"" if body is None else (urlencode(body).encode() if form else json.dumps(body).encode())
            self.send_response(status)
            if body is not None:
                self.send_header("Content-Type", "application/x-www-form-urlencoded" if form else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _read(self) -> str:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()

        def _headers(self) -> dict[str, str]:
            return {k.lower(): v for k, v in self.headers.items()}

        def _api_path(self) -> str | None:
            return self.path[len(gh.api_prefix):] if self.path.startswith(gh.api_prefix + "/") else None

        def do_GET(self) -> None:
            headers = self._headers()
            gh.requests.append({"method": "GET", "path": self.path, "headers": headers})
            path = self._api_path()
            self._answer(*(gh.get(path, headers) if path is not None else (404, {"message": "Not Found"})))

        def do_DELETE(self) -> None:
            headers = self._headers()
            raw = self._read()
            body = json.loads(raw) if raw else {}
            gh.requests.append({"method": "DELETE", "path": self.path, "headers": headers, "json": body})
            path = self._api_path()
            self._answer(*(gh.delete(path, headers, body) if path is not None else (404, {"message": "Not Found"})))

        def do_POST(self) -> None:
            headers = self._headers()
            form = {k: v[0] for k, v in parse_qs(self._read()).items()}
            gh.requests.append({"method": "POST", "path": self.path, "form": form, "headers": headers})
            wants_json = "application/json" in headers.get("accept", "")
            if self.path == "/login/device/code":
                status, body = gh.device(form)
            elif self.path == "/login/oauth/access_token":
                status, body = gh.token(form)
            else:
                status, body = 404, {"error": "Not Found"}
            self._answer(status, body, form=not wants_json)  # GitHub answers form-encoded unless asked

    return Handler


@contextmanager
def running_github(**options: Any) -> Iterator[FakeGitHub]:
    gh = FakeGitHub(**options)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(gh))
    gh.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gh
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
