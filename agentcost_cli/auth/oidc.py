"""OpenID Connect for single sign-on, spoken by the daemon (the OAuth client, so the client
secret never reaches users' machines):

* discovery (`<issuer>/.well-known/openid-configuration`, cached for an hour; its `issuer`
  must equal the configured one exactly, OIDC Discovery 4.3);
* the provider's signing keys (JWKS, cached; fetched again when a token names an unknown
  `kid`, at most every JWKS_MIN_REFRESH seconds so random kids cannot make us hammer it);
* ID-token verification: RS256 or ES256 only (never `none` or HS*: an HMAC "signed" with the
  public key must not pass), the key type must fit the algorithm, `iss` equal to the issuer,
  `aud` containing the client id (and `azp` equal to it when present), `exp`/`iat`/`nbf` with
  LEEWAY_SECONDS of clock skew. No nonce: the device flow has no front-channel redirect;
* the OAuth 2.0 Device Authorization Grant (RFC 8628): the device authorization request, and
  one token-endpoint poll at a time, whose RFC 8628 3.5 errors become exceptions
  (authorization_pending, slow_down, expired_token, access_denied).

GitHub, whose device flow is OAuth 2.0 without OpenID Connect, is in auth/github.py;
`client_for(settings)` picks the client. Both answer the `IdentityProvider` protocol.

httpx and pyjwt are imported inside the functions.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote_plus, urlsplit

from ..errors import AgentcostError, AuthError, ConfigError

if TYPE_CHECKING:
    import httpx

ALLOWED_ALGORITHMS = ("RS256", "ES256")
_KEY_TYPES = {"RS256": ("RSA", None), "ES256": ("EC", "P-256")}
LEEWAY_SECONDS = 60
DISCOVERY_TTL = 3600.0
JWKS_TTL = 3600.0
JWKS_MIN_REFRESH = 30.0
HTTP_TIMEOUT = 10.0
DEFAULT_INTERVAL = 5  # RFC 8628 3.2: when the provider gives none
SLOW_DOWN_STEP = 5  # RFC 8628 3.5: slow_down adds 5 seconds to the interval
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
_LOOPBACK = ("localhost", "127.0.0.1", "::1")
_MAX_BODY = 1_000_000


# -- errors ------------------------------------------------------------------------
class ProviderError(AgentcostError):
    """The identity provider cannot be reached, or answered something unusable (502)."""

    title = "identity provider error"
    http_status = 502


class DevicePending(AgentcostError):
    """The user has not finished at the provider yet (authorization_pending), or polls too
    often (slow_down: add SLOW_DOWN_STEP seconds to the interval)."""

    title = "authorization pending"
    http_status = 400

    def __init__(self, message: str, *, slow_down: bool = False) -> None:
        super().__init__(message)
        self.slow_down = slow_down


class DeviceExpired(AgentcostError):
    """The device code expired (or is unknown or used) before the user approved it."""

    title = "sign-in expired"
    http_status = 400


class DeviceDenied(AuthError):
    """The user declined at the provider."""


class IdTokenInvalid(AuthError):
    """The ID token failed a check; the message says which (for the audit log and the daemon's logs)."""


# -- settings ------------------------------------------------------------------------
OIDC_SCOPES = "openid email profile"
GITHUB_SCOPES = "read:user user:email"
GITHUB_WEB = "https://github.com"
GITHUB_API = "https://api.github.com"


@dataclass(frozen=True)
class OidcSettings:
    """The single sign-on settings (`sso.*`). `provider` "oidc": an OpenID Connect provider at
    `issuer`; "github": GitHub's OAuth device flow, `issuer` its web address and `api_url` its
    REST API (see auth/github.py)."""

    issuer: str
    client_id: str
    client_secret_file: str = ""
    scopes: str = OIDC_SCOPES
    provider: str = "oidc"
    api_url: str = ""

    @classmethod
    def from_settings(cls, conf: Any) -> OidcSettings | None:
        """The SSO settings of a resolved `Settings`, or None when single sign-on is off (`sso.issuer`
        empty with the oidc provider).

        Raises:
            ConfigError: no client id, an OpenID Connect scope list without openid, or a secret
                file that cannot be read.
        """
        provider = conf["sso.provider"]
        issuer = conf["sso.issuer"]
        if provider == "github":
            issuer = (issuer or GITHUB_WEB).rstrip("/")  # the links' namespace: one spelling
        elif not issuer:
            return None
        if not str(conf["sso.client_id"]).strip():
            raise ConfigError("single sign-on is configured but sso.client_id is empty",
                              hint="set AGENTCOST_SSO_CLIENT_ID to the daemon's client id at the provider")
        scopes = conf["sso.scopes"] or (GITHUB_SCOPES if provider == "github" else OIDC_SCOPES)
        if provider == "oidc" and "openid" not in scopes.split():
            raise ConfigError(f"sso.scopes {scopes!r} must include openid (an OpenID Connect provider issues "
                              "no ID token without it)")
        api_url = ""
        if provider == "github":
            api_url = (conf["sso.api_url"] or (GITHUB_API if issuer == GITHUB_WEB else f"{issuer}/api/v3")).rstrip("/")
        settings = cls(issuer=issuer, client_id=str(conf["sso.client_id"]).strip(),
                       client_secret_file=conf["sso.client_secret_file"], scopes=scopes, provider=provider,
                       api_url=api_url)
        settings.client_secret()  # an unreadable file fails the start, not the first sign-in
        return settings

    def client_secret(self) -> str | None:
        """The secret from the first line of `client_secret_file`; None for a public client."""
        if not self.client_secret_file:
            return None
        path = Path(self.client_secret_file).expanduser()
        try:
            with open(path, encoding="utf-8") as handle:
                secret = handle.readline().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read sso.client_secret_file {str(path)!r}: {exc.strerror or exc}") from None
        if not secret:
            raise ConfigError(f"sso.client_secret_file {str(path)!r} is empty")
        return secret


@dataclass(frozen=True)
class DeviceAuthorization:
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: int
    interval: int


class IdentityProvider(Protocol):
    """What the daemon needs from a single sign-on provider: the device flow (RFC 8628), then who
    signed in. `OidcClient` and `auth.github.GitHubClient` implement it."""

    settings: OidcSettings

    @property
    def issuer(self) -> str:
        """The namespace of the provider's subjects (the ID tokens' `iss`; GitHub's web address)."""

    def start_device_authorization(self) -> DeviceAuthorization:
        """Raises: ProviderError."""

    def poll_token(self, device_code: str) -> dict[str, Any]:
        """One token request. Raises: DevicePending, DeviceExpired, DeviceDenied, ProviderError."""

    def identity(self, answer: dict[str, Any], *, now: float) -> dict[str, Any]:
        """Who signed in, from the token answer, as OpenID Connect claims: `iss`, `sub` (a stable,
        never reused id at the provider), `email`, `email_verified`, `name`.

        Raises:
            IdTokenInvalid: the proof of identity failed a check.
            ProviderError: the provider cannot be reached or answered something unusable.
        """


def client_for(settings: OidcSettings, transport: httpx.BaseTransport | None = None) -> IdentityProvider:
    """The provider client the settings describe."""
    if settings.provider == "github":
        from .github import GitHubClient

        return GitHubClient(settings, transport=transport)
    return OidcClient(settings, transport=transport)


@dataclass
class _Cached:
    value: Any
    fetched: float


def _is_loopback(url: str) -> bool:
    return urlsplit(url).hostname in _LOOPBACK


def int_field(value: Any, default: int) -> int:
    """A positive number of seconds from a provider's answer, else `default`."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return default
    return int(value)


@dataclass
class OidcClient:
    """The daemon's side of one OpenID Connect provider. Thread-safe; one per daemon process.

    Args:
        settings: issuer, client id, secret file, scopes.
        transport: an httpx transport (tests).
        jwks_min_refresh: the shortest time between two JWKS fetches caused by unknown kids.
    """

    settings: OidcSettings
    transport: httpx.BaseTransport | None = None
    timeout: float = HTTP_TIMEOUT
    jwks_min_refresh: float = JWKS_MIN_REFRESH
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _discovery: _Cached | None = field(default=None, repr=False)
    _jwks: _Cached | None = field(default=None, repr=False)

    @property
    def issuer(self) -> str:
        return self.settings.issuer

    # -- HTTP ------------------------------------------------------------------------
    def _request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        return http_request(method, url, where=self.issuer, transport=self.transport, timeout=self.timeout, **kw)

    @staticmethod
    def _json(response: httpx.Response, what: str) -> dict[str, Any]:
        return json_object(response, what)

    def _check_endpoint(self, url: Any, name: str) -> str:
        if not isinstance(url, str) or not url:
            raise ProviderError(f"the identity provider's discovery document has no {name}")
        return check_url(url, name)

    # -- discovery and keys ----------------------------------------------------------------
    def discovery(self) -> dict[str, Any]:
        """The provider's metadata (cached for DISCOVERY_TTL seconds)."""
        with self._lock:
            cached = self._discovery
        if cached is not None and time.monotonic() - cached.fetched < DISCOVERY_TTL:
            return dict(cached.value)
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        response = self._request("GET", url)
        if response.status_code != 200:
            raise ProviderError(f"the identity provider's discovery document ({url}) answered HTTP "
                                f"{response.status_code}")
        doc = self._json(response, "discovery document")
        if doc.get("issuer") != self.issuer:
            raise ProviderError(f"the discovery document names the issuer {doc.get('issuer')!r}, not {self.issuer!r}",
                                hint="set sso.issuer to exactly the provider's issuer")
        for name in ("token_endpoint", "jwks_uri"):
            self._check_endpoint(doc.get(name), name)
        with self._lock:
            self._discovery = _Cached(doc, time.monotonic())
        return dict(doc)

    def _fetch_jwks(self) -> list[dict[str, Any]]:
        url = self._check_endpoint(self.discovery().get("jwks_uri"), "jwks_uri")
        response = self._request("GET", url)
        if response.status_code != 200:
            raise ProviderError(f"the identity provider's keys ({url}) answered HTTP {response.status_code}")
        keys = self._json(response, "key set").get("keys")
        if not isinstance(keys, list):
            raise ProviderError("the identity provider's key set has no keys")
        found = [k for k in keys if isinstance(k, dict)]
        with self._lock:
            self._jwks = _Cached(found, time.monotonic())
        return found

    def _keys(self) -> tuple[list[dict[str, Any]], float]:
        with self._lock:
            cached = self._jwks
        if cached is None or time.monotonic() - cached.fetched >= JWKS_TTL:
            return self._fetch_jwks(), time.monotonic()
        return list(cached.value), cached.fetched

    def _key_for(self, kid: Any, alg: str) -> dict[str, Any]:
        keys, fetched = self._keys()
        found = _match_key(keys, kid, alg)
        if found is None and time.monotonic() - fetched >= self.jwks_min_refresh:
            found = _match_key(self._fetch_jwks(), kid, alg)  # the provider may have rotated its keys
        if found is None:
            raise IdTokenInvalid("the ID token is signed with a key the identity provider does not publish")
        return found

    # -- ID tokens ----------------------------------------------------------------------------
    def verify_id_token(self, token: str, *, now: float | None = None) -> dict[str, Any]:
        """The claims of a valid ID token from this provider for this client.

        Raises:
            IdTokenInvalid: malformed, an algorithm not allowed, an unknown key, a bad signature,
                another issuer or audience, expired or issued in the future.
            ProviderError: the keys cannot be fetched.
        """
        import jwt

        current = time.time() if now is None else now
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise IdTokenInvalid("the ID token is malformed") from None
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:  # never none, never HS*: checked before any key is chosen
            raise IdTokenInvalid(f"the ID token's algorithm {alg!r} is not accepted "
                                 f"(only {', '.join(ALLOWED_ALGORITHMS)})")
        jwk = self._key_for(header.get("kid"), alg)
        try:
            key = jwt.PyJWK(jwk, algorithm=alg)
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[alg], audience=self.settings.client_id, issuer=self.issuer,
                options={"require": ["iss", "sub", "aud", "exp", "iat"], "verify_signature": True,
                         "verify_aud": True, "verify_iss": True, "verify_exp": False, "verify_iat": False,
                         "verify_nbf": False})
        except jwt.InvalidAudienceError:
            raise IdTokenInvalid("the ID token is for another client (aud)") from None
        except jwt.InvalidIssuerError:
            raise IdTokenInvalid("the ID token is from another issuer (iss)") from None
        except jwt.InvalidSignatureError:
            raise IdTokenInvalid("the ID token's signature is wrong") from None
        except jwt.MissingRequiredClaimError as exc:
            raise IdTokenInvalid(f"the ID token has no {exc.claim} claim") from None
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise IdTokenInvalid(f"the ID token is invalid ({type(exc).__name__})") from None
        _check_times(claims, current)
        azp = claims.get("azp")
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if (azp is not None or len(audiences) > 1) and azp != self.settings.client_id:
            raise IdTokenInvalid("the ID token was issued to another party (azp)")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise IdTokenInvalid("the ID token has no subject")
        return claims

    def identity(self, answer: dict[str, Any], *, now: float) -> dict[str, Any]:
        """The claims of the token answer's verified ID token (see `verify_id_token`)."""
        return self.verify_id_token(str(answer.get("id_token") or ""), now=now)

    # -- the device flow (RFC 8628) -------------------------------------------------------------
    def _client_auth(self, data: dict[str, str]) -> tuple[dict[str, str], tuple[str, str] | None]:
        """RFC 6749 2.3.1: HTTP Basic with the form-encoded id and secret (the default), or the
        secret in the body when the provider supports only that. Public clients send their id."""
        data = {**data, "client_id": self.settings.client_id}
        secret = self.settings.client_secret()
        if secret is None:
            return data, None
        methods = self.discovery().get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        if "client_secret_basic" in methods:
            return data, (quote_plus(self.settings.client_id, safe=""), quote_plus(secret, safe=""))
        if "client_secret_post" in methods:
            return {**data, "client_secret": secret}, None
        raise ProviderError("the identity provider supports neither client_secret_basic nor client_secret_post")

    def start_device_authorization(self) -> DeviceAuthorization:
        """Ask the provider for a device code and a user code (RFC 8628 3.1-3.2)."""
        url = self._check_endpoint(self.discovery().get("device_authorization_endpoint"),
                                   "device_authorization_endpoint")
        data, auth = self._client_auth({"scope": self.settings.scopes})
        response = self._request("POST", url, data=data, auth=auth)
        body = self._json(response, "device authorization answer")
        if response.status_code != 200:
            raise ProviderError(oauth_error(body, "the identity provider refused the device authorization request"))
        device_code, user_code = body.get("device_code"), body.get("user_code")
        # Google says verification_url (an older draft's name).
        uri = body.get("verification_uri") or body.get("verification_url")
        if not all(isinstance(v, str) and v for v in (device_code, user_code, uri)):
            raise ProviderError("the identity provider's device authorization answer lacks "
                                "device_code, user_code or verification_uri")
        complete = body.get("verification_uri_complete")
        return DeviceAuthorization(device_code=str(device_code), user_code=str(user_code), verification_uri=str(uri),
                                   verification_uri_complete=complete if isinstance(complete, str) else None,
                                   expires_in=int_field(body.get("expires_in"), 600),
                                   interval=int_field(body.get("interval"), DEFAULT_INTERVAL))

    def poll_token(self, device_code: str) -> dict[str, Any]:
        """One token request for a device code (RFC 8628 3.4). Returns the token answer, which
        holds an `id_token` (not yet verified).

        Raises:
            DevicePending: authorization_pending, or slow_down (`slow_down` set).
            DeviceExpired: expired_token, or invalid_grant (an unknown or used device code).
            DeviceDenied: access_denied.
            ProviderError: anything else.
        """
        url = self._check_endpoint(self.discovery().get("token_endpoint"), "token_endpoint")
        data, auth = self._client_auth({"grant_type": DEVICE_GRANT, "device_code": device_code})
        response = self._request("POST", url, data=data, auth=auth)
        body = self._json(response, "token answer")
        if response.status_code == 200:
            if not isinstance(body.get("id_token"), str):
                raise ProviderError("the identity provider issued no ID token", hint="sso.scopes must include openid")
            return body
        # RFC 8628 says 400; some providers use 401, 403 or 428: the `error` member decides.
        error = body.get("error")
        if error == "authorization_pending":
            raise DevicePending("the sign-in has not been approved at the identity provider yet")
        if error == "slow_down":
            raise DevicePending(f"polling too often: wait {SLOW_DOWN_STEP} s longer between polls", slow_down=True)
        if error in ("expired_token", "invalid_grant"):
            raise DeviceExpired("the sign-in request expired (or was used) before it was approved",
                                hint="start again: agentcost login --sso")
        if error == "access_denied":
            raise DeviceDenied("the sign-in was declined at the identity provider")
        raise ProviderError(oauth_error(body, f"the identity provider's token endpoint answered HTTP "
                                               f"{response.status_code}"))


# -- HTTP helpers (shared with auth/github.py) ---------------------------------------------------
def http_request(method: str, url: str, *, where: str, transport: httpx.BaseTransport | None, timeout: float,
                 headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
    """One request to the provider (JSON accepted, no redirects followed).

    Raises:
        ProviderError: it cannot be reached.
    """
    import httpx

    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, transport=transport,
                          headers={"Accept": "application/json", **(headers or {})}) as client:
            return client.request(method, url, **kw)
    except httpx.HTTPError as exc:
        raise ProviderError(f"the identity provider at {where} cannot be reached: "
                            f"{str(exc) or type(exc).__name__}") from None


def json_body(response: httpx.Response, what: str) -> Any:
    """The parsed JSON of a provider's answer (at most _MAX_BODY bytes); None when it is not JSON."""
    if len(response.content) > _MAX_BODY:
        raise ProviderError(f"the identity provider's {what} is too large")
    try:
        return response.json()
    except ValueError:
        return None


def json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    body = json_body(response, what)
    if not isinstance(body, dict):
        raise ProviderError(f"the identity provider's {what} is not a JSON object (HTTP {response.status_code})")
    return body


def check_url(url: str, name: str) -> str:
    """`url` when it is https:// (or http:// on loopback, for tests and a provider on this machine)."""
    parts = urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and _is_loopback(url)):
        raise ProviderError(f"the identity provider's {name} is not an https:// URL: {url}")
    return url


def oauth_error(body: dict[str, Any], fallback: str) -> str:
    """`fallback` with the OAuth `error` (and `error_description`) of the answer, when it has one."""
    error = body.get("error")
    if not isinstance(error, str):
        return fallback
    description = body.get("error_description")
    return f"{fallback}: {error}" + (f" ({description})" if isinstance(description, str) and description else "")


def _match_key(keys: list[dict[str, Any]], kid: Any, alg: str) -> dict[str, Any] | None:
    kty, crv = _KEY_TYPES[alg]
    fitting = [k for k in keys if k.get("kty") == kty and (crv is None or k.get("crv") == crv)
               and k.get("use") in (None, "sig") and k.get("alg") in (None, alg)]
    if kid is not None:
        named = [k for k in fitting if k.get("kid") == kid]
        return named[0] if named else None
    return fitting[0] if len(fitting) == 1 else None  # no kid: only an unambiguous key will do


def _time_claim(claims: dict[str, Any], name: str) -> float:
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise IdTokenInvalid(f"the ID token's {name} is not a time")
    return float(value)


def _check_times(claims: dict[str, Any], now: float) -> None:
    if now >= _time_claim(claims, "exp") + LEEWAY_SECONDS:
        raise IdTokenInvalid("the ID token has expired")
    if _time_claim(claims, "iat") > now + LEEWAY_SECONDS:
        raise IdTokenInvalid("the ID token was issued in the future (check the clocks)")
    if "nbf" in claims and _time_claim(claims, "nbf") > now + LEEWAY_SECONDS:
        raise IdTokenInvalid("the ID token is not valid yet")
