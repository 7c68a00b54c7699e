"""Display formatting: exact rounding, compact tokens, and states in words."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from agentcost_cli.tui import formatting as f
from agentcost_cli.tui.widgets.gauge import gauge_bar, gauge_line


@pytest.mark.parametrize(("value", "shown"), [
    ("1234.565000000", "$1,234.56"),  # half-even: .565 -> .56
    ("1234.575000000", "$1,234.58"),
    ("0.004200000", "$0.0042"),  # under a cent: not "$0.00", which would read as free
    ("0.000000001", "$0.0000"),  # below the shown precision, but still not "$0.00"
    ("0.126", "$0.13"),
    ("0", "$0.00"),
    ("-5.5", "$-5.50"),
    (None, "-"),
])
def test_money(value: str | None, shown: str) -> None:
    assert f.money(value) == shown


@pytest.mark.parametrize(("value", "shown"), [
    (950, "950"), (12_400, "12.4k"), (3_210_000, "3.21M"), (1_050_000_000, "1.05B"), (250_000_000_000, "250B"),
    (None, "-"),
])
def test_tokens(value: int | None, shown: str) -> None:
    assert f.tokens(value) == shown


def test_percent_and_state() -> None:
    assert f.percent("40", "80") == Decimal("50.0")
    assert f.percent("1", "0") is None
    assert f.budget_state(Decimal("49.9"), [50, 80, 100]) == "ok"
    assert f.budget_state(Decimal("50"), [50, 80, 100]) == "warn"
    assert f.budget_state(Decimal("100"), [50, 80, 100]) == "over"
    assert f.budget_state(None, [50]) == "ok"


def test_bar_and_gauge_marks_thresholds() -> None:
    assert f.bar(Decimal("0.5"), 10) == "█████░░░░░"
    assert f.bar(2, 4) == "████"  # clipped
    bar = gauge_bar(Decimal("75"), [50, 80, 100], 20)
    assert len(bar) == 20 and bar[10] == "┃" and bar[16] == "┃"  # marks at 50% and 80%
    assert bar[:10] == "█" * 10 and bar[17:] == "░░░"


def test_gauge_line_spells_out_the_state() -> None:
    line = gauge_line({"name": "team", "percent": "104.0", "state": "exceeded", "thresholds": [50, 100],
                       "spent_usd": "104", "amount_usd": "100", "period": "month", "resets": "resets in 2d 1h",
                       "forecast_usd": "130"}).plain
    assert "EXCEEDED" in line and "$104.00 / $100.00 month" in line and "forecast $130.00" in line
    assert "resets in 2d 1h" in line


def test_local_time_uses_the_readers_zone() -> None:
    assert f.local_time("2026-11-20T23:30:00.000000Z", ZoneInfo("Asia/Kolkata")) == "2026-11-21 05:00"
    assert f.local_time(None, UTC) == "-"
    assert f.clock_time(datetime(2026, 1, 1, 12, 0, 5, tzinfo=UTC), ZoneInfo("Europe/Paris")) == "13:00:05"
