"""A logged-in conversation with an agentcost daemon.

Refresh tokens rotate: every `POST /v1/auth/refresh` retires the token it was given and
returns a new one, and a retired token presented again ends the whole session on the
server (it looks stolen). So, on every refresh:

1. an exclusive `flock` on `<config dir>/locks/<profile>.lock` is held, so two agentcost
   processes (or threads) never present the same token;
2. the token is read from the credential store *inside* the lock (another process may have
   just rotated it);
3. the new refresh token is saved before the access token is used or returned.

Access tokens live only in memory, until 60 s before they expire.

One case the client cannot cover alone: when the connection drops after the server rotated
the token but before the answer arrived, the saved token is already retired and the next
refresh ends the session (`agentcost login` again).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from .. import __version__
from ..auth.credentials import (
    DEFAULT_PROFILE,
    LOCK_TIMEOUT,
    CredentialStore,
    Target,
    check_profile_name,
    exclusive_lock,
    lock_file,
    normalize_server,
    resolve,
)
from ..errors import AgentcostError, AuthError, ConfigError, InvalidInput, RemoteError
from .problems import error_for, problem_document, problem_slug

DEFAULT_TIMEOUT = 30.0
REVOKE_TIMEOUT = 5.0
REFRESH_MARGIN = 60.0  # seconds before expiry when a cached access token is no longer used
DEFAULT_ACCESS_TTL = 900
USER_AGENT = f"agentcost/{__version__} (python {sys.version_info.major}.{sys.version_info.minor}; httpx)"

LOGIN_PATH = "/v1/auth/login"
REFRESH_PATH = "/v1/auth/refresh"
LOGOUT_PATH = "/v1/auth/logout"
ME_PATH = "/v1/me"
SSO_DEVICE_PATH = "/v1/auth/sso/device"
SSO_TOKEN_PATH = "/v1/auth/sso/token"
_SECRET_FIELDS = frozenset({"access_token", "refresh_token"})


def login_hint(profile: str) -> str:
    return "run `agentcost login`" + ("" if profile == DEFAULT_PROFILE else f" --profile {profile}")


@dataclass(frozen=True)
class _Tokens:
    access: str
    refresh: str
    expires_in: float
    info: dict[str, Any]  # the answer without the tokens


@dataclass(frozen=True)
class SsoStep:
    """Where a single sign-on stands after one poll."""

    state: str  # "done", "pending", "slow_down" (add 5 s to the interval), "mfa" (a code is needed)
    info: dict[str, Any] = field(default_factory=dict)  # "done": the answer without the tokens
    message: str = ""
    mfa_ticket: str | None = None  # "mfa": send it back with the code


@dataclass(frozen=True)
class LogoutResult:
    had_token: bool  # there was a login to end
    revoked: bool  # the server confirmed the session is over
    warning: str | None  # why it could not confirm (the local token is deleted all the same)


class RemoteSession:
    """Login, token rotation and authenticated requests for one (server, profile).

    Args:
        server: the daemon's base URL (a path prefix is allowed).
        profile: the profile name; it names the credential and the refresh lock.
        store: where the refresh token lives.
        timeout: seconds for each HTTP request.
        lock_timeout: seconds to wait for another process's refresh.
        transport: an httpx transport (tests, or a Unix socket later).
    """

    def __init__(self, server: str, profile: str, store: CredentialStore, *, timeout: float = DEFAULT_TIMEOUT,
                 lock_timeout: float = LOCK_TIMEOUT, transport: httpx.BaseTransport | None = None) -> None:
        self.server = normalize_server(server)
        self.profile = check_profile_name(profile)
        self.store = store
        self.timeout = timeout
        self.lock_timeout = lock_timeout
        self._transport = transport
        self._http: httpx.Client | None = None
        self._access: tuple[str, float] | None = None  # (token, monotonic time it stops being used)
        self.server_revoke_failed = False  # set by logout() when the server could not confirm

    # -- plumbing ------------------------------------------------------------------------
    def __enter__(self) -> RemoteSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(
                base_url=self.server, timeout=self.timeout, follow_redirects=False, transport=self._transport,
                headers={"User-Agent": USER_AGENT, "Accept": "application/json, application/problem+json"},
            )
        return self._http

    @contextmanager
    def _refresh_lock(self) -> Iterator[None]:
        with exclusive_lock(lock_file(self.profile), timeout=self.lock_timeout):
            yield

    def _send(self, method: str, path: str, *, token: str | None = None, **kw: Any) -> httpx.Response:
        """One HTTP exchange; network failures become RemoteError naming the server."""
        headers = dict(kw.pop("headers", None) or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        try:
            return self._client().request(method, path, headers=headers, **kw)
        except httpx.TimeoutException:
            raise RemoteError(f"the agentcost server at {self.server} did not answer within {self.timeout:g} s",
                              hint="try again; check that `agentcost daemon` is running and reachable") from None
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise RemoteError(f"cannot reach the agentcost server at {self.server}: {reason}",
                              hint="check the address (--server, AGENTCOST_SERVER or the profile) and that "
                              "`agentcost daemon` is running there") from None

    def _tokens(self, response: httpx.Response) -> _Tokens:
        try:
            body = response.json()
        except ValueError:
            body = None
        access = body.get("access_token") if isinstance(body, dict) else None
        refresh = body.get("refresh_token") if isinstance(body, dict) else None
        if not isinstance(body, dict) or not isinstance(access, str) or not isinstance(refresh, str) \
                or not access or not refresh:
            raise RemoteError(f"unexpected answer from {self.server}: no tokens in it",
                              hint="is that address an agentcost server?")
        expires_in = body.get("expires_in")
        ttl = float(expires_in) if isinstance(expires_in, int | float) and expires_in > 0 else DEFAULT_ACCESS_TTL
        return _Tokens(access, refresh, ttl, {k: v for k, v in body.items() if k not in _SECRET_FIELDS})

    def _remember(self, tokens: _Tokens) -> None:
        self._access = (tokens.access, time.monotonic() + max(0.0, tokens.expires_in - REFRESH_MARGIN))

    def _save_rotated(self, refresh: str) -> None:
        try:
            self.store.set(self.profile, self.server, refresh)
        except AgentcostError as exc:
            raise ConfigError(f"the server issued a new refresh token but it could not be saved: {exc.message}",
                              hint=f"fix that, then {login_hint(self.profile)}") from None

    def _not_logged_in(self) -> AuthError:
        return AuthError(f"not logged in to {self.server} (profile {self.profile})", hint=login_hint(self.profile))

    # -- API --------------------------------------------------------------------------------
    def login(self, email: str, password: str, code: str | None = None) -> dict[str, Any]:
        """Open a session with the password (and the second factor's code when the account has one).

        The refresh token is saved in the store before this returns; a refresh token saved
        earlier for the same profile and server is revoked on the server (best effort).

        Returns:
            The server's answer without the tokens (session_id, expires_in, refresh_expires_at, ...).

        Raises:
            MfaRequired: the password is right; call again with `code`.
            AuthError: wrong email, password or code.
            Throttled: too many attempts (`retry_after` seconds).
            RemoteError: the server is unreachable or failed.
            InvalidInput: AGENTCOST_TOKEN is set (it would take precedence over this login).
        """
        body: dict[str, str] = {"email": email, "password": password}
        if code:
            body["code"] = code
        tokens, response = self._sign_in(LOGIN_PATH, body)
        if tokens is None:
            raise error_for(response, self.server)
        return tokens.info

    def _sign_in(self, path: str, body: dict[str, str]) -> tuple[_Tokens | None, httpx.Response]:
        """POST a sign-in; on success save the new refresh token (under the profile's lock) and
        revoke the one it replaces. (None, response) when the server refused."""
        if self.store.env_token:
            raise InvalidInput("AGENTCOST_TOKEN is set, and it would take precedence over a new login",
                               hint="unset AGENTCOST_TOKEN to log in")
        with self._refresh_lock():
            previous = self.store.get(self.profile, self.server)
            response = self._send("POST", path, json=body)
            if not response.is_success:
                return None, response
            tokens = self._tokens(response)
            self._save_rotated(tokens.refresh)
        self._remember(tokens)
        if previous and previous != tokens.refresh:
            self.revoke_quietly(previous)
        return tokens, response

    # -- single sign-on (RFC 8628 device flow, relayed by the daemon) ------------------------
    def sso_start(self) -> dict[str, Any]:
        """Start a single sign-on (`POST /v1/auth/sso/device`): the device code, the user code and
        the page to enter it on, `interval` and `expires_in`.

        Raises:
            NotFound: the server has no single sign-on configured.
            RemoteError: the server or its identity provider is unreachable or failed.
        """
        if self.store.env_token:
            raise InvalidInput("AGENTCOST_TOKEN is set, and it would take precedence over a new login",
                               hint="unset AGENTCOST_TOKEN to log in")
        response = self._send("POST", SSO_DEVICE_PATH, json={})
        if not response.is_success:
            raise error_for(response, self.server)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not all(isinstance(body.get(k), str) and body[k]
                                                 for k in ("device_code", "user_code", "verification_uri")):
            raise RemoteError(f"unexpected answer from {self.server}{SSO_DEVICE_PATH}",
                              hint="is that address an agentcost server?")
        for name, default in (("interval", 5), ("expires_in", 600)):
            value = body.get(name)
            body[name] = int(value) if isinstance(value, int | float) and not isinstance(value, bool) \
                and value > 0 else default
        return body

    def sso_poll(self, device_code: str, *, code: str | None = None, mfa_ticket: str | None = None) -> SsoStep:
        """One poll (`POST /v1/auth/sso/token`). On success the refresh token is saved exactly as
        by `login`.

        Returns:
            SsoStep "done" (with the answer without the tokens), "pending", "slow_down", or "mfa"
            (send the code with `mfa_ticket` in the next poll).

        Raises:
            AuthError: refused (declined at the provider, no verified email, no account, disabled,
                wrong code) or expired (start again).
            Throttled, RemoteError: as for `login`.
        """
        body: dict[str, str] = {"device_code": device_code}
        if code:
            body["code"] = code
        if mfa_ticket:
            body["mfa_ticket"] = mfa_ticket
        tokens, response = self._sign_in(SSO_TOKEN_PATH, body)
        if tokens is not None:
            return SsoStep("done", info=tokens.info)
        doc = problem_document(response)
        slug = problem_slug(doc)
        detail = str(doc.get("detail") or "")
        if response.status_code == 400 and slug in ("authorization-pending", "slow-down"):
            return SsoStep("pending" if slug == "authorization-pending" else "slow_down", message=detail)
        ticket = doc.get("mfa_ticket")
        if response.status_code == 401 and slug == "mfa-required" and isinstance(ticket, str) and ticket:
            return SsoStep("mfa", message=detail, mfa_ticket=ticket)
        if response.status_code == 400 and slug == "expired-token":
            raise AuthError(detail or "the sign-in request expired", hint="start again: agentcost login --sso")
        raise error_for(response, self.server)

    def access_token(self) -> str:
        """A valid access token: the cached one, or a new one from a refresh (which rotates and
        saves the refresh token under the profile's lock first).

        Raises:
            AuthError: not logged in, or the session has ended (the dead token is then deleted).
        """
        return self._access_token()[0]

    def _access_token(self) -> tuple[str, bool]:
        """(token, whether it was just issued)."""
        if self._access is not None and time.monotonic() < self._access[1]:
            return self._access[0], False
        self._access = None
        with self._refresh_lock():
            refresh = self.store.get(self.profile, self.server)
            if not refresh:
                raise self._not_logged_in()
            response = self._send("POST", REFRESH_PATH, json={"refresh_token": refresh})
            if response.status_code == 401:
                self.store.delete(self.profile, self.server)
                reason = error_for(response, self.server).message
                raise AuthError(f"the session for profile {self.profile} at {self.server} has ended ({reason})",
                                hint=login_hint(self.profile))
            if not response.is_success:
                raise error_for(response, self.server)
            tokens = self._tokens(response)
            self._save_rotated(tokens.refresh)  # before the access token is used: the old one is retired
        self._remember(tokens)
        return tokens.access, True

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """An authenticated request (`path` is relative to the server URL; `kw` go to httpx).

        A 401 that blames the cached access token (RFC 6750 `error="invalid_token"`: revoked, or
        expired early) is retried once after a refresh; any other 401 (a wrong password or code
        in the body) is not, so a mistyped code counts once against the throttle.

        Raises:
            AuthError (401), PermissionDenied (403), NotFound (404), Conflict (409),
            InvalidInput (400/413/415/422), Throttled (429), RemoteError (network, 3xx, 5xx).
        """
        token, fresh = self._access_token()
        response = self._send(method, path, token=token, **kw)
        if response.status_code == 401 and not fresh and _blames_token(response):
            self._access = None
            token, _ = self._access_token()
            response = self._send(method, path, token=token, **kw)
        if not response.is_success:
            error = error_for(response, self.server)
            if isinstance(error, AuthError) and not error.hint:
                error.hint = login_hint(self.profile)
            raise error
        return response

    def me(self) -> dict[str, Any]:
        """The logged-in user (`GET /v1/me`)."""
        response = self.request("GET", ME_PATH)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "email" not in body:
            raise RemoteError(f"unexpected answer from {self.server}{ME_PATH}",
                              hint="is that address an agentcost server?")
        return body

    def logout(self) -> LogoutResult:
        """Revoke the session on the server, then delete the local refresh token, which is deleted
        even when the server cannot be reached (`warning` and `server_revoke_failed` say so)."""
        self._access = None
        with self._refresh_lock():
            token = self.store.get(self.profile, self.server)
            if token is None:
                return LogoutResult(had_token=False, revoked=False, warning=None)
            warning: str | None = None
            try:
                response = self._send("POST", LOGOUT_PATH, json={"refresh_token": token})
                # 401: the session had already ended, which is what logging out wants.
                if not (response.is_success or response.status_code == 401):
                    warning = error_for(response, self.server).message
            except RemoteError as exc:
                warning = exc.message
            finally:
                self.store.delete(self.profile, self.server)
        self.server_revoke_failed = warning is not None
        return LogoutResult(had_token=True, revoked=warning is None, warning=warning)

    def revoke_quietly(self, refresh_token: str) -> bool:
        """Ask the server to end the session of a token we no longer keep; never raises."""
        try:
            response = self._send("POST", LOGOUT_PATH, json={"refresh_token": refresh_token},
                                  timeout=min(self.timeout, REVOKE_TIMEOUT))
        except RemoteError:
            return False
        return response.is_success or response.status_code == 401


def open_session(profile: str | None = None, server: str | None = None, *, store: CredentialStore | None = None,
                 **options: Any) -> tuple[RemoteSession, Target]:
    """The session for a profile and server resolved as `credentials.resolve` does (flags, then
    AGENTCOST_PROFILE / AGENTCOST_SERVER, then profiles.toml), and that resolution."""
    target = resolve(profile, server)
    return RemoteSession(target.server, target.profile, store or CredentialStore(), **options), target


def _blames_token(response: httpx.Response) -> bool:
    """Whether a 401 says the bearer token itself was refused (RFC 6750, section 3)."""
    return 'error="invalid_token"' in response.headers.get("www-authenticate", "")
