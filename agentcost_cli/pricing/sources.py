"""Remote price snapshots: fetch, parse, validate and diff (docs: pricing-sources.md §6, §7.12).

The refresh pipeline the service layer runs is

    fetch_snapshot -> parse_snapshot -> validate_snapshot -> diff_catalogs -> store

Fetching uses a conditional GET so an unchanged upstream costs one 304. Parsing
accepts genai-prices' v2 `data.json` (the primary source) and LiteLLM's price map
(the secondary one, converted in `litellm.py`), always with Decimal numbers.
Validation copies LiteLLM's shrink guard, which genai-prices' own updater lacks:
a truncated or half-empty upstream file must never replace good prices.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from ..errors import PricingError
from ..timeutil import seconds_until_http_date
from .litellm import (
    LITELLM_CHECKED_PROVIDERS,
    convert_litellm,
    is_litellm_provider,
    quantize_significant,
)

FORMAT_GENAI = "genai-prices-v2"
FORMAT_LITELLM = "litellm"

MAX_TRIES = 3
BACKOFF_BASE_S = 0.5
MAX_RETRY_AFTER_S = 60.0  # a server asking for a longer pause will not be waited on
_RETRY_STATUSES = frozenset({408, 425, 429})  # plus every 5xx
MIN_KEEP_RATIO = Decimal("0.5")
DIFF_FIELDS = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok", "cache_write_1h_mtok")

_sleep = time.sleep  # tests replace this to keep retries instant and observable


# ---------------------------------------------------------------- fetch


@dataclass(frozen=True)
class FetchResult:
    status: str  # "ok" or "not-modified"
    content: bytes | None
    url: str
    etag: str | None
    last_modified: str | None


def _is_url(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


def fetch_snapshot(
    source: str, *, timeout: float, etag: str | None = None, last_modified: str | None = None
) -> FetchResult:
    """Fetch a snapshot from an http(s) URL (conditional GET, retries) or read a local file."""
    if _is_url(source):
        return _fetch_url(source, timeout=timeout, etag=etag, last_modified=last_modified)
    return _read_file(source)


def _read_file(source: str) -> FetchResult:
    path = Path(source.removeprefix("file://")).expanduser()
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise PricingError(f"cannot read price snapshot {path}: {exc.strerror or exc}") from None
    return FetchResult(status="ok", content=content, url=str(path.resolve()), etag=None, last_modified=None)


def _conditional_headers(etag: str | None, last_modified: str | None) -> dict[str, str]:
    from .. import __version__

    headers = {"User-Agent": f"agentcost/{__version__}", "Accept": "application/json"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    seconds = seconds_until_http_date(value, datetime.now(UTC))
    return None if seconds is None else max(0.0, seconds)


def _backoff(attempt: int) -> float:
    # Exponential with jitter, so many agentcost installs do not retry in lockstep
    # against raw.githubusercontent.com, which rate-limits.
    return BACKOFF_BASE_S * (2**attempt) * (1 + random.random() / 4)


def _should_retry(status: int) -> bool:
    return status in _RETRY_STATUSES or 500 <= status <= 599


def _fetch_url(url: str, *, timeout: float, etag: str | None, last_modified: str | None) -> FetchResult:
    import httpx  # imported here: only refresh needs it, and it costs ~0.1 s

    headers = _conditional_headers(etag, last_modified)
    last_problem = ""
    with httpx.Client(timeout=timeout, follow_redirects=True, headers=headers) as client:
        for attempt in range(MAX_TRIES):
            try:
                response = client.get(url)
            except httpx.HTTPError as exc:
                last_problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                if attempt + 1 < MAX_TRIES:
                    _sleep(_backoff(attempt))
                continue
            if response.status_code == 304:
                return FetchResult(
                    status="not-modified",
                    content=None,
                    url=url,
                    etag=response.headers.get("ETag") or etag,
                    last_modified=response.headers.get("Last-Modified") or last_modified,
                )
            if response.is_success:
                return FetchResult(
                    status="ok",
                    content=response.content,
                    url=url,
                    etag=response.headers.get("ETag"),
                    last_modified=response.headers.get("Last-Modified"),
                )
            last_problem = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
            if not _should_retry(response.status_code):
                raise PricingError(f"fetching {url} failed: {last_problem}")
            if attempt + 1 < MAX_TRIES:
                _sleep(_wait_before_retry(url, response, attempt, last_problem))
    raise PricingError(
        f"fetching {url} failed after {MAX_TRIES} tries: {last_problem}",
        hint="the current prices stay in use; try again later",
    )


def _wait_before_retry(url: str, response: Any, attempt: int, problem: str) -> float:
    asked = _retry_after(response.headers.get("Retry-After"))
    if asked is None:
        return _backoff(attempt)
    if asked > MAX_RETRY_AFTER_S:
        raise PricingError(
            f"fetching {url} failed: {problem}; the server asks to retry after {asked:.0f} s",
            hint="the current prices stay in use; try again later",
        )
    return asked


# ---------------------------------------------------------------- parse


@dataclass(frozen=True)
class ParsedSnapshot:
    format: str  # "genai-prices-v2" or "litellm"
    providers: list[Any]  # genai_prices.types.Provider objects
    provider_count: int
    model_count: int
    warnings: list[str]


def parse_snapshot(content: bytes) -> ParsedSnapshot:
    """Parse genai-prices v2 data.json or a LiteLLM price map into genai-prices providers."""
    raw = _load_json(content)
    if isinstance(raw, list):
        providers, warnings = _parse_genai(raw)
        fmt = FORMAT_GENAI
    elif isinstance(raw, dict) and "sample_spec" in raw:
        providers, warnings = convert_litellm(raw)
        fmt = FORMAT_LITELLM
    else:
        raise PricingError(
            "not a price snapshot: expected genai-prices v2 data.json (a list of providers) "
            "or LiteLLM's model price map (an object with `sample_spec`)"
        )
    return ParsedSnapshot(
        format=fmt,
        providers=providers,
        provider_count=len(providers),
        model_count=sum(len(p.models) for p in providers),
        warnings=warnings,
    )


def _load_json(content: bytes) -> Any:
    # orjson cannot produce Decimals; the stdlib parser can, and money must never be a float.
    try:
        return json.loads(content, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PricingError(f"price snapshot is not valid JSON: {exc}") from None


def _parse_genai(raw: list[Any]) -> tuple[list[Any], list[str]]:
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not isinstance(
            item.get("models"), list
        ):
            raise PricingError(f"genai-prices snapshot: item {index} is not a provider with an id and models")
    # Quantize the raw numbers before genai-prices builds its objects from them.
    warnings = _quantize_genai(raw)
    try:
        from genai_prices.types import _providers_from_raw
    except ImportError as exc:  # private API: a genai-prices upgrade may move it
        raise PricingError(f"this genai-prices version cannot parse snapshots: {exc}") from None
    try:
        providers = list(_providers_from_raw(raw))
    except Exception as exc:
        raise PricingError(f"genai-prices snapshot does not match the v2 schema: {_schema_problem(exc)}") from None
    return providers, warnings


def _schema_problem(exc: Exception) -> str:
    """The first problem in a pydantic ValidationError (where and what), else the exception's first line."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            found = errors()
        except Exception:
            found = []
        if found:
            where = ".".join(str(part) for part in found[0].get("loc", ()))
            more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
            return f"{where}: {found[0].get('msg', 'invalid')}{more}" if where else f"{found[0].get('msg')}{more}"
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _quantize_genai(raw: list[Any]) -> list[str]:
    """Round float artifacts in the raw providers, in place; one warning per value changed."""
    warnings: list[str] = []
    for provider in raw:
        for model in provider["models"]:
            where = f"{provider['id']}/{model.get('id')}" if isinstance(model, dict) else provider["id"]
            for mapping in _price_mappings(model):
                _quantize_mapping(mapping, where, warnings)
    return warnings


def _price_mappings(model: Any) -> list[dict[str, Any]]:
    """Every ModelPrice-shaped dict in a raw model: prices, conditional prices, variants."""
    if not isinstance(model, dict):
        return []
    out = []
    prices = model.get("prices")
    if isinstance(prices, dict):
        out.append(prices)
    elif isinstance(prices, list):
        out += [c["prices"] for c in prices if isinstance(c, dict) and isinstance(c.get("prices"), dict)]
    for variant in model.get("price_variants") or ():
        if isinstance(variant, dict) and isinstance(variant.get("prices"), dict):
            out.append(variant["prices"])
    return out


def _quantize_mapping(mapping: dict[str, Any], where: str, warnings: list[str]) -> None:
    for key, value in mapping.items():
        if isinstance(value, dict):
            _quantize_slot(value, "base", f"{where}: {key}", warnings)
            for tier in value.get("tiers") or ():
                if isinstance(tier, dict):
                    _quantize_slot(tier, "price", f"{where}: {key}>{tier.get('start')}", warnings)
        else:
            _quantize_slot(mapping, key, f"{where}: {key}", warnings)


def _quantize_slot(holder: dict[str, Any], key: str, label: str, warnings: list[str]) -> None:
    value = holder.get(key)
    if isinstance(value, bool) or not isinstance(value, Decimal | float | str):
        return  # ints are exact; anything else is for the schema check to reject
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return
    if not number.is_finite():
        return
    rounded, changed = quantize_significant(number)
    if changed:
        holder[key] = rounded
        warnings.append(f"{label}={value} is a float artifact; using {rounded}")


# ---------------------------------------------------------------- validate


def validate_snapshot(new: ParsedSnapshot, current_providers: list[Any]) -> None:
    """Refuse a snapshot that looks broken compared with the catalog in use (raises PricingError)."""
    if new.model_count == 0:
        raise PricingError(f"refusing the {new.format} snapshot: it has no models", hint=_KEEP)
    current_count = sum(len(p.models) for p in current_providers)
    if current_count and new.model_count < MIN_KEEP_RATIO * current_count:
        raise PricingError(
            f"refusing the {new.format} snapshot: it has {new.model_count:,} models, "
            f"fewer than half of the {current_count:,} in the current catalog",
            hint=_KEEP,
        )
    new_counts: dict[str, int] = {}
    for provider in new.providers:
        new_counts[provider.id] = new_counts.get(provider.id, 0) + len(provider.models)
    comparable = _comparable_ids(new.format, current_providers)
    emptied = sorted(
        f"{p.id} ({len(p.models):,} models now)"
        for p in current_providers
        if p.models and p.id in comparable and not new_counts.get(p.id)
    )
    if emptied:
        raise PricingError(
            f"refusing the {new.format} snapshot: it has no models for {', '.join(emptied)}",
            hint=_KEEP,
        )


_KEEP = "the current prices stay in use"


def _comparable_ids(fmt: str, current_providers: list[Any]) -> set[str]:
    """Current provider ids that a snapshot of `fmt` is expected to carry.

    A genai-prices snapshot must keep every provider genai-prices knows (its
    bundled ids, plus any later one a previous genai-prices snapshot brought);
    names that exist only in LiteLLM's id space are not its business. A LiteLLM
    snapshot must keep the genai-prices providers it maps onto, and anything a
    previous LiteLLM snapshot had.
    """
    if fmt == FORMAT_LITELLM:
        return set(LITELLM_CHECKED_PROVIDERS) | {p.id for p in current_providers if is_litellm_provider(p)}
    from genai_prices.data import providers as bundled

    return {p.id for p in bundled} | {p.id for p in current_providers if not is_litellm_provider(p)}


# ---------------------------------------------------------------- diff


@dataclass(frozen=True)
class PriceChange:
    provider: str
    model: str
    field: str  # a DIFF_FIELDS name, "input_mtok>200000" for a tier, or "model" for added/removed
    old: str | None
    new: str | None
    pct_change: str | None  # decimal text, e.g. "-80.00"; None when added/removed or from zero


def diff_catalogs(old_providers: list[Any], new_providers: list[Any], at: datetime) -> list[PriceChange]:
    """Changes in the prices in force at `at`, per (provider, model); added/removed models are one row."""
    old = _models_by_key(old_providers)
    new = _models_by_key(new_providers)
    changes: list[PriceChange] = []
    for key in sorted(old.keys() | new.keys()):
        provider_id, model_id = key
        if key not in new:
            changes.append(PriceChange(provider_id, model_id, "model", model_id, None, None))
        elif key not in old:
            changes.append(PriceChange(provider_id, model_id, "model", None, model_id, None))
        else:
            changes += _price_changes(provider_id, model_id, old[key].get_prices(at), new[key].get_prices(at))
    return changes


def _models_by_key(providers: list[Any]) -> dict[tuple[str, str], Any]:
    out: dict[tuple[str, str], Any] = {}
    for provider in providers:
        for model in provider.models:
            out.setdefault((provider.id, model.id), model)  # genai-prices matches the first one too
    return out


def _split(value: Any) -> tuple[Decimal | None, dict[int, Decimal]]:
    """(base, {tier start: price}) for a flat or tiered price, at 12 significant digits.

    Parsing rounds float artifacts (0.18000000000000002 -> 0.18); comparing at the
    same precision keeps that rounding from showing up as a price change against
    the bundled data, which still holds the artifacts.
    """
    if value is None:
        return None, {}
    tiers = getattr(value, "tiers", None)
    if tiers is not None:
        return _sig(value.base), {int(t.start): _sig(t.price) for t in tiers}
    return _sig(value), {}


def _sig(value: Any) -> Decimal:
    return quantize_significant(Decimal(value))[0]


def _price_changes(provider_id: str, model_id: str, old: Any, new: Any) -> list[PriceChange]:
    out = []
    for field in DIFF_FIELDS:
        old_base, old_tiers = _split(getattr(old, field, None))
        new_base, new_tiers = _split(getattr(new, field, None))
        pairs = [(field, old_base, new_base)]
        starts = sorted(old_tiers.keys() | new_tiers.keys())
        pairs += [(f"{field}>{s}", old_tiers.get(s), new_tiers.get(s)) for s in starts]
        for name, before, after in pairs:
            if before != after:
                out.append(PriceChange(provider_id, model_id, name, _text(before), _text(after), _pct(before, after)))
    return out


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def _pct(before: Decimal | None, after: Decimal | None) -> str | None:
    if before is None or after is None or before == 0:
        return None
    pct = ((after - before) * 100 / before).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    return str(pct + 0)  # + 0 turns a rounded "-0.00" into "0.00"
