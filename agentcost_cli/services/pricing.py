"""Pricing operations: load the layered catalog, overrides, updates, history, repricing.

Reading prices needs `PRICING_VIEW` (every signed-in user, keys with scope read or admin);
changing them or the stored costs, `PRICING_MANAGE` (operators only). The loaders
(`load_catalog`, `load_pricer`, `current_revision`) check nothing: ingest uses them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from .. import paths
from ..errors import InvalidInput, NotFound, PricingError
from ..models import UsageEvent
from ..pricing.catalog import Catalog, Layer, Resolution, bundled_layer
from ..pricing.engine import Pricer
from ..store.base import Store
from ..timeutil import format_utc, now_utc
from . import authcache
from .actor import Actor
from .permissions import Op, require

OVERRIDE_FIELDS = ("input", "output", "cache_read", "cache_write", "cache_write_1h")
_BUNDLED_META = "pricing.bundled_source"


def _snapshot_layer(store: Store) -> Layer | None:
    active = store.active_pricing_snapshot()
    if active is None:
        return None
    from ..pricing.sources import parse_snapshot

    path = Path(active["path"])
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise PricingError(
            f"the active pricing snapshot {path} cannot be read: {exc}",
            hint="run `agentcost pricing update` to fetch a new one",
        ) from None
    if hashlib.sha256(content).hexdigest() != active["sha256"]:
        raise PricingError(f"the pricing snapshot {path} does not match its recorded sha256",
                           hint="run `agentcost pricing update` to fetch a new one")
    parsed = parse_snapshot(content)
    return Layer(name=f"snapshot:{active['sha256'][:12]}", providers=parsed.providers)


def load_catalog(store: Store) -> Catalog:
    layers = [layer for layer in (_snapshot_layer(store),) if layer is not None]
    layers.append(bundled_layer())
    return Catalog(layers)


def current_revision(store: Store, catalog: Catalog) -> int:
    """The pricing revision in force, recording a new one when the bundled data changed (an upgrade)."""
    bundled = catalog.layers[-1].name
    revision = store.current_pricing_revision()
    if revision is None or store.get_meta(_BUNDLED_META) != bundled:
        snapshot = store.active_pricing_snapshot()
        rev = store.add_pricing_revision(
            snapshot_id=snapshot["id"] if snapshot else None, reason=f"catalog loaded ({bundled})"
        )
        authcache.invalidate()  # the daemon's ingestion rereads the revision at once
        store.set_meta(_BUNDLED_META, bundled)
        return rev
    return int(revision["id"])


def load_pricer(store: Store) -> Pricer:
    catalog = load_catalog(store)
    return Pricer(catalog, store.active_price_overrides(), current_revision(store, catalog))


# -- listing ---------------------------------------------------------------------------

@dataclass
class ModelPrices:
    provider: str
    model: str
    name: str | None
    layer: str
    rates: dict[str, Any]
    context_window: int | None = None
    deprecated: bool = False
    overridden: bool = False
    price_periods: list[dict[str, Any]] = field(default_factory=list)


def _card_for(pricer: Pricer, provider: str, model_id: str, at: datetime) -> dict[str, Any]:
    resolution = pricer.catalog.resolve(provider, model_id)
    ts = format_utc(at)
    override = pricer.override_for(resolution.provider_id, resolution.model_ref, model_id, ts)
    return _describe(pricer, resolution, ts, override)


def _describe(pricer: Pricer, resolution: Resolution, ts: str, override: dict[str, Any] | None) -> dict[str, Any]:
    card, prices = pricer.rate_card(resolution, ts, None, override)
    if card is not None:
        return card.describe()
    return {k: str(v) for k, v in prices.__dict__.items() if v is not None}


def list_models(store: Store, actor: Actor, *, search: str | None = None, provider: str | None = None,
                at: datetime | None = None) -> list[ModelPrices]:
    require(store, actor, Op.PRICING_VIEW)
    pricer = load_pricer(store)
    at = at or datetime.now(UTC)
    out = []
    needle = (search or "").lower()
    ts = format_utc(at)
    for provider_id, model, layer in pricer.catalog.iter_models():
        if provider and provider_id != provider.lower():
            continue
        if needle and needle not in model.id.lower() and needle not in (model.name or "").lower():
            continue
        # The catalog's own entry, as it is: resolving its id again would match it against every
        # model (genai-prices' matchers), 0.3 ms a model, most of a 2,000-model listing's time.
        resolution = Resolution(provider_id, model.id, model, layer=layer, own_model=True)
        override = pricer.override_for(provider_id, model.id, model.id, ts)
        out.append(ModelPrices(provider_id, model.id, model.name, layer, _describe(pricer, resolution, ts, override),
                               model.context_window, bool(model.deprecated), overridden=override is not None))
    return out


def show_model(store: Store, actor: Actor, model: str, *, provider: str | None = None,
               at: datetime | None = None) -> ModelPrices:
    require(store, actor, Op.PRICING_VIEW)
    pricer = load_pricer(store)
    at = at or datetime.now(UTC)
    resolution = pricer.catalog.resolve(provider or "", model)
    override = pricer.override_for(resolution.provider_id, resolution.model_ref, model, format_utc(at))
    if resolution.model is None and override is None:
        raise NotFound(f"no price for {model!r}" + (f" from {provider}" if provider else ""),
                       hint="see `agentcost pricing list --search` or add one with `agentcost pricing set`")
    info = ModelPrices(
        resolution.provider_id, resolution.model_ref,
        getattr(resolution.model, "name", None), resolution.layer or "override",
        _card_for(pricer, resolution.provider_id, model, at),
        getattr(resolution.model, "context_window", None), bool(getattr(resolution.model, "deprecated", False)),
        overridden=override is not None,
    )
    if resolution.model is not None:
        info.price_periods = _periods(resolution.model)
    return info


def _periods(model: Any) -> list[dict[str, Any]]:
    prices = model.prices if isinstance(model.prices, list) else None
    if prices is None:
        return [{"from": None, "prices": str(model.prices)}]
    out = []
    for conditional in prices:
        constraint = conditional.constraint
        start = getattr(constraint, "start_date", None)
        window = None
        if hasattr(constraint, "start_time"):
            window = f"{constraint.start_time}-{constraint.end_time} UTC"
        out.append({"from": start.isoformat() if start else None, "time_of_day": window,
                    "prices": str(conditional.prices)})
    return out


# -- overrides ---------------------------------------------------------------------------

def _rate_text(name: str, value: str) -> str:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise InvalidInput(f"--{name.replace('_', '-')} must be a decimal number (USD per million tokens)") from None
    if not number.is_finite() or number < 0:
        raise InvalidInput(f"--{name.replace('_', '-')} must be a non-negative number")
    return str(number)


def set_override(store: Store, actor: Actor, *, provider: str, model: str, rates: dict[str, str | None],
                 effective_from: datetime | None, reason: str) -> dict[str, Any]:
    require(store, actor, Op.PRICING_MANAGE)
    clean = {k: _rate_text(k, v) for k, v in rates.items() if v is not None}
    if not clean:
        raise InvalidInput("give at least one rate, e.g. --input 2.5 --output 10 (USD per million tokens)")
    unknown = set(clean) - set(OVERRIDE_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown rate {sorted(unknown)[0]!r}")
    if not reason.strip():
        raise InvalidInput("--reason is required: say why this price differs from the catalog")
    catalog = load_catalog(store)
    resolution = catalog.resolve(provider, model)
    if resolution.model is None and not {"input", "output"} <= set(clean):
        raise InvalidInput(f"{model!r} is not in the catalog, so --input and --output are both required")
    override: dict[str, Any] = {
        "provider": resolution.provider_id,
        "model": resolution.model_ref.lower(),
        "rates": clean,
        "effective_from_utc": format_utc(effective_from) if effective_from else "0000-01-01T00:00:00.000000Z",
        "reason": reason.strip(),
        "created_utc": now_utc(),
    }
    with store.transaction():
        override["id"] = store.add_price_override(override)
        snapshot = store.active_pricing_snapshot()
        revision = store.add_pricing_revision(
            snapshot_id=snapshot["id"] if snapshot else None,
            reason=f"override {override['provider']}/{override['model']}: {override['reason']}",
        )
        authcache.invalidate()  # the daemon's ingestion rereads the revision at once
        store.add_price_history([
            {"recorded_utc": override["created_utc"], "revision_id": revision, "provider": override["provider"],
             "model": override["model"], "field": f"override.{name}", "old_value": None, "new_value": value,
             "pct_change": None, "source": "override"}
            for name, value in clean.items()
        ])
    override["revision"] = revision
    return override


def unset_override(store: Store, actor: Actor, *, provider: str, model: str) -> int:
    require(store, actor, Op.PRICING_MANAGE)
    catalog = load_catalog(store)
    resolution = catalog.resolve(provider, model)
    with store.transaction():
        removed = store.remove_price_overrides(resolution.provider_id, resolution.model_ref.lower(),
                                               removed_utc=now_utc())
        if not removed:
            raise NotFound(f"no active override for {resolution.provider_id}/{resolution.model_ref}")
        snapshot = store.active_pricing_snapshot()
        store.add_pricing_revision(snapshot_id=snapshot["id"] if snapshot else None,
                                   reason=f"override removed {resolution.provider_id}/{resolution.model_ref}")
        authcache.invalidate()  # the daemon's ingestion rereads the revision at once
    return removed


# -- update ----------------------------------------------------------------------------

@dataclass
class UpdateResult:
    status: str  # "updated", "not-modified", "unchanged"
    source: str
    format: str | None = None
    sha256: str | None = None
    model_count: int | None = None
    provider_count: int | None = None
    changes: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    revision: int | None = None


def update_prices(store: Store, actor: Actor, *, source: str, timeout: float) -> UpdateResult:
    """Fetch, validate, record and activate a snapshot; refuse ones that look broken."""
    require(store, actor, Op.PRICING_MANAGE)
    from ..pricing.sources import diff_catalogs, fetch_snapshot, parse_snapshot, validate_snapshot

    active = store.active_pricing_snapshot()
    same_source = active is not None and active["source_url"] == source
    fetched = fetch_snapshot(
        source, timeout=timeout,
        etag=active["etag"] if same_source and active else None,
        last_modified=active["last_modified"] if same_source and active else None,
    )
    if fetched.status == "not-modified" or fetched.content is None:
        return UpdateResult(status="not-modified", source=source)
    sha = hashlib.sha256(fetched.content).hexdigest()
    if active is not None and active["sha256"] == sha:
        return UpdateResult(status="unchanged", source=source, sha256=sha)
    parsed = parse_snapshot(fetched.content)
    current = load_catalog(store)
    validate_snapshot(parsed, current.layers[0].providers)
    changes = diff_catalogs(current.layers[0].providers, parsed.providers, datetime.now(UTC))
    target = paths.pricing_dir() / f"{sha}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".partial")
    tmp.write_bytes(fetched.content)
    tmp.replace(target)
    now = now_utc()
    with store.transaction():
        snapshot_id = store.add_pricing_snapshot({
            "sha256": sha, "format": parsed.format, "source_url": source, "fetched_utc": now,
            "path": str(target), "provider_count": parsed.provider_count, "model_count": parsed.model_count,
            "etag": fetched.etag, "last_modified": fetched.last_modified,
        })
        revision = store.add_pricing_revision(snapshot_id=snapshot_id, reason=f"update from {source}")
        authcache.invalidate()  # the daemon's ingestion rereads the revision at once
        store.add_price_history([
            {"recorded_utc": now, "revision_id": revision, "provider": c.provider, "model": c.model,
             "field": c.field, "old_value": c.old, "new_value": c.new, "pct_change": c.pct_change,
             "source": parsed.format}
            for c in changes
        ])
    _alert_on_changes(store, changes, revision=revision, source=source)
    return UpdateResult(
        status="updated", source=source, format=parsed.format, sha256=sha, model_count=parsed.model_count,
        provider_count=parsed.provider_count, warnings=list(parsed.warnings), revision=revision,
        changes=[c.__dict__ for c in changes],
    )


def _alert_on_changes(store: Store, changes: list[Any], *, revision: int, source: str) -> None:
    """Tell the operators about large changes on models in use. The update has committed:
    a notice that cannot be queued is logged, and never undoes it."""
    import logging

    from ..errors import AgentcostError
    from .price_alerts import notify_price_changes

    try:
        notify_price_changes(store, changes, revision=revision, source=source)
    except AgentcostError as exc:
        logging.getLogger("agentcost.alerts").warning("price-change alert not queued: %s", exc.message)


def history(store: Store, actor: Actor, *, provider: str | None = None,
            model: str | None = None) -> list[dict[str, Any]]:
    require(store, actor, Op.PRICING_VIEW)
    return store.price_history(provider.lower() if provider else None, model.lower() if model else None)


def missing(store: Store, actor: Actor) -> list[dict[str, Any]]:
    require(store, actor, Op.PRICING_VIEW)
    return store.unpriced_models()


# -- reprice ---------------------------------------------------------------------------

@dataclass
class RepriceResult:
    examined: int = 0
    changed: int = 0
    newly_priced: int = 0
    newly_unpriced: int = 0
    cost_before_nanos: int = 0
    cost_after_nanos: int = 0
    revision: int | None = None
    dry_run: bool = False
    # (provider, model) -> [events, before, after, unpriced before, unpriced after]
    by_model: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The document of `agentcost pricing reprice --json` and `POST /v1/pricing/reprice`
        (money as exact decimal strings; a model's cost is null when none of its events has one)."""
        from ..models import format_usd

        return {
            "dry_run": self.dry_run, "examined": self.examined, "changed": self.changed,
            "newly_priced": self.newly_priced, "newly_unpriced": self.newly_unpriced,
            "cost_before_usd": format_usd(self.cost_before_nanos),
            "cost_after_usd": format_usd(self.cost_after_nanos),
            "difference_usd": format_usd(self.cost_after_nanos - self.cost_before_nanos),
            "pricing_revision": self.revision,
            "models": [{"provider": p, "model": m, "events": s[0],
                        "before_usd": None if s[3] == s[0] else format_usd(s[1]),
                        "after_usd": None if s[4] == s[0] else format_usd(s[2]),
                        "unpriced_before": s[3], "unpriced_after": s[4]}
                       for (p, m), s in sorted(self.by_model.items())],
        }


def reprice(store: Store, actor: Actor, *, since: str | None = None, dry_run: bool = False) -> RepriceResult:
    """Recompute computed costs with the current catalog; reported costs stay as reported.

    One transaction: a crash leaves every event and rollup as it was.
    """
    require(store, actor, Op.PRICING_MANAGE)
    import orjson

    pricer = load_pricer(store)
    result = RepriceResult(revision=pricer.revision, dry_run=dry_run)
    with store.transaction():
        for batch in store.iter_events_for_reprice(since):
            updates = []
            for row in batch:
                event = UsageEvent(
                    timestamp=row["ts_utc"], provider=row["provider"], model=row["model"],
                    input_tokens=row["input_tokens"], cache_read_tokens=row["cache_read_tokens"],
                    cache_write_tokens=row["cache_write_tokens"], cache_write_1h_tokens=row["cache_write_1h_tokens"],
                    output_tokens=row["output_tokens"], reasoning_tokens=row["reasoning_tokens"],
                    requests=row["requests"],
                    price_context=orjson.loads(row["price_context_json"]) if row["price_context_json"] else None,
                )
                quote = pricer.quote(event)
                result.examined += 1
                before = row["cost_nanos"]
                result.cost_before_nanos += before or 0
                result.cost_after_nanos += quote.cost_nanos or 0
                rev = pricer.revision if quote.cost_source == "computed" else None
                if before != quote.cost_nanos or row["cost_source"] != quote.cost_source:
                    result.changed += 1
                    result.newly_priced += before is None and quote.cost_nanos is not None
                    result.newly_unpriced += before is not None and quote.cost_nanos is None
                    stats = result.by_model.setdefault((row["provider"], row["model"]), [0, 0, 0, 0, 0])
                    stats[0] += 1
                    stats[1] += before or 0
                    stats[2] += quote.cost_nanos or 0
                    stats[3] += before is None
                    stats[4] += quote.cost_nanos is None
                if before != quote.cost_nanos or row["cost_source"] != quote.cost_source or row["pricing_rev"] != rev:
                    updates.append((row["id"], quote.cost_nanos, quote.cost_source, rev))
            if updates and not dry_run:
                store.update_costs(updates)
        if not dry_run and result.examined:
            store.rebuild_rollups(since)
    return result
