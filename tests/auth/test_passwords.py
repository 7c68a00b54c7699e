"""AU-01 (argon2id hashing) and AU-02 (password policy)."""

from __future__ import annotations

import gzip
import time
import unicodedata
from collections.abc import Callable
from importlib import resources

import pytest
from argon2 import PasswordHasher

from agentcost_cli.auth import passwords
from agentcost_cli.errors import InvalidInput

CURRENT_PREFIX = "$argon2id$v=19$m=65536,t=3,p=4$"
GOOD = "Pässwörd-long-enough"


@pytest.fixture(scope="module")
def good_hash() -> str:
    return passwords.hash_password(GOOD)


# --- AU-01: hashing ---------------------------------------------------------


def test_hash_is_argon2id_with_current_parameters(good_hash: str) -> None:
    assert good_hash.startswith(CURRENT_PREFIX)
    assert passwords.needs_rehash(good_hash) is False


def test_hashes_are_salted() -> None:
    assert passwords.hash_password("same password here") != passwords.hash_password("same password here")


def test_verify_accepts_right_and_refuses_wrong(good_hash: str) -> None:
    assert passwords.verify_password(good_hash, GOOD) is True
    assert passwords.verify_password(good_hash, GOOD + "x") is False
    assert passwords.verify_password(good_hash, GOOD.lower()) is False


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "not a hash",
        "$2b$12$abcdefghijklmnopqrstuuYk3ZVYOBJKh3V4Zx2HjjxcWP3dAIK2a",  # bcrypt
        CURRENT_PREFIX + "c2FsdHNhbHQ$",  # truncated
        CURRENT_PREFIX + "!!!$!!!",
        "$argon2id$v=19$m=65536,t=3,p=4$ünïcödé$x",
    ],
)
def test_verify_never_raises_on_malformed_hash(stored: str) -> None:
    assert passwords.verify_password(stored, "whatever password") is False
    assert passwords.needs_rehash(stored) is True


def test_weaker_hash_needs_rehash_and_still_verifies() -> None:
    weak = PasswordHasher(memory_cost=19456, time_cost=2, parallelism=1).hash(GOOD)
    assert passwords.needs_rehash(weak) is True
    assert passwords.verify_password(weak, GOOD) is True
    assert passwords.verify_password(weak, "wrong password") is False


def test_dummy_verify_spends_a_real_verification(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []
    real = passwords.verify_password

    def spy(stored: str, password: str) -> bool:
        calls.append((stored, password))
        return real(stored, password)

    monkeypatch.setattr(passwords, "verify_password", spy)
    passwords.dummy_verify("someone's guess")
    assert len(calls) == 1
    stored, password = calls[0]
    assert password == "someone's guess"
    # Same parameters as real hashes, hence the same cost; made once and reused.
    assert stored.startswith(CURRENT_PREFIX)
    passwords.dummy_verify("another guess")
    assert calls[1][0] == stored


def _fastest(action: Callable[[], object], runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best


def test_dummy_verify_costs_about_as_much_as_a_real_login(good_hash: str) -> None:
    passwords.dummy_verify("warm the cache")  # the first call also makes the dummy hash
    real = _fastest(lambda: passwords.verify_password(good_hash, "wrong password"))
    dummy = _fastest(lambda: passwords.dummy_verify("wrong password"))
    assert 0.4 < dummy / real < 2.5


# --- AU-02: policy ----------------------------------------------------------


def test_limits() -> None:
    assert passwords.MIN_LENGTH == 8
    assert passwords.MAX_LENGTH >= 64
    assert passwords.MAX_LENGTH == 256


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("", "at least 8 characters"),
        ("abcdefg", "at least 8 characters"),
        ("x" * 257, "at most 256 characters"),
        (" " * 8, "whitespace"),
        ("\t \u00a0\u2003 \n  ", "whitespace"),
        ("password1", "most common passwords; choose another"),
        ("PASSWORD1", "most common passwords; choose another"),
        ("PassWord1", "most common passwords; choose another"),
        ("iloveyou", "most common passwords; choose another"),
    ],
)
def test_policy_rejections(password: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        passwords.check_policy(password)


def test_common_password_message_says_how_many() -> None:
    with pytest.raises(InvalidInput) as info:
        passwords.check_policy("password1")
    assert f"one of the {passwords.common_password_count():,} most common passwords" in info.value.message


def test_no_composition_rules_and_boundaries() -> None:
    assert passwords.check_policy("zqxwvbnm") == "zqxwvbnm"  # 8 lowercase letters: fine
    assert passwords.check_policy("k" * 256) == "k" * 256


def test_length_is_counted_after_nfc() -> None:
    seven = "äöüäöüä"
    nfd = unicodedata.normalize("NFD", seven)
    assert len(nfd) == 14
    with pytest.raises(InvalidInput, match="at least 8"):
        passwords.check_policy(nfd)


def test_whitespace_is_kept() -> None:
    assert passwords.check_policy("  spaced out  ") == "  spaced out  "
    assert passwords.normalize("  a b  ") == "  a b  "


def test_64_character_password_accepted_and_verifies() -> None:
    long = "correct horse battery staple " * 2 + "abcdef"
    assert len(long) == 64
    assert passwords.check_policy(long) == long
    assert passwords.verify_password(passwords.hash_password(long), long)


def test_unicode_password_nfc_normalised(good_hash: str) -> None:
    assert passwords.check_policy(GOOD) == unicodedata.normalize("NFC", GOOD)
    nfd = unicodedata.normalize("NFD", GOOD)
    assert nfd != GOOD
    assert passwords.check_policy(nfd) == GOOD  # normalised, not rejected
    assert passwords.normalize(nfd) == GOOD
    assert passwords.verify_password(good_hash, nfd) is True
    # and the other way round: a hash of the NFD text verifies the NFC text
    assert passwords.verify_password(passwords.hash_password(nfd), GOOD) is True


def test_bundled_list() -> None:
    blob = resources.files("agentcost_cli.auth").joinpath("data/common-passwords.txt.gz").read_bytes()
    entries = gzip.decompress(blob).decode("utf-8").splitlines()
    assert len(entries) >= 3000
    assert len(entries) == len(set(entries)) == passwords.common_password_count()
    assert all(len(entry) >= passwords.MIN_LENGTH for entry in entries)
    assert all(entry == entry.lower() == unicodedata.normalize("NFC", entry) for entry in entries)
    assert entries[:3] == ["123456789", "password", "12345678"]  # frequency order kept
    assert (resources.files("agentcost_cli.auth") / "data" / "README.md").is_file()


def test_every_listed_password_is_rejected() -> None:
    blob = resources.files("agentcost_cli.auth").joinpath("data/common-passwords.txt.gz").read_bytes()
    for entry in gzip.decompress(blob).decode("utf-8").splitlines():
        with pytest.raises(InvalidInput):
            passwords.check_policy(entry)
        if entry.isascii():  # str.upper() of some letters (ß -> SS) is not undone by lower()
            with pytest.raises(InvalidInput):
                passwords.check_policy(entry.upper())
