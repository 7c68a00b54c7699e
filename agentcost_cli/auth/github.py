"""Single sign-on with GitHub, whose device flow is OAuth 2.0 but not OpenID Connect: no discovery
document and no ID token, so the daemon (the OAuth client) asks GitHub's API who signed in.

* device code: `POST <web>/login/device/code` (client id and scopes);
* token: `POST <web>/login/oauth/access_token` (client id, device code, the device grant).
  GitHub answers its RFC 8628 errors with HTTP 200 and an `error` member, so `error` decides;
  `incorrect_device_code` means an unknown code (expired, for the user);
* identity: `GET <api>/user` (its numeric `id` is the subject: stable and never reused, unlike the
  `login`, which can be renamed and then taken by someone else) and `GET <api>/user/emails` (only
  the primary address, and only GitHub's `verified` flag makes it verified).

`<web>` is `sso.issuer` (https://github.com, or a GitHub Enterprise Server), `<api>` is
`sso.api_url` (https://api.github.com, or `<web>/api/v3`). The device flow needs no client secret;
when `sso.client_secret_file` is set, the access token is revoked as soon as the identity is read
(`DELETE <api>/applications/<client id>/token`), so the daemon leaves no live GitHub token behind.

httpx is imported inside the functions (through auth/oidc.py's helpers).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .oidc import (
    DEFAULT_INTERVAL,
    DEVICE_GRANT,
    HTTP_TIMEOUT,
    SLOW_DOWN_STEP,
    DeviceAuthorization,
    DeviceDenied,
    DeviceExpired,
    DevicePending,
    OidcSettings,
    ProviderError,
    check_url,
    http_request,
    int_field,
    json_body,
    json_object,
    oauth_error,
)

if TYPE_CHECKING:
    import httpx

API_VERSION = "2022-11-28"
log = logging.getLogger(__name__)


@dataclass
class GitHubClient:
    """The daemon's side of GitHub's device flow. Stateless apart from its settings; thread-safe.

    Args:
        settings: `provider` "github", `issuer` (web address), `api_url`, client id, scopes.
        transport: an httpx transport (tests).
    """

    settings: OidcSettings
    transport: httpx.BaseTransport | None = None
    timeout: float = HTTP_TIMEOUT

    @property
    def issuer(self) -> str:
        return self.settings.issuer

    def _url(self, base: str, path: str, name: str) -> str:
        return check_url(base.rstrip("/") + path, name)

    def _post(self, path: str, name: str, data: dict[str, str]) -> tuple[httpx.Response, dict[str, Any]]:
        url = self._url(self.issuer, path, name)
        response = http_request("POST", url, where=self.issuer, transport=self.transport, timeout=self.timeout,
                                data={**data, "client_id": self.settings.client_id})
        return response, json_object(response, name)

    # -- the device flow ------------------------------------------------------------------------
    def start_device_authorization(self) -> DeviceAuthorization:
        """Ask GitHub for a device code and a user code.

        Raises:
            ProviderError: unreachable, the device flow not enabled for the app, an unknown client id.
        """
        response, body = self._post("/login/device/code", "device authorization answer",
                                    {"scope": self.settings.scopes})
        if response.status_code != 200 or "error" in body:
            raise ProviderError(oauth_error(body, f"GitHub refused the device authorization request (HTTP "
                                                  f"{response.status_code})"),
                                hint="enable the device flow in the GitHub app's settings, and check sso.client_id")
        device_code, user_code, uri = body.get("device_code"), body.get("user_code"), body.get("verification_uri")
        if not all(isinstance(v, str) and v for v in (device_code, user_code, uri)):
            raise ProviderError("GitHub's device authorization answer lacks device_code, user_code or "
                                "verification_uri")
        return DeviceAuthorization(device_code=str(device_code), user_code=str(user_code), verification_uri=str(uri),
                                   verification_uri_complete=None,
                                   expires_in=int_field(body.get("expires_in"), 900),
                                   interval=int_field(body.get("interval"), DEFAULT_INTERVAL))

    def poll_token(self, device_code: str) -> dict[str, Any]:
        """One token request for a device code. Returns the answer, which holds `access_token`.

        Raises:
            DevicePending: authorization_pending, or slow_down (`slow_down` set).
            DeviceExpired: expired_token, or incorrect_device_code (unknown or used).
            DeviceDenied: access_denied.
            ProviderError: anything else (device_flow_disabled, incorrect_client_credentials...).
        """
        response, body = self._post("/login/oauth/access_token", "token answer",
                                    {"device_code": device_code, "grant_type": DEVICE_GRANT})
        error = body.get("error")
        if error == "authorization_pending":
            raise DevicePending("the sign-in has not been approved at GitHub yet")
        if error == "slow_down":
            raise DevicePending(f"polling too often: wait {SLOW_DOWN_STEP} s longer between polls", slow_down=True)
        if error in ("expired_token", "incorrect_device_code", "invalid_grant"):
            raise DeviceExpired("the sign-in request expired (or was used) before it was approved",
                                hint="start again: agentcost login --sso")
        if error == "access_denied":
            raise DeviceDenied("the sign-in was declined at GitHub")
        if error is not None or response.status_code != 200:
            raise ProviderError(oauth_error(body, f"GitHub's token endpoint answered HTTP {response.status_code}"))
        if not isinstance(body.get("access_token"), str) or not body["access_token"]:
            raise ProviderError("GitHub issued no access token")
        return body

    # -- who signed in ------------------------------------------------------------------------------
    def _api(self, method: str, path: str, token: str) -> httpx.Response:
        return http_request(method, self._url(self.settings.api_url, path, "API URL"), where=self.settings.api_url,
                            transport=self.transport, timeout=self.timeout,
                            headers={"Accept": "application/vnd.github+json", "Authorization": f"Bearer {token}",
                                     "X-GitHub-Api-Version": API_VERSION})

    def identity(self, answer: dict[str, Any], *, now: float) -> dict[str, Any]:
        """The GitHub user behind the access token, as claims: `iss` (the web address), `sub` (the
        numeric user id), `preferred_username` (the login), `name`, and `email` with
        `email_verified` from the primary address (none when GitHub shares no primary address).

        Raises:
            ProviderError: GitHub cannot be reached, refuses the token it issued, or answers no user id.
        """
        token = str(answer.get("access_token") or "")
        try:
            response = self._api("GET", "/user", token)
            user = json_object(response, "user") if response.status_code == 200 else None
            if user is None:
                raise ProviderError(f"GitHub's API answered HTTP {response.status_code} for the signed-in user")
            user_id = user.get("id")
            if isinstance(user_id, bool) or not isinstance(user_id, int) or user_id <= 0:
                raise ProviderError("GitHub's API answered a user without an id")
            emails = self._emails(token)
        finally:
            self._revoke(token)
        login = user.get("login") if isinstance(user.get("login"), str) else None
        name = user.get("name") if isinstance(user.get("name"), str) and user.get("name") else login
        claims: dict[str, Any] = {"iss": self.issuer, "sub": str(user_id), "preferred_username": login, "name": name}
        primary = next((e for e in emails if isinstance(e, dict) and e.get("primary") is True
                        and isinstance(e.get("email"), str)), None)
        if primary is not None:
            claims["email"] = primary["email"]
            claims["email_verified"] = primary.get("verified") is True  # nothing else counts as verified
        return claims

    def _emails(self, token: str) -> list[Any]:
        """The user's addresses; [] when GitHub shares none (the user:email scope was not granted)."""
        response = self._api("GET", "/user/emails", token)
        body = json_body(response, "email list") if response.status_code == 200 else None
        if not isinstance(body, list):
            log.warning("GitHub shared no email addresses (HTTP %s); the sign-in needs the user:email scope",
                        response.status_code)
            return []
        return body

    def _revoke(self, token: str) -> None:
        """Best effort: revoke the access token when the app's secret is configured."""
        secret = self.settings.client_secret()
        if secret is None or not token:
            return
        path = f"/applications/{quote(self.settings.client_id, safe='')}/token"
        try:
            response = http_request("DELETE", self._url(self.settings.api_url, path, "API URL"),
                                    where=self.settings.api_url, transport=self.transport, timeout=self.timeout,
                                    headers={"Accept": "application/vnd.github+json",
                                             "X-GitHub-Api-Version": API_VERSION},
                                    auth=(self.settings.client_id, secret), json={"access_token": token})
        except ProviderError as exc:
            log.warning("the GitHub access token could not be revoked: %s", exc.message)
            return
        if response.status_code not in (204, 404):
            log.warning("the GitHub access token could not be revoked (HTTP %s)", response.status_code)
