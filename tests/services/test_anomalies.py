"""Anomaly alerts (services/anomalies.py) on a real store: a spike against 28 steady days fires
once, for the spiking project only; too little history and sensitivity "off" fire nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

import orjson
import pytest

from agentcost_cli.errors import InvalidInput
from agentcost_cli.models import PricedEvent, format_usd
from agentcost_cli.services import budgets
from agentcost_cli.services.actor import LOCAL
from agentcost_cli.services.anomalies import scan_anomalies
from agentcost_cli.services.notify_config import notify_config, use_notify_config
from agentcost_cli.store.alerts import OutboxQuery
from agentcost_cli.store.base import Store

from . import test_budgets as shared
from .test_budgets import T0, USD, add, ev, hook, project

# the shared fixtures
any_store = shared.any_store
frozen = shared.frozen
sqlite_store = shared.sqlite_store

TODAY = T0.date()


def steady(slug: str, days: int, *, base: int = 10 * USD, step: int = 100_000_000) -> list[PricedEvent]:
    """One event a day for the `days` days before today, a little different each day."""
    return [ev(f"{slug}-{n}", T0 - timedelta(days=n), base + (n % 5) * step, project=slug)
            for n in range(1, days + 1)]


def _median(values: list[int] | list[Fraction]) -> Fraction:
    ordered = sorted(Fraction(v) for v in values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def test_a_spike_fires_once_for_its_project(any_store: Store) -> None:
    history = add(any_store, steady("web", 28) + steady("api", 28))
    spike = add(any_store, [ev("spike-1", T0 - timedelta(hours=2), 40 * USD),
                            ev("spike-2", T0 - timedelta(hours=1), 25 * USD + 7),
                            ev("api-today", T0 - timedelta(hours=1), 10 * USD, project="api")])
    found = scan_anomalies(any_store)
    assert found["checked"] == 2
    assert [(f["project"], f["day"]) for f in found["fired"]] == [("web", TODAY.isoformat())]
    alerts = any_store.list_alerts(kind_prefix="anomaly.detected")
    assert len(alerts) == 1
    data = orjson.loads(alerts[0]["data_json"])
    today_spend = sum(int(e.cost_nanos or 0) for e in spike if e.project == "web")
    assert data["spent_usd"] == format_usd(today_spend)
    median = _median([int(e.cost_nanos or 0) for e in history if e.project == "web"])
    assert Decimal(data["baseline_median_usd"]) == Decimal(median.numerator) / median.denominator / USD
    assert data["history_days"] == 28
    web_id = any_store.get_project("web")["id"]  # type: ignore[index]
    assert alerts[0]["dedupe_key"] == f"anomaly:{web_id}:{TODAY.isoformat()}"
    assert scan_anomalies(any_store)["fired"] == []  # not twice the same day
    assert len(any_store.list_alerts(kind_prefix="anomaly.detected")) == 1


def test_the_anomaly_goes_to_the_channels_of_the_projects_budgets(sqlite_store: Store) -> None:
    project(sqlite_store, "web")
    hook(sqlite_store, "web-hook", "web")
    budgets.create_budget(sqlite_store, LOCAL, name="webb", amount="100000", project="web",
                          channel_names=["web-hook"])
    add(sqlite_store, [*steady("web", 28), ev("spike", T0 - timedelta(hours=1), 80 * USD)])
    assert len(scan_anomalies(sqlite_store)["fired"]) == 1
    messages = sqlite_store.query_outbox(OutboxQuery())
    assert [(m["channel_name"], m["subject"]) for m in messages] == [
        ("web-hook", "Unusual spend in project 'web' today")]


def test_steady_spend_today_is_no_anomaly(sqlite_store: Store) -> None:
    add(sqlite_store, [*steady("web", 28), ev("today", T0 - timedelta(hours=1), 10 * USD + 200000000)])
    found = scan_anomalies(sqlite_store)
    assert (found["checked"], found["fired"]) == (1, [])


def test_too_little_history_fires_nothing(sqlite_store: Store) -> None:
    add(sqlite_store, [*steady("web", 10), ev("spike", T0 - timedelta(hours=1), 500 * USD)])
    found = scan_anomalies(sqlite_store)
    assert (found["checked"], found["fired"]) == (1, [])
    assert sqlite_store.list_alerts() == []


def test_sensitivity_off_fires_nothing(sqlite_store: Store) -> None:
    use_notify_config(sqlite_store, replace(notify_config(sqlite_store), anomaly_sensitivity="off"))
    add(sqlite_store, [*steady("web", 28), ev("spike", T0 - timedelta(hours=1), 500 * USD)])
    found = scan_anomalies(sqlite_store)
    assert (found["checked"], found["fired"]) == (0, [])
    assert sqlite_store.list_alerts() == []


def test_a_bad_sensitivity_is_an_error_not_silence(sqlite_store: Store) -> None:
    use_notify_config(sqlite_store, replace(notify_config(sqlite_store), anomaly_sensitivity="loud"))
    add(sqlite_store, steady("web", 28))
    with pytest.raises(InvalidInput):
        scan_anomalies(sqlite_store)


def test_a_lower_sensitivity_lets_a_moderate_rise_pass(sqlite_store: Store) -> None:
    history = add(sqlite_store, steady("web", 28, step=USD))
    costs = [int(e.cost_nanos or 0) for e in history]
    median = _median(costs)
    mad = _median([abs(c - median) for c in costs])
    # a rise with a robust z between the "high" (2.5) and "low" (5) thresholds, and above the $1 minimum
    today = int(median + Fraction(4) * mad / Fraction("0.6745")) + 1
    assert today - median >= USD
    add(sqlite_store, [ev("today", T0 - timedelta(hours=1), today)])
    use_notify_config(sqlite_store, replace(notify_config(sqlite_store), anomaly_sensitivity="low"))
    assert scan_anomalies(sqlite_store)["fired"] == []
    use_notify_config(sqlite_store, replace(notify_config(sqlite_store), anomaly_sensitivity="high"))
    assert len(scan_anomalies(sqlite_store)["fired"]) == 1
