"""A local OpenID Connect provider for the single sign-on tests: a real HTTP server (in a thread)
serving discovery, JWKS, the device authorization endpoint and the token endpoint (RFC 8628),
and signing RS256 (or ES256) ID tokens with keys generated here.

Each device code answers `authorization_pending` for `pending_polls` polls (and `slow_down`
on the polls listed in `slow_down_polls`), then is approved with `claims` (or denied, or
expired, per `outcome`), and is single use. `id_token_factory` replaces the ID token (forged,
unsigned, wrong audience...). The client must authenticate with HTTP Basic (form-encoded id
and secret, RFC 6749 2.3.1) or the secret in the body.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote_plus

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

CLIENT_ID = "agentcost-test-client"
CLIENT_SECRET = "idp-secret: with spaces & symbols+/="  # exercises the form-encoding of Basic auth


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class SigningKey:
    kid: str
    alg: str
    private: Any

    @classmethod
    def rsa(cls, kid: str | None = None) -> SigningKey:
        return cls(kid or f"rsa-{secrets.token_hex(4)}", "RS256",
                   rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def ec(cls, kid: str | None = None) -> SigningKey:
        return cls(kid or f"ec-{secrets.token_hex(4)}", "ES256", ec.generate_private_key(ec.SECP256R1()))

    def jwk(self) -> dict[str, Any]:
        algorithm = RSAAlgorithm if self.alg == "RS256" else ECAlgorithm
        data: dict[str, Any] = json.loads(algorithm.to_jwk(self.private.public_key()))
        return {**data, "kid": self.kid, "use": "sig", "alg": self.alg}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, claims: dict[str, Any], *, kid: str | None = None) -> str:
        return jwt.encode(claims, self.private, algorithm=self.alg, headers={"kid": kid or self.kid})


@dataclass
class Device:
    code: str
    user_code: str
    polls: int = 0
    used: bool = False


@dataclass
class FakeIdp:
    url: str = ""
    client_id: str = CLIENT_ID
    client_secret: str | None = CLIENT_SECRET
    keys: list[SigningKey] = field(default_factory=lambda: [SigningKey.rsa()])
    claims: dict[str, Any] = field(default_factory=lambda: {
        "sub": "idp-user-1", "email": "owner@example.com", "email_verified": True, "name": "Olivia Owner"})
    pending_polls: int = 1
    slow_down_polls: set[int] = field(default_factory=set)
    outcome: str = "approve"  # approve | deny | expire
    interval: int = 1
    expires_in: int = 120
    auth_methods: tuple[str, ...] = ("client_secret_basic", "client_secret_post")
    id_token_factory: Callable[[FakeIdp, dict[str, Any]], str] | None = None
    devices: dict[str, Device] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    jwks_fetches: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def issuer(self) -> str:
        return self.url

    def id_claims(self, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.client_id, "iat": now, "exp": now + 300, **self.claims}
        claims.update(changes)
        return {k: v for k, v in claims.items() if v is not None}

    def id_token(self, claims: dict[str, Any]) -> str:
        if self.id_token_factory is not None:
            return self.id_token_factory(self, claims)
        return self.keys[0].sign(claims)

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer, "jwks_uri": f"{self.url}/jwks", "token_endpoint": f"{self.url}/token",
            "device_authorization_endpoint": f"{self.url}/device", "authorization_endpoint": f"{self.url}/authorize",
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "token_endpoint_auth_methods_supported": list(self.auth_methods),
            "grant_types_supported": ["urn:ietf:params:oauth:grant-type:device_code"],
        }

    # -- endpoints -----------------------------------------------------------------------------
    def client_ok(self, headers: dict[str, str], form: dict[str, str]) -> bool:
        if self.client_secret is None:
            return form.get("client_id") == self.client_id
        header = headers.get("authorization", "")
        if header.lower().startswith("basic "):
            raw = base64.b64decode(header[6:]).decode()
            user, _, password = raw.partition(":")
            return unquote_plus(user) == self.client_id and unquote_plus(password) == self.client_secret
        return form.get("client_id") == self.client_id and form.get("client_secret") == self.client_secret

    def device(self, headers: dict[str, str], form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if not self.client_ok(headers, form):
            return 401, {"error": "invalid_client"}
        if "openid" not in form.get("scope", "").split():
            return 400, {"error": "invalid_scope"}
        device = Device(secrets.token_urlsafe(24), f"{secrets.randbelow(10**4):04d}-{secrets.randbelow(10**4):04d}")
        with self.lock:
            self.devices[device.code] = device
        return 200, {"device_code": device.code, "user_code": device.user_code,
                     "verification_uri": f"{self.url}/activate",
                     "verification_uri_complete": f"{self.url}/activate?user_code={device.user_code}",
                     "expires_in": self.expires_in, "interval": self.interval}

    def token(self, headers: dict[str, str], form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if not self.client_ok(headers, form):
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:device_code":
            return 400, {"error": "unsupported_grant_type"}
        with self.lock:
            device = self.devices.get(form.get("device_code", ""))
            if device is None or device.used:
                return 400, {"error": "invalid_grant"}
            device.polls += 1
            poll = device.polls
        if poll in self.slow_down_polls:
            return 400, {"error": "slow_down"}
        if poll <= self.pending_polls:
            # Google answers 428 here, Auth0 403, RFC 8628 400: the client must read `error`.
            return 428 if poll % 2 else 400, {"error": "authorization_pending"}
        if self.outcome == "deny":
            return 400, {"error": "access_denied"}
        if self.outcome == "expire":
            return 400, {"error": "expired_token"}
        device.used = True
        return 200, {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 3600,
                     "id_token": self.id_token(self.id_claims())}

    def jwks(self) -> dict[str, Any]:
        with self.lock:
            self.jwks_fetches += 1
        return {"keys": [k.jwk() for k in self.keys]}


def _handler(idp: FakeIdp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            idp.requests.append({"method": "GET", "path": self.path})
            if self.path == "/.well-known/openid-configuration":
                self._answer(200, idp.discovery())
            elif self.path == "/jwks":
                self._answer(200, idp.jwks())
            else:
                self._answer(404, {"error": "not_found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            form = {k: v[0] for k, v in parse_qs(raw).items()}
            headers = {k.lower(): v for k, v in self.headers.items()}
            idp.requests.append({"method": "POST", "path": self.path, "form": form, "headers": headers})
            if self.path == "/device":
                self._answer(*idp.device(headers, form))
            elif self.path == "/token":
                self._answer(*idp.token(headers, form))
            else:
                self._answer(404, {"error": "not_found"})

    return Handler


@contextmanager
def running_idp(**options: Any) -> Iterator[FakeIdp]:
    idp = FakeIdp(**options)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(idp))
    idp.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield idp
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# -- forged tokens ------------------------------------------------------------------------------
def unsigned_token(claims: dict[str, Any], kid: str) -> str:
    """alg: none, no signature."""
    header = b64url(json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode())
    return f"{header}.{b64url(json.dumps(claims).encode())}."


def hs256_with_public_key(claims: dict[str, Any], key: SigningKey) -> str:
    """The classic confusion: HMAC "signed" with the provider's public key as the secret."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}).encode())
    body = b64url(json.dumps(claims).encode())
    signature = hmac.new(key.public_pem(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64url(signature)}"
