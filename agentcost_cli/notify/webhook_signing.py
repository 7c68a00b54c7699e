"""Standard Webhooks signing for outbound alert webhooks (WH-01, WH-02, WH-05).

A message is signed as ``v1,<base64 HMAC-SHA256(key, f"{id}.{timestamp}.{body}")>`` where
``key`` is the base64-decoded part of a ``whsec_...`` secret and ``body`` is the exact bytes
sent on the wire. During a secret rotation the caller passes the old and the new secret and
the header carries both signatures, space-separated, so receivers on either secret verify.

Spec: https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _secrets
from collections.abc import Sequence

from agentcost_cli.errors import InvalidInput

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # WH-02 asks for at least 24


def new_secret() -> str:
    """Return a fresh signing secret, ``whsec_`` + base64 of 32 random bytes (WH-02)."""
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """Return the HMAC key inside a ``whsec_...`` secret.

    Raises:
        InvalidInput: the secret is not ``whsec_`` followed by valid base64 of at least 24 bytes.
    """
    if not secret.startswith(SECRET_PREFIX):
        raise InvalidInput("webhook secret must start with 'whsec_'")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("webhook secret is not valid base64 after 'whsec_'") from exc
    if len(key) < 24:
        raise InvalidInput(f"webhook secret is too short: {len(key)} bytes, need at least 24")
    return key


def sign(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the ``webhook-signature`` header value: one ``v1,<sig>`` per secret, space-separated.

    Args:
        secrets: the endpoint's active secrets; during rotation (WH-05) the old and the new one.
        msg_id: the ``webhook-id``, stable across retries of one message.
        timestamp: the ``webhook-timestamp``, integer Unix seconds of this attempt.
        body: the exact bytes that will be sent as the request body.

    Raises:
        InvalidInput: no secrets, a malformed secret, or a ``msg_id`` that is empty or holds a ``.``.
    """
    if not secrets:
        raise InvalidInput("at least one webhook secret is needed to sign")
    if not msg_id or "." in msg_id:
        raise InvalidInput("webhook message id must be non-empty and must not contain '.'")
    signed = msg_id.encode("utf-8") + b"." + str(int(timestamp)).encode("ascii") + b"." + body
    parts = []
    for secret in secrets:
        digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
        parts.append("v1," + base64.b64encode(digest).decode("ascii"))
    return " ".join(parts)


def headers(msg_id: str, timestamp: int, body: bytes, secrets: Sequence[str]) -> dict[str, str]:
    """Return the three Standard Webhooks headers for one attempt (WH-01).

    Raises:
        InvalidInput: as for :func:`sign`.
    """
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": sign(secrets, msg_id, timestamp, body),
    }
