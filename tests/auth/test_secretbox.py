"""Master key file handling, key derivation and encryption at rest."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stat
import threading
from pathlib import Path

import pytest

from agentcost_cli.auth import secretbox
from agentcost_cli.auth.secretbox import SecretBox, derive_key, load_or_create_master_key
from agentcost_cli.errors import ConfigError

posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")


@posix_only
def test_key_file_created_private(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "server.key"
    key = load_or_create_master_key(path)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert base64.urlsafe_b64decode(path.read_text().strip() + "=") == key
    assert sorted(p.name for p in path.parent.iterdir()) == ["server.key"]  # no temporary file left


def test_second_call_returns_the_same_key(tmp_path: Path) -> None:
    path = tmp_path / "server.key"
    first = load_or_create_master_key(path)
    assert load_or_create_master_key(path) == first
    assert load_or_create_master_key(tmp_path / "other.key") != first


def test_concurrent_first_use_agrees_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "server.key"
    barrier = threading.Barrier(8)
    results: list[bytes] = []
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            results.append(load_or_create_master_key(path))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(results)) == 1
    assert load_or_create_master_key(path) == results[0]


@posix_only
@pytest.mark.parametrize("mode", [0o640, 0o644, 0o604, 0o660, 0o602])
def test_key_file_readable_by_others_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "server.key"
    load_or_create_master_key(path)
    path.chmod(mode)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_or_create_master_key(path)
    path.chmod(0o600)
    assert len(load_or_create_master_key(path)) == 32


STANDARD_BASE64 = base64.b64encode(b"\xfb" * 32).decode()  # "+/v7...": standard, not URL-safe, alphabet


@pytest.mark.parametrize("content", ["", "not base64 !!!", "c2hvcnQ", "é" * 43, STANDARD_BASE64, "ab" * 32 + "!"])
def test_invalid_key_file_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "server.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, content.encode())
    os.close(fd)
    with pytest.raises(ConfigError, match="not valid"):
        load_or_create_master_key(path)


def test_env_value_overrides_file(tmp_path: Path) -> None:
    raw = os.urandom(32)
    path = tmp_path / "server.key"
    assert load_or_create_master_key(path, raw.hex()) == raw
    assert load_or_create_master_key(path, raw.hex().upper()) == raw
    assert load_or_create_master_key(path, base64.urlsafe_b64encode(raw).decode()) == raw
    assert load_or_create_master_key(path, base64.urlsafe_b64encode(raw).decode().rstrip("=") + "\n") == raw
    longer = os.urandom(48)
    assert load_or_create_master_key(path, longer.hex()) == longer
    assert not path.exists()  # the file is neither read nor created
    load_or_create_master_key(path)
    assert load_or_create_master_key(path, raw.hex()) == raw


@pytest.mark.parametrize("value", ["", "   ", "abc", "ab" * 31, "zz" * 21, STANDARD_BASE64, "not/valid+base64url!!"])
def test_invalid_env_value_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="environment"):
        load_or_create_master_key(tmp_path / "server.key", value)
    assert not (tmp_path / "server.key").exists()


def test_derive_key() -> None:
    master = os.urandom(32)
    jwt_key = derive_key(master, "jwt")
    box_key = derive_key(master, "secretbox")
    assert len(jwt_key) == len(box_key) == 32
    assert jwt_key != box_key
    assert jwt_key != master
    assert derive_key(master, "jwt") == jwt_key
    assert derive_key(os.urandom(32), "jwt") != jwt_key
    assert jwt_key == hmac.new(master, b"agentcost:jwt", hashlib.sha256).digest()


def test_seal_and_open_round_trip() -> None:
    box = SecretBox(derive_key(os.urandom(32), "secretbox"))
    for secret in ["JBSWY3DPEHPK3PXP", "", "ünïcödé ✓ " * 50]:
        sealed = box.seal(secret)
        assert secret not in sealed or secret == ""
        assert box.open(sealed) == secret
    assert box.seal("same") != box.seal("same")  # random IV


def test_open_with_another_key_refused() -> None:
    sealed = SecretBox(derive_key(os.urandom(32), "secretbox")).seal("JBSWY3DPEHPK3PXP")
    with pytest.raises(ConfigError) as info:
        SecretBox(derive_key(os.urandom(32), "secretbox")).open(sealed)
    assert info.value.message == "cannot decrypt a stored secret: the server key changed?"


@pytest.mark.parametrize("sealed", ["", "garbage", "gAAAAA", "é"])
def test_open_garbage_refused(sealed: str) -> None:
    with pytest.raises(ConfigError, match="cannot decrypt"):
        SecretBox(os.urandom(32)).open(sealed)


def test_tampered_ciphertext_refused() -> None:
    box = SecretBox(os.urandom(32))
    raw = bytearray(base64.urlsafe_b64decode(box.seal("top secret")))
    raw[-40] ^= 1
    with pytest.raises(ConfigError, match="cannot decrypt"):
        box.open(base64.urlsafe_b64encode(bytes(raw)).decode())


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_secretbox_needs_a_32_byte_key(size: int) -> None:
    with pytest.raises(ValueError, match="32-byte"):
        SecretBox(os.urandom(size))


def test_module_exposes_key_size() -> None:
    assert secretbox.MASTER_KEY_BYTES == 32
