"""The cached fast path must price exactly like genai-prices' own `calc_price`.

`Pricer` resolves a model once and prices events from compiled `RateCard`s; this
file holds it equal to `genai_prices.calc_price` on every model of the bundled
catalog, at every price-change date (and the moment before it), in every
request context the model has variants for, on both sides of every tier start,
with seeded random token mixes, plus a hypothesis property test.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentcost_cli.models import UsageEvent
from agentcost_cli.pricing.catalog import Catalog, bundled_layer
from agentcost_cli.pricing.engine import Pricer, genai_usage
from agentcost_cli.pricing.rates import is_fast_key
from agentcost_cli.timeutil import format_utc

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
PAST = datetime(2025, 3, 1, 8, 30, tzinfo=UTC)  # before most price changes and every batch/tier variant
TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class Case:
    provider: str
    ref: str
    model: Any  # the ModelInfo the case is meant to exercise
    moment: datetime
    context: dict[str, str] | None
    buckets: tuple[int, int, int, int, int, int]  # input, cache read, 5m write, 1h write, output, reasoning
    own: bool = True  # False: priced through the provider's fallback list, where variants don't apply

    def label(self) -> str:
        return f"{self.provider}/{self.ref} at {format_utc(self.moment)} context={self.context} buckets={self.buckets}"

    def event(self) -> UsageEvent:
        inp, read, write, write_1h, out, reasoning = self.buckets
        return UsageEvent(timestamp=format_utc(self.moment), provider=self.provider, model=self.ref,
                          input_tokens=inp, cache_read_tokens=read, cache_write_tokens=write,
                          cache_write_1h_tokens=write_1h, output_tokens=out, reasoning_tokens=reasoning,
                          price_context=self.context)


def expected_nanos(total_usd: Decimal) -> int:
    return int((total_usd * 1_000_000_000).to_integral_value(rounding=ROUND_HALF_EVEN))


# ---------------------------------------------------------------- building the sample


def _clause_values(clause: Any) -> list[str]:
    """Literal strings in a match rule (equals / starts_with / contains), depth first."""
    for attr in ("equals", "starts_with", "contains"):
        if hasattr(clause, attr):
            return [getattr(clause, attr)]
    out: list[str] = []
    for child in getattr(clause, "or_", None) or getattr(clause, "and_", None) or ():
        out += _clause_values(child)
    return out


def _ref_for(snapshot: Any, provider_id: str, model: Any) -> str | None:
    """A model reference that resolves, on `provider_id`, to exactly this model (ids don't always)."""
    for ref in [model.id, *_clause_values(model.match)]:
        try:
            _, found = snapshot.find_provider_model(ref, None, provider_id, None)
        except LookupError:
            continue
        if found is model:
            return ref
    return None


def _constraints(model: Any) -> list[Any]:
    out = [c.constraint for c in model.prices] if isinstance(model.prices, list) else []
    out += [v.constraint for v in model.price_variants or ()]
    return [c for c in out if c is not None]


def _moments(model: Any) -> list[datetime]:
    """Now, a past day, each start date and the microsecond before it, both edges of each time-of-day window."""
    moments = {NOW, PAST}
    for constraint in _constraints(model):
        if hasattr(constraint, "start_date"):
            start = datetime.combine(constraint.start_date, time(), UTC)
            moments |= {start, start - TICK}
        else:
            for edge in (constraint.start_time, constraint.end_time):
                at = datetime.combine(date(2026, 11, 20), edge)
                at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
                moments |= {at, at - TICK}
    return sorted(moments)


def _contexts(model: Any, moment: datetime) -> list[dict[str, str] | None]:
    """No context, each variant's context, and (once) a context no variant matches."""
    contexts: list[dict[str, str] | None] = [None]
    if moment == NOW:
        contexts.append({"service_tier": "no-such-tier"})
    for variant in model.price_variants or ():
        if dict(variant.when) not in contexts:
            contexts.append(dict(variant.when))
    return contexts


def _tier_starts(model: Any) -> set[int]:
    prices = [c.prices for c in model.prices] if isinstance(model.prices, list) else [model.prices]
    prices += [v.prices for v in model.price_variants or ()]
    return {int(t.start) for p in prices for v in p.__dict__.values() for t in getattr(v, "tiers", None) or ()}


def _random_buckets(rng: random.Random) -> tuple[int, int, int, int, int, int]:
    def some(high: int) -> int:
        return rng.choice((0, 0, 1, rng.randint(1, 5_000), rng.randint(1, high)))

    output = some(60_000)
    reasoning = rng.choice((0, output, rng.randint(0, output)))
    return some(400_000), some(300_000), some(50_000), some(20_000), output, reasoning


def _split_prompt(rng: random.Random, prompt: int) -> tuple[int, int, int, int, int, int]:
    """Buckets whose prompt total is exactly `prompt`, so the cliff sits where we want it."""
    read = rng.choice((0, rng.randint(0, prompt // 2)))
    write = rng.choice((0, rng.randint(0, (prompt - read) // 4)))
    write_1h = rng.choice((0, rng.randint(0, (prompt - read - write) // 8)))
    output = rng.randint(0, 20_000)
    return prompt - read - write - write_1h, read, write, write_1h, output, rng.randint(0, output)


def _model_cases(provider_id: str, ref: str, model: Any, own: bool = True) -> list[Case]:
    rng = random.Random(f"{provider_id}/{model.id}")  # per model, so the sample doesn't depend on order
    starts = sorted(_tier_starts(model))
    cases = []
    for moment in _moments(model):
        for context in _contexts(model, moment):
            mixes = [_random_buckets(rng)]
            for start in starts:
                mixes += [_split_prompt(rng, prompt) for prompt in (start, start + 1, start * 10)]
            cases += [Case(provider_id, ref, model, moment, context, buckets, own) for buckets in mixes]
    return cases


def _fallback_cases(providers: list[Any], snapshot: Any) -> list[Case]:
    """Models a provider prices through its fallback list (azure -> openai, google -> anthropic)."""
    by_id = {p.id: p for p in providers}
    cases = []
    for provider in providers:
        for fallback_id in provider.fallback_model_providers or ():
            for model in by_id[fallback_id].models:
                ref = _ref_for(snapshot, provider.id, model)
                if ref is not None and not any(own is model for own in provider.models):
                    cases += _model_cases(provider.id, ref, model, own=False)
    return cases


@dataclass
class Sample:
    cases: list[tuple[Case, int]]  # (case, calc_price's total in nano-USD)
    skipped: Counter[str]
    unreachable: list[tuple[str, str]]
    fallback: int


@pytest.fixture(scope="module")
def sample() -> Sample:
    from genai_prices import calc_price
    from genai_prices.data_snapshot import DataSnapshot

    providers = bundled_layer().providers
    snapshot = DataSnapshot(providers=providers, from_auto_update=False)
    own: list[Case] = []
    unreachable = []
    for provider in providers:
        for model in provider.models:
            ref = _ref_for(snapshot, provider.id, model)
            if ref is None:
                unreachable.append((provider.id, model.id))  # only regex rules reach it
            else:
                own += _model_cases(provider.id, ref, model)
    fallback = _fallback_cases(providers, snapshot)
    cases, skipped = [], Counter[str]()
    for case in own + fallback:
        try:
            result = calc_price(genai_usage(case.event()), case.ref, provider_id=case.provider,
                                genai_request_timestamp=case.moment, price_context=case.context)
        except ValueError as exc:  # usage this model's prices can't decompose (e.g. no cache-write rate)
            skipped[str(exc).split(":")[0]] += 1
            continue
        assert result.model is case.model, (case.provider, case.ref)
        cases.append((case, expected_nanos(result.total_price)))
    return Sample(cases, skipped, unreachable, len(fallback))


# ---------------------------------------------------------------- the comparisons


def test_sample_is_wide(sample: Sample) -> None:
    models = {(c.provider, c.model.id) for c, _ in sample.cases if c.own}
    stats = {
        "cases": len(sample.cases),
        "models": len(models),
        "fallback": sample.fallback,
        "skipped": sum(sample.skipped.values()),
        "batch": sum(1 for c, _ in sample.cases if c.context and c.context.get("processing") == "batch"),
        "other contexts": sum(1 for c, _ in sample.cases if c.context and "processing" not in c.context),
        "before 2026": sum(1 for c, _ in sample.cases if c.moment.year < 2026),
        "over 128k prompt": sum(1 for c, _ in sample.cases if sum(c.buckets[:4]) > 128_000),
    }
    print(stats)  # shown with -s
    assert stats["cases"] >= 12_000, stats
    assert sample.unreachable == []
    assert stats["models"] == 2_330, stats  # every model in the bundled catalog
    assert stats["fallback"] >= 2_000, stats
    assert stats["skipped"] < stats["cases"] // 10, sample.skipped
    assert min(stats["batch"], stats["other contexts"], stats["before 2026"], stats["over 128k prompt"]) >= 1_000, stats


def _mismatches(pricer: Pricer, cases: list[tuple[Case, int]]) -> list[str]:
    out = []
    for case, expected in cases:
        quote = pricer.quote(case.event())
        if quote.cost_nanos != expected or quote.cost_source != "computed":
            out.append(f"{case.label()}: engine {quote.cost_nanos} ({quote.cost_source}), calc_price {expected}")
    return out


def test_engine_equals_calc_price_in_catalog_order(sample: Sample) -> None:
    mismatches = _mismatches(Pricer(Catalog([bundled_layer()])), sample.cases)
    assert mismatches == [], f"{len(mismatches)} mismatches, e.g. {mismatches[:3]}"


def test_engine_equals_calc_price_in_shuffled_order(sample: Sample) -> None:
    # A fresh Pricer fed in another order: no cached rate card may leak between models, days or contexts.
    cases = list(sample.cases)
    random.Random(20261120).shuffle(cases)
    mismatches = _mismatches(Pricer(Catalog([bundled_layer()])), cases)
    assert mismatches == [], f"{len(mismatches)} mismatches, e.g. {mismatches[:3]}"


def test_the_fast_path_covers_the_catalog(sample: Sample) -> None:
    """Prices the compiled card can't express fall back to genai-prices' ModelPrice.calc_price (slow)."""
    paths: Counter[bool] = Counter()
    for case, _ in sample.cases:
        prices = case.model.get_prices(case.moment, case.context if case.own else None)
        paths[all(is_fast_key(k) for k, v in prices.__dict__.items() if v is not None)] += 1
    assert paths[True] >= 0.99 * len(sample.cases), paths


# ---------------------------------------------------------------- property test


_POPULAR = [
    ("anthropic", "claude-sonnet-4-5"), ("anthropic", "claude-opus-4-8"), ("anthropic", "claude-sonnet-4-6"),
    ("anthropic", "claude-3-5-haiku-latest"), ("openai", "gpt-4o"), ("openai", "gpt-5"), ("openai", "o3"),
    ("openai", "gpt-5.5"), ("openai", "gpt-6-sol"), ("google", "gemini-2.5-pro"), ("google", "gemini-2.5-flash"),
    ("google", "gemini-3.1-pro-preview"), ("google", "claude-sonnet-4-5"),
    ("aws", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"), ("azure", "gpt-4o"), ("azure", "ft:gpt-3.5-turbo-"),
    ("deepseek", "deepseek-chat"), ("deepseek", "deepseek-v4-pro"), ("x-ai", "grok-4"),
    ("mistral", "mistral-large-latest"), ("openrouter", "openai/gpt-4o"), ("groq", "llama-3.3-70b-versatile"),
]
_PRICER: Pricer | None = None


def _shared_pricer() -> Pricer:
    global _PRICER
    if _PRICER is None:
        _PRICER = Pricer(Catalog([bundled_layer()]))
    return _PRICER


tokens = st.one_of(st.just(0), st.integers(1, 2_000), st.integers(0, 1_500_000))


def test_property_targets_resolve() -> None:
    catalog = Catalog([bundled_layer()])
    missing = [target for target in _POPULAR if catalog.resolve(*target).model is None]
    assert missing == []


# database=None: nothing written under the repository; derandomize: the same 400 examples every run.
@settings(max_examples=400, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(
    target=st.sampled_from(_POPULAR),
    moment=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 6, 30), timezones=st.just(UTC)),
    context=st.sampled_from([None, {"processing": "batch"}, {"service_tier": "flex"},
                             {"service_tier": "priority"}, {"service_tier": "fast"}, {"speed": "fast"}]),
    buckets=st.tuples(tokens, tokens, tokens, tokens, tokens),
    reasoning_share=st.fractions(0, 1),
)
def test_property_engine_equals_calc_price(target: tuple[str, str], moment: datetime,
                                           context: dict[str, str] | None, buckets: tuple[int, ...],
                                           reasoning_share: Any) -> None:
    from genai_prices import calc_price

    provider, ref = target
    inp, read, write, write_1h, out = buckets
    event = UsageEvent(timestamp=format_utc(moment), provider=provider, model=ref, input_tokens=inp,
                       cache_read_tokens=read, cache_write_tokens=write, cache_write_1h_tokens=write_1h,
                       output_tokens=out, reasoning_tokens=int(out * reasoning_share), price_context=context)
    try:
        result = calc_price(genai_usage(event), ref, provider_id=provider, genai_request_timestamp=moment,
                            price_context=context)
    except ValueError:
        return  # the model cannot price this usage at all (e.g. cache writes with no write rate and 1h tokens)
    assert _shared_pricer().quote(event).cost_nanos == expected_nanos(result.total_price)
