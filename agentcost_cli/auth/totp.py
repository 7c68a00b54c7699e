"""TOTP second factor (RFC 6238: HMAC-SHA-1, 6 digits, 30 s steps) and recovery codes.

These are the parameters every authenticator app supports; changing any of them
breaks Google Authenticator and friends. pyotp and segno are imported inside
the functions that use them so that importing this module stays cheap.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import secrets
from datetime import datetime

STEP_SECONDS = 30
DIGITS = 6
WINDOW = 1  # steps accepted either side of the current one: tolerates ~30 s of clock drift or a slow typist

RECOVERY_CODE_COUNT = 10
_RECOVERY_CODE_BYTES = 15  # 120 bits -> exactly 24 base32 characters, no padding
_RECOVERY_GROUP = 4


def new_secret() -> str:
    """160 bits, the HMAC-SHA-1 block-friendly size RFC 4226 recommends, as 32 base32 characters."""
    import pyotp

    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account: str, issuer: str = "agentcost") -> str:
    import pyotp

    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(name=account, issuer_name=issuer)


def _step_at(now: datetime) -> int:
    if now.tzinfo is None:
        # A naive datetime would be read as local time and shift every step by the UTC offset.
        raise ValueError("naive datetime")
    return int(now.timestamp() // STEP_SECONDS)


def _code_at_step(secret: str, step: int) -> str:
    import pyotp

    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step)


def current_code(secret: str, now: datetime) -> str:
    return _code_at_step(secret, _step_at(now))


def verify(secret: str, code: str, *, now: datetime, last_step: int | None) -> int | None:
    """Return the time step the code belongs to, or None.

    `now` is the server's clock, passed in so tests and callers agree on time.
    Steps at or before `last_step` (the step of the last accepted code) are
    refused, so a code cannot be replayed, not even within its own 90 s window;
    the caller stores the returned step as the new `last_step`.
    """
    candidate = "".join(code.split())
    # isascii: str.isdigit also accepts other scripts' digits and superscripts.
    if len(candidate) != DIGITS or not (candidate.isascii() and candidate.isdigit()):
        return None
    current = _step_at(now)
    matched: int | None = None
    # Every candidate step is compared (no early exit); the latest match wins so that a code valid
    # for two steps (a 1-in-a-million collision) cannot be replayed against the later one.
    for step in range(current - WINDOW, current + WINDOW + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(_code_at_step(secret, step), candidate):
            matched = step
    return matched


def qr_text(uri: str) -> str:
    """The URI as a QR code drawn with Unicode half blocks: plain text, no ANSI escapes.

    Dark modules are drawn as spaces and light ones as blocks, which scans on a
    dark terminal background; the 2-module quiet zone is drawn as blocks too.
    """
    import segno

    # make_qr, not make: a short text could otherwise become a Micro QR, which phone apps do not read.
    qr = segno.make_qr(uri, error="m")
    out = io.StringIO()
    qr.terminal(out=out, compact=True, border=2)
    return out.getvalue()


def _group(code: str) -> str:
    return "-".join(code[i : i + _RECOVERY_GROUP] for i in range(0, len(code), _RECOVERY_GROUP))


def new_recovery_codes() -> list[str]:
    """RECOVERY_CODE_COUNT distinct one-time codes, `xxxx-xxxx-xxxx-xxxx-xxxx-xxxx`, 120 random bits each.

    Base32 has no 0 or 1, so o/0 and l/1 cannot be confused when the codes are copied by hand.
    """
    codes: list[str] = []
    while len(codes) < RECOVERY_CODE_COUNT:
        raw = base64.b32encode(secrets.token_bytes(_RECOVERY_CODE_BYTES)).decode("ascii").lower()
        code = _group(raw)
        if code not in codes:
            codes.append(code)
    return codes


def normalize_recovery_code(code: str) -> str:
    """What people type back: any case, with or without the dashes, maybe with spaces."""
    return "".join(code.split()).replace("-", "").lower()


def hash_recovery_code(code: str) -> str:
    """SHA-256 is enough: 120 random bits cannot be brute-forced, so a slow hash would only cost logins."""
    return hashlib.sha256(normalize_recovery_code(code).encode("utf-8")).hexdigest()
