"""Price-change alerts (services/price_alerts.py): after a pricing update, one `price.changed`
alert to the operators listing the changes of 20% or more on models used in the last 30 days."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest

from agentcost_cli.pricing.sources import PriceChange
from agentcost_cli.services.notify_config import notify_config, use_notify_config
from agentcost_cli.services.price_alerts import notify_price_changes, used_models
from agentcost_cli.store.alerts import OutboxQuery
from agentcost_cli.store.base import Store

from . import test_budgets as shared
from .test_budgets import T0, USD, add, ev, hook

# the shared fixtures
any_store = shared.any_store
frozen = shared.frozen
sqlite_store = shared.sqlite_store


def change(provider: str, model: str, field: str, old: str | None, new: str | None) -> PriceChange:
    pct = None if not old or not new or Decimal(old) == 0 else format(
        ((Decimal(new) - Decimal(old)) * 100 / Decimal(old)).quantize(Decimal("0.01")), "f")
    return PriceChange(provider, model, field, old, new, pct)


@pytest.fixture
def ops(any_store: Store) -> Store:
    """Operators listen on channel "ops"; gpt-4o was used 5 days ago, claude 40 days ago."""
    hook(any_store, "ops")
    use_notify_config(any_store, replace(notify_config(any_store), operator_channels=("ops",)))
    add(any_store, [
        ev("recent", T0 - timedelta(days=5), USD, provider="openai", model="gpt-4o"),
        ev("old", T0 - timedelta(days=40), USD, provider="anthropic", model="claude-sonnet-4-5"),
    ])
    return any_store


def _alert_changes(store: Store) -> list[dict[str, Any]]:
    alerts = store.list_alerts(kind_prefix="price.changed")
    assert len(alerts) == 1
    return list(orjson.loads(alerts[0]["data_json"])["changes"])


def test_one_alert_lists_only_the_large_changes_of_used_models(ops: Store) -> None:
    changes = [
        change("openai", "gpt-4o", "input_mtok", "2.50", "3.125"),  # +25%
        change("openai", "gpt-4o", "output_mtok", "10.00", "11.90"),  # +19%: below the 20% bar
        change("openai", "gpt-4o", "cache_read_mtok", "1.25", "1.00"),  # -20%: a fall counts too
        change("openai", "gpt-4o-mini", "input_mtok", "0.15", "0.30"),  # never used
        change("anthropic", "claude-sonnet-4-5", "input_mtok", "3", "6"),  # last used 40 days ago
    ]
    assert [c.pct_change for c in changes[:3]] == ["25.00", "19.00", "-20.00"]
    alert_id = notify_price_changes(ops, changes, revision=7, source="test-feed")
    assert alert_id is not None
    listed = _alert_changes(ops)
    big = [c for c in changes if c.model == "gpt-4o" and abs(Decimal(c.pct_change or "100")) >= 20]
    assert [(c["provider"], c["model"], c["component"], c["change_pct"]) for c in listed] == [
        (c.provider, c.model, c.field, c.pct_change) for c in big]
    assert len(big) == 2
    alert = ops.get_alert(alert_id)
    assert alert is not None and alert["dedupe_key"] == "price:7" and alert["muted"] == 0
    assert [m["channel_name"] for m in ops.query_outbox(OutboxQuery())] == ["ops"]
    # the same revision never alerts twice
    assert notify_price_changes(ops, changes, revision=7, source="test-feed") is None
    assert len(ops.query_outbox(OutboxQuery())) == 1


def test_changes_under_the_bar_alert_nobody(ops: Store) -> None:
    changes = [change("openai", "gpt-4o", "input_mtok", "100", "119"),
               change("openai", "gpt-4o", "output_mtok", "100", "81.0001")]
    assert notify_price_changes(ops, changes, revision=8, source="test-feed") is None
    assert notify_price_changes(ops, [], revision=9, source="test-feed") is None
    assert ops.list_alerts() == []
    assert ops.query_outbox(OutboxQuery()) == []


def test_the_bar_is_the_configured_percent(ops: Store) -> None:
    use_notify_config(ops, replace(notify_config(ops), price_change_percent=10.0))
    changes = [change("openai", "gpt-4o", "output_mtok", "10.00", "11.90"),  # +19%
               change("openai", "gpt-4o", "input_mtok", "10.00", "10.50")]  # +5%
    assert notify_price_changes(ops, changes, revision=10, source="feed") is not None
    assert [c["change_pct"] for c in _alert_changes(ops)] == ["19.00"]


def test_a_used_model_removed_from_the_catalog_is_listed(ops: Store) -> None:
    changes = [change("openai", "gpt-4o", "model", "present", None),
               change("openai", "gpt-4o-mini", "model", None, "present")]
    assert notify_price_changes(ops, changes, revision=11, source="feed") is not None
    assert [(c["model"], c["component"]) for c in _alert_changes(ops)] == [("gpt-4o", "model")]


def test_used_models_are_the_last_30_days(ops: Store) -> None:
    used = used_models(ops)
    assert ("openai", "gpt-4o") in used
    assert not any(model.startswith("claude") for _, model in used)


def test_a_dated_model_name_in_the_logs_matches_its_catalog_model(sqlite_store: Store) -> None:
    from agentcost_cli.services.pricing import load_catalog

    resolved = load_catalog(sqlite_store).resolve("anthropic", "claude-sonnet-4-5-20250929")
    # The case under test: the logs' dated name resolves to a different catalog model.
    assert resolved.model_ref.lower() != "claude-sonnet-4-5-20250929", "pick a dated name the catalog maps"
    add(sqlite_store, [ev("dated", T0 - timedelta(days=1), USD, provider="anthropic",
                          model="claude-sonnet-4-5-20250929")])
    changes = [change(resolved.provider_id, resolved.model_ref, "input_mtok", "3", "4")]
    assert notify_price_changes(sqlite_store, changes, revision=12, source="feed") is not None
    assert [c["model"] for c in _alert_changes(sqlite_store)] == [resolved.model_ref]
