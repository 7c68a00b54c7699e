"""Period-end spend projection from the trend so far (pure; integer nano-USD).

Calendar periods ("day", "week", "month") use a linear run-rate over the elapsed part:
`projected = spent x period length / elapsed`, in whole microseconds and integer nanos,
rounded half-even once. This is the month-to-date trend that AWS Budgets' forecast
alerts and LiteLLM's soft-budget projection (`current_spend / days so far x days in
month`) use. We keep it rather than something cleverer because:

- it needs nothing but the period-to-date total, so it matches what the budget
  counts, and it is explainable in one line of a notice ("at this rate, $412 by Nov 30");
- "since the first spend" or "last N days" rates overshoot badly on sporadic agent
  workloads (one batch job on day 15 would project as if it ran every day);
- its known weakness, wild projections from a short basis (LiteLLM on the 1st of the
  month treats the spend so far as a full day's), is handled by refusing to forecast
  before a minimum basis (`min_basis`): 10% of the period for periods shorter than
  7 days (2.4 h of a day), and 24 h for periods of 7 days or more, so at least one
  whole daily cycle (work hours and nights) is averaged before a week or month is
  extrapolated. Both are parameters.

Rolling windows never end, so "spend at period end" has no meaning. For them the
forecast is the window's spend 24 hours from now if the current rate continues:
`spent - (spend that leaves the window in the next 24 h) + spent / N`. The spend that
leaves is read from the buckets whose start lies in [start, start + 24 h); a bucket
counts wholly at its start, so pass hourly buckets for a result within one hour's
spend. Without buckets a rolling window gets no forecast (None).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from .periods import Window

DEFAULT_MIN_SHARE = Fraction(1, 10)
DEFAULT_LONG_PERIOD = timedelta(days=7)
DEFAULT_LONG_MIN_BASIS = timedelta(hours=24)
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Forecast:
    """`method`: "linear" (run-rate over the elapsed part), "final" (the period is over;
    the spend is the outcome), or "rolling_next_day" (rolling window, 24 h ahead).
    `basis_hours`: how many hours of observed spend the projection rests on."""

    projected_nanos: int
    method: str
    basis_hours: float


def _micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _hours(delta: timedelta) -> float:
    return _micros(delta) / 3_600_000_000


def _div_half_even(numerator: int, denominator: int) -> int:
    quotient, remainder = divmod(numerator, denominator)  # denominator > 0: remainder >= 0
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2):
        quotient += 1
    return quotient


def min_basis(length: timedelta, *, min_share: Fraction = DEFAULT_MIN_SHARE,
              long_period: timedelta = DEFAULT_LONG_PERIOD,
              long_min_basis: timedelta = DEFAULT_LONG_MIN_BASIS) -> timedelta:
    """The elapsed time a calendar period needs before it gets a forecast."""
    if length >= long_period:
        return long_min_basis
    return timedelta(microseconds=_div_half_even(_micros(length) * min_share.numerator, min_share.denominator))


def forecast(window: Window, now: datetime, buckets: Sequence[tuple[datetime, int]], spent_nanos: int, *,
             min_share: Fraction = DEFAULT_MIN_SHARE, long_period: timedelta = DEFAULT_LONG_PERIOD,
             long_min_basis: timedelta = DEFAULT_LONG_MIN_BASIS) -> Forecast | None:
    """Project `spent_nanos` (the window's spend up to `now`) to the period end.

    `buckets` are (bucket start, nanos) pairs of the spend so far; only rolling windows
    read them (see the module docstring). None when there is no sound forecast: `now`
    before the window, too short a basis, or a rolling window without buckets.
    """
    if now.tzinfo is None:
        raise ValueError("naive datetime: pass an aware `now`")
    now = now.astimezone(UTC)
    if window.spec.is_rolling:
        return _rolling(window, buckets, spent_nanos)
    length = window.end - window.start
    if now >= window.end:
        return Forecast(spent_nanos, "final", _hours(length))
    elapsed = now - window.start
    if elapsed <= timedelta(0):
        return None
    needed = min_basis(length, min_share=min_share, long_period=long_period, long_min_basis=long_min_basis)
    if elapsed < needed:
        return None
    projected = _div_half_even(spent_nanos * _micros(length), _micros(elapsed))
    return Forecast(projected, "linear", _hours(elapsed))


def _rolling(window: Window, buckets: Sequence[tuple[datetime, int]], spent_nanos: int) -> Forecast | None:
    if not buckets:
        return None
    leaving_until = window.start + _DAY
    leaving = sum(nanos for start, nanos in buckets if window.start <= start < leaving_until)
    added = _div_half_even(spent_nanos, window.spec.days)  # a day's worth at the window's average rate
    return Forecast(spent_nanos - leaving + added, "rolling_next_day", _hours(window.end - window.start))


def exceeds(forecast: Forecast | None, amount_nanos: int, percent: int = 100) -> bool:
    """True when the projection is strictly above `percent` of the amount (no forecast: False)."""
    if forecast is None:
        return False
    return forecast.projected_nanos * 100 > percent * amount_nanos
