"""Budget thresholds: parsing, exact crossing on integer nanos, percent display."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agentcost_cli.alerts.thresholds import crossed, parse_thresholds, percent
from agentcost_cli.errors import InvalidInput

THIRD = 333_333_333  # one third of a dollar, in nanos (not exactly representable as a float dollar)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("50,80,100", (50, 80, 100)),
        ("100, 50 ,80", (50, 80, 100)),
        ("80%,50%", (50, 80)),
        ("80,80,50", (50, 80)),
        ("1", (1,)),
        ("1000", (1000,)),
        ("150,100", (100, 150)),
    ],
)
def test_parse_thresholds(text: str, expected: tuple[int, ...]) -> None:
    assert parse_thresholds(text) == expected


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "no thresholds"),
        ("  ", "no thresholds"),
        ("50,,100", "threshold 2"),
        ("50,", "threshold 2"),
        ("0", "out of range"),
        ("1001", "out of range"),
        ("-5", "not a whole percent"),
        ("50.5", "not a whole percent"),
        ("fifty", "not a whole percent"),
        ("٥٠", "not a whole percent"),  # Arabic-Indic digits: isdigit() but not what we mean
    ],
)
def test_parse_thresholds_rejects(text: str, needle: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_thresholds(text)
    assert needle in info.value.message
    assert info.value.hint is not None and "1 to 1000" in info.value.hint


@pytest.mark.parametrize(
    ("spent", "amount", "expected"),
    [
        (0, 100_000_000_000, []),
        (49_999_999_999, 100_000_000_000, []),
        (50_000_000_000, 100_000_000_000, [50]),  # exactly 50% reaches 50
        (80_000_000_000, 100_000_000_000, [50, 80]),
        (99_999_999_999, 100_000_000_000, [50, 80]),
        (100_000_000_000, 100_000_000_000, [50, 80, 100]),
        (250_000_000_000, 100_000_000_000, [50, 80, 100, 200]),
        # a third of a dollar: 100% at exactly 333_333_333, not a nano before
        (THIRD - 1, THIRD, [50, 80]),
        (THIRD, THIRD, [50, 80, 100]),
        # 80% of a third is 266_666_666.4 nanos: 266_666_666 is short, 266_666_667 reaches it
        (266_666_666, THIRD, [50]),
        (266_666_667, THIRD, [50, 80]),
        (-5, THIRD, []),  # credits: nothing reached
    ],
)
def test_crossed_is_exact(spent: int, amount: int, expected: list[int]) -> None:
    assert crossed(spent, amount, (50, 80, 100, 200)) == expected


def test_crossed_sorts_and_dedupes_any_iterable() -> None:
    assert crossed(10**9, 10**9, [100, 50, 50, 1000]) == [50, 100]
    assert crossed(10 * 10**9, 10**9, {1000}) == [1000]


@pytest.mark.parametrize("amount", [0, -1])
def test_non_positive_amount_is_a_programming_error(amount: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        crossed(1, amount, (50,))
    with pytest.raises(ValueError, match="positive"):
        percent(1, amount)


@pytest.mark.parametrize(
    ("spent", "amount", "expected"),
    [
        (0, THIRD, "0.0"),
        (THIRD, THIRD, "100.0"),
        (THIRD - 1, THIRD, "99.9"),  # 99.9999997%: rounded down, never shown as 100
        (266_666_666, THIRD, "79.9"),  # 79.99999992%: not shown as a reached 80
        (266_666_667, THIRD, "80.0"),
        (1, 3, "33.3"),
        (2, 3, "66.6"),
        (123_450_000_000, 100_000_000_000, "123.4"),
        (5_000_000_000_000, 1_000_000_000, "500000.0"),
        (-1, 3, "-33.4"),  # floor: toward minus infinity
    ],
)
def test_percent(spent: int, amount: int, expected: str) -> None:
    value = percent(spent, amount)
    assert isinstance(value, Decimal)
    assert str(value) == expected
