"""Daily spend anomalies: robust z (median/MAD), fallbacks, history rules, minimum increase."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agentcost_cli.alerts.anomaly import baseline, detect, resolve_sensitivity
from agentcost_cli.errors import InvalidInput

USD = 1_000_000_000
CENT = USD // 100

# 28 days from $10 to $37: median $23.50; |x - median| = 0.5 .. 13.5 twice each -> MAD $7
RAMP = [(10 + d) * USD for d in range(28)]


def test_mad_z_score() -> None:
    result = detect(RAMP, 60 * USD)
    assert result.scale == "mad"
    assert result.median_nanos == Decimal(23_500_000_000)
    assert result.mad_nanos == Decimal(7 * USD)
    # 0.6745 x 36.5 / 7 = 3.5170..., shown rounded down
    assert result.z == Decimal("3.51")
    assert result.threshold == Decimal("3.5")
    assert result.is_anomaly
    assert result.reason.startswith("spike: $60.00 vs a median of $23.50")
    assert result.history_days == 28


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        # boundary: 23.5 + 3.5 x 7 / 0.6745 = 59.823202372127...
        (59_823_202_372, False),
        (59_823_202_373, True),
    ],
)
def test_mad_boundary(today: int, expected: bool) -> None:
    result = detect(RAMP, today)
    assert result.is_anomaly is expected
    assert result.z == (Decimal("3.50") if expected else Decimal("3.49"))


@pytest.mark.parametrize(("delta", "expected"), [(35_000, True), (34_999, False)])
def test_exact_threshold_is_inclusive(delta: int, expected: bool) -> None:
    # median $10, every deviation 6745 nanos -> MAD 6745; z = 0.6745 x delta / 6745 = delta / 10000
    history = [10 * USD - 6745] * 14 + [10 * USD + 6745] * 14
    result = detect(history, 10 * USD + delta, min_increase_nanos=0)
    assert result.mad_nanos == Decimal(6745)
    assert result.is_anomaly is expected


@pytest.mark.parametrize(
    ("sensitivity", "today", "expected"),
    [
        ("low", 60 * USD, False),  # z 3.517 < 5
        ("medium", 60 * USD, True),
        ("high", 50 * USD, True),  # z = 0.6745 x 26.5 / 7 = 2.55
        ("medium", 50 * USD, False),
        (Decimal("2.6"), 50 * USD, False),
        ("2.5", 50 * USD, True),
        (2.5, 50 * USD, True),
        (2, 45 * USD, True),  # z = 2.07
    ],
)
def test_sensitivity(sensitivity: str | Decimal | float, today: int, expected: bool) -> None:
    assert detect(RAMP, today, sensitivity=sensitivity).is_anomaly is expected


def test_flat_history_falls_back_to_minimum_increase() -> None:
    flat = [2 * USD] * 20
    spike = detect(flat, 3 * USD + CENT)
    assert (spike.is_anomaly, spike.scale, spike.z, spike.mad_nanos) == (True, "none", None, Decimal(0))
    assert "flat $2.00" in spike.reason
    small = detect(flat, 3 * USD - CENT)
    assert not small.is_anomaly
    assert "below the $1.00 minimum" in small.reason
    assert detect(flat, 3 * USD).is_anomaly  # exactly $1 more counts
    assert detect(flat, 2 * USD + 1, min_increase_nanos=0).is_anomaly
    assert not detect(flat, 2 * USD, min_increase_nanos=0).is_anomaly


def test_mad_zero_uses_mean_absolute_deviation() -> None:
    # 15 days at $2, 5 at $4: median $2, MAD 0, MeanAD = 5 x $2 / 20 = $0.50
    history = [2 * USD] * 15 + [4 * USD] * 5
    result = detect(history, 5 * USD)
    assert result.scale == "mean_ad"
    assert result.mad_nanos == Decimal(0)
    assert result.mean_ad_nanos == Decimal(500_000_000)
    assert result.z == Decimal("4.78")  # 3 / (1.2533 x 0.5) = 4.787..., rounded down
    assert result.is_anomaly
    assert not detect(history, 5 * USD, sensitivity="low").is_anomaly


def test_too_little_history() -> None:
    result = detect([5 * USD] * 13, 500 * USD)
    assert not result.is_anomaly
    assert result.history_days == 13
    assert result.reason == "too little history: 13 day(s) since spending began, need 14"
    assert result.median_nanos is None and result.z is None
    assert detect([5 * USD] * 14, 500 * USD).is_anomaly
    assert detect([5 * USD] * 7, 500 * USD, min_history_days=7).is_anomaly


def test_days_before_first_spend_do_not_count_but_later_zero_days_do() -> None:
    leading = [0] * 30 + [5 * USD] * 13
    assert detect(leading, 500 * USD).history_days == 13
    assert not detect(leading, 500 * USD).is_anomaly
    # first spend, then 13 quiet days: 14 days of history, median $0
    quiet = [5 * USD] + [0] * 13
    result = detect(quiet, 2 * USD)
    assert result.history_days == 14
    assert result.median_nanos == Decimal(0)
    assert result.is_anomaly
    assert baseline([0, 0, 3, 0, 4]) == [3, 0, 4]
    assert baseline([0, 0]) == []


def test_only_the_last_28_days_count() -> None:
    history = [100 * USD] * 72 + [1 * USD] * 28
    result = detect(history, 3 * USD)
    assert result.history_days == 28
    assert result.median_nanos == Decimal(USD)
    assert result.is_anomaly
    assert detect(history, 3 * USD, baseline_days=100).median_nanos == Decimal(100 * USD)


def test_spike_below_minimum_increase_is_not_an_alert() -> None:
    cents = [CENT, CENT + 100, CENT - 100] * 6  # about $0.01 a day, tiny MAD
    result = detect(cents, 5 * CENT)
    assert result.z is not None and result.z > 1000
    assert not result.is_anomaly
    assert "below the $1.00 minimum" in result.reason
    assert detect(cents, 5 * CENT, min_increase_nanos=4 * CENT - 100).is_anomaly


def test_only_spikes_up_alert() -> None:
    result = detect(RAMP, 0)
    assert not result.is_anomaly
    assert result.z is not None and result.z < 0
    assert "not above the median" in result.reason
    assert not detect([2 * USD] * 20, 0).is_anomaly


def test_even_count_median_is_exact() -> None:
    history = [1, 2] * 7
    result = detect(history, 2 * USD)
    assert result.median_nanos == Decimal("1.5")
    assert result.mad_nanos == Decimal("0.5")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("low", Decimal(5)), ("Medium", Decimal("3.5")), (" high ", Decimal("2.5")), (4, Decimal(4)),
     ("4.5", Decimal("4.5")), (0.1, Decimal("0.1")), (Decimal("7"), Decimal(7))],
)
def test_resolve_sensitivity(value: str | int | float | Decimal, expected: Decimal) -> None:
    assert resolve_sensitivity(value) == expected


@pytest.mark.parametrize("value", ["extreme", "", 0, -1, "-2", "nan", "inf", float("inf"), True])
def test_resolve_sensitivity_rejects(value: str | int | float) -> None:
    with pytest.raises(InvalidInput) as info:
        resolve_sensitivity(value)
    assert info.value.hint is not None and "medium" in info.value.hint


@pytest.mark.parametrize(
    "kwargs",
    [{"min_history_days": 0}, {"min_history_days": 29}, {"min_increase_nanos": -1}, {"baseline_days": 0},
     {"baseline_days": 10}],  # min_history_days 14 > baseline 10
)
def test_bad_settings_are_rejected(kwargs: dict[str, int]) -> None:
    with pytest.raises(InvalidInput):
        detect(RAMP, USD, **kwargs)
