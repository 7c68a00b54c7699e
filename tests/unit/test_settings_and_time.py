"""Settings precedence and timestamp handling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agentcost_cli.errors import ConfigError, InvalidInput
from agentcost_cli.models import UsageEvent, format_usd, nanos_to_usd, usd_to_nanos
from agentcost_cli.settings import Settings, write_config_value
from agentcost_cli.timeutil import normalize_timestamp, parse_time_arg, resolve_zone


def test_precedence_flag_env_config_default(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    write_config_value(config, "report.timezone", "Europe/Paris")
    write_config_value(config, "ingest.batch_size", "500")
    env = {"AGENTCOST_TIMEZONE": "Asia/Tokyo"}
    loaded = Settings.load({"report.timezone": "UTC"}, environ=env, config_path=config).resolved()
    assert (loaded["report.timezone"].value, loaded["report.timezone"].source) == ("UTC", "flag")
    loaded = Settings.load({}, environ=env, config_path=config).resolved()
    assert (loaded["report.timezone"].value, loaded["report.timezone"].source) == ("Asia/Tokyo", "env")
    assert (loaded["ingest.batch_size"].value, loaded["ingest.batch_size"].source) == (500, "config")
    assert loaded["store.synchronous"].source == "default"
    assert loaded["store.synchronous"].value == "FULL"


def test_bad_values_name_their_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="AGENTCOST_BATCH_SIZE"):
        Settings.load({}, environ={"AGENTCOST_BATCH_SIZE": "-3"}, config_path=tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[report]\ntimezon = 'UTC'\n")
    with pytest.raises(ConfigError, match=r"unknown setting 'report\.timezon'"):
        Settings.load({}, environ={}, config_path=bad)
    broken = tmp_path / "broken.toml"
    broken.write_text("[report\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        Settings.load({}, environ={}, config_path=broken)
    with pytest.raises(ConfigError):
        write_config_value(tmp_path / "c.toml", "store.synchronous", "SOMETIMES")


def test_unset_removes_the_key(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    write_config_value(config, "report.timezone", "UTC")
    write_config_value(config, "report.timezone", None)
    assert Settings.load({}, environ={}, config_path=config).resolved()["report.timezone"].source == "default"


@pytest.mark.parametrize(("raw", "expected"), [
    ("2026-11-20T10:15:30.123Z", "2026-11-20T10:15:30.123000Z"),
    ("2026-11-20T10:15:30.123456Z", "2026-11-20T10:15:30.123456Z"),
    ("2026-11-20T12:15:30+02:00", "2026-11-20T10:15:30.000000Z"),
    ("2026-11-20T10:15:30z", "2026-11-20T10:15:30.000000Z"),
    ("2026-11-20", "2026-11-20T00:00:00.000000Z"),
    (1763633730, "2025-11-20T10:15:30.000000Z"),
    (1763633730123, "2025-11-20T10:15:30.123000Z"),
])
def test_timestamps_normalize_to_canonical_utc(raw: object, expected: str) -> None:
    assert normalize_timestamp(raw) == expected


@pytest.mark.parametrize("raw", ["2026-11-20T10:15:30", "yesterday", "2026-13-01T00:00:00Z", True, None,
                                 "2026-02-30T00:00:00.000Z", 1e30])
def test_bad_timestamps_are_rejected_with_a_reason(raw: object) -> None:
    with pytest.raises(ValueError):
        normalize_timestamp(raw)


def test_time_arguments() -> None:
    now = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
    paris = ZoneInfo("Europe/Paris")
    assert parse_time_arg("7d", paris, now=now) == now - timedelta(days=7)
    assert parse_time_arg("today", paris, now=now) == datetime(2026, 11, 26, tzinfo=paris)
    assert parse_time_arg("2026-11-01", paris, now=now) == datetime(2026, 11, 1, tzinfo=paris)
    with pytest.raises(InvalidInput):
        parse_time_arg("last tuesday", paris, now=now)
    with pytest.raises(InvalidInput):
        resolve_zone("Mars/Olympus")
    assert resolve_zone("utc") is UTC


def test_money_helpers_are_exact() -> None:
    assert format_usd(1) == "0.000000001"
    assert format_usd(12_345_678_901) == "12.345678901"
    assert nanos_to_usd(10**18) == Decimal("1000000000.000000000")
    assert usd_to_nanos(Decimal("0.0000000015")) == 2  # half-even: 1.5 -> 2
    assert usd_to_nanos(Decimal("0.0000000025")) == 2  # 2.5 -> 2


def test_dedupe_key_is_stable_and_content_sensitive() -> None:
    base = UsageEvent(timestamp="2026-11-20T10:00:00.000000Z", provider="openai", model="gpt-4o", input_tokens=5)
    same = UsageEvent(timestamp="2026-11-20T10:00:00.000000Z", provider="openai", model="gpt-4o", input_tokens=5,
                      metadata={"ignored": True})
    other = UsageEvent(timestamp="2026-11-20T10:00:00.000000Z", provider="openai", model="gpt-4o", input_tokens=6)
    assert base.dedupe_key() == same.dedupe_key() != other.dedupe_key()
    assert base.dedupe_key().startswith("h:")
    assert UsageEvent(timestamp="x", provider="p", model="m", id="given").dedupe_key() == "given"
