"""API keys: `ac_<env>_<30 base62 random>_<6 base62 CRC32>`.

The prefix says what the string is (so secret scanners and people recognise it)
and which environment it belongs to. The checksum lets a typo or truncated copy
fail before any database lookup; it is not a security measure (CRC32 is public
and forgeable), the 30 random characters (~178 bits) are. Only a SHA-256 of the
key is stored: the key has enough entropy that a slow hash would add nothing.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import zlib

from agentcost_cli.errors import InvalidInput

ENVIRONMENTS = ("live", "test")
KEY_RE = re.compile(r"^ac_(live|test)_([0-9A-Za-z]{30})_([0-9A-Za-z]{6})$")

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
RANDOM_LENGTH = 30
CHECKSUM_LENGTH = 6  # 62**6 > 2**32, so any CRC32 fits
PREFIX_LENGTH = 12


def _base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(BASE62[rest])
    return "".join(reversed(digits)).rjust(width, BASE62[0])


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode("ascii")), CHECKSUM_LENGTH)


def generate_key(env: str = "live") -> str:
    if env not in ENVIRONMENTS:
        raise InvalidInput(f"unknown key environment {env!r}; use one of: {', '.join(ENVIRONMENTS)}")
    body = f"ac_{env}_" + "".join(secrets.choice(BASE62) for _ in range(RANDOM_LENGTH))
    return f"{body}_{_checksum(body)}"


def looks_valid(key: str) -> bool:
    """Shape and checksum only; says nothing about whether the key exists.

    fullmatch, not match: KEY_RE's `$` would also accept a trailing newline.
    """
    match = KEY_RE.fullmatch(key)
    if match is None:
        return False
    body = f"ac_{match.group(1)}_{match.group(2)}"
    return _checksum(body) == match.group(3)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def display_prefix(key: str) -> str:
    """`ac_live_` plus 4 random characters: enough to tell keys apart in a listing, too little to matter."""
    return key[:PREFIX_LENGTH]


def last_four(key: str) -> str:
    return key[-4:]
