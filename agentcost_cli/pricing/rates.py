"""A compiled rate card: per-bucket rates for one model, price period and context.

genai-prices' `calc_price` re-matches the model and re-decomposes usage on
every call (about 60 µs). Ingest prices a million events, so we resolve once
per (model, day, context) into a `RateCard` and do a few Decimal multiplies
per event. tests/pricing/test_engine_vs_genai_prices.py holds the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# Price keys whose usage we never report (modalities, tool calls, storage):
# their leaf count is always zero for our events, so they never change a cost.
_ZERO_USAGE_MARKERS = (
    "audio", "image", "video", "searches", "executions", "hours", "gpixels", "kpages", "mchars",
    "messages", "citation", "tool",
)
FAST_KEYS = frozenset(
    {"input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok", "cache_write_1h_mtok",
     "requests_kcount", "output_reasoning_mtok"}
)

Rate = tuple[Decimal, tuple[tuple[int, Decimal], ...]]  # (base per unit, ((tier start, price), ...))



def is_fast_key(key: str) -> bool:
    return key in FAST_KEYS or any(marker in key for marker in _ZERO_USAGE_MARKERS)


def _rate(value: Any) -> Rate | None:
    if value is None:
        return None
    tiers = getattr(value, "tiers", None)
    if tiers is not None:
        return (Decimal(value.base), tuple((int(t.start), Decimal(t.price)) for t in tiers))
    return (Decimal(value), ())


def _scaled(rates: list[Rate | None]) -> tuple[int, list[tuple[int, tuple[tuple[int, int], ...]] | None]]:
    """The card's rates as integers over one power of ten, for exact integer arithmetic."""
    places = 0
    for rate in rates:
        if rate is not None:
            for value in (rate[0], *(p for _, p in rate[1])):
                exponent = value.as_tuple().exponent
                if isinstance(exponent, int):
                    places = max(places, -exponent)
    scale = 10**places
    out: list[tuple[int, tuple[tuple[int, int], ...]] | None] = []
    for rate in rates:
        if rate is None:
            out.append(None)
        else:
            out.append((int(rate[0] * scale), tuple((start, int(price * scale)) for start, price in rate[1])))
    return scale, out


def _pick_int(rate: tuple[int, tuple[tuple[int, int], ...]], prompt_total: int) -> int:
    base, tiers = rate
    for start, price in reversed(tiers):
        if prompt_total > start:
            return price
    return base


def _round_half_even(numerator: int, denominator: int) -> int:
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2):
        quotient += 1
    return quotient


@dataclass(frozen=True, slots=True)
class RateCard:
    """USD per million tokens for each disjoint bucket, plus a per-1000-requests fee."""

    input: Rate | None
    cache_read: Rate | None
    cache_write: Rate | None  # 5-minute writes
    cache_write_1h: Rate | None
    output: Rate | None
    reasoning: Rate | None  # only when the model bills reasoning apart from output
    requests_kcount: Rate | None
    # The same rates as integers over `_scale`: the hot path multiplies ints, which is
    # exact (rates are finite decimals) and several times faster than Decimal.
    _scale: int = 1
    _ints: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        scale, ints = _scaled([self.input, self.cache_read, self.cache_write, self.cache_write_1h, self.output,
                               self.reasoning, self.requests_kcount])
        object.__setattr__(self, "_scale", scale)
        object.__setattr__(self, "_ints", tuple(ints))

    @classmethod
    def from_prices(cls, prices: Any, overrides: dict[str, Any] | None = None) -> RateCard:
        """Build from a genai-prices `ModelPrice` (or None) and override rates (per-MTok decimal strings).

        Missing cache rates fall back the way genai-prices decomposes usage: a cache
        read or write with no rate of its own is billed as plain input; a 1-hour write
        with no rate of its own is billed as a 5-minute write.
        """
        get = (lambda key: getattr(prices, key, None)) if prices is not None else (lambda key: None)
        raw = {
            "input": _rate(get("input_mtok")),
            "cache_read": _rate(get("cache_read_mtok")),
            "cache_write": _rate(get("cache_write_mtok")),
            "cache_write_1h": _rate(get("cache_write_1h_mtok")),
            "output": _rate(get("output_mtok")),
            "reasoning": _rate(get("output_reasoning_mtok")),
            "requests_kcount": _rate(get("requests_kcount")),
        }
        for name, value in (overrides or {}).items():
            raw[name] = (Decimal(value), ())
        cache_write = raw["cache_write"] or raw["input"]
        return cls(
            input=raw["input"],
            cache_read=raw["cache_read"] or raw["input"],
            cache_write=cache_write,
            cache_write_1h=raw["cache_write_1h"] or cache_write,
            output=raw["output"],
            reasoning=raw["reasoning"],
            requests_kcount=raw["requests_kcount"],
        )

    def cost_nanos(
        self,
        input_tokens: int,
        cache_read_tokens: int,
        cache_write_tokens: int,
        cache_write_1h_tokens: int,
        output_tokens: int,
        reasoning_tokens: int,
        requests: int,
    ) -> int:
        """Exact cost in nano-USD, rounded half-even once, at the end."""
        prompt = input_tokens + cache_read_tokens + cache_write_tokens + cache_write_1h_tokens
        inp, read, write, write_1h, out, reasoning, per_request = self._ints
        total = 0  # (USD per MTok x scale) x tokens
        if input_tokens and inp:
            total += input_tokens * _pick_int(inp, prompt)
        if cache_read_tokens and read:
            total += cache_read_tokens * _pick_int(read, prompt)
        if cache_write_tokens and write:
            total += cache_write_tokens * _pick_int(write, prompt)
        if cache_write_1h_tokens and write_1h:
            total += cache_write_1h_tokens * _pick_int(write_1h, prompt)
        if output_tokens:
            if reasoning and reasoning_tokens:
                total += reasoning_tokens * _pick_int(reasoning, prompt)
                output_tokens -= reasoning_tokens
            if out:
                total += output_tokens * _pick_int(out, prompt)
        # per-MTok x tokens / 1e6 USD = x 1e3 nano-USD; per-1000-requests x n / 1e3 USD = x 1e6 nano-USD
        numerator = total * 1000
        if requests and per_request:
            numerator += requests * _pick_int(per_request, prompt) * 1_000_000
        return _round_half_even(numerator, self._scale)

    def describe(self) -> dict[str, Any]:
        """Rates as decimal strings (per MTok; requests per 1000), tiers included, for `pricing show`."""
        out: dict[str, Any] = {}
        for name in ("input", "cache_read", "cache_write", "cache_write_1h", "output", "reasoning",
                     "requests_kcount"):
            rate: Rate | None = getattr(self, name)
            if rate is None:
                continue
            base, tiers = rate
            out[name] = str(base)
            if tiers:
                out[f"{name}_tiers"] = [{"above_prompt_tokens": s, "rate": str(p)} for s, p in tiers]
        return out
