"""Password policy and hashing (argon2id).

The policy follows NIST SP 800-63B: a minimum length, a generous maximum (so
passphrases and password managers work), no composition rules, and a check
against a list of commonly used passwords. Passwords are NFC-normalised so the
same visible text typed on different keyboards (precomposed "ä" vs "a" plus a
combining diaeresis) hashes the same.

argon2 is imported inside the functions that hash: the policy check alone (and
every command that merely imports this module) should not pay for it.
"""

from __future__ import annotations

import functools
import gzip
import unicodedata
from importlib import resources
from typing import TYPE_CHECKING

from agentcost_cli.errors import InvalidInput

if TYPE_CHECKING:
    from argon2 import PasswordHasher

MIN_LENGTH = 8
MAX_LENGTH = 256

_COMMON_PASSWORDS_FILE = "data/common-passwords.txt.gz"
# Any fixed text works: the dummy hash only exists to make a failed lookup cost one argon2 verification.
_DUMMY_PASSWORD = "agentcost-dummy-password-for-timing"


def normalize(password: str) -> str:
    """NFC only: no stripping or truncation, since spaces and every character are part of the secret."""
    return unicodedata.normalize("NFC", password)


@functools.cache
def _common_passwords() -> frozenset[str]:
    """Loaded on first use (a few ms), then kept for the life of the process."""
    blob = resources.files("agentcost_cli.auth").joinpath(_COMMON_PASSWORDS_FILE).read_bytes()
    return frozenset(line for line in gzip.decompress(blob).decode("utf-8").splitlines() if line)


def common_password_count() -> int:
    return len(_common_passwords())


def check_policy(password: str) -> str:
    """Return the NFC-normalised password, or raise InvalidInput saying what to change."""
    normalized = normalize(password)
    if len(normalized) < MIN_LENGTH:
        raise InvalidInput(f"password must be at least {MIN_LENGTH} characters")
    if len(normalized) > MAX_LENGTH:
        raise InvalidInput(f"password must be at most {MAX_LENGTH} characters")
    if not normalized.strip():
        raise InvalidInput("password must not be only whitespace")
    if normalized.lower() in _common_passwords():
        count = common_password_count()
        raise InvalidInput(f"password is one of the {count:,} most common passwords; choose another")
    return normalized


@functools.cache
def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher

    # The library defaults are RFC 9106's second recommended option (m=64 MiB, t=3, p=4);
    # needs_rehash compares stored hashes against exactly these parameters.
    return PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher().hash(normalize(password))


def verify_password(stored_hash: str, password: str) -> bool:
    """False for a wrong password *and* for a hash that cannot be parsed: a corrupt row must not crash login."""
    from argon2.exceptions import VerificationError

    try:
        return _hasher().verify(stored_hash, normalize(password))
    except (VerificationError, ValueError):  # ValueError covers InvalidHashError and a non-ASCII hash
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with other parameters than today's (re-hash it after a successful login).

    An unparseable hash also reports True: whatever it is, it should be replaced.
    """
    try:
        return _hasher().check_needs_rehash(stored_hash)
    except ValueError:  # InvalidHashError is a ValueError, and so is a non-ASCII hash
        return True


@functools.cache
def _dummy_hash() -> str:
    return hash_password(_DUMMY_PASSWORD)


def dummy_verify(password: str) -> None:
    """Spend one argon2 verification for nothing.

    Called when the email is unknown, so that the response time does not reveal
    whether an account exists. The hash is made once (the first call pays for
    one extra hash), with the same parameters as real hashes, so it costs the same.
    """
    verify_password(_dummy_hash(), password)
