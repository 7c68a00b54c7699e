"""User accounts: creation, status, passwords, email verification and password reset.

Public entry points that run before anyone is signed in (`register`,
`request_password_reset`, `reset_password`, `verify_email`) take no actor and answer
the same way whether or not the email is known (AU-05): the caller learns nothing
about which addresses have accounts.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

from ..auth import passwords
from ..auth.tokens import hash_token, new_opaque_token
from ..errors import AuthError, Conflict, InvalidInput, NotFound, PermissionDenied
from ..store.base import Store
from . import audit, clock, outbox
from .actor import Actor
from .auth_config import auth_config
from .permissions import Op, require, require_recent_auth

RESET_TTL = timedelta(minutes=30)
VERIFY_TTL = timedelta(hours=24)
INVITE_TTL = timedelta(hours=24)
log = logging.getLogger(__name__)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PUBLIC_FIELDS = ("id", "email", "display_name", "status", "is_admin", "email_verified_utc", "mfa_enabled_utc",
                  "created_utc", "last_login_utc", "password_changed_utc")


def normalize_email(email: str) -> str:
    """One spelling per address: trimmed and lower-cased (mail systems treat case as equal in practice)."""
    text = email.strip().lower()
    if len(text) > 254 or not _EMAIL.match(text):
        raise InvalidInput(f"{email!r} is not an email address")
    return text


def public_user(row: dict[str, Any]) -> dict[str, Any]:
    """A user as shown to people: no hashes, no sealed secrets."""
    out = {k: row[k] for k in _PUBLIC_FIELDS}
    out["is_admin"] = bool(out["is_admin"])
    out["mfa"] = row["mfa_secret_sealed"] is not None
    out["has_password"] = row["password_hash"] is not None
    return out


def get_user_row(store: Store, email: str) -> dict[str, Any]:
    row = store.find_user(normalize_email(email))
    if row is None:
        raise NotFound(f"no user with email {email!r}")
    return row


def _self_or_operator(store: Store, actor: Actor, email: str | None) -> dict[str, Any]:
    """The user an account operation is about: the actor themself, or (operators) anyone."""
    if email is None:
        if actor.kind != "user" or actor.user_id is None:
            raise InvalidInput("say which user (--user EMAIL)")
        row = store.get_user(actor.user_id)
        if row is None:
            raise AuthError("your account no longer exists")
        return row
    row = get_user_row(store, email)
    if actor.user_id != row["id"] and not actor.is_operator:
        raise PermissionDenied(f"{actor.label} may not manage another user's account")
    return row


def checked_password(store: Store, password: str) -> str:
    """The local policy (AU-02), then, when configured, the breached-password check (AU-03), which
    fails open with a warning when the service cannot be reached."""
    checked = passwords.check_policy(password)
    url = auth_config(store).breach_check_url
    if url:
        from ..auth.breached import breach_count

        count = breach_count(checked, url=url)
        if count is None:
            log.warning("the breached-password service could not be reached; the password was checked "
                        "against the local list only")
        elif count:
            raise InvalidInput(f"this password appears in {count:,} known data breaches; choose another")
    return checked


def _greeting(row: dict[str, Any]) -> str:
    return str(row["display_name"] or row["email"])


# -- operators -----------------------------------------------------------------
def create_user(store: Store, actor: Actor, *, email: str, password: str | None, name: str | None = None,
                admin: bool = False, verified: bool = False) -> dict[str, Any]:
    """Create an account. Without a password the user is invited: the outbox gets a link to choose one."""
    require(store, actor, Op.USERS_MANAGE)
    address = normalize_email(email)
    hashed = passwords.hash_password(checked_password(store, password)) if password is not None else None
    now = clock.now_text()
    with store.transaction():
        user_id = store.insert_user({
            "email": address, "display_name": name, "password_hash": hashed, "is_admin": int(admin),
            "created_utc": now, "password_changed_utc": now if hashed else None,
            "email_verified_utc": now if verified else None,
        })
        audit.record(store, actor, "user.create", target=address, detail={"admin": admin, "invited": hashed is None})
        row = store.get_user(user_id)
        assert row is not None
        if hashed is None:
            _send_token(store, row, "reset", INVITE_TTL, "account_invite", "reset-password",
                        inviter=actor.email or "An administrator")
        elif not verified:
            _send_token(store, row, "verify", VERIFY_TTL, "verify_email", "verify-email")
    return public_user(row)


def list_users(store: Store, actor: Actor) -> list[dict[str, Any]]:
    require(store, actor, Op.USERS_MANAGE)
    return [public_user(r) for r in store.list_users()]


def show_user(store: Store, actor: Actor, email: str | None = None) -> dict[str, Any]:
    row = _self_or_operator(store, actor, email)
    out = public_user(row)
    out["recovery_codes_left"] = store.recovery_codes_left(int(row["id"])) if out["mfa"] else None
    projects = {int(p["id"]): p["slug"] for p in store.list_projects()}
    out["projects"] = {projects.get(pid, str(pid)): role for pid, role in store.memberships(int(row["id"])).items()}
    return out


def set_status(store: Store, actor: Actor, email: str, *, active: bool) -> dict[str, Any]:
    """Disable or enable an account. Disabling ends every session and revokes the user's keys (AU-13)."""
    require(store, actor, Op.USERS_MANAGE)
    row = get_user_row(store, email)
    if not active and actor.user_id == row["id"]:
        raise Conflict("you cannot disable your own account")
    now = clock.now_text()
    with store.transaction():
        store.update_user(int(row["id"]), {"status": "active" if active else "disabled"})
        detail: dict[str, Any] = {}
        if not active:
            detail["sessions_revoked"] = store.revoke_sessions(int(row["id"]), now_utc=now, reason="account disabled")
            detail["keys_revoked"] = store.revoke_user_keys(int(row["id"]), now)
            outbox.enqueue(store, template="account_disabled", recipient=row["email"],
                           variables={"name": _greeting(row), "email": row["email"], "when": now[:19]},
                           idempotency_key=f"account_disabled/{row['id']}/{now}")
        audit.record(store, actor, "user.enable" if active else "user.disable", target=row["email"], detail=detail)
    updated = store.get_user(int(row["id"]))
    assert updated is not None
    return {**public_user(updated), **detail}


def update_user(store: Store, actor: Actor, email: str, *, name: str | None = None,
                admin: bool | None = None) -> dict[str, Any]:
    """Change a display name or the server-admin flag (operators only; a user cannot drop their
    own admin flag, so a server always keeps the operator who is acting)."""
    require(store, actor, Op.USERS_MANAGE)
    row = get_user_row(store, email)
    fields: dict[str, Any] = {}
    if name is not None:
        fields["display_name"] = name.strip() or None
    if admin is not None and bool(row["is_admin"]) != admin:
        if not admin and actor.user_id == row["id"]:
            raise Conflict("you cannot remove your own admin flag", hint="ask another admin")
        fields["is_admin"] = int(admin)
    if not fields:
        raise InvalidInput("nothing to change", hint="give --name and/or --admin / --no-admin")
    with store.transaction():
        store.update_user(int(row["id"]), fields)
        audit.record(store, actor, "user.update", target=row["email"],
                     detail={k: bool(v) if k == "is_admin" else v for k, v in fields.items()})
    updated = store.get_user(int(row["id"]))
    assert updated is not None
    return public_user(updated)


def change_email(store: Store, actor: Actor, new_email: str, email: str | None = None) -> dict[str, Any]:
    """Move an account to another address. Needs a sign-in in the last 5 minutes (AU-09); the new
    address must be verified again, and the old one is told."""
    row = _self_or_operator(store, actor, email)
    require_recent_auth(actor)
    address = normalize_email(new_email)
    if address == row["email"]:
        raise InvalidInput(f"{address} is already this account's address")
    now = clock.now_text()
    with store.transaction():
        store.update_user(int(row["id"]), {"email": address, "email_verified_utc": None})
        store.revoke_sessions(int(row["id"]), now_utc=now, reason="email changed", keep=actor.session_id)
        outbox.enqueue(store, template="email_changed", recipient=row["email"],
                       variables={"name": _greeting(row), "email": row["email"], "new_email": address,
                                  "when": now[:19]},
                       idempotency_key=f"email_changed/{row['id']}/{now}")
        updated = store.get_user(int(row["id"]))
        assert updated is not None
        _send_token(store, updated, "verify", VERIFY_TTL, "verify_email", "verify-email")
        audit.record(store, actor, "user.email_change", target=address, detail={"previous": row["email"]})
    return public_user(updated)


def delete_user(store: Store, actor: Actor, email: str) -> None:
    """Delete an account with its sessions and memberships; revoke the keys it created.
    Refused while the user is the last owner of a project (transfer or delete it first)."""
    require(store, actor, Op.USERS_MANAGE)
    row = get_user_row(store, email)
    user_id = int(row["id"])
    if actor.user_id == user_id:
        raise Conflict("you cannot delete your own account here")
    sole = _sole_owner_of(store, user_id)
    if sole:
        raise Conflict(f"{row['email']} is the last owner of {', '.join(sole)}",
                       hint="transfer those projects (agentcost projects transfer) or delete them first")
    with store.transaction():
        keys = store.revoke_user_keys(user_id, clock.now_text())
        store.delete_user(user_id)
        # The record names the account by id only: the address is personal data that leaves with it.
        audit.record(store, actor, "user.delete", target=f"user:{user_id}", detail={"keys_revoked": keys})


def _sole_owner_of(store: Store, user_id: int) -> list[str]:
    slugs = []
    for project_id, role in store.memberships(user_id).items():
        if role != "owner":
            continue
        owners = [m for m in store.members(project_id) if m["role"] == "owner"]
        if len(owners) == 1:
            project = store.get_project_by_id(project_id)
            slugs.append(str(project["slug"]) if project else str(project_id))
    return sorted(slugs)


# -- passwords -----------------------------------------------------------------
def change_password(store: Store, actor: Actor, *, new_password: str, current_password: str | None = None,
                    email: str | None = None) -> None:
    """Change a password. Users must give their current one (AU-09); operators setting another
    user's password need not. Every session ends but the caller's own (AU-08), and the user is told."""
    row = _self_or_operator(store, actor, email)
    own = actor.user_id == row["id"]
    if own and (current_password is None or row["password_hash"] is None
                or not passwords.verify_password(row["password_hash"], current_password)):
        audit.record(store, actor, "password.change", target=row["email"], outcome=audit.FAILED)
        raise AuthError("the current password is wrong", hint="give the password you sign in with now")
    new_hash = passwords.hash_password(checked_password(store, new_password))
    _set_password(store, actor, row, new_hash, how="changed", keep_session=actor.session_id if own else None)


def _set_password(store: Store, actor: Actor, row: dict[str, Any], new_hash: str, *, how: str,
                  keep_session: int | None) -> None:
    now = clock.now_text()
    with store.transaction():
        store.update_user(int(row["id"]), {"password_hash": new_hash, "password_changed_utc": now})
        revoked = store.revoke_sessions(int(row["id"]), now_utc=now, reason=f"password {how}", keep=keep_session)
        store.expire_user_tokens(int(row["id"]), "reset", now)
        outbox.enqueue(store, template="password_changed", recipient=row["email"],
                       variables={"name": _greeting(row), "email": row["email"], "how": how, "when": now[:19],
                                  "kept_current": keep_session is not None},
                       idempotency_key=f"password_changed/{row['id']}/{now}")
        audit.record(store, actor, f"password.{'reset' if how == 'reset' else 'change'}", target=row["email"],
                     actor_user_id=int(row["id"]) if actor.kind == "local" and how == "reset" else None,
                     detail={"sessions_revoked": revoked})


def _send_token(store: Store, row: dict[str, Any], purpose: str, ttl: timedelta, template: str, page: str,
                **extra: Any) -> None:
    """Issue a one-time token (stored as its hash) and queue the email that carries it.
    The link is built on the configured public URL, never on a request's Host (AU-07)."""
    token = new_opaque_token()
    now = clock.now()
    from ..timeutil import format_utc

    store.expire_user_tokens(int(row["id"]), purpose, format_utc(now))
    store.insert_user_token({
        "token_hash": hash_token(token), "user_id": int(row["id"]), "purpose": purpose,
        "created_utc": format_utc(now), "expires_utc": format_utc(now + ttl),
    })
    link = f"{auth_config(store).public_url}/{page}?token={token}"
    outbox.enqueue(store, template=template, recipient=row["email"],
                   variables={"name": _greeting(row), "email": row["email"], "link": link, "token": token, **extra},
                   idempotency_key=f"{template}/{row['id']}/{hash_token(token)[:16]}")


def request_password_reset(store: Store, email: str, *, source: str | None = None) -> None:
    """Queue a reset link when the address has an active account; otherwise do the same
    amount of work and say nothing different (AU-05)."""
    try:
        address = normalize_email(email)
    except InvalidInput:
        return
    row = store.find_user(address)
    anonymous = Actor(kind="user", email=address, source=source)
    with store.transaction():
        if row is None or row["status"] != "active":
            audit.record(store, anonymous, "password.reset_request", target=address, outcome=audit.FAILED,
                         actor_label="anonymous")
            return
        _send_token(store, row, "reset", RESET_TTL, "password_reset", "reset-password")
        audit.record(store, anonymous, "password.reset_request", target=address, actor_label="anonymous",
                     actor_user_id=int(row["id"]))


def reset_password(store: Store, token: str, new_password: str, *, source: str | None = None) -> str:
    """Set a new password with a reset token (single use, 30 minutes). Ends every session (AU-08)
    and does not sign in: the user logs in with the new password. Returns the account's email."""
    checked = checked_password(store, new_password)
    user_id = store.consume_user_token(hash_token(token.strip()), "reset", clock.now_text())
    if user_id is None:
        raise AuthError("this reset link is invalid, used or expired", hint="ask for a new one")
    row = store.get_user(user_id)
    if row is None or row["status"] != "active":
        raise AuthError("this reset link is invalid, used or expired", hint="ask for a new one")
    actor = Actor(kind="user", user_id=user_id, email=row["email"], source=source)
    _set_password(store, actor, row, passwords.hash_password(checked), how="reset", keep_session=None)
    return str(row["email"])


# -- email verification and self-registration ---------------------------------
def request_verification(store: Store, actor: Actor, email: str | None = None) -> None:
    row = _self_or_operator(store, actor, email)
    if row["email_verified_utc"]:
        raise Conflict(f"{row['email']} is already verified")
    with store.transaction():
        _send_token(store, row, "verify", VERIFY_TTL, "verify_email", "verify-email")


def verify_email(store: Store, token: str, *, source: str | None = None) -> str:
    """Mark the address verified (single-use token, 24 hours). Returns the address."""
    user_id = store.consume_user_token(hash_token(token.strip()), "verify", clock.now_text())
    row = store.get_user(user_id) if user_id is not None else None
    if row is None:
        raise AuthError("this verification link is invalid, used or expired", hint="ask for a new one")
    with store.transaction():
        store.update_user(int(row["id"]), {"email_verified_utc": clock.now_text()})
        audit.record(store, Actor(kind="user", user_id=int(row["id"]), email=row["email"], source=source),
                     "user.verify_email", target=row["email"])
    return str(row["email"])


def register(store: Store, *, email: str, password: str, name: str | None = None,
             source: str | None = None) -> None:
    """Self-service sign-up (the daemon decides whether it is open). The answer is the same for
    a new and a taken address (AU-05): a taken one gets no account and no hint."""
    checked = checked_password(store, password)
    address = normalize_email(email)
    hashed = passwords.hash_password(checked)  # hash either way: equal timing
    if store.find_user(address) is not None:
        return
    now = clock.now_text()
    actor = Actor(kind="user", email=address, source=source)
    with store.transaction():
        try:
            user_id = store.insert_user({"email": address, "display_name": name, "password_hash": hashed,
                                         "created_utc": now, "password_changed_utc": now})
        except Conflict:
            return
        row = store.get_user(user_id)
        assert row is not None
        _send_token(store, row, "verify", VERIFY_TTL, "verify_email", "verify-email")
        audit.record(store, actor, "user.register", target=address, actor_user_id=user_id)
