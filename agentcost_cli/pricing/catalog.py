"""The price catalog: validated remote snapshot over the bundled genai-prices data.

Both layers are lists of genai-prices `Provider` objects, so one matcher (theirs:
equals/starts_with/regex rules, provider fallbacks, compact-date refs) serves
both. A model the top layer lacks falls through to the bundled layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Gateway / cloud prefixes that name where a model ran, not what it is.
_PREFIX_PROVIDERS = {
    "openai": "openai", "anthropic": "anthropic", "google": "google", "gemini": "google",
    "vertex_ai": "google", "vertex": "google", "bedrock": "aws", "azure": "azure", "mistral": "mistral",
    "deepseek": "deepseek", "xai": "x-ai", "x-ai": "x-ai", "groq": "groq", "openrouter": "openrouter",
    "together_ai": "together", "together": "together", "fireworks_ai": "fireworks", "cohere": "cohere",
}


@dataclass
class Layer:
    name: str  # "bundled" or "snapshot:<sha256 prefix>"
    providers: list[Any]
    snapshot: Any = None  # genai_prices.data_snapshot.DataSnapshot, built lazily

    def data(self) -> Any:
        if self.snapshot is None:
            from genai_prices.data_snapshot import DataSnapshot

            self.snapshot = DataSnapshot(providers=self.providers, from_auto_update=False)
        return self.snapshot


@dataclass
class Resolution:
    provider_id: str  # canonical provider (e.g. "google" for "vertex"), else the lower-cased input
    model_ref: str  # catalog model id when found, else the raw model
    model: Any = None  # genai_prices ModelInfo, or None when unpriced
    provider: Any = None
    layer: str | None = None
    own_model: bool = field(default=False)  # False when found through a provider fallback

    def prices_at(self, moment: datetime, context: dict[str, str] | None) -> Any:
        # genai-prices applies request-context variants only to a provider's own models.
        return self.model.get_prices(moment, context if self.own_model else None)


def _find_provider(providers: list[Any], provider_id: str) -> Any:
    from genai_prices.data_snapshot import find_provider_by_id

    return find_provider_by_id(providers, provider_id) if provider_id else None


class Catalog:
    def __init__(self, layers: list[Layer]) -> None:
        if not layers:
            raise ValueError("a catalog needs at least one layer")
        self.layers = layers
        self._cache: dict[tuple[str, str], Resolution] = {}

    @property
    def source(self) -> str:
        return self.layers[0].name

    def model_count(self) -> int:
        return sum(len(p.models) for p in self.layers[0].providers)

    def resolve(self, provider: str | None, model: str) -> Resolution:
        key = (provider or "", model)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = self._resolve(provider or "", model)
        return hit

    def _candidates(self, provider: str, model: str) -> list[tuple[str, str]]:
        """(provider id, model ref) pairs to try, most specific first."""
        provider = provider.strip().lower()
        model = model.strip()
        out = [(provider, model)]
        lowered = model.lower()
        if "/" in lowered:
            head, tail = lowered.split("/", 1)
            mapped = _PREFIX_PROVIDERS.get(head)
            if mapped:
                out.append((provider or mapped, tail))
                out.append((mapped, tail))
            out.append((provider, lowered.rsplit("/", 1)[1]))
        if provider:
            out.append(("", model))  # a provider the catalog does not know: infer it from the model
        seen: set[tuple[str, str]] = set()
        return [c for c in out if not (c in seen or seen.add(c))]  # type: ignore[func-returns-value]

    def _resolve(self, provider: str, model: str) -> Resolution:
        canonical_provider = provider.strip().lower()
        for layer in self.layers:
            known = _find_provider(layer.providers, canonical_provider)
            if known is not None:
                canonical_provider = known.id
                break
        for layer in self.layers:
            data = layer.data()
            for provider_id, model_ref in self._candidates(provider, model):
                if not model_ref:
                    continue
                try:
                    if provider_id:
                        if _find_provider(layer.providers, provider_id) is None:
                            continue
                        found_provider, found_model = data.find_provider_model(model_ref, None, provider_id, None)
                    else:
                        found_provider, found_model = data.find_provider_model(model_ref, None, None, None)
                except LookupError:
                    continue
                own = any(m is found_model for m in found_provider.models)
                return Resolution(
                    provider_id=found_provider.id if provider_id or not canonical_provider else canonical_provider,
                    model_ref=found_model.id,
                    model=found_model,
                    provider=found_provider,
                    layer=layer.name,
                    own_model=own,
                )
        return Resolution(provider_id=canonical_provider or "unknown", model_ref=model)

    def iter_models(self) -> list[tuple[str, Any, str]]:
        """(provider id, ModelInfo, layer) for every model, top layer first, without duplicates."""
        seen: set[tuple[str, str]] = set()
        out = []
        for layer in self.layers:
            for provider in layer.providers:
                for model in provider.models:
                    if (provider.id, model.id) not in seen:
                        seen.add((provider.id, model.id))
                        out.append((provider.id, model, layer.name))
        return out


def bundled_layer() -> Layer:
    from genai_prices.data import providers

    return Layer(name=f"bundled:genai-prices-{_genai_version()}", providers=providers)


def _genai_version() -> str:
    from importlib.metadata import version

    return version("genai-prices")
