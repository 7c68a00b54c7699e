"""KEY-01 (key format, randomness, checksum) and KEY-02 (storage and display helpers)."""

from __future__ import annotations

import hashlib
import math
import re
import zlib
from collections.abc import Callable

import pytest

from agentcost_cli.auth import apikeys
from agentcost_cli.errors import InvalidInput


def _base62_value(text: str) -> int:
    value = 0
    for char in text:
        value = value * 62 + apikeys.BASE62.index(char)
    return value


def test_regex_is_the_documented_one() -> None:
    assert apikeys.ENVIRONMENTS == ("live", "test")
    assert apikeys.KEY_RE.pattern == r"^ac_(live|test)_([0-9A-Za-z]{30})_([0-9A-Za-z]{6})$"
    assert set(apikeys.BASE62) == set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
    assert len(apikeys.BASE62) == 62


@pytest.mark.parametrize("env", ["live", "test"])
def test_generated_keys_are_valid_and_unique(env: str) -> None:
    keys = [apikeys.generate_key(env) for _ in range(1000)]
    assert len(set(keys)) == 1000
    for key in keys:
        match = apikeys.KEY_RE.fullmatch(key)
        assert match is not None
        assert match.group(1) == env
        assert apikeys.looks_valid(key)
    # The whole alphabet is used (not, say, only hex digits).
    assert set("".join(key.split("_")[2] for key in keys)) == set(apikeys.BASE62)


def test_default_environment_is_live() -> None:
    assert apikeys.generate_key().startswith("ac_live_")


def test_unknown_environment_refused() -> None:
    with pytest.raises(InvalidInput, match="live, test"):
        apikeys.generate_key("prod")


def test_randomness_is_at_least_160_bits() -> None:
    assert apikeys.RANDOM_LENGTH == 30
    assert apikeys.RANDOM_LENGTH * math.log2(62) >= 160


def test_checksum_is_crc32_of_the_body_in_base62() -> None:
    key = apikeys.generate_key("test")
    body, checksum = key.rsplit("_", 1)
    assert len(checksum) == 6
    assert _base62_value(checksum) == zlib.crc32(body.encode())


def test_checksum_zero_padded() -> None:
    assert apikeys._base62(0, 6) == "000000"
    assert apikeys._base62(61, 6) == "00000z"
    assert apikeys._base62(2**32 - 1, 6) == "4gfFC3"


def test_any_single_character_change_is_caught() -> None:
    key = apikeys.generate_key()
    start = len("ac_live_")
    for position in range(start, len(key)):
        if key[position] == "_":
            continue
        for replacement in apikeys.BASE62:
            if replacement == key[position]:
                continue
            typo = key[:position] + replacement + key[position + 1 :]
            assert apikeys.KEY_RE.fullmatch(typo)  # still the right shape...
            assert not apikeys.looks_valid(typo), typo  # ...but the checksum catches it


def test_environment_is_covered_by_the_checksum() -> None:
    key = apikeys.generate_key("live")
    assert not apikeys.looks_valid(key.replace("ac_live_", "ac_test_", 1))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda k: k + "\n",
        lambda k: " " + k,
        lambda k: k[:-1],
        lambda k: k + "a",
        lambda k: k.upper(),
        lambda k: k.replace("ac_", "sk_", 1),
        lambda k: k.replace("_live_", "_prod_", 1),
        lambda k: "",
    ],
)
def test_malformed_keys(mangle: Callable[[str], str]) -> None:
    key = apikeys.generate_key()
    assert not apikeys.looks_valid(mangle(key))


def test_hash_key() -> None:
    key = apikeys.generate_key()
    digest = apikeys.hash_key(key)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert digest == hashlib.sha256(key.encode()).hexdigest()
    assert key not in digest and key.split("_")[2] not in digest
    assert apikeys.hash_key(key) == digest
    assert apikeys.hash_key(apikeys.generate_key()) != digest


def test_display_helpers() -> None:
    key = apikeys.generate_key()
    prefix = apikeys.display_prefix(key)
    assert len(prefix) == 12
    assert prefix == key[:12]
    assert prefix.startswith("ac_live_")
    assert apikeys.last_four(key) == key[-4:]
    assert len(apikeys.last_four(key)) == 4
