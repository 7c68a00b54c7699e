"""AU-10 (TOTP with replay protection) and AU-11 (recovery codes)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest
import segno

from agentcost_cli.auth import totp

NOW = datetime(2026, 11, 20, 12, 0, 10, tzinfo=UTC)
STEP = int(NOW.timestamp()) // 30


@pytest.fixture
def secret() -> str:
    return totp.new_secret()


def _code(secret: str, moment: datetime) -> str:
    """Independent oracle: pyotp's own TOTP."""
    return pyotp.TOTP(secret).at(moment)


# --- AU-10 ------------------------------------------------------------------


def test_secret_is_160_bits(secret: str) -> None:
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert len(base64.b32decode(secret)) == 20
    assert totp.new_secret() != secret


def test_current_code_accepted_and_returns_its_step(secret: str) -> None:
    assert totp.verify(secret, _code(secret, NOW), now=NOW, last_step=None) == STEP
    assert totp.verify(secret, _code(secret, NOW), now=NOW, last_step=STEP - 1) == STEP


def test_step_is_floor_of_unix_time_over_30(secret: str) -> None:
    boundary = datetime.fromtimestamp(STEP * 30, UTC)
    assert totp.verify(secret, _code(secret, boundary), now=boundary, last_step=None) == STEP
    just_before = boundary - timedelta(microseconds=1)
    assert totp.verify(secret, _code(secret, just_before), now=just_before, last_step=None) == STEP - 1


def test_replayed_code_rejected(secret: str) -> None:
    code = _code(secret, NOW)
    step = totp.verify(secret, code, now=NOW, last_step=None)
    assert step is not None
    assert totp.verify(secret, code, now=NOW, last_step=step) is None
    assert totp.verify(secret, code, now=NOW + timedelta(seconds=20), last_step=step) is None


def test_older_code_rejected_after_a_newer_one(secret: str) -> None:
    previous = _code(secret, NOW - timedelta(seconds=30))
    assert totp.verify(secret, previous, now=NOW, last_step=STEP) is None


def test_window_is_one_step_each_side(secret: str) -> None:
    def at(offset: int) -> int | None:
        return totp.verify(secret, _code(secret, NOW + timedelta(seconds=30 * offset)), now=NOW, last_step=None)

    assert at(-1) == STEP - 1
    assert at(+1) == STEP + 1
    assert at(-2) is None
    assert at(+2) is None


def test_latest_matching_step_wins(monkeypatch: pytest.MonkeyPatch, secret: str) -> None:
    # If the same digits were valid for two steps, returning the earlier one would let the code be replayed.
    monkeypatch.setattr(totp, "_code_at_step", lambda _secret, _step: "123456")
    assert totp.verify(secret, "123456", now=NOW, last_step=None) == STEP + 1


def test_compares_in_constant_time(monkeypatch: pytest.MonkeyPatch, secret: str) -> None:
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert totp.verify(secret, _code(secret, NOW), now=NOW, last_step=None) == STEP
    assert len(calls) == 3  # every step of the window is compared, no early exit


@pytest.mark.parametrize("bad", ["", "12345", "1234567", "12a456", "abcdef", "١٢٣٤٥٦", "12345¹", "+12345", "-12345"])
def test_malformed_codes_rejected(secret: str, bad: str) -> None:
    assert totp.verify(secret, bad, now=NOW, last_step=None) is None


def test_wrong_code_rejected(secret: str) -> None:
    right = _code(secret, NOW)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    window = {_code(secret, NOW + timedelta(seconds=30 * k)) for k in (-1, 0, 1)}
    if wrong not in window:
        assert totp.verify(secret, wrong, now=NOW, last_step=None) is None


def test_spaces_are_ignored(secret: str) -> None:
    code = _code(secret, NOW)
    assert totp.verify(secret, f" {code[:3]} {code[3:]} ", now=NOW, last_step=None) == STEP


def test_naive_now_refused(secret: str) -> None:
    with pytest.raises(ValueError, match="naive"):
        totp.verify(secret, "123456", now=NOW.replace(tzinfo=None), last_step=None)


@pytest.mark.parametrize(
    ("unix", "expected"), [(59, "287082"), (1111111109, "081804"), (1234567890, "005924"), (2000000000, "279037")]
)
def test_rfc6238_sha1_vectors(unix: int, expected: str) -> None:
    # RFC 6238 appendix B (8-digit values, last 6 digits), seed "12345678901234567890".
    seed = base64.b32encode(b"12345678901234567890").decode()
    moment = datetime.fromtimestamp(unix, UTC)
    assert totp.current_code(seed, moment) == expected
    assert totp.verify(seed, expected, now=moment, last_step=None) == unix // 30


def test_current_code_matches_pyotp(secret: str) -> None:
    assert totp.current_code(secret, NOW) == _code(secret, NOW)


def test_provisioning_uri(secret: str) -> None:
    uri = totp.provisioning_uri(secret, "ada@example.com")
    parsed = urlparse(uri)
    assert (parsed.scheme, parsed.netloc) == ("otpauth", "totp")
    query = parse_qs(parsed.query)
    assert query["secret"] == [secret]
    assert query["issuer"] == ["agentcost"]
    assert "ada%40example.com" in parsed.path or "ada@example.com" in parsed.path
    back = pyotp.parse_uri(uri)
    assert isinstance(back, pyotp.TOTP)
    assert (back.secret, back.name, back.issuer, back.digits, back.interval) == (
        secret,
        "ada@example.com",
        "agentcost",
        6,
        30,
    )
    assert back.digest().name == "sha1"
    assert "issuer=Other" in totp.provisioning_uri(secret, "ada@example.com", issuer="Other")


def _decode_half_blocks(text: str) -> list[list[bool]]:
    """Back from text to modules (True = dark); dark modules are drawn as the terminal background."""
    tops = {" ": (True, True), "▀": (False, True), "▄": (True, False), "█": (False, False)}
    grid: list[list[bool]] = []
    for line in text.splitlines():
        grid.append([tops[c][0] for c in line])
        grid.append([tops[c][1] for c in line])
    return grid


def test_qr_text_is_plain_text_and_faithful(secret: str) -> None:
    uri = totp.provisioning_uri(secret, "ada@example.com")
    text = totp.qr_text(uri)
    assert "\x1b" not in text
    lines = text.splitlines()
    assert len(lines) > 10
    assert set(text) <= {" ", "▀", "▄", "█", "\n"}
    assert len({len(line) for line in lines}) == 1
    qr = segno.make_qr(uri, error="m")
    size = len(qr.matrix)
    grid = _decode_half_blocks(text)
    border = 2
    assert len(lines[0]) == size + 2 * border
    modules = [row[border : border + size] for row in grid[border : border + size]]
    assert modules == [[bool(v) for v in row] for row in qr.matrix]
    assert not any(any(row) for row in grid[:border])  # quiet zone is light


def test_qr_text_never_micro_qr() -> None:
    lines = totp.qr_text("x").splitlines()
    assert len(lines[0]) >= 21 + 4  # version 1 QR is 21 modules; a Micro QR would be 11


# --- AU-11: recovery codes --------------------------------------------------


def test_recovery_codes_shape_and_uniqueness() -> None:
    codes = totp.new_recovery_codes()
    assert totp.RECOVERY_CODE_COUNT == 10
    assert len(codes) == 10
    assert len(set(codes)) == 10
    for code in codes:
        assert re.fullmatch(r"[a-z2-7]{4}(-[a-z2-7]{4}){5}", code)
        raw = totp.normalize_recovery_code(code)
        assert len(raw) == 24
        assert len(raw) * 5 >= 112  # base32: 5 bits per character
        assert len(base64.b32decode(raw.upper())) == 15
    assert set(totp.new_recovery_codes()).isdisjoint(codes)


def test_recovery_codes_use_the_whole_alphabet() -> None:
    chars = set("".join(totp.normalize_recovery_code(c) for _ in range(20) for c in totp.new_recovery_codes()))
    assert chars == set("abcdefghijklmnopqrstuvwxyz234567")


def test_recovery_code_normalisation_and_hash() -> None:
    code = totp.new_recovery_codes()[0]
    raw = code.replace("-", "")
    expected = hashlib.sha256(raw.encode()).hexdigest()
    assert totp.normalize_recovery_code(code) == raw
    assert totp.hash_recovery_code(code) == expected
    for typed in (raw, code.upper(), raw.upper(), f" {code[:14]} {code[14:]} ", code.replace("-", " ")):
        assert totp.normalize_recovery_code(typed) == raw
        assert totp.hash_recovery_code(typed) == expected
    assert totp.hash_recovery_code(totp.new_recovery_codes()[0]) != expected
