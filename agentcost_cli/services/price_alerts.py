"""Price-change alerts: after a pricing update, a change of 20% or more (notify.price_change
setting) on a model used in the last 30 days tells the operators. The changes are the ones
`pricing update` records in the price history (pricing.sources.diff_catalogs); "used" means
the model an event resolved to in the catalog, so `claude-sonnet-4-5-20250929` in the logs
matches the catalog's `claude-sonnet-4-5`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from ..notify.notice import Notice
from ..store.base import AggregateQuery, EventFilter, Store
from . import clock
from .notify_config import notify_config
from .operators import notify_operators

USED_WITHIN = timedelta(days=30)


def used_models(store: Store) -> set[tuple[str, str]]:
    """(provider id, model ref) of the catalog models events resolved to in the last 30 days."""
    from .pricing import load_catalog

    zone_today = clock.now().date()
    rows = store.aggregate(AggregateQuery(
        filter=EventFilter(since=(zone_today - USED_WITHIN).isoformat(),
                           until=(zone_today + timedelta(days=2)).isoformat()),
        dimensions=("provider", "model"), time_grain="day"))
    catalog = load_catalog(store)
    used: set[tuple[str, str]] = set()
    for row in rows:
        provider, model = (str(k or "") for k in row.keys)
        resolution = catalog.resolve(provider, model)
        used.add((resolution.provider_id.lower(), resolution.model_ref.lower()))
        used.add((provider.lower(), model.lower()))
    return used


def significant(changes: Sequence[Any], used: set[tuple[str, str]], percent: Decimal) -> list[Any]:
    out = []
    for change in changes:
        if (change.provider.lower(), change.model.lower()) not in used:
            continue
        if change.pct_change is None or abs(Decimal(change.pct_change)) >= percent:
            out.append(change)
    return out


def notify_price_changes(store: Store, changes: Sequence[Any], *, revision: int, source: str) -> int | None:
    """Fire one `price.changed` notice listing the significant changes. Returns the alert id."""
    if not changes:
        return None
    percent = Decimal(str(notify_config(store).price_change_percent))
    found = significant(changes, used_models(store), percent)
    if not found:
        return None
    shown = found[:20]
    lines = [f"{c.provider}/{c.model} {c.field}: {c.old or '-'} -> {c.new or '-'}"
             + (f" ({c.pct_change}%)" if c.pct_change is not None else "") for c in shown]
    notice = Notice(
        type="price.changed", title=f"Prices changed for {len(found)} price(s) of models you use",
        summary=f"The pricing update from {source} changed {len(found)} price(s) by {percent}% or more on models "
                "used in the last 30 days. Costs of new events use the new prices; `agentcost pricing reprice` "
                "recomputes older ones.",
        severity="warning", occurred_utc=clock.now_text(),
        fields=tuple((f"{c.provider}/{c.model}", line.split(": ", 1)[1]) for c, line in zip(shown, lines,
                                                                                            strict=True)),
        data={"source": source, "changes": [
            {"provider": c.provider, "model": c.model, "component": c.field, "old_usd_per_mtok": c.old,
             "new_usd_per_mtok": c.new, "change_pct": c.pct_change} for c in found[:100]]})
    return notify_operators(store, notice, dedupe_key=f"price:{revision}")
