"""Pricing operations end to end on a real store: update, history, overrides, missing, reprice."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agentcost_cli.errors import InvalidInput, NotFound, PricingError
from agentcost_cli.ingest.pipeline import IngestOptions
from agentcost_cli.services import pricing
from agentcost_cli.services.actor import LOCAL
from agentcost_cli.services.ingest import ingest_inputs
from agentcost_cli.services.reports import ReportRequest, build_report
from agentcost_cli.store.base import EventFilter, Store

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pricing"
GENAI = FIXTURES / "genai_prices_data_v2.json"


def snapshot_with(tmp_path: Path, name: str, change: Any) -> Path:
    data = json.loads(GENAI.read_text())
    change(data)
    target = tmp_path / name
    target.write_text(json.dumps(data))
    return target


def gpt4o(data: list[dict[str, Any]]) -> dict[str, Any]:
    openai = next(p for p in data if p["id"] == "openai")
    return next(m for m in openai["models"] if m["id"] == "gpt-4o")


def ingest(store: Store, tmp_path: Path, rows: list[dict[str, Any]]) -> None:
    src = tmp_path / f"in-{len(list(tmp_path.iterdir()))}.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ingest_inputs(store, LOCAL, [str(src)], IngestOptions())


EVENT = {"id": "e1", "timestamp": "2026-11-20T10:00:00Z", "provider": "openai", "model": "gpt-4o",
         "input_tokens": 1_000_000, "output_tokens": 1_000_000}


def cost(store: Store) -> Decimal:
    return Decimal(build_report(store, LOCAL, ReportRequest(group_by=("model",))).totals["cost_usd"])


def test_update_from_a_file_records_a_revision_and_history(store: Store, tmp_path: Path) -> None:
    def halve_gpt4o(data: list[dict[str, Any]]) -> None:
        model = gpt4o(data)
        prices = model["prices"] if isinstance(model["prices"], dict) else model["prices"][-1]["prices"]
        prices["input_mtok"] = 1.25

    ingest(store, tmp_path, [EVENT])
    assert cost(store) == Decimal("12.5")  # $2.50 in + $10 out per MTok
    source = str(snapshot_with(tmp_path, "new.json", halve_gpt4o))
    result = pricing.update_prices(store, LOCAL, source=source, timeout=5)
    assert result.status == "updated" and result.format == "genai-prices-v2"
    assert result.model_count == 2330
    change = [c for c in result.changes if c["model"] == "gpt-4o" and c["field"] == "input_mtok"]
    assert change == [{"provider": "openai", "model": "gpt-4o", "field": "input_mtok", "old": "2.5", "new": "1.25",
                       "pct_change": "-50.00"}]
    assert pricing.history(store, LOCAL, model="gpt-4o")[0]["pct_change"] == "-50.00"
    # Stored costs keep their old price until repriced, which says what it changes.
    assert cost(store) == Decimal("12.5")
    dry = pricing.reprice(store, LOCAL, dry_run=True)
    assert (dry.changed, dry.cost_after_nanos - dry.cost_before_nanos) == (1, -1_250_000_000)
    assert cost(store) == Decimal("12.5")
    done = pricing.reprice(store, LOCAL)
    assert cost(store) == Decimal("11.25")
    event = next(store.iter_events(EventFilter()))
    assert event["pricing_rev"] == done.revision
    # Fetching the same bytes again changes nothing.
    again = pricing.update_prices(store, LOCAL, source=str(tmp_path / "new.json"), timeout=5)
    assert again.status == "unchanged"


def test_update_refuses_a_shrunken_snapshot(store: Store, tmp_path: Path) -> None:
    def drop_most(data: list[dict[str, Any]]) -> None:
        for provider in data:
            provider["models"] = provider["models"][:1]

    with pytest.raises(PricingError):
        pricing.update_prices(store, LOCAL, source=str(snapshot_with(tmp_path, "small.json", drop_most)), timeout=5)
    assert store.active_pricing_snapshot() is None


def test_tampered_active_snapshot_is_detected(store: Store, tmp_path: Path) -> None:
    pricing.update_prices(store, LOCAL, source=str(GENAI), timeout=5)
    Path(store.active_pricing_snapshot()["path"]).write_text("[]")  # type: ignore[index]
    with pytest.raises(PricingError, match="sha256"):
        pricing.load_pricer(store)


def test_override_prices_new_events_and_reprice_applies_it_to_old(store: Store, tmp_path: Path) -> None:
    ingest(store, tmp_path, [EVENT])
    override = pricing.set_override(store, LOCAL, provider="openai", model="gpt-4o",
                                    rates={"input": "2", "output": "8"},
                                    effective_from=datetime(2026, 11, 1, tzinfo=UTC), reason="enterprise deal")
    assert override["model"] == "gpt-4o" and override["rates"] == {"input": "2", "output": "8"}
    ingest(store, tmp_path, [{**EVENT, "id": "e2"}, {**EVENT, "id": "e3", "timestamp": "2026-10-01T00:00:00Z"}])
    by_id = {e["dedupe_key"]: e["cost_nanos"] for e in store.iter_events(EventFilter())}
    assert by_id == {"e1": 12_500_000_000, "e2": 10_000_000_000, "e3": 12_500_000_000}  # e3 predates it
    pricing.reprice(store, LOCAL)
    by_id = {e["dedupe_key"]: e["cost_nanos"] for e in store.iter_events(EventFilter())}
    assert by_id["e1"] == 10_000_000_000
    shown = pricing.show_model(store, LOCAL, "gpt-4o", provider="openai", at=datetime(2026, 11, 20, tzinfo=UTC))
    assert shown.overridden and shown.rates["input"] == "2" and shown.rates["cache_read"] == "1.25"
    assert pricing.unset_override(store, LOCAL, provider="openai", model="gpt-4o") == 1
    with pytest.raises(NotFound):
        pricing.unset_override(store, LOCAL, provider="openai", model="gpt-4o")


def test_listing_says_which_models_are_overridden_and_shows_each_entrys_own_prices(store: Store) -> None:
    at = datetime(2026, 11, 20, tzinfo=UTC)
    pricing.set_override(store, LOCAL, provider="openai", model="gpt-4o", rates={"input": "2", "output": "8"},
                         effective_from=datetime(2026, 11, 1, tzinfo=UTC), reason="enterprise deal")
    listed = {(m.provider, m.model): m for m in pricing.list_models(store, LOCAL, search="gpt-4o", at=at)}
    assert listed[("openai", "gpt-4o")].overridden and listed[("openai", "gpt-4o")].rates["input"] == "2"
    assert not listed[("openai", "gpt-4o-mini")].overridden
    before = pricing.list_models(store, LOCAL, search="gpt-4o", at=datetime(2026, 10, 1, tzinfo=UTC))
    assert not any(m.overridden for m in before)  # not yet in force then
    # Each catalog entry lists with its own rates: the same card as showing it by name.
    for model in pricing.list_models(store, LOCAL, provider="anthropic", at=at)[:20]:
        shown = pricing.show_model(store, LOCAL, model.model, provider="anthropic", at=at)
        assert model.rates == shown.rates, model.model


def test_unknown_model_is_missing_until_priced(store: Store, tmp_path: Path) -> None:
    ingest(store, tmp_path, [{**EVENT, "model": "acme-7b", "provider": "acme"}])
    assert [m["model"] for m in pricing.missing(store, LOCAL)] == ["acme-7b"]
    with pytest.raises(InvalidInput, match="--input and --output"):
        pricing.set_override(store, LOCAL, provider="acme", model="acme-7b", rates={"input": "1"}, effective_from=None,
                             reason="internal")
    with pytest.raises(InvalidInput, match="--reason"):
        pricing.set_override(store, LOCAL, provider="acme", model="acme-7b", rates={"input": "1", "output": "2"},
                             effective_from=None, reason=" ")
    pricing.set_override(store, LOCAL, provider="acme", model="acme-7b", rates={"input": "1", "output": "2"},
                         effective_from=None, reason="internal chargeback")
    result = pricing.reprice(store, LOCAL)
    assert (result.newly_priced, pricing.missing(store, LOCAL)) == (1, [])
    assert cost(store) == Decimal("3")


def test_bad_override_rates_are_refused(store: Store) -> None:
    for bad in ("abc", "-1", "NaN"):
        with pytest.raises(InvalidInput):
            pricing.set_override(store, LOCAL, provider="openai", model="gpt-4o", rates={"input": bad},
                                 effective_from=None, reason="x")


def test_list_and_show(store: Store) -> None:
    models = pricing.list_models(store, LOCAL, search="sonnet-4-5", provider="anthropic")
    assert models and all("sonnet-4-5" in m.model for m in models)
    assert models[0].rates["input"] == "3"
    history = pricing.show_model(store, LOCAL, "o3", provider="openai").price_periods
    assert [p["from"] for p in history][:2] == [None, "2025-06-10"]
    with pytest.raises(NotFound):
        pricing.show_model(store, LOCAL, "no-such-model-xyz")
