"""Single sign-on: an identity proven by an OpenID Connect provider -> an agentcost session.

The provider proves who is signing in (a verified ID token); the account is the agentcost
user with the same address, and only when the provider says the address is verified
(`email_verified`). Nothing else is taken from the provider: the account's roles,
memberships and status are agentcost's own, and an account with two-factor authentication
still needs its TOTP or recovery code (the provider's own MFA is not trusted in its place).

No account is created unless the server has open registration; then it is created verified
(the provider verified the address) and without a password.

The second factor usually comes in a second request: the provider's device code is single
use, so the first answer (`SsoMfaRequired`) carries a ticket, a 5-minute HS256 JWT signed with
a key derived from the server key, naming the user and bound to the device code's hash. It
holds nothing secret and is worth no more than the verified ID token it stands for; being
stateless, it works whichever daemon (or worker) gets the second request.

Every refusal is audited as a failed `login` with `{"method": "sso", "issuer", "reason"}`.
"""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from ..errors import AuthError, Conflict, InvalidInput, MfaRequired
from ..store.base import Store
from . import audit, clock, mfa, throttle
from .actor import Actor
from .auth_config import auth_config
from .sessions import Tokens, open_session
from .users import normalize_email

if TYPE_CHECKING:
    from ..auth.oidc import OidcClient

METHOD = "sso"
TICKET_TTL = timedelta(minutes=5)
TICKET_ISSUER = "agentcost"
TICKET_AUDIENCE = "agentcost-sso-mfa"
TICKET_ALGORITHM = "HS256"
MFA_MESSAGE = "enter the code from your authenticator app, or a recovery code"


class SsoMfaRequired(MfaRequired):
    """The identity is proven and the account has two-factor authentication: send the code with
    `ticket` (valid TICKET_TTL)."""

    def __init__(self, message: str, *, ticket: str) -> None:
        super().__init__(message)
        self.ticket = ticket


def _refuse(store: Store, error: AuthError, *, issuer: str, reason: str, target: str | None,
            source: str | None, user_id: int | None = None) -> NoReturn:
    audit.record(store, Actor(kind="user", email=target, source=source), "login", target=target,
                 outcome=audit.FAILED, actor_label="anonymous", actor_user_id=user_id,
                 detail={"method": METHOD, "issuer": issuer, "reason": reason})
    raise error


def sign_in(store: Store, provider: OidcClient, id_token: str, *, binding: str, code: str | None = None,
            source: str | None = None, user_agent: str | None = None, open_registration: bool = False) -> Tokens:
    """Verify the provider's ID token, then `link_identity`. A token that fails a check is audited
    (with the reason) and refused with one message."""
    from ..auth.oidc import IdTokenInvalid

    try:
        claims = provider.verify_id_token(id_token, now=clock.now().timestamp())
    except IdTokenInvalid as exc:
        _refuse(store, AuthError("the identity provider's ID token was refused"), issuer=provider.issuer,
                reason=exc.message, target=None, source=source)
    return link_identity(store, claims, code=code, source=source, user_agent=user_agent,
                         open_registration=open_registration, binding=binding)


def _verified(value: Any) -> bool:
    # A boolean per OIDC Core; some providers (Cognito) send the string "true".
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def link_identity(store: Store, claims: dict[str, Any], *, code: str | None = None, source: str | None = None,
                  user_agent: str | None = None, open_registration: bool = False,
                  binding: str = "") -> Tokens:
    """Open a session for the account whose address the (already verified) ID token's claims
    prove.

    Args:
        claims: the verified ID token's claims (`iss`, `email`, `email_verified`, `name`...).
        code: a TOTP or recovery code, for accounts with two-factor authentication.
        open_registration: create a missing account (verified, no password).
        binding: what a second-factor ticket is bound to (the daemon: the device code's hash).

    Raises:
        AuthError: no verified email, no such account (registration closed), a disabled account,
            or a wrong code.
        SsoMfaRequired: the account has two-factor authentication and no code was given.
        Throttled: too many wrong codes for this account or address.
    """
    issuer = str(claims.get("iss") or "")
    raw = claims.get("email")
    try:
        address = normalize_email(raw) if isinstance(raw, str) else None
    except InvalidInput:
        address = None
    if address is None:
        _refuse(store, AuthError("the identity provider shared no usable email address",
                                 hint="the sign-in needs the 'email' scope"),
                issuer=issuer, reason="no email", target=None, source=source)
    if not _verified(claims.get("email_verified")):
        _refuse(store, AuthError(f"{address} is not verified at the identity provider",
                                 hint="verify the address there, then sign in again"),
                issuer=issuer, reason="email not verified", target=address, source=source)
    row = store.find_user(address)
    if row is None and open_registration:
        row = _register(store, address, claims, issuer=issuer, source=source)
    if row is None:
        _refuse(store, AuthError(f"no agentcost account uses {address}",
                                 hint="ask an administrator to create one (agentcost users create)"),
                issuer=issuer, reason="no account", target=address, source=source)
    if row["status"] != "active":
        _refuse(store, AuthError(f"the account {address} is disabled"), issuer=issuer, reason="account disabled",
                target=address, source=source, user_id=int(row["id"]))
    used_mfa = False
    if row["mfa_secret_sealed"] is not None:
        if not code:
            raise SsoMfaRequired(MFA_MESSAGE, ticket=_issue_ticket(store, row, issuer=issuer, binding=binding))
        _check_code(store, row, code, issuer=issuer, source=source)
        used_mfa = True
    return _open(store, row, issuer=issuer, mfa=used_mfa, source=source, user_agent=user_agent)


def complete_with_code(store: Store, ticket: str, code: str, *, binding: str = "", source: str | None = None,
                       user_agent: str | None = None) -> Tokens:
    """The second step of a single sign-on to an account with two-factor authentication: the
    ticket from `SsoMfaRequired` (bound to the same `binding`) and the code.

    Raises:
        AuthError: an invalid or expired ticket, an account that changed or was disabled since,
            or a wrong code (the ticket stays usable until it expires).
        Throttled: too many wrong codes.
    """
    import jwt

    now = clock.now()
    try:
        payload = jwt.decode(ticket, auth_config(store).sso_ticket_key, algorithms=[TICKET_ALGORITHM],
                             audience=TICKET_AUDIENCE, issuer=TICKET_ISSUER,
                             options={"require": ["sub", "exp", "email", "idp", "bnd"], "verify_exp": False,
                                      "verify_iat": False, "verify_nbf": False})
        expired = now.timestamp() >= float(payload["exp"])
        user_id = int(payload["sub"])
        bound = hmac.compare_digest(str(payload["bnd"]), binding)
    except (jwt.PyJWTError, ValueError, TypeError):
        expired, bound, user_id, payload = True, False, 0, {}
    issuer = str(payload.get("idp") or "")
    if expired or not bound:
        _refuse(store, AuthError("this sign-in step is invalid or has expired",
                                 hint="start again: agentcost login --sso"),
                issuer=issuer, reason="invalid or expired ticket", target=None, source=source)
    row = store.get_user(user_id)
    if row is None or row["email"] != payload["email"] or row["status"] != "active":
        _refuse(store, AuthError("the account changed since the sign-in started", hint="start again"),
                issuer=issuer, reason="account changed or disabled", target=str(payload["email"]), source=source,
                user_id=None if row is None else int(row["id"]))
    used_mfa = False
    if row["mfa_secret_sealed"] is not None:
        _check_code(store, row, code, issuer=issuer, source=source)
        used_mfa = True
    return _open(store, row, issuer=issuer, mfa=used_mfa, source=source, user_agent=user_agent)


def _issue_ticket(store: Store, row: dict[str, Any], *, issuer: str, binding: str) -> str:
    import jwt

    now = int(clock.now().timestamp())
    return jwt.encode({"iss": TICKET_ISSUER, "aud": TICKET_AUDIENCE, "sub": str(row["id"]), "email": row["email"],
                       "idp": issuer, "bnd": binding, "iat": now, "exp": now + int(TICKET_TTL.total_seconds())},
                      auth_config(store).sso_ticket_key, algorithm=TICKET_ALGORITHM)


def _check_code(store: Store, row: dict[str, Any], code: str, *, issuer: str, source: str | None) -> None:
    """The second factor, throttled and audited exactly like the password login's."""
    now = clock.now()
    address = str(row["email"])
    throttle.check(store, account=address, source=source, now=now)
    if not mfa.check_second_factor(store, row, code):
        throttle.failed(store, account=address, source=source, now=now)
        _refuse(store, AuthError("wrong or already used code"), issuer=issuer, reason="second factor",
                target=address, source=source, user_id=int(row["id"]))
    throttle.succeeded(store, account=address)


def _open(store: Store, row: dict[str, Any], *, issuer: str, mfa: bool, source: str | None,
          user_agent: str | None) -> Tokens:
    # The provider verified the address: an account still waiting for its verification email is verified now.
    fields = {} if row["email_verified_utc"] else {"email_verified_utc": clock.now_text()}
    return open_session(store, row, mfa=mfa, source=source, user_agent=user_agent, fields=fields,
                        detail={"method": METHOD, "issuer": issuer})


def _register(store: Store, address: str, claims: dict[str, Any], *, issuer: str,
              source: str | None) -> dict[str, Any] | None:
    """A new account for a verified address (open registration): verified, no password (a reset
    link can set one later)."""
    name = claims.get("name")
    display = name.strip()[:200] or None if isinstance(name, str) else None
    now = clock.now_text()
    with store.transaction():
        try:
            user_id = store.insert_user({"email": address, "display_name": display, "password_hash": None,
                                         "created_utc": now, "email_verified_utc": now})
        except Conflict:  # registered by a concurrent request
            return store.find_user(address)
        audit.record(store, Actor(kind="user", email=address, source=source), "user.register", target=address,
                     actor_user_id=user_id, detail={"method": METHOD, "issuer": issuer})
    return store.get_user(user_id)
