"""Convert LiteLLM's `model_prices_and_context_window.json` into genai-prices providers.

LiteLLM is the secondary price source (docs: pricing-sources.md §2): a flat dict
keyed by model name, USD per token as JSON floats, with tiers, cache TTLs and
service tiers spelled as field-name suffixes. Turning it into genai-prices
`Provider` objects lets one matcher and one engine serve both sources.

What is converted (everything else is counted in one "ignored" warning):

- `input_cost_per_token`, `output_cost_per_token`, `cache_read_input_token_cost`,
  `cache_creation_input_token_cost` (5-minute/default write),
  `cache_creation_input_token_cost_above_1hr` (1-hour write) and
  `output_cost_per_reasoning_token`, x 1e6 into per-MTok Decimals;
- `_above_NNNk_tokens` -> a `TieredPrices` cliff starting at NNN*1000 prompt tokens;
- `_batches` / `_flex` / `_priority` -> `PriceVariant`s on `processing=batch` and
  `service_tier=flex|priority`.
"""

from __future__ import annotations

import re
from collections import Counter
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

from ..errors import PricingError

RESERVED_KEYS = frozenset({"sample_spec", "fallback_generalizations"})

# Marks converted providers, so validation knows which id space a catalog came from.
LITELLM_DESCRIPTION = "Converted from LiteLLM"

# LiteLLM provider names that correspond to a genai-prices provider id. A name
# not listed here (and not vertex_ai-*) keeps its LiteLLM spelling.
LITELLM_PROVIDER_MAP: dict[str, str] = {
    "openai": "openai",
    "text-completion-openai": "openai",
    "anthropic": "anthropic",
    "gemini": "google",
    "vertex_ai": "google",  # and every vertex_ai-* partner-model route, see map_provider
    "bedrock": "aws",
    "bedrock_converse": "aws",
    "bedrock_mantle": "aws",  # Bedrock's OpenAI-compatible endpoint: same account, same bill
    "azure": "azure",
    "azure_ai": "azure",
    "azure_text": "azure",
    "mistral": "mistral",
    "codestral": "mistral",
    "text-completion-codestral": "mistral",
    "deepseek": "deepseek",
    "xai": "x-ai",
    "groq": "groq",
    "openrouter": "openrouter",
    "together_ai": "together",
    "fireworks_ai": "fireworks",
    "fireworks_ai-embedding-models": "fireworks",
    "cohere": "cohere",
    "cohere_chat": "cohere",
    "perplexity": "perplexity",
    "moonshot": "moonshotai",
    "voyage": "voyageai",
    "github_copilot": "github-copilot",
}

# Refresh validation refuses a LiteLLM snapshot that empties one of these. OpenRouter
# is mapped only so that stray rows land in the right place: LiteLLM carries no
# OpenRouter prices (none in 1.110.2), so its absence is not a sign of breakage.
LITELLM_CHECKED_PROVIDERS = frozenset(LITELLM_PROVIDER_MAP.values()) - {"openrouter"}

_PRICE_KEYS: dict[str, str] = {
    "input_cost_per_token": "input_mtok",
    "output_cost_per_token": "output_mtok",
    "cache_read_input_token_cost": "cache_read_mtok",
    "cache_creation_input_token_cost": "cache_write_mtok",
    "cache_creation_input_token_cost_above_1hr": "cache_write_1h_mtok",
    "output_cost_per_reasoning_token": "output_reasoning_mtok",
}
_VARIANTS: dict[str, dict[str, str]] = {
    "batches": {"processing": "batch"},
    "flex": {"service_tier": "flex"},
    "priority": {"service_tier": "priority"},
}
_FIELD_RE = re.compile(
    "(?P<base>" + "|".join(sorted(_PRICE_KEYS, key=len, reverse=True)) + ")"
    r"(?:_above_(?P<k>\d+)k_tokens)?"
    "(?:_(?P<variant>" + "|".join(_VARIANTS) + "))?"
)
_COST_FIELD_RE = re.compile(r"cost|pricing")

SIGNIFICANT_DIGITS = 12
_MTOK = 6  # per token -> per million tokens is a shift of the decimal point
_NEVER_MATCHES = "(?!)"  # api_pattern for providers genai-prices does not know


def map_provider(litellm_provider: str) -> str:
    """The genai-prices provider id for a LiteLLM provider name."""
    name = litellm_provider.strip().lower()
    if name in LITELLM_PROVIDER_MAP:
        return LITELLM_PROVIDER_MAP[name]
    if name.startswith("vertex_ai"):
        return "google"
    return name


def quantize_significant(value: Decimal) -> tuple[Decimal, bool]:
    """(value, False) if it fits in 12 significant digits, else (rounded half-even, True).

    Upstream data holds binary-float artifacts such as 1.0399999999999998: digits
    no price list ever published. Real rates need at most 9 significant digits
    (per MTok, in both sources as of 2026-11) and the artifacts have 15-17, so
    twelve keeps every real rate and drops the float noise.
    """
    normalized = value.normalize()
    if len(normalized.as_tuple().digits) <= SIGNIFICANT_DIGITS:
        return _plain(normalized), False
    with localcontext() as ctx:
        ctx.prec = SIGNIFICANT_DIGITS
        ctx.rounding = ROUND_HALF_EVEN
        rounded = (+value).normalize()  # unary plus rounds to the context precision
    return _plain(rounded), True


def _plain(value: Decimal) -> Decimal:
    # normalize() writes 10 as 1E+1; keep integers in plain notation for display and storage.
    return value.quantize(Decimal(1)) if int(value.as_tuple().exponent) > 0 else value


def _is_number(value: Any) -> bool:
    return isinstance(value, Decimal | int) and not isinstance(value, bool)


def _strip_prefix(key: str, litellm_provider: str, target: str) -> str | None:
    """The key without its leading route segment (`gemini/`, `vertex_ai/`, `bedrock/`, ...), if it has one."""
    head, sep, tail = key.partition("/")
    if not sep or not tail:
        return None
    head_norm = head.lower().replace("-", "_")
    provider_norm = litellm_provider.lower().replace("-", "_")
    if head_norm == provider_norm or provider_norm.startswith(head_norm + "_") or map_provider(head) == target:
        return tail
    return None


class _Converter:
    """One conversion run: collects warnings and ignored-field counts as it goes."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.ignored: Counter[str] = Counter()

    def rate(self, key: str, field: str, value: Any) -> Decimal:
        rate, artifact = quantize_significant(Decimal(value).scaleb(_MTOK))
        if artifact:
            self.warnings.append(f"litellm {key}: {field}={value} is a float artifact; using {rate} per MTok")
        return rate

    def collect(self, key: str, entry: dict[str, Any]) -> dict[str | None, dict[str, dict[str, Any]]] | None:
        """{variant or None: {price key: {"base": Decimal | None, "tiers": {start: Decimal}}}}."""
        collected: dict[str | None, dict[str, dict[str, Any]]] = {}
        for field, value in entry.items():
            match = _FIELD_RE.fullmatch(field)
            if match is None:
                if _COST_FIELD_RE.search(field) and value not in (None, 0):
                    self.ignored[field] += 1
                continue
            if value is None:
                continue
            if not _is_number(value) or not Decimal(value).is_finite() or value < 0:
                self.warnings.append(f"litellm {key}: skipped, {field}={value!r} is not a non-negative number")
                return None
            slot = collected.setdefault(match["variant"], {}).setdefault(
                _PRICE_KEYS[match["base"]], {"base": None, "tiers": {}}
            )
            rate = self.rate(key, field, value)
            if match["k"]:
                slot["tiers"][int(match["k"]) * 1000] = rate
            else:
                slot["base"] = rate
        return collected

    def model_price(self, where: str, slots: dict[str, dict[str, Any]], *, standard: bool) -> Any:
        from genai_prices.types import ModelPrice, Tier, TieredPrices

        prices: dict[str, Any] = {}
        for price_key, slot in slots.items():
            if slot["base"] is None:
                # A tier needs a base rate below it; LiteLLM sometimes lists the tier alone.
                starts = ", ".join(str(start) for start in sorted(slot["tiers"]))
                self.warnings.append(
                    f"litellm {where}: {price_key} has a tier above {starts} but no base rate; dropped"
                )
                continue
            if slot["tiers"]:
                tiers = [Tier(start=start, price=price) for start, price in sorted(slot["tiers"].items())]
                prices[price_key] = TieredPrices(base=slot["base"], tiers=tiers)
            else:
                prices[price_key] = slot["base"]
        if standard and "cache_write_1h_mtok" in prices and "cache_write_mtok" not in prices:
            # genai-prices requires a 5-minute rate above the 1-hour one; LiteLLM bills a
            # missing 5-minute write as input, so that is the rate it gets. (A variant
            # needs no such fix: its missing keys fall back to the standard price.)
            prices["cache_write_mtok"] = prices.get("input_mtok")
            if prices["cache_write_mtok"] is None:
                del prices["cache_write_mtok"], prices["cache_write_1h_mtok"]
        return ModelPrice(**prices) if prices else None

    def model(self, key: str, entry: dict[str, Any], names: list[str]) -> Any | None:
        from genai_prices.types import ClauseEquals, ClauseOr, ModelInfo, PriceVariant

        collected = self.collect(key, entry)
        if collected is None:
            return None
        standard = self.model_price(key, collected.get(None, {}), standard=True)
        variants = []
        for suffix, when in _VARIANTS.items():
            partial = self.model_price(f"{key} ({suffix})", collected.get(suffix, {}), standard=False)
            if partial is not None:
                variants.append(PriceVariant(when=dict(when), prices=partial))
        clauses: list[Any] = [ClauseEquals(equals=name) for name in names]
        context = entry.get("max_input_tokens")
        return ModelInfo(
            id=key,
            match=clauses[0] if len(clauses) == 1 else ClauseOr(or_=clauses),
            description=f"litellm_provider={entry['litellm_provider']}",
            context_window=context if isinstance(context, int) and not isinstance(context, bool) else None,
            prices=standard,
            price_variants=variants or None,
        )

    def summary(self) -> None:
        if self.ignored:
            top = ", ".join(f"{name} ({count})" for name, count in self.ignored.most_common(8))
            more = len(self.ignored) - 8
            self.warnings.append(
                f"litellm: ignored {sum(self.ignored.values())} price fields genai-prices has no unit for: "
                f"{top}{f' and {more} more' if more > 0 else ''}"
            )


def _priced_entries(raw: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(key, entry) for every row with both an input and an output rate; checks the top-level shape."""
    out = []
    for key, entry in raw.items():
        if key in RESERVED_KEYS:
            continue
        if not isinstance(entry, dict):
            raise PricingError(f"LiteLLM snapshot entry {key!r} is a {type(entry).__name__}, not an object")
        if "alias_of" in entry or not isinstance(entry.get("litellm_provider"), str):
            continue  # alias rows point at another key and carry no prices of their own
        if entry.get("input_cost_per_token") is None or entry.get("output_cost_per_token") is None:
            continue
        out.append((key, entry))
    return out


def _model_names(rows: list[tuple[str, dict[str, Any]]], target: str) -> list[list[str]]:
    """Match names per row: the key, plus the key without its route prefix when no other row owns it.

    genai-prices takes the first model whose rule matches, so an exact key must
    never be shadowed by another row's stripped alias (`gemini-2.5-pro` is the
    Vertex row, `gemini/gemini-2.5-pro` the Gemini API one).
    """
    keys = {key.lower() for key, _ in rows}
    claimed: set[str] = set()
    names = []
    for key, entry in rows:
        row = [key]
        stripped = _strip_prefix(key, entry["litellm_provider"], target)
        if stripped and stripped.lower() not in keys and stripped.lower() not in claimed:
            claimed.add(stripped.lower())
            row.append(stripped)
        names.append(row)
    return names


def _provider(target: str, litellm_names: list[str], models: list[Any], bundled: Any) -> Any:
    from genai_prices.types import Provider

    description = f"{LITELLM_DESCRIPTION} (litellm_provider: {', '.join(sorted(litellm_names))})"
    if bundled is None:
        return Provider(id=target, name=target, api_pattern=_NEVER_MATCHES, description=description, models=models)
    # Reuse genai-prices' own matching metadata, so a LiteLLM layer infers providers
    # from model names and falls back (azure -> openai, google -> anthropic) the same way.
    return Provider(
        id=target,
        name=bundled.name,
        api_pattern=bundled.api_pattern,
        pricing_urls=bundled.pricing_urls,
        description=description,
        model_match=bundled.model_match,
        provider_match=bundled.provider_match,
        fallback_model_providers=bundled.fallback_model_providers,
        models=models,
    )


def convert_litellm(raw: Any) -> tuple[list[Any], list[str]]:
    """(genai-prices providers, warnings) for a parsed LiteLLM price map (numbers as Decimal)."""
    from genai_prices.data import providers as bundled_providers

    if not isinstance(raw, dict):
        raise PricingError("a LiteLLM snapshot must be a JSON object keyed by model name")
    converter = _Converter()
    grouped: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for key, entry in _priced_entries(raw):
        grouped.setdefault(map_provider(entry["litellm_provider"]), []).append((key, entry))

    bundled = {p.id: p for p in bundled_providers}
    order = {p.id: index for index, p in enumerate(bundled_providers)}
    providers = []
    # genai-prices infers a provider from the model name by walking providers in
    # order, so known providers keep their genai-prices order, then the rest by name.
    for target in sorted(grouped, key=lambda t: (order.get(t, len(order)), t)):
        rows = grouped[target]
        models = [
            model
            for (key, entry), names in zip(rows, _model_names(rows, target), strict=True)
            if (model := converter.model(key, entry, names)) is not None
        ]
        if models:
            names_used = sorted({entry["litellm_provider"] for _, entry in rows})
            providers.append(_provider(target, names_used, models, bundled.get(target)))
    converter.summary()
    return providers, converter.warnings


def is_litellm_provider(provider: Any) -> bool:
    return (getattr(provider, "description", None) or "").startswith(LITELLM_DESCRIPTION)
