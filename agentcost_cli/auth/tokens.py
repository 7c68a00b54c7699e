"""Access tokens (short-lived HS256 JWTs) and opaque refresh / one-time tokens.

Access tokens are checked without a database lookup, so they live at most 15
minutes; revocation happens on the refresh token, which is opaque, random and
stored only as a SHA-256 (256 random bits need no slow hash).

pyjwt is imported inside the functions: it pulls in `cryptography` (~140 ms),
which commands that only hash an opaque token should not pay for.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agentcost_cli.errors import AuthError

ACCESS_TTL_SECONDS = 900
ALGORITHM = "HS256"  # pinned: decode accepts nothing else, so `alg: none` or an RS/HS512 swap cannot pass
ISSUER = "agentcost"
AUDIENCE = "agentcost-api"
NBF_LEEWAY_SECONDS = 5  # a token used right after it was issued by a server whose clock runs slightly ahead
MIN_KEY_BYTES = 32  # RFC 7518 3.2: an HS256 key must be at least as long as the hash output

_REQUIRED_CLAIMS = ["sub", "sid", "iat", "exp", "nbf", "iss", "aud", "mfa", "jti"]
_INVALID = "invalid or expired access token"


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    session_id: int
    issued_at: int
    expires_at: int
    mfa: bool


def _check_key(key: bytes) -> None:
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"signing key must be at least {MIN_KEY_BYTES} bytes")


def _unix(now: datetime) -> int:
    if now.tzinfo is None:
        raise ValueError("naive datetime")
    return int(now.timestamp())


def issue_access_token(
    key: bytes, *, user_id: int, session_id: int, now: datetime, mfa: bool, ttl: int = ACCESS_TTL_SECONDS
) -> str:
    import jwt

    _check_key(key)
    if not 0 < ttl <= ACCESS_TTL_SECONDS:
        raise ValueError(f"access token ttl must be between 1 and {ACCESS_TTL_SECONDS} seconds")
    issued = _unix(now)
    claims: dict[str, Any] = {
        "sub": str(user_id),  # RFC 7519 says sub is a string; pyjwt enforces it
        "sid": session_id,
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "mfa": mfa,
        "jti": secrets.token_urlsafe(16),  # two tokens issued in the same second still differ
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def _int_claim(payload: dict[str, Any], name: str) -> int:
    value = payload[name]
    if isinstance(value, bool) or not isinstance(value, int):  # bool is an int subclass; true is not a time
        raise ValueError(name)
    return value


def _claims(payload: dict[str, Any], now: int) -> AccessClaims:
    sub = payload["sub"]
    if not (isinstance(sub, str) and sub.isascii() and sub.isdigit()):
        raise ValueError("sub")
    mfa = payload["mfa"]
    if not isinstance(mfa, bool):
        raise ValueError("mfa")
    issued, not_before, expires = (_int_claim(payload, name) for name in ("iat", "nbf", "exp"))
    if now >= expires:  # RFC 7519 4.1.4: not accepted "on or after" exp; no leeway
        raise ValueError("expired")
    if now + NBF_LEEWAY_SECONDS < not_before or now + NBF_LEEWAY_SECONDS < issued:
        raise ValueError("not yet valid")
    if expires - issued > ACCESS_TTL_SECONDS:  # never issued by us: refuse rather than honour a long lifetime
        raise ValueError("lifetime")
    return AccessClaims(
        user_id=int(sub),
        session_id=_int_claim(payload, "sid"),
        issued_at=issued,
        expires_at=expires,
        mfa=mfa,
    )


def decode_access_token(key: bytes, token: str, *, now: datetime) -> AccessClaims:
    """Verify and unpack an access token; every failure raises the same AuthError.

    pyjwt would check exp/nbf/iat against the wall clock; they are checked here
    against `now` instead so the caller's clock (and tests' fixed times) decide.
    """
    import jwt

    _check_key(key)
    current = _unix(now)
    try:
        payload = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={
                "verify_signature": True,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": True,
                "verify_iss": True,
                "require": _REQUIRED_CLAIMS,
            },
        )
        return _claims(payload, current)
    except (jwt.PyJWTError, ValueError, KeyError, TypeError):
        # One message for all cases: a client learns nothing about which check failed.
        raise AuthError(_INVALID) from None


def new_opaque_token() -> str:
    """256 random bits, 43 URL-safe characters."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
