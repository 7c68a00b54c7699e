"""Encryption at rest for secrets the server must read back (TOTP secrets, webhook secrets).

One master key (32 random bytes, in a 0600 file or in the environment) is never
used directly: `derive_key` gives each purpose its own key, so the JWT signing
key and the encryption key differ and leaking one does not leak the other.
`cryptography` is imported only when a SecretBox is built.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
import re
import secrets
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from agentcost_cli.errors import ConfigError

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

MASTER_KEY_BYTES = 32
_HEX_RE = re.compile(r"(?:[0-9a-fA-F]{2})+")
# b64decode(altchars=...) would still accept "+" and "/", and without validate= it skips stray characters.
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]+={0,2}")


def _decode_key_text(text: str) -> bytes | None:
    """Hex or base64url (padding optional); None when it is neither or shorter than 32 bytes.

    Even-length all-hex text is read as hex: a base64url key is essentially never all hex
    digits (and a 32-byte one is 43 characters, odd), while a short hex key must be refused,
    not reinterpreted as base64url.
    """
    text = text.strip()
    try:
        if _HEX_RE.fullmatch(text):
            key = bytes.fromhex(text)
        elif _B64URL_RE.fullmatch(text):
            key = base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))
        else:
            return None
    except (binascii.Error, ValueError):
        return None
    return key if len(key) >= MASTER_KEY_BYTES else None


def _check_private(path: Path) -> None:
    if os.name == "nt":  # POSIX mode bits mean nothing there; ACLs protect the user's profile
        return
    mode = path.stat().st_mode
    if stat.S_IMODE(mode) & 0o077:
        raise ConfigError(
            f"the server key {path} is accessible to other users; run `chmod 600 {path}`",
            hint="only the account that runs agentcost should be able to read it",
        )


def _create(path: Path) -> None:
    """Write a new random key so that no reader ever sees a half-written file.

    The key goes to a private temporary file first, then is hard-linked into
    place: link() fails instead of overwriting when another process won the
    race, and then both use the winner's key.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    text = base64.urlsafe_b64encode(secrets.token_bytes(MASTER_KEY_BYTES)).decode("ascii").rstrip("=") + "\n"
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_or_create_master_key(path: Path, env_value: str | None = None) -> bytes:
    """The master key: from `env_value` when given, else from `path`, created on first use."""
    if env_value is not None:
        key = _decode_key_text(env_value)
        if key is None:
            raise ConfigError(
                "the server key from the environment is not valid",
                hint="give at least 32 random bytes as hex or base64url, e.g. `openssl rand -hex 32`",
            )
        return key
    if not path.exists():
        _create(path)
    _check_private(path)
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the server key {path}: {exc}") from exc
    key = _decode_key_text(content.decode("ascii", errors="replace"))  # anything non-ASCII is invalid anyway
    if key is None:
        raise ConfigError(
            f"the server key {path} is not valid (expected 32 random bytes as base64url)",
            hint="restore it from a backup; a new key makes stored secrets unreadable",
        )
    return key


def derive_key(master: bytes, purpose: str) -> bytes:
    """A 32-byte key for one purpose ("jwt", "secretbox", ...): HMAC-SHA256(master, "agentcost:" + purpose)."""
    return hmac.new(master, b"agentcost:" + purpose.encode("utf-8"), hashlib.sha256).digest()


class SecretBox:
    """Authenticated symmetric encryption (Fernet: AES-128-CBC + HMAC-SHA256) of short text secrets."""

    def __init__(self, key: bytes) -> None:
        from cryptography.fernet import Fernet

        if len(key) != 32:
            raise ValueError("SecretBox needs a 32-byte key (use derive_key)")
        self._fernet: Fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(sealed.encode("utf-8")).decode("utf-8")
        except (InvalidToken, UnicodeDecodeError):
            raise ConfigError("cannot decrypt a stored secret: the server key changed?") from None
