"""How figures read on screen: exact money rounded for display, compact token counts, and
states spelled out in words so that they survive NO_COLOR and colour blindness."""

from __future__ import annotations

from datetime import datetime, tzinfo
from decimal import ROUND_HALF_EVEN, Decimal

_CENT = Decimal("0.01")
_TENTH_CENT = Decimal("0.0001")


def money(value: str | Decimal | None) -> str:
    """`$1,234.57` (half-even to the cent); amounts under a cent keep four places so that a
    cheap model's spend does not read as free; None (unknown) reads as `-`."""
    if value is None:
        return "-"
    amount = Decimal(value)
    if amount and abs(amount) < 1:
        small = amount.quantize(_TENTH_CENT, rounding=ROUND_HALF_EVEN)
        if abs(small) < _CENT:
            return f"${small:f}"
    return f"${amount.quantize(_CENT, rounding=ROUND_HALF_EVEN):,}"


def count(value: int | None) -> str:
    """A count with thousands separators."""
    return "-" if value is None else f"{value:,}"


def tokens(value: int | None) -> str:
    """Token counts compactly: 950, 12.4k, 3.21M, 1.05B."""
    if value is None:
        return "-"
    for size, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if abs(value) >= size:
            return f"{Decimal(value) / size:.3g}{suffix}" if abs(value) < size * 100 else f"{value // size:,}{suffix}"
    return str(value)


def percent(spent: str | Decimal, amount: str | Decimal) -> Decimal | None:
    """Spend as a percentage of an amount, to one place; None for a zero amount."""
    total = Decimal(amount)
    if not total:
        return None
    return (Decimal(spent) * 100 / total).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)


def bar(fraction: Decimal | float, width: int) -> str:
    """A bar of `width` cells, full blocks then light shade, clipped to [0, 1]."""
    share = min(max(Decimal(str(fraction)), Decimal(0)), Decimal(1))
    full = int((share * width).to_integral_value(rounding=ROUND_HALF_EVEN))
    return "█" * full + "░" * (width - full)


def budget_state(pct: Decimal | None, thresholds: list[int]) -> str:
    """A word for where spend stands: `over` at or past 100%, `warn` past the highest lower
    threshold reached, else `ok`."""
    if pct is None:
        return "ok"
    if pct >= 100:
        return "over"
    if any(pct >= level for level in thresholds if level < 100):
        return "warn"
    return "ok"


def local_time(stamp: str | None, zone: tzinfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC timestamp (canonical text) in the reader's zone."""
    if not stamp:
        return "-"
    from ..timeutil import parse_utc

    return parse_utc(stamp).astimezone(zone).strftime(fmt)


def clock_time(moment: datetime, zone: tzinfo) -> str:
    return moment.astimezone(zone).strftime("%H:%M:%S")
