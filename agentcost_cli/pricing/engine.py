"""Price events: resolve (provider, model) once, pick the price in force, compute exactly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..models import PricedEvent, UsageEvent, usd_to_nanos
from ..timeutil import parse_utc
from .catalog import Catalog, Resolution
from .rates import RateCard, is_fast_key


@dataclass(frozen=True, slots=True)
class Quote:
    """What pricing decided for one event."""

    cost_nanos: int | None
    cost_source: str  # computed | reported | unpriced
    provider: str
    model_ref: str


def _time_of_day_constraints(model: Any) -> tuple[Any, ...]:
    constraints = []
    if isinstance(model.prices, list):
        constraints += [c.constraint for c in model.prices]
    constraints += [v.constraint for v in model.price_variants or ()]
    return tuple(c for c in constraints if c is not None and type(c).__name__ == "TimeOfDateConstraint")


def _is_fast(prices: Any) -> bool:
    return all(is_fast_key(k) for k, v in prices.__dict__.items() if v is not None)


class Pricer:
    """Prices events against a `Catalog` plus manual overrides, caching every resolution.

    Overrides are dicts with provider, model, rates (per-MTok decimal strings for
    input, output, cache_read, cache_write, cache_write_1h), effective_from_utc and id.
    """

    def __init__(self, catalog: Catalog, overrides: list[dict[str, Any]] | None = None,
                 revision: int | None = None) -> None:
        self.catalog = catalog
        self.revision = revision
        self._overrides: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for override in sorted(overrides or [], key=lambda o: (o["effective_from_utc"], o.get("id", 0))):
            key = (override["provider"].lower(), override["model"].lower())
            self._overrides.setdefault(key, []).append(override)
        self._cards: dict[tuple[Any, ...], tuple[RateCard | None, Any]] = {}
        self._time_of_day: dict[int, tuple[Any, ...]] = {}

    def override_for(self, provider: str, model_ref: str, raw_model: str, ts: str) -> dict[str, Any] | None:
        if not self._overrides:
            return None
        for key in ((provider, model_ref.lower()), (provider, raw_model.lower())):
            chosen = None
            for override in self._overrides.get(key, ()):
                if override["effective_from_utc"] <= ts:
                    chosen = override
            if chosen is not None:
                return chosen
        return None

    def rate_card(self, resolution: Resolution, ts: str, context: dict[str, str] | None,
                  override: dict[str, Any] | None) -> tuple[RateCard | None, Any]:
        """The card for this model at `ts`; (None, ModelPrice) when only the slow exact path applies."""
        model = resolution.model
        # genai-prices ignores the context for a model reached through a provider
        # fallback (azure -> openai), so it must not split, or share, the cache key:
        # the same ModelInfo is priced with its variants for its own provider only.
        ctx = tuple(sorted(context.items())) if context and resolution.own_model else ()
        override_id = override.get("id") if override else None
        if model is None:
            key: tuple[Any, ...] = (resolution.provider_id, resolution.model_ref, override_id)
            if key not in self._cards:
                self._cards[key] = (RateCard.from_prices(None, override["rates"] if override else None), None)
            return self._cards[key]
        marker = id(model)
        tod = self._time_of_day.get(marker)
        if tod is None:
            tod = self._time_of_day[marker] = _time_of_day_constraints(model)
        # Start-date prices change at UTC midnight, so a day is a safe cache key.
        # Off-peak (time-of-day) prices also depend on which windows are active.
        moment = None
        windows: tuple[bool, ...] = ()
        if tod:
            moment = parse_utc(ts)
            windows = tuple(c.active(moment) for c in tod)
        key = (marker, ctx, ts[:10], override_id, windows)
        hit = self._cards.get(key)
        if hit is not None:
            return hit
        moment = moment or parse_utc(ts)
        prices = resolution.prices_at(moment, dict(ctx) if ctx else None)
        if _is_fast(prices):
            entry: tuple[RateCard | None, Any] = (
                RateCard.from_prices(prices, override["rates"] if override else None), prices
            )
        else:
            entry = (None, prices)
        self._cards[key] = entry
        return entry

    def quote(self, event: UsageEvent) -> Quote:
        resolution = self.catalog.resolve(event.provider, event.model)
        override = self.override_for(resolution.provider_id, resolution.model_ref, event.model, event.timestamp)
        if event.reported_cost_usd is not None:
            return Quote(usd_to_nanos(event.reported_cost_usd), "reported", resolution.provider_id,
                         resolution.model_ref)
        if resolution.model is None and override is None:
            return Quote(None, "unpriced", resolution.provider_id, resolution.model_ref)
        card, prices = self.rate_card(resolution, event.timestamp, event.price_context, override)
        if card is not None:
            cost = card.cost_nanos(
                event.input_tokens, event.cache_read_tokens, event.cache_write_tokens,
                event.cache_write_1h_tokens, event.output_tokens, event.reasoning_tokens, event.requests,
            )
        else:
            cost = slow_cost_nanos(prices, event)
        return Quote(cost, "computed", resolution.provider_id, resolution.model_ref)

    def price(self, event: UsageEvent, project: str) -> PricedEvent:
        quote = self.quote(event)
        return PricedEvent(
            event=event,
            project=project,
            dedupe_key=event.dedupe_key(),
            cost_nanos=quote.cost_nanos,
            cost_source=quote.cost_source,
            pricing_rev=self.revision if quote.cost_source == "computed" else None,
            provider=quote.provider,
            model_ref=quote.model_ref,
        )


def genai_usage(event: UsageEvent) -> Any:
    """Our disjoint buckets in genai-prices' convention (input and cache writes are totals)."""
    from genai_prices import Usage

    kwargs = {
        "input_tokens": event.prompt_tokens,
        "cache_read_tokens": event.cache_read_tokens,
        "cache_write_tokens": event.cache_write_tokens + event.cache_write_1h_tokens,
        "cache_write_1h_tokens": event.cache_write_1h_tokens,
        "output_tokens": event.output_tokens,
    }
    if event.reasoning_tokens:
        kwargs["output_reasoning_tokens"] = event.reasoning_tokens
    return Usage(**kwargs)


def slow_cost_nanos(prices: Any, event: UsageEvent) -> int:
    """genai-prices' own arithmetic, for price shapes the fast card does not model."""
    from decimal import Decimal

    total = Decimal(prices.calc_price(genai_usage(event))["total_price"])
    if event.requests > 1 and getattr(prices, "requests_kcount", None) is not None:
        # genai-prices bills one request per call; an event may carry several.
        total += (event.requests - 1) * Decimal(prices.requests_kcount) / 1000
    return usd_to_nanos(total)
