"""Sign-in, sessions and credentials -> Actor.

A session is a family of refresh tokens (RFC 9700): each use of a refresh token
retires it and issues the next; presenting a retired one means it was copied, so the
whole family ends. Access tokens are short JWTs (15 minutes) naming the session, and
every check also reads the session row, so revocation is immediate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from ..auth import apikeys, passwords, tokens
from ..errors import AuthError, InvalidInput, MfaRequired, NotFound, PermissionDenied
from ..store.base import Store
from ..timeutil import format_utc, parse_utc
from . import audit, authcache, clock, mfa, throttle
from .actor import Actor, user_actor
from .auth_config import auth_config
from .users import _self_or_operator, normalize_email

WRONG_LOGIN = "wrong email or password"
BAD_KEY = "invalid API key"
KEY_TOUCH_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    session_id: int
    access_expires_utc: str
    session_expires_utc: str
    token_type: str = "Bearer"


def login(store: Store, *, email: str, password: str, code: str | None = None, source: str | None = None,
          user_agent: str | None = None) -> Tokens:
    """Check a password (and the second factor when the account has one) and open a session.

    Raises:
        Throttled: too many recent failures for this account or source (AU-04).
        AuthError: wrong email or password, the same message and work for unknown emails (AU-05).
        MfaRequired: the password is right and a TOTP or recovery code must follow.
    """
    now = clock.now()
    try:
        address = normalize_email(email)
    except InvalidInput:  # not an address: it fails like a wrong password, after the same work
        address = email.strip().lower()
    throttle.check(store, account=address, source=source, now=now)
    row = store.find_user(address)
    anonymous = Actor(kind="user", email=address, source=source)
    if row is None or row["password_hash"] is None:
        passwords.dummy_verify(password)  # spend the time a real check costs
        ok = False
    else:
        ok = passwords.verify_password(row["password_hash"], password)
    if not ok or row is None or row["status"] != "active":
        throttle.failed(store, account=address, source=source, now=now)
        audit.record(store, anonymous, "login", target=address, outcome=audit.FAILED, actor_label="anonymous",
                     actor_user_id=None if row is None else int(row["id"]))
        raise AuthError(WRONG_LOGIN)
    used_mfa = False
    if row["mfa_secret_sealed"] is not None:
        if not code:
            raise MfaRequired("enter the code from your authenticator app, or a recovery code")
        if not mfa.check_second_factor(store, row, code):
            throttle.failed(store, account=address, source=source, now=now)
            audit.record(store, anonymous, "login", target=address, outcome=audit.FAILED, actor_label="anonymous",
                         actor_user_id=int(row["id"]), detail={"reason": "second factor"})
            raise AuthError("wrong or already used code")
        used_mfa = True
    throttle.succeeded(store, account=address)
    fields: dict[str, Any] = {}
    if passwords.needs_rehash(row["password_hash"]):
        fields["password_hash"] = passwords.hash_password(password)  # AU-01: upgrade weaker parameters
    return open_session(store, row, mfa=used_mfa, source=source, user_agent=user_agent, now=now, fields=fields)


def open_session(store: Store, row: dict[str, Any], *, mfa: bool, source: str | None, user_agent: str | None,
                 now: datetime | None = None, fields: dict[str, Any] | None = None,
                 detail: dict[str, Any] | None = None) -> Tokens:
    """Open a session for a user whose credentials were checked (password or single sign-on, and
    the second factor when `mfa`): the session row, its first refresh token, `last_login_utc`
    (plus `fields`) and the `login` audit record (plus `detail`), in one transaction."""
    now = now or clock.now()
    config = auth_config(store)
    with store.transaction():
        store.update_user(int(row["id"]), {"last_login_utc": format_utc(now), **(fields or {})})
        session_id = store.insert_session({
            "user_id": int(row["id"]), "created_utc": format_utc(now), "last_used_utc": format_utc(now),
            "expires_utc": format_utc(now + config.session_max), "mfa": int(mfa),
            "source_addr": source, "user_agent": (user_agent or "")[:200] or None,
        })
        refresh = _issue_refresh(store, session_id)
        audit.record(store, user_actor(row, source=source), "login", target=row["email"],
                     detail={"session": session_id, "mfa": mfa, **(detail or {})})
    return _tokens(store, row, session_id, refresh, mfa)


def _issue_refresh(store: Store, session_id: int) -> str:
    token = tokens.new_opaque_token()
    store.insert_refresh_token(tokens.hash_token(token), session_id, clock.now_text())
    return token


def _tokens(store: Store, user: dict[str, Any], session_id: int, refresh: str, used_mfa: bool) -> Tokens:
    now = clock.now()
    access = tokens.issue_access_token(auth_config(store).jwt_key, user_id=int(user["id"]), session_id=session_id,
                                       now=now, mfa=used_mfa)
    session = store.get_session(session_id)
    assert session is not None
    return Tokens(access, refresh, session_id, format_utc(now + timedelta(seconds=tokens.ACCESS_TTL_SECONDS)),
                  str(session["expires_utc"]))


def _live_session(store: Store, session_id: int) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(session, user) when the session is usable now: not revoked, within both lifetimes, user active."""
    session = store.get_session(session_id)
    if session is None or session["revoked_utc"] is not None:
        return None
    now = clock.now()
    if now >= parse_utc(session["expires_utc"]):
        return None
    if now - parse_utc(session["last_used_utc"]) >= auth_config(store).session_idle:
        return None
    user = store.get_user(int(session["user_id"]))
    if user is None or user["status"] != "active":
        return None
    return session, user


def refresh(store: Store, refresh_token: str, *, source: str | None = None) -> Tokens:
    """Trade a refresh token for a new pair. A retired token revokes its whole session (AU-12)."""
    token_hash = tokens.hash_token(refresh_token.strip())
    found = store.find_refresh_token(token_hash)
    if found is None:
        raise AuthError("invalid or expired session")
    session_id = int(found["session_id"])
    if found["used_utc"] is not None or not store.use_refresh_token(token_hash, clock.now_text()):
        _revoke_family(store, session_id, source)
        raise AuthError("invalid or expired session")
    live = _live_session(store, session_id)
    if live is None:
        raise AuthError("invalid or expired session")
    session, user = live
    with store.transaction():
        store.update_session(session_id, {"last_used_utc": clock.now_text()})
        new_refresh = _issue_refresh(store, session_id)
    return _tokens(store, user, session_id, new_refresh, bool(session["mfa"]))


def _revoke_family(store: Store, session_id: int, source: str | None) -> None:
    session = store.get_session(session_id)
    if session is None:
        return
    with store.transaction():
        if session["revoked_utc"] is None:
            store.update_session(session_id, {"revoked_utc": clock.now_text(), "revoked_reason": "refresh token reuse"})
        audit.record(store, Actor(kind="user", user_id=int(session["user_id"]), email=None, source=source),
                     "session.reuse_detected", target=f"session:{session_id}", outcome=audit.DENIED,
                     actor_label="anonymous")


def logout(store: Store, refresh_token: str, *, source: str | None = None) -> None:
    """End the session the refresh token belongs to (AU-13). Unknown tokens are ignored: logging
    out twice is not an error."""
    found = store.find_refresh_token(tokens.hash_token(refresh_token.strip()))
    if found is None:
        return
    session = store.get_session(int(found["session_id"]))
    if session is None or session["revoked_utc"] is not None:
        return
    with store.transaction():
        store.update_session(int(session["id"]), {"revoked_utc": clock.now_text(), "revoked_reason": "logout"})
        audit.record(store, Actor(kind="user", user_id=int(session["user_id"]), source=source), "logout",
                     target=f"session:{session['id']}", actor_label=f"session:{session['id']}")


# -- credentials -> Actor ---------------------------------------------------------
def actor_from_access_token(store: Store, token: str, *, source: str | None = None) -> Actor:
    claims = tokens.decode_access_token(auth_config(store).jwt_key, token, now=clock.now())
    live = _live_session(store, claims.session_id)
    if live is None or int(live[1]["id"]) != claims.user_id:
        raise AuthError("invalid or expired access token")
    session, user = live
    # The password was last checked when the session opened; refreshing does not re-check it.
    return user_actor(user, session_id=claims.session_id, mfa=claims.mfa, source=source,
                      authenticated_utc=session["created_utc"])


def actor_from_api_key(store: Store, key: str, *, source: str | None = None) -> Actor:
    """The key's actor. Malformed, unknown, revoked and expired keys fail with one message (KEY-06);
    a typo fails on its checksum before any lookup (KEY-01). A valid key's lookup is remembered
    for a second (services/authcache.py); expiry and the project's networks are checked every time."""
    key = key.strip()
    if not apikeys.looks_valid(key):
        raise AuthError(BAD_KEY)
    digest = apikeys.hash_key(key)
    found = authcache.remembered(("api-key", store.location, digest), lambda: _key_lookup(store, digest))
    if found is None:
        raise AuthError(BAD_KEY)
    actor, expires_utc, networks, slug = found
    if expires_utc is not None and clock.now() >= parse_utc(expires_utc):
        raise AuthError(BAD_KEY)
    _check_networks(networks, slug, source)
    return replace(actor, source=source)


def _key_lookup(store: Store, digest: str) -> tuple[Actor, str | None, str, str] | None:
    """(actor, expiry, the project's allowed networks, its slug) of a live key, or None."""
    row = store.find_api_key(digest)
    now = clock.now()
    if row is None or row["revoked_utc"] is not None or (
            row["expires_utc"] is not None and now >= parse_utc(row["expires_utc"])):
        return None
    if row["created_by_user_id"] is not None:
        creator = store.get_user(int(row["created_by_user_id"]))
        if creator is not None and creator["status"] != "active":
            return None
    project = store.get_project_by_id(int(row["project_id"]))
    # At most one write per key per minute (KEY-05): a busy key must not turn every request into a
    # write transaction (a commit is an fsync). The store's conditional update settles races.
    stale = format_utc(now - KEY_TOUCH_INTERVAL)
    if row["last_used_utc"] is None or row["last_used_utc"] <= stale:
        store.touch_api_key(int(row["id"]), format_utc(now), stale)
    actor = Actor(kind="key", key_id=int(row["id"]), key_prefix=str(row["prefix"]),
                  key_project_id=int(row["project_id"]), scopes=frozenset(str(row["scopes"]).split(",")))
    return (actor, row["expires_utc"], str(project["allowed_networks"] or "") if project else "",
            str(project["slug"]) if project else "")


def _check_networks(allowed: str, slug: str, source: str | None) -> None:
    """A project with an allow-list accepts its keys only from those networks. The key is valid,
    so the refusal may say so (403), unlike an unknown key's 401."""
    if not allowed:
        return
    import ipaddress

    try:
        address = ipaddress.ip_address(source or "")
    except ValueError:
        address = None
    if address is None or not any(address in ipaddress.ip_network(n) for n in allowed.split(",") if n):
        raise PermissionDenied(f"this key may not be used from {source or 'an unknown address'}",
                               hint=f"project {slug} allows {allowed}")


# -- a user's own sessions ----------------------------------------------------------
def list_sessions(store: Store, actor: Actor, email: str | None = None) -> list[dict[str, Any]]:
    row = _self_or_operator(store, actor, email)
    out = []
    for session in store.list_sessions(int(row["id"])):
        live = _live_session(store, int(session["id"])) is not None
        out.append({
            "id": session["id"], "created_utc": session["created_utc"], "last_used_utc": session["last_used_utc"],
            "expires_utc": session["expires_utc"], "source_addr": session["source_addr"],
            "user_agent": session["user_agent"], "mfa": bool(session["mfa"]), "active": live,
            "current": session["id"] == actor.session_id, "revoked_utc": session["revoked_utc"],
            "revoked_reason": session["revoked_reason"],
        })
    return out


def revoke_session(store: Store, actor: Actor, session_id: int) -> None:
    session = store.get_session(session_id)
    if session is None:
        raise NotFound(f"no session {session_id}")
    if not actor.is_operator and actor.user_id != session["user_id"]:
        raise NotFound(f"no session {session_id}")  # another user's session does not exist for you
    if actor.kind == "key":
        raise PermissionDenied("API keys cannot manage sessions")
    with store.transaction():
        if session["revoked_utc"] is None:
            store.update_session(session_id, {"revoked_utc": clock.now_text(), "revoked_reason": "revoked by user"})
        audit.record(store, actor, "session.revoke", target=f"session:{session_id}")
