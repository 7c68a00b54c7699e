"""Single sign-on with the OAuth 2.0 Device Authorization Grant (RFC 8628): `/v1/auth/sso/*`.

The daemon is the OAuth client (the client secret stays on the server); the CLI only relays
the device code. `POST /v1/auth/sso/device` starts a sign-in at the provider (an OpenID Connect
provider, or GitHub); `POST /v1/auth/sso/token` polls the provider once per call and, once the
user has approved, reads who signed in (the verified ID token; GitHub: its API) and answers the
same token pair as `/v1/auth/login`.

The identities linked to accounts: `GET /v1/me/identities`, `GET /v1/users/{email}/identities`,
and `DELETE /v1/users/{email}/identities` (operators, to let a new identity link by address).
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
from ..deps import StoreDep, UserDep, source_address
from ..problems import PROBLEM_TYPES, problem
from ..schemas import SsoDevice, SsoTokenRequest, TokenPair
from .auth import _auth_limit, _pair

if TYPE_CHECKING:
    from ...auth.oidc import IdentityProvider

router = APIRouter(tags=["auth"])
_CLIENT_LOCK = threading.Lock()


def _doc(*slugs: str) -> str:
    return "; ".join(f"`/problems/{slug}`: {PROBLEM_TYPES[slug][2]}" for slug in slugs)


def provider(request: Request) -> IdentityProvider:
    """The app's provider client (one per app: an OIDC client's discovery and key caches are shared
    by requests)."""
    settings = request.app.state.config.sso
    if settings is None:
        raise NotFound("single sign-on is not configured on this server",
                       hint="sign in with email and password, or ask the operator to set sso.issuer")
    with _CLIENT_LOCK:
        client: IdentityProvider | None = getattr(request.app.state, "sso_client", None)
        if client is None or client.settings != settings:
            client = oidc.client_for(settings)
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
    409: {"description": _doc("identity-conflict")},
    429: {"description": "Too many attempts from this address, or wrong codes for this account; see Retry-After."},
    502: {"description": _doc("identity-provider-error")}})
def sso_token(body: SsoTokenRequest, request: Request, response: Response, store: StoreDep) -> Any:
    """Poll the identity provider once for the device code. Until the user approves, the answer is
    a `/problems/authorization-pending` (or `/problems/slow-down`) problem; then the identity is
    read (a verified ID token; GitHub: its API) and resolved to the account it is linked to, or, the
    first time, to the account with the same verified email, which it is then linked to; the answer
    is the token pair of `/v1/auth/login`. A new identity claiming the address of an account linked
    to another identity at the same provider is refused (`/problems/identity-conflict`). An account
    with two-factor authentication answers `/problems/mfa-required` with an `mfa_ticket`
    (5 minutes): send it back with `code`."""
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
            tokens = sso.sign_in(store, client, answer, binding=binding, code=body.code,
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
    except sso.IdentityConflict as exc:
        return problem("identity-conflict", exc.message, hint=exc.hint)
    except sso.SsoMfaRequired as exc:
        return problem("mfa-required", exc.message, headers={"WWW-Authenticate": "Bearer", "Cache-Control": "no-store"},
                       mfa_ticket=exc.ticket)
    response.headers["Cache-Control"] = "no-store"  # tokens (RFC 6749 5.1)
    return _pair(tokens)


# -- linked identities --------------------------------------------------------------------------------
@router.get("/v1/me/identities", tags=["me"])
def my_identities(actor: UserDep, store: StoreDep) -> dict[str, Any]:
    """The single sign-on identities (issuer and subject at the provider) linked to your account."""
    return {"identities": sso.list_identities(store, actor)}


@router.get("/v1/users/{email}/identities", tags=["users"])
def user_identities(email: str, actor: UserDep, store: StoreDep) -> dict[str, Any]:
    """The single sign-on identities linked to an account (your own, or any: server admins)."""
    return {"identities": sso.list_identities(store, actor, email)}


@router.delete("/v1/users/{email}/identities", tags=["users"])
def unlink_identities(email: str, actor: UserDep, store: StoreDep, issuer: str | None = None) -> dict[str, Any]:
    """Remove the account's single sign-on links (at `issuer`, or all); its next single sign-on links
    by verified address again (server admins). For a sign-in refused with
    `/problems/identity-conflict` once you have checked that the new identity is the account's owner."""
    return {"removed": sso.unlink_identities(store, actor, email, issuer=issuer)}
