"""Daily spend spikes: today's spend against the project's trailing baseline (pure, exact).

The test is a robust z-score (Iglewicz & Hoaglin's modified z, as IBM SPSS defines its
fallbacks), computed with exact fractions of integer nano-USD:

    z = 0.6745 x (today - median) / MAD                     when MAD > 0
    z = (today - median) / (1.2533 x MeanAD)                when MAD = 0 and MeanAD > 0

over the last `baseline_days` (28) daily totals before the tested day. MeanAD is the
mean absolute deviation from the median. When both are 0 (a perfectly flat history) no
z exists; then today is a spike when it is above the median by `min_increase_nanos`.

The median/MAD pair ignores the occasional spike already in the history, which a mean
and standard deviation would not. History days before the first day with any spend do
not count (a project's first week is not a run of $0 days), but once spending has begun,
a day without events counts as 0. With fewer than `min_history_days` such days there is
no verdict. Only rises alert, and only when today exceeds the median by at least
`min_increase_nanos` (default $1), so $0.01 -> $0.05 is not news however large its z.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, InvalidOperation
from fractions import Fraction

from ..errors import InvalidInput

SENSITIVITY_PRESETS: dict[str, Decimal] = {"low": Decimal(5), "medium": Decimal("3.5"), "high": Decimal("2.5")}
DEFAULT_SENSITIVITY = "medium"
DEFAULT_BASELINE_DAYS = 28
DEFAULT_MIN_HISTORY_DAYS = 14
DEFAULT_MIN_INCREASE_NANOS = 1_000_000_000  # $1
MAD_FACTOR = Fraction(Decimal("0.6745"))
MEAN_AD_FACTOR = Fraction(Decimal("1.2533"))
_SENSITIVITY_HINT = 'use "low" (z 5), "medium" (z 3.5), "high" (z 2.5) or a positive z threshold'


@dataclass(frozen=True, slots=True)
class AnomalyResult:
    """The verdict and the numbers behind it.

    `scale` says which spread the z used: "mad", "mean_ad", "none" (flat history: the
    minimum increase alone decides) or "" (too little history: no statistics).
    `median_nanos`, `mad_nanos` are exact; `mean_ad_nanos` is rounded to the nano and set
    only when it was used; `z` is rounded down to 0.01 for display (the decision uses the exact value).
    """

    is_anomaly: bool
    reason: str
    today_nanos: int
    history_days: int
    threshold: Decimal
    median_nanos: Decimal | None = None
    mad_nanos: Decimal | None = None
    mean_ad_nanos: Decimal | None = None
    z: Decimal | None = None
    scale: str = ""


def resolve_sensitivity(sensitivity: str | int | float | Decimal) -> Decimal:
    """A preset name ("low", "medium", "high") or a z threshold > 0 (number or numeric text)."""
    if isinstance(sensitivity, str):
        preset = SENSITIVITY_PRESETS.get(sensitivity.strip().lower())
        if preset is not None:
            return preset
    if isinstance(sensitivity, bool):
        raise InvalidInput("sensitivity must be a preset name or a number", hint=_SENSITIVITY_HINT)
    try:
        value = Decimal(repr(sensitivity)) if isinstance(sensitivity, float) else Decimal(sensitivity)
    except (InvalidOperation, ValueError):
        raise InvalidInput(f"unknown sensitivity {sensitivity!r}", hint=_SENSITIVITY_HINT) from None
    if not value.is_finite() or value <= 0:
        raise InvalidInput(f"sensitivity must be a positive z threshold, not {sensitivity!r}",
                           hint=_SENSITIVITY_HINT)
    return value


def _median(values: Sequence[Fraction]) -> Fraction:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _decimal(value: Fraction) -> Decimal:
    """Exact for our medians (denominators 1, 2, 4)."""
    return Decimal(value.numerator) / Decimal(value.denominator)


def _usd(nanos: Fraction | int) -> str:
    dollars = Decimal(Fraction(nanos).numerator) / Decimal(Fraction(nanos).denominator) / Decimal(1_000_000_000)
    cents = dollars.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    if cents == 0 and dollars != 0:
        return f"${dollars.quantize(Decimal('0.0001'), rounding=ROUND_HALF_EVEN)}"
    return f"${cents}"


def baseline(history: Sequence[int], baseline_days: int = DEFAULT_BASELINE_DAYS) -> list[int]:
    """The days that count: from the first day with spend on, then the last `baseline_days`."""
    first = next((i for i, nanos in enumerate(history) if nanos != 0), len(history))
    counted = list(history[first:])
    return counted[-baseline_days:] if baseline_days else []


def detect(history: Sequence[int], today: int, *, sensitivity: str | int | float | Decimal = DEFAULT_SENSITIVITY,
           min_history_days: int = DEFAULT_MIN_HISTORY_DAYS, min_increase_nanos: int = DEFAULT_MIN_INCREASE_NANOS,
           baseline_days: int = DEFAULT_BASELINE_DAYS) -> AnomalyResult:
    """Is `today` (nano-USD spent on the tested day) a spike against `history`?

    `history` is one total per consecutive local day, oldest first, ending the day before
    the tested day (missing days filled with 0 by the caller). Longer history is fine:
    only the last `baseline_days` count. Raises InvalidInput for bad settings.
    """
    threshold = resolve_sensitivity(sensitivity)
    if baseline_days < 1:
        raise InvalidInput(f"baseline must be at least 1 day, not {baseline_days}")
    if not 1 <= min_history_days <= baseline_days:
        raise InvalidInput(f"minimum history must be 1 to {baseline_days} days, not {min_history_days}")
    if min_increase_nanos < 0:
        raise InvalidInput("minimum increase cannot be negative")
    days = baseline(history, baseline_days)
    if len(days) < min_history_days:
        return AnomalyResult(
            False, f"too little history: {len(days)} day(s) since spending began, need {min_history_days}",
            today, len(days), threshold)
    values = [Fraction(v) for v in days]
    median = _median(values)
    deviations = [abs(v - median) for v in values]
    mad = _median(deviations)
    increase = today - median
    z: Fraction | None
    mean_ad: Decimal | None = None
    if mad > 0:
        z, scale = MAD_FACTOR * increase / mad, "mad"
    else:
        mean = sum(deviations, Fraction(0)) / len(deviations)
        if mean > 0:
            z, scale = increase / (MEAN_AD_FACTOR * mean), "mean_ad"
            mean_ad = _decimal(mean).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
        else:
            z, scale = None, "none"
    # rounded down, so the text never shows "z 3.50" for a z just below a 3.5 threshold
    shown_z = None if z is None else _decimal(z).quantize(Decimal("0.01"), rounding=ROUND_FLOOR)
    stats = AnomalyResult(False, "", today, len(days), threshold, _decimal(median), _decimal(mad), mean_ad,
                          shown_z, scale)

    def verdict(is_anomaly: bool, reason: str) -> AnomalyResult:
        return replace(stats, is_anomaly=is_anomaly, reason=reason)

    if increase <= 0:
        return verdict(False, f"{_usd(today)} is not above the median of {_usd(median)}")
    if z is not None and z < Fraction(threshold):
        return verdict(False, f"{_usd(today)} vs a median of {_usd(median)}: z {shown_z} is below {threshold}")
    if increase < min_increase_nanos:
        return verdict(False, f"increase of {_usd(increase)} over the median of {_usd(median)} is below the "
                              f"{_usd(min_increase_nanos)} minimum")
    if z is None:
        return verdict(True, f"spike: {_usd(today)} against a flat {_usd(median)} a day")
    return verdict(True, f"spike: {_usd(today)} vs a median of {_usd(median)} (z {shown_z} >= {threshold})")
