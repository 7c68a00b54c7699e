"""AU-12: access tokens (HS256 JWT, pinned algorithm, 15 min) and opaque tokens."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from agentcost_cli.auth import tokens
from agentcost_cli.errors import AuthError

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
NOW = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)
MESSAGE = "invalid or expired access token"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**overrides: Any) -> dict[str, Any]:
    issued = int(NOW.timestamp())
    claims: dict[str, Any] = {
        "sub": "42",
        "sid": 7,
        "iat": issued,
        "nbf": issued,
        "exp": issued + 900,
        "iss": "agentcost",
        "aud": "agentcost-api",
        "mfa": True,
        "jti": "abc",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _rejected(token: str, *, key: bytes = KEY, now: datetime = NOW) -> None:
    with pytest.raises(AuthError) as info:
        tokens.decode_access_token(key, token, now=now)
    assert info.value.message == MESSAGE  # one message whatever failed


def _issue(**kwargs: Any) -> str:
    args: dict[str, Any] = {"user_id": 42, "session_id": 7, "now": NOW, "mfa": True}
    args.update(kwargs)
    return tokens.issue_access_token(KEY, **args)


def test_constants() -> None:
    assert tokens.ACCESS_TTL_SECONDS == 900
    assert tokens.ALGORITHM == "HS256"


def test_round_trip() -> None:
    token = _issue(mfa=False)
    claims = tokens.decode_access_token(KEY, token, now=NOW + timedelta(seconds=60))
    assert claims == tokens.AccessClaims(
        user_id=42,
        session_id=7,
        issued_at=int(NOW.timestamp()),
        expires_at=int(NOW.timestamp()) + 900,
        mfa=False,
    )
    assert tokens.decode_access_token(KEY, _issue(), now=NOW).mfa is True


def test_claims_on_the_wire() -> None:
    token = _issue()
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256"
    payload = jwt.decode(token, options={"verify_signature": False})
    assert set(payload) == {"sub", "sid", "iat", "exp", "nbf", "iss", "aud", "mfa", "jti"}
    assert payload["sub"] == "42"
    assert (payload["iss"], payload["aud"]) == ("agentcost", "agentcost-api")
    assert payload["exp"] - payload["iat"] == 900
    assert payload["nbf"] == payload["iat"]
    other = jwt.decode(_issue(), options={"verify_signature": False})
    assert other["jti"] != payload["jti"]  # same second, still distinct tokens


def test_claims_are_frozen() -> None:
    claims = tokens.decode_access_token(KEY, _issue(), now=NOW)
    with pytest.raises(AttributeError):
        claims.user_id = 1  # type: ignore[misc]


def test_expiry_is_checked_against_now_without_leeway() -> None:
    token = _issue()
    assert tokens.decode_access_token(KEY, token, now=NOW + timedelta(seconds=899, microseconds=999_999))
    _rejected(token, now=NOW + timedelta(seconds=900))
    _rejected(token, now=NOW + timedelta(hours=1))


def test_wall_clock_is_not_used() -> None:
    # Issued and checked far in the past: pyjwt's own exp check would fail against today's clock.
    past = datetime(2001, 1, 1, tzinfo=UTC)
    token = _issue(now=past)
    assert tokens.decode_access_token(KEY, token, now=past + timedelta(seconds=1)).user_id == 42
    # Issued in the far future: pyjwt's own nbf/iat checks would fail.
    future = datetime(2090, 1, 1, tzinfo=UTC)
    assert tokens.decode_access_token(KEY, _issue(now=future), now=future).user_id == 42


def test_not_before_has_five_seconds_of_leeway() -> None:
    token = _issue(now=NOW + timedelta(seconds=5))
    assert tokens.decode_access_token(KEY, token, now=NOW).user_id == 42
    _rejected(_issue(now=NOW + timedelta(seconds=6)), now=NOW)


def test_shorter_ttl() -> None:
    token = _issue(ttl=60)
    claims = tokens.decode_access_token(KEY, token, now=NOW + timedelta(seconds=59))
    assert claims.expires_at == int(NOW.timestamp()) + 60
    _rejected(token, now=NOW + timedelta(seconds=60))


@pytest.mark.parametrize("ttl", [901, 3600, 0, -1])
def test_ttl_out_of_range_refused(ttl: int) -> None:
    with pytest.raises(ValueError, match="ttl"):
        _issue(ttl=ttl)


def test_alg_none_rejected() -> None:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(_claims()).encode())
    _rejected(f"{header}.{payload}.")
    # and with the signature of a real token glued on
    real_signature = _issue().rsplit(".", 1)[1]
    _rejected(f"{header}.{payload}.{real_signature}")


def test_other_key_rejected() -> None:
    _rejected(jwt.encode(_claims(), OTHER_KEY, algorithm="HS256"))
    _rejected(_issue(), key=OTHER_KEY)


@pytest.mark.filterwarnings("ignore:The HMAC key is 32 bytes long")  # pyjwt's advice for HS384/HS512 keys
def test_other_algorithm_with_the_same_key_rejected() -> None:
    _rejected(jwt.encode(_claims(), KEY, algorithm="HS512"))
    _rejected(jwt.encode(_claims(), KEY, algorithm="HS384"))
    # sanity: the same claims signed with HS256 are fine, so it is the algorithm that is refused
    assert tokens.decode_access_token(KEY, jwt.encode(_claims(), KEY, algorithm="HS256"), now=NOW).user_id == 42


def test_tampered_payload_rejected() -> None:
    header, _payload, signature = _issue().split(".")
    forged = _b64(json.dumps(_claims(sub="1")).encode())
    _rejected(f"{header}.{forged}.{signature}")


@pytest.mark.parametrize(
    "overrides",
    [
        {"iss": "someone-else"},
        {"aud": "another-api"},
        {"sub": None},
        {"sid": None},
        {"iat": None},
        {"exp": None},
        {"nbf": None},
        {"iss": None},
        {"aud": None},
        {"mfa": None},
        {"jti": None},
        {"sub": "not-a-number"},
        {"sid": "7"},
        {"sid": True},
        {"mfa": "yes"},
        {"mfa": 1},
        {"exp": int(NOW.timestamp()) + 86400},  # longer lifetime than we ever issue
        {"iat": int(NOW.timestamp()) + 60, "nbf": int(NOW.timestamp()) - 60},  # issued in the future
    ],
)
def test_bad_claims_rejected(overrides: dict[str, Any]) -> None:
    _rejected(jwt.encode(_claims(**overrides), KEY, algorithm="HS256"))


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "a.b", "....", "é.é.é"])
def test_garbage_rejected(garbage: str) -> None:
    _rejected(garbage)


def test_short_key_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        tokens.issue_access_token(b"short", user_id=1, session_id=1, now=NOW, mfa=False)
    with pytest.raises(ValueError, match="32 bytes"):
        tokens.decode_access_token(b"short", _issue(), now=NOW)


def test_naive_datetime_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        _issue(now=NOW.replace(tzinfo=None))


def test_opaque_tokens() -> None:
    token = tokens.new_opaque_token()
    assert len(token) >= 43  # 32 random bytes = 256 bits
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert len({tokens.new_opaque_token() for _ in range(1000)}) == 1000
    digest = tokens.hash_token(token)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert digest == tokens.hash_token(token)
    assert token not in digest
    assert tokens.hash_token(tokens.new_opaque_token()) != digest
