"""Budget thresholds: whole percents of the budget amount, checked in exact integer arithmetic.

A threshold t is reached when spent / amount >= t / 100, i.e. `spent * 100 >= t * amount`
on integer nano-USD: no float, no Decimal rounding, so a budget of one third of a dollar
(333_333_333 nanos) crosses 100% at exactly 333_333_333 nanos spent and not one nano before.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from ..errors import InvalidInput

MIN_THRESHOLD = 1
MAX_THRESHOLD = 1000
_HINT = "give whole percents from 1 to 1000 separated by commas, e.g. 50,80,100"


def parse_thresholds(text: str) -> tuple[int, ...]:
    """Read "50,80,100" as (50, 80, 100): sorted, duplicates dropped, a trailing "%" allowed.

    Raises InvalidInput naming the offending item (empty, not a whole number, out of range).
    """
    items = text.split(",")
    if not text.strip():
        raise InvalidInput("no thresholds given", hint=_HINT)
    values: set[int] = set()
    for position, item in enumerate(items, 1):
        raw = item.strip().removesuffix("%").strip()
        if not raw:
            raise InvalidInput(f"threshold {position} in {text!r} is empty", hint=_HINT)
        if not raw.isascii() or not raw.isdigit():
            raise InvalidInput(f"threshold {item.strip()!r} is not a whole percent", hint=_HINT)
        value = int(raw)
        if not MIN_THRESHOLD <= value <= MAX_THRESHOLD:
            raise InvalidInput(f"threshold {value}% is out of range", hint=_HINT)
        values.add(value)
    return tuple(sorted(values))


def _check_amount(amount_nanos: int) -> None:
    if amount_nanos <= 0:
        raise ValueError(f"budget amount must be positive, not {amount_nanos} nanos")


def crossed(spent_nanos: int, amount_nanos: int, thresholds: Iterable[int]) -> list[int]:
    """Every threshold reached by `spent_nanos` of an `amount_nanos` budget, ascending.

    Reached means `spent * 100 >= t * amount` (so exactly 80% reaches 80). The caller
    compares with the thresholds already notified for this period instance to fire each once.
    """
    _check_amount(amount_nanos)
    return sorted(t for t in set(thresholds) if spent_nanos * 100 >= t * amount_nanos)


def percent(spent_nanos: int, amount_nanos: int) -> Decimal:
    """Spent as a percent of the amount, rounded down (toward minus infinity) to 0.1.

    Rounding down keeps the display honest with `crossed`: a shown "80.0" means 80% was
    reached, never that 79.95% got rounded up to look like a crossed threshold.
    """
    _check_amount(amount_nanos)
    tenths = (spent_nanos * 1000) // amount_nanos
    return Decimal(tenths).scaleb(-1)
