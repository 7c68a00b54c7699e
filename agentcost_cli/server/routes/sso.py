"""Single sign-on with the OAuth 2.0 Device Authorization Grant (RFC 8628): `/v1/auth/sso/*`.

The daemon is the OAuth client (the client secret stays on the server); the CLI only relays
the device code. `POST /v1/auth/sso/device` starts a sign-in at the provider;
`POST /v1/auth/sso/token` polls the provider once per call and, once the user has approved,
verifies the ID token and answers the same token pair as `/v1/auth/login`.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from ...auth import oidc
from ...auth.tokens import hash_token
from ...errors import InvalidInput, NotFound
from ...services import sso
from ..deps import StoreDep, source_address
from ..problems import PROBLEM_TYPES, problem
from ..schemas import SsoDevice, SsoTokenRequest, TokenPair
from .auth import _auth_limit, _pair

if TYPE_CHECKING:
    from ...auth.oidc import OidcClient

router = APIRouter(tags=["auth"])
_CLIENT_LOCK = threading.Lock()


def _doc(*slugs: str) -> str:
    return "; ".join(f"`/problems/{slug}`: {PROBLEM_TYPES[slug][2]}" for slug in slugs)


def provider(request: Request) -> OidcClient:
    """The app's OIDC client (one per app: its discovery and key caches are shared by requests)."""
    settings = request.app.state.config.sso
    if settings is None:
        raise NotFound("single sign-on is not configured on this server",
                       hint="sign in with email and password, or ask the operator to set sso.issuer")
    with _CLIENT_LOCK:
        client: OidcClient | None = getattr(request.app.state, "sso_client", None)
        if client is None or client.settings != settings:
            client = oidc.OidcClient(settings)
            request.app.state.sso_client = client
    return client


def _provider_problem(exc: oidc.ProviderError) -> JSONResponse:
    extra: dict[str, Any] = {"hint": exc.hint} if exc.hint else {}
    return problem("identity-provider-error", exc.message, **extra)


@router.post("/v1/auth/sso/device", response_model=SsoDevice, responses={
    404: {"description": "Single sign-on is not configured on this server (`/problems/not-found`)."},
    502: {"description": _doc("identity-provider-error")}})
def sso_device(request: Request, response: Response) -> Any:
    """Start a single sign-on: the identity provider issues a device code and a user code
    (RFC 8628). Show the user `verification_uri` and `user_code`, then poll `/v1/auth/sso/token`."""
    _auth_limit(request)
    client = provider(request)
    try:
        started = client.start_device_authorization()
    except oidc.ProviderError as exc:
        return _provider_problem(exc)
    response.headers["Cache-Control"] = "no-store"  # the device code is a credential (RFC 8628 3.2)
    return {"device_code": started.device_code, "user_code": started.user_code,
            "verification_uri": started.verification_uri,
            "verification_uri_complete": started.verification_uri_complete,
            "interval": started.interval, "expires_in": started.expires_in}


@router.post("/v1/auth/sso/token", response_model=TokenPair, responses={
    400: {"description": _doc("authorization-pending", "slow-down", "expired-token")},
    401: {"description": "The provider's ID token was refused, its email is not verified, no account uses it, "
                         "the account is disabled or the code is wrong (`/problems/unauthenticated`); "
                         + _doc("access-denied") + "; `/problems/mfa-required`: the account has two-factor "
                         "authentication: poll again with `code` and the answer's `mfa_ticket`."},
    404: {"description": "Single sign-on is not configured on this server (`/problems/not-found`)."},
    429: {"description": "Too many attempts from this address, or wrong codes for this account; see Retry-After."},
    502: {"description": _doc("identity-provider-error")}})
def sso_token(body: SsoTokenRequest, request: Request, response: Response, store: StoreDep) -> Any:
    """Poll the identity provider once for the device code. Until the user approves, the answer is
    a `/problems/authorization-pending` (or `/problems/slow-down`) problem; then the ID token is
    verified, linked to the account with the same verified email, and the answer is the token pair
    of `/v1/auth/login`. An account with two-factor authentication answers
    `/problems/mfa-required` with an `mfa_ticket` (5 minutes): send it back with `code`."""
    _auth_limit(request)
    client = provider(request)
    binding = hash_token(body.device_code)  # a ticket is good only with the device code it was issued for
    source, user_agent = source_address(request), request.headers.get("user-agent")
    try:
        if body.mfa_ticket is not None:
            if not body.code:
                raise InvalidInput("send the code with the mfa_ticket")
            tokens = sso.complete_with_code(store, body.mfa_ticket, body.code, binding=binding, source=source,
                                            user_agent=user_agent)
        else:
            answer = client.poll_token(body.device_code)
            tokens = sso.sign_in(store, client, str(answer["id_token"]), binding=binding, code=body.code,
                                 source=source, user_agent=user_agent,
                                 open_registration=request.app.state.config.open_registration)
    except oidc.DevicePending as exc:
        return problem("slow-down" if exc.slow_down else "authorization-pending", exc.message)
    except oidc.DeviceExpired as exc:
        return problem("expired-token", exc.message, hint=exc.hint)
    except oidc.DeviceDenied as exc:
        return problem("access-denied", exc.message, headers={"WWW-Authenticate": "Bearer"})
    except oidc.ProviderError as exc:
        return _provider_problem(exc)
    except sso.SsoMfaRequired as exc:
        return problem("mfa-required", exc.message, headers={"WWW-Authenticate": "Bearer", "Cache-Control": "no-store"},
                       mfa_ticket=exc.ticket)
    response.headers["Cache-Control"] = "no-store"  # tokens (RFC 6749 5.1)
    return _pair(tokens)
