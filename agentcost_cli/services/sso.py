"""Single sign-on: an identity proven by a provider (an OpenID Connect ID token, or GitHub's API)
-> an agentcost session.

The provider proves who is signing in: an issuer and a subject (`iss`, `sub`), the provider's
stable id of the person. The account is found by that identity first (`user_identities`); only
an identity seen for the first time is matched by address, to the agentcost user with the
same address and only when the provider says it is verified (`email_verified`), and is then
linked to the account. So:

* an address changed at the provider keeps the account (the subject has not changed);
* an address re-issued at the provider to someone else does not open an account that another
  subject is linked to: an account has at most one identity per issuer, and a second subject
  claiming its address is refused (`IdentityConflict`, audited). The provider cannot tell us
  whether it is the same person with a new provider account or a stranger, and the address is
  the only thing they share, so only an operator can decide: `unlink_identities` removes the old
  link, and the next sign-in links by address again;
* the link is written only when the sign-in succeeds (after the second factor), so nobody can
  claim an account's link by passing the provider's check alone.

Nothing else is taken from the provider: the account's roles,
memberships and status are agentcost's own, and an account with two-factor authentication
still needs its TOTP or recovery code (the provider's own MFA is not trusted in its place).

No account is created unless the server has open registration; then it is created verified
(the provider verified the address) and without a password.

The second factor usually comes in a second request: the provider's device code is single
use, so the first answer (`SsoMfaRequired`) carries a ticket, a 5-minute HS256 JWT signed with
a key derived from the server key, naming the user and bound to the device code's hash. It
holds nothing secret and is worth no more than the verified ID token it stands for; being
stateless, it works whichever daemon (or worker) gets the second request.

Every refusal is audited as a failed `login` with `{"method": "sso", "issuer", "reason"}`; a new
link as `user.identity.link`, a removed one as `user.identity.unlink`.
"""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from ..errors import AuthError, Conflict, InvalidInput, MfaRequired
from ..store.base import Store
from . import audit, clock, mfa, throttle
from .actor import Actor, user_actor
from .auth_config import auth_config
from .permissions import Op, require
from .sessions import Tokens, open_session
from .users import _self_or_operator, get_user_row, normalize_email

if TYPE_CHECKING:
    from ..auth.oidc import IdentityProvider

METHOD = "sso"
TICKET_TTL = timedelta(minutes=5)
TICKET_ISSUER = "agentcost"
TICKET_AUDIENCE = "agentcost-sso-mfa"
TICKET_ALGORITHM = "HS256"
MFA_MESSAGE = "enter the code from your authenticator app, or a recovery code"


class IdentityConflict(Conflict):
    """Another identity at this provider is linked to the account with the address the provider
    vouched for (an address re-issued there, or a new provider account of the same person: an
    operator decides, with `unlink_identities`)."""

    title = "identity conflict"


class SsoMfaRequired(MfaRequired):
    """The identity is proven and the account has two-factor authentication: send the code with
    `ticket` (valid TICKET_TTL)."""

    def __init__(self, message: str, *, ticket: str) -> None:
        super().__init__(message)
        self.ticket = ticket


def _refuse(store: Store, error: AuthError | Conflict, *, issuer: str, reason: str, target: str | None,
            source: str | None, user_id: int | None = None, **extra: Any) -> NoReturn:
    audit.record(store, Actor(kind="user", email=target, source=source), "login", target=target,
                 outcome=audit.FAILED, actor_label="anonymous", actor_user_id=user_id,
                 detail={"method": METHOD, "issuer": issuer, "reason": reason, **extra})
    raise error


def sign_in(store: Store, provider: IdentityProvider, answer: dict[str, Any], *, binding: str,
            code: str | None = None, source: str | None = None, user_agent: str | None = None,
            open_registration: bool = False) -> Tokens:
    """Read who signed in from the provider's token answer (a verified ID token; GitHub: its API),
    then `link_identity`. An identity proof that fails a check is audited (with the reason) and
    refused with one message."""
    from ..auth.oidc import IdTokenInvalid

    try:
        claims = provider.identity(answer, now=clock.now().timestamp())
    except IdTokenInvalid as exc:
        _refuse(store, AuthError("the identity provider's ID token was refused"), issuer=provider.issuer,
                reason=exc.message, target=None, source=source)
    return link_identity(store, claims, code=code, source=source, user_agent=user_agent,
                         open_registration=open_registration, binding=binding)


def _verified(value: Any) -> bool:
    # A boolean per OIDC Core; some providers (Cognito) send the string "true".
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _address(claims: dict[str, Any]) -> str | None:
    raw = claims.get("email")
    try:
        return normalize_email(raw) if isinstance(raw, str) else None
    except InvalidInput:
        return None


def link_identity(store: Store, claims: dict[str, Any], *, code: str | None = None, source: str | None = None,
                  user_agent: str | None = None, open_registration: bool = False,
                  binding: str = "") -> Tokens:
    """Open a session for the account the (already verified) claims prove: the one linked to
    (`iss`, `sub`), else the one with the verified address (which is then linked).

    Args:
        claims: the verified identity (`iss`, `sub`, `email`, `email_verified`, `name`...).
        code: a TOTP or recovery code, for accounts with two-factor authentication.
        open_registration: create a missing account (verified, no password).
        binding: what a second-factor ticket is bound to (the daemon: the device code's hash).

    Raises:
        AuthError: no subject; an identity seen for the first time without a verified email or
            without an account (registration closed); a disabled account; a wrong code.
        IdentityConflict: the address's account is linked to another identity at this issuer.
        SsoMfaRequired: the account has two-factor authentication and no code was given.
        Throttled: too many wrong codes for this account or address.
    """
    issuer = str(claims.get("iss") or "")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        _refuse(store, AuthError("the identity provider named no subject"), issuer=issuer, reason="no subject",
                target=None, source=source)
    address = _address(claims)
    verified = address is not None and _verified(claims.get("email_verified"))
    linked = store.find_identity(issuer, subject)
    row = store.get_user(int(linked["user_id"])) if linked is not None else None
    if row is None:
        row = _account_by_address(store, claims, address, verified, issuer=issuer, subject=subject,
                                  source=source, open_registration=open_registration)
    if row["status"] != "active":
        _refuse(store, AuthError(f"the account {row['email']} is disabled"), issuer=issuer,
                reason="account disabled", target=str(row["email"]), source=source, user_id=int(row["id"]))
    used_mfa = False
    if row["mfa_secret_sealed"] is not None:
        if not code:
            raise SsoMfaRequired(MFA_MESSAGE, ticket=_issue_ticket(store, row, issuer=issuer, subject=subject,
                                                                   address=address if verified else None,
                                                                   binding=binding))
        _check_code(store, row, code, issuer=issuer, source=source)
        used_mfa = True
    return _open(store, row, issuer=issuer, subject=subject, address=address if verified else None, mfa=used_mfa,
                 source=source, user_agent=user_agent)


def _account_by_address(store: Store, claims: dict[str, Any], address: str | None, verified: bool, *, issuer: str,
                        subject: str, source: str | None, open_registration: bool) -> dict[str, Any]:
    """The account a first-seen identity is linked to: the one with its verified address (or a new
    one, with open registration), unless that account has another identity at this issuer."""
    if address is None:
        _refuse(store, AuthError("the identity provider shared no usable email address",
                                 hint="the sign-in needs the scope that shares it (OpenID Connect: email; "
                                      "GitHub: user:email)"),
                issuer=issuer, reason="no email", target=None, source=source)
    if not verified:
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
    _check_unlinked(store, row, issuer=issuer, subject=subject, source=source)
    return row


def _check_unlinked(store: Store, row: dict[str, Any], *, issuer: str, subject: str, source: str | None) -> None:
    if any(i["issuer"] == issuer and i["subject"] != subject for i in store.list_identities(int(row["id"]))):
        _refuse(store, IdentityConflict(
            f"the account {row['email']} is linked to another identity at {issuer}; an address taken over at the "
            "identity provider cannot sign in to it",
            hint="if it is the same person with a new identity there, an administrator can remove the old link "
                 f"(DELETE /v1/users/{row['email']}/identities), then sign in again"),
            issuer=issuer, reason="linked to another identity", target=str(row["email"]), source=source,
            user_id=int(row["id"]), subject=subject)


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
                             options={"require": ["sub", "exp", "email", "idp", "isub", "bnd"], "verify_exp": False,
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
    vouched = payload.get("vml")
    return _open(store, row, issuer=issuer, subject=str(payload["isub"]),
                 address=vouched if isinstance(vouched, str) else None, mfa=used_mfa, source=source,
                 user_agent=user_agent)


def _issue_ticket(store: Store, row: dict[str, Any], *, issuer: str, subject: str, address: str | None,
                  binding: str) -> str:
    """The second-factor ticket: the account, and the identity (issuer, subject, the verified address
    the provider vouched for) that is linked only once the code is right."""
    import jwt

    now = int(clock.now().timestamp())
    return jwt.encode({"iss": TICKET_ISSUER, "aud": TICKET_AUDIENCE, "sub": str(row["id"]), "email": row["email"],
                       "idp": issuer, "isub": subject, "vml": address, "bnd": binding, "iat": now,
                       "exp": now + int(TICKET_TTL.total_seconds())},
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


def _open(store: Store, row: dict[str, Any], *, issuer: str, subject: str, address: str | None, mfa: bool,
          source: str | None, user_agent: str | None) -> Tokens:
    """Link the identity (when new) or note its use, then the session. `address`: the verified
    address the provider vouched for, if any."""
    _link(store, row, issuer=issuer, subject=subject, address=address, source=source)
    # The provider verified the address: an account still waiting for its verification email is
    # verified now; never when the provider vouched for another address (a linked identity whose
    # address changed there).
    fields = {"email_verified_utc": clock.now_text()} if not row["email_verified_utc"] and address == row["email"] \
        else {}
    return open_session(store, row, mfa=mfa, source=source, user_agent=user_agent, fields=fields,
                        detail={"method": METHOD, "issuer": issuer})


def _link(store: Store, row: dict[str, Any], *, issuer: str, subject: str, address: str | None,
          source: str | None) -> None:
    user_id = int(row["id"])
    now = clock.now_text()
    linked = store.find_identity(issuer, subject)
    if linked is not None:
        if int(linked["user_id"]) != user_id:  # relinked by an operator while a second factor was pending
            _refuse(store, AuthError("the account changed since the sign-in started", hint="start again"),
                    issuer=issuer, reason="identity linked to another account", target=str(row["email"]),
                    source=source, user_id=user_id)
        store.touch_identity(int(linked["id"]), now)
        return
    _check_unlinked(store, row, issuer=issuer, subject=subject, source=source)
    try:
        with store.transaction():
            store.insert_identity({"user_id": user_id, "issuer": issuer, "subject": subject, "email_at_link": address,
                                   "created_utc": now, "last_login_utc": now})
            audit.record(store, user_actor(row, source=source), "user.identity.link", target=str(row["email"]),
                         detail={"method": METHOD, "issuer": issuer, "subject": subject})
    except Conflict:  # a concurrent first sign-in linked first: the same identity is fine, another is not
        again = store.find_identity(issuer, subject)
        if again is None or int(again["user_id"]) != user_id:
            _check_unlinked(store, row, issuer=issuer, subject=subject, source=source)
            raise


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


# -- linked identities ---------------------------------------------------------------------------
def list_identities(store: Store, actor: Actor, email: str | None = None) -> list[dict[str, Any]]:
    """The single sign-on identities linked to an account: one's own, or (operators) anyone's.

    Raises:
        PermissionDenied: another user's account, and the actor is no operator.
        NotFound: no such user.
    """
    row = _self_or_operator(store, actor, email)
    return [{"issuer": i["issuer"], "subject": i["subject"], "email_at_link": i["email_at_link"],
             "created_utc": i["created_utc"], "last_login_utc": i["last_login_utc"]}
            for i in store.list_identities(int(row["id"]))]


def unlink_identities(store: Store, actor: Actor, email: str, *, issuer: str | None = None) -> int:
    """Remove an account's links (at one issuer, or all): its next single sign-on links by verified
    address again. For an operator who has decided that a new identity at the provider (refused
    with `IdentityConflict`) is the account's owner. Returns how many were removed.

    Raises:
        PermissionDenied: the actor is no operator.
        NotFound: no such user.
    """
    require(store, actor, Op.USERS_MANAGE)
    row = get_user_row(store, email)
    user_id = int(row["id"])
    with store.transaction():
        gone = [i for i in store.list_identities(user_id) if issuer is None or i["issuer"] == issuer]
        removed = store.delete_identities(user_id, issuer)
        if removed:
            audit.record(store, actor, "user.identity.unlink", target=str(row["email"]),
                         detail={"identities": [{"issuer": i["issuer"], "subject": i["subject"]} for i in gone]})
    return removed
