"""Golden costs: every expected value is worked out by hand in the comment above it.

Rates are USD per million tokens (genai-prices 0.2.3 bundled data, see
pricing-sources.md §1 and §4). A bucket costs tokens x rate / 1e6 USD, so in
nano-USD it is tokens x rate x 1000. Our buckets are disjoint: `input_tokens`
excludes cache reads and writes, and the long-context cliff is measured on the
whole prompt (input + cache reads + both cache writes).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from agentcost_cli.models import UsageEvent
from agentcost_cli.pricing.catalog import Catalog, bundled_layer
from agentcost_cli.pricing.engine import Pricer, Quote

NOW = "2026-11-20T12:00:00.000000Z"


@pytest.fixture(scope="module")
def pricer() -> Pricer:
    return Pricer(Catalog([bundled_layer()]))


def usd(text: str) -> int:
    """A hand-computed dollar amount as nano-USD (exact: every amount here has <= 9 decimals)."""
    nanos = Decimal(text) * 1_000_000_000
    assert nanos == nanos.to_integral_value()
    return int(nanos)


def quote(pricer: Pricer, provider: str, model: str, ts: str = NOW, **fields: object) -> Quote:
    return pricer.quote(UsageEvent(timestamp=ts, provider=provider, model=model, **fields))  # type: ignore[arg-type]


# ---------------------------------------------------------------- Anthropic caching


def test_anthropic_cache_reads_and_5m_writes(pricer: Pricer) -> None:
    # claude-sonnet-4: $3 in, $15 out, $0.30 cache read, $3.75 5-minute write
    #   10,000 x 3     = 30,000
    #    2,000 x 0.3   =    600
    #    5,000 x 3.75  = 18,750
    #    1,000 x 15    = 15,000
    #                    64,350 per-MTok-tokens = $0.06435
    q = quote(pricer, "anthropic", "claude-sonnet-4-20250514", input_tokens=10_000, cache_read_tokens=2_000,
              cache_write_tokens=5_000, output_tokens=1_000)
    assert (q.cost_nanos, q.cost_source, q.provider) == (usd("0.06435"), "computed", "anthropic")


def test_anthropic_1h_writes_cost_more_than_5m(pricer: Pricer) -> None:
    # Same request, but 3,000 of the 5,000 written tokens use the 1-hour TTL ($6 instead of $3.75):
    #   10,000 x 3     = 30,000
    #    2,000 x 0.3   =    600
    #    2,000 x 3.75  =  7,500
    #    3,000 x 6     = 18,000
    #    1,000 x 15    = 15,000
    #                    71,100 -> $0.0711
    q = quote(pricer, "anthropic", "claude-sonnet-4-20250514", input_tokens=10_000, cache_read_tokens=2_000,
              cache_write_tokens=2_000, cache_write_1h_tokens=3_000, output_tokens=1_000)
    assert q.cost_nanos == usd("0.0711")


def test_anthropic_opus_4_8_all_buckets(pricer: Pricer) -> None:
    # claude-opus-4-8: $5 in, $25 out, $0.50 read, $6.25 5m write, $10 1h write
    #   1,000 x 5     =  5,000
    #   4,000 x 0.5   =  2,000
    #     800 x 6.25  =  5,000
    #     200 x 10    =  2,000
    #     400 x 25    = 10,000
    #                   24,000 -> $0.024
    q = quote(pricer, "anthropic", "claude-opus-4-8", input_tokens=1_000, cache_read_tokens=4_000,
              cache_write_tokens=800, cache_write_1h_tokens=200, output_tokens=400)
    assert q.cost_nanos == usd("0.024")


# ---------------------------------------------------------------- OpenAI cached input


def test_openai_gpt_4o_cached_input(pricer: Pricer) -> None:
    # OpenAI reports prompt_tokens=10,000 incl. 4,000 cached; our input_tokens holds only the 6,000 uncached.
    # gpt-4o: $2.50 in, $1.25 cached, $10 out
    #   6,000 x 2.5   = 15,000
    #   4,000 x 1.25  =  5,000
    #     500 x 10    =  5,000
    #                   25,000 -> $0.025
    q = quote(pricer, "openai", "gpt-4o", input_tokens=6_000, cache_read_tokens=4_000, output_tokens=500)
    assert q.cost_nanos == usd("0.025")


def test_openai_gpt_5_cached_input(pricer: Pricer) -> None:
    # gpt-5: $1.25 in, $0.125 cached, $10 out
    #   6,000 x 1.25  =  7,500
    #   4,000 x 0.125 =    500
    #     500 x 10    =  5,000
    #                   13,000 -> $0.013
    q = quote(pricer, "openai", "gpt-5", input_tokens=6_000, cache_read_tokens=4_000, output_tokens=500)
    assert q.cost_nanos == usd("0.013")


# ---------------------------------------------------------------- Gemini long-context cliff


def test_gemini_exactly_200k_prompt_stays_at_base_rate(pricer: Pricer) -> None:
    # gemini-2.5-pro: <= 200k prompt: $1.25 in / $10 out
    #   200,000 x 1.25 = 250,000
    #     1,000 x 10   =  10,000
    #                    260,000 -> $0.26
    q = quote(pricer, "google", "gemini-2.5-pro", input_tokens=200_000, output_tokens=1_000)
    assert q.cost_nanos == usd("0.26")


def test_gemini_one_token_over_200k_bills_every_token_at_the_tier(pricer: Pricer) -> None:
    # > 200k prompt: $2.50 in / $15 out, for ALL tokens (cliff, not marginal)
    #   200,001 x 2.5 = 500,002.5
    #     1,000 x 15  =  15,000
    #                    515,002.5 -> $0.5150025
    q = quote(pricer, "google", "gemini-2.5-pro", input_tokens=200_001, output_tokens=1_000)
    assert q.cost_nanos == usd("0.5150025")


def test_gemini_cliff_counts_cached_tokens(pricer: Pricer) -> None:
    # 100,000 uncached + 100,000 cached = 200,000 prompt: base rates ($1.25 in, $0.125 cached, $10 out)
    #   100,000 x 1.25  = 125,000
    #   100,000 x 0.125 =  12,500
    #     1,000 x 10    =  10,000
    #                      147,500 -> $0.1475
    at_limit = quote(pricer, "google", "gemini-2.5-pro", input_tokens=100_000, cache_read_tokens=100_000,
                     output_tokens=1_000)
    assert at_limit.cost_nanos == usd("0.1475")
    # One more cached token makes the prompt 200,001: tier rates ($2.50 in, $0.25 cached, $15 out)
    #   100,000 x 2.5  = 250,000
    #   100,001 x 0.25 =  25,000.25
    #     1,000 x 15   =  15,000
    #                     290,000.25 -> $0.29000025
    over = quote(pricer, "google", "gemini-2.5-pro", input_tokens=100_000, cache_read_tokens=100_001,
                 output_tokens=1_000)
    assert over.cost_nanos == usd("0.29000025")


def test_gemini_250k_prompt_with_100k_cached(pricer: Pricer) -> None:
    # 150,000 uncached + 100,000 cached = 250,000 > 200k
    #   150,000 x 2.5  = 375,000
    #   100,000 x 0.25 =  25,000
    #     1,000 x 15   =  15,000
    #                     415,000 -> $0.415
    q = quote(pricer, "google", "gemini-2.5-pro", input_tokens=150_000, cache_read_tokens=100_000,
              output_tokens=1_000)
    assert q.cost_nanos == usd("0.415")


# ---------------------------------------------------------------- batch and service tiers


def test_batch_price_context(pricer: Pricer) -> None:
    # o3 batch (from 2026-10-14): $1 in / $4 out -> 1M x 1 + 1M x 4 = $5
    q = quote(pricer, "openai", "o3", input_tokens=1_000_000, output_tokens=1_000_000,
              price_context={"processing": "batch"})
    assert q.cost_nanos == usd("5")
    # Before 2026-10-14 batch is not modelled: standard $2 / $8 -> $10
    early = quote(pricer, "openai", "o3", "2026-01-01T00:00:00.000000Z", input_tokens=1_000_000,
                  output_tokens=1_000_000, price_context={"processing": "batch"})
    assert early.cost_nanos == usd("10")


def test_gemini_batch_halves_tiers_but_not_cache_reads(pricer: Pricer) -> None:
    # gemini-2.5-pro batch, prompt 150,000 + 60,000 cached = 210,000 > 200k:
    #   batch tier: $1.25 in, $7.50 out; cache reads stay at the standard tier rate $0.25
    #   150,000 x 1.25 = 187,500
    #    60,000 x 0.25 =  15,000
    #     2,000 x 7.5  =  15,000
    #                     217,500 -> $0.2175
    q = quote(pricer, "google", "gemini-2.5-pro", input_tokens=150_000, cache_read_tokens=60_000,
              output_tokens=2_000, price_context={"processing": "batch"})
    assert q.cost_nanos == usd("0.2175")


def test_flex_and_priority_service_tiers(pricer: Pricer) -> None:
    # gpt-5 flex: $0.625 in / $5 out -> 100,000 x 0.625 + 10,000 x 5 = 62,500 + 50,000 = 112,500 -> $0.1125
    flex = quote(pricer, "openai", "gpt-5", input_tokens=100_000, output_tokens=10_000,
                 price_context={"service_tier": "flex"})
    assert flex.cost_nanos == usd("0.1125")
    # gpt-4o priority: $4.25 in / $17 out -> 100,000 x 4.25 + 10,000 x 17 = 425,000 + 170,000 -> $0.595
    priority = quote(pricer, "openai", "gpt-4o", input_tokens=100_000, output_tokens=10_000,
                     price_context={"service_tier": "priority"})
    assert priority.cost_nanos == usd("0.595")


# ---------------------------------------------------------------- price history


def test_o3_price_before_and_after_2025_06_10(pricer: Pricer) -> None:
    # Until 2025-06-09: $10 / $40 -> 1M x 10 + 1M x 40 = $50
    before = quote(pricer, "openai", "o3", "2025-06-09T23:59:59.999999Z", input_tokens=1_000_000,
                   output_tokens=1_000_000)
    assert before.cost_nanos == usd("50")
    # From 2025-06-10 (UTC midnight): $2 / $8 -> $10
    after = quote(pricer, "openai", "o3", "2025-06-10T00:00:00.000000Z", input_tokens=1_000_000,
                  output_tokens=1_000_000)
    assert after.cost_nanos == usd("10")


# ---------------------------------------------------------------- provider routing


def test_vertex_routes_claude_to_google(pricer: Pricer) -> None:
    # Vertex id with @date, provider spelled "vertex_ai": $3 / $15 -> 1,000 x 3 + 1,000 x 15 = 18,000 -> $0.018
    q = quote(pricer, "vertex_ai", "claude-sonnet-4@20250514", input_tokens=1_000, output_tokens=1_000)
    assert (q.provider, q.cost_nanos) == ("google", usd("0.018"))


def test_bedrock_routes_to_aws_with_regional_uplift(pricer: Pricer) -> None:
    # Bedrock global endpoint: $3 / $15 -> $0.018 for 1k / 1k
    base = quote(pricer, "bedrock", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", input_tokens=1_000,
                 output_tokens=1_000)
    assert (base.provider, base.cost_nanos) == ("aws", usd("0.018"))
    # Regional (us.) endpoint is +10%: $3.30 / $16.50 -> 3,300 + 16,500 = 19,800 -> $0.0198
    regional = quote(pricer, "bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", input_tokens=1_000,
                     output_tokens=1_000)
    assert (regional.provider, regional.cost_nanos) == ("aws", usd("0.0198"))
    # The plain Bedrock id of Sonnet 4 -> $3 / $15 -> $0.018
    plain = quote(pricer, "bedrock", "anthropic.claude-sonnet-4-20250514-v1:0", input_tokens=1_000,
                  output_tokens=1_000)
    assert (plain.provider, plain.cost_nanos) == ("aws", usd("0.018"))


def test_gateway_prefix_routes_to_the_model_provider(pricer: Pricer) -> None:
    # "anthropic/claude-sonnet-4-5" with no provider: anthropic, $3 / $15 -> $0.018 for 1k / 1k
    q = quote(pricer, "", "anthropic/claude-sonnet-4-5", input_tokens=1_000, output_tokens=1_000)
    assert (q.provider, q.model_ref, q.cost_nanos) == ("anthropic", "claude-sonnet-4-5", usd("0.018"))


def test_azure_falls_back_to_openai_prices_without_openai_variants(pricer: Pricer) -> None:
    # ft:gpt-3.5-turbo on azure is priced from openai's entry ($3 / $6) through azure's fallback list.
    # genai-prices ignores request-context variants for a fallback model, so batch does not halve it:
    #   1M x 3 + 1M x 6 = $9 (on openai itself batch gives $1.50 + $3 = $4.50)
    # Priced in both orders to prove the cached rate card is not shared between the two.
    on_openai = quote(pricer, "openai", "ft:gpt-3.5-turbo-", input_tokens=1_000_000, output_tokens=1_000_000,
                      price_context={"processing": "batch"})
    on_azure = quote(pricer, "azure", "ft:gpt-3.5-turbo-", input_tokens=1_000_000, output_tokens=1_000_000,
                     price_context={"processing": "batch"})
    assert (on_openai.cost_nanos, on_azure.cost_nanos) == (usd("4.5"), usd("9"))
    assert on_azure.provider == "azure"


# ---------------------------------------------------------------- reasoning, unknown, reported


def test_reasoning_tokens_are_not_billed_twice(pricer: Pricer) -> None:
    # gpt-5 output 1,000 tokens of which 800 are reasoning: billed once at $10 -> 1,000 x 10 = 10,000 -> $0.01
    q = quote(pricer, "openai", "gpt-5", output_tokens=1_000, reasoning_tokens=800)
    assert q.cost_nanos == usd("0.01")
    assert q.cost_nanos == quote(pricer, "openai", "gpt-5", output_tokens=1_000).cost_nanos


def test_unknown_model_stays_unpriced(pricer: Pricer) -> None:
    q = quote(pricer, "acme", "acme-llm-9000", input_tokens=1_000, output_tokens=1_000)
    assert q.cost_nanos is None  # never $0
    assert q.cost_source == "unpriced"
    priced = pricer.price(UsageEvent(timestamp=NOW, provider="acme", model="acme-llm-9000", input_tokens=5),
                          project="p")
    assert (priced.cost_nanos, priced.cost_source, priced.pricing_rev) == (None, "unpriced", None)


def test_reported_cost_wins(pricer: Pricer) -> None:
    # OpenRouter reports usage.cost = 0.00123456 USD; that is the cost, whatever the table says.
    q = quote(pricer, "openrouter", "anthropic/claude-sonnet-4-5", input_tokens=1_000_000, output_tokens=1_000_000,
              reported_cost_usd=Decimal("0.00123456"))
    assert (q.cost_nanos, q.cost_source) == (1_234_560, "reported")
    # Even for a model the catalog does not know.
    unknown = quote(pricer, "openrouter", "acme/secret-model", input_tokens=10, reported_cost_usd=Decimal("0"))
    assert (unknown.cost_nanos, unknown.cost_source) == (0, "reported")
