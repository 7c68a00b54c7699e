"""`evaluate_all` on a real store: budget thresholds once per period, the highest of several,
recovery (new period, raised amount), forecast warnings, mutes, and custom rules.

Budget cases run on SQLite and PostgreSQL. Every expected amount and key is computed from the
seeded events and the budget's definition.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import orjson
import pytest

from agentcost_cli.models import format_usd
from agentcost_cli.services import alerting, budgets, clock, rules
from agentcost_cli.services.actor import LOCAL
from agentcost_cli.services.evaluate import EvaluationReport, evaluate_all
from agentcost_cli.store.alerts import OutboxQuery
from agentcost_cli.store.base import Store

from . import test_budgets as shared
from .test_budgets import T0, USD, add, cost_of, ev, hook, project

# the shared fixtures
any_store = shared.any_store
frozen = shared.frozen
sqlite_store = shared.sqlite_store

MONTH = "2026-11"


def alerts(store: Store, kind: str | None = None) -> list[dict[str, Any]]:
    """Every alert, oldest first, with its data decoded."""
    rows = store.list_alerts(kind_prefix=kind, limit=1000)
    return [{**r, "data": orjson.loads(r["data_json"])} for r in reversed(rows)]


def outbox(store: Store) -> list[dict[str, Any]]:
    return list(reversed(store.query_outbox(OutboxQuery(limit=1000))))


def budget_id(store: Store, name: str) -> int:
    row = store.find_budget(name)
    assert row is not None
    return int(row["id"])


def key(store: Store, name: str, amount_nanos: int, period: str, suffix: str | int) -> str:
    return f"budget:{budget_id(store, name)}:{amount_nanos}:{period}:{suffix}"


def fired_keys(report: EvaluationReport) -> list[str]:
    return [f["key"] for f in report.fired]


@pytest.fixture
def web(any_store: Store) -> Store:
    """Project web with two channels and a $100 monthly budget (50/80/100%) that tells both."""
    project(any_store, "web")
    hook(any_store, "web-hook", "web")
    hook(any_store, "ops-hook")
    budgets.create_budget(any_store, LOCAL, name="webb", amount="100", project="web",
                          channel_names=["web-hook", "ops-hook"], forecast=False)
    return any_store


# -- thresholds -------------------------------------------------------------------------------------------

def test_each_threshold_fires_once_per_period(web: Store) -> None:
    add(web, [ev("a", T0 - timedelta(days=1), 55 * USD)])
    first = evaluate_all(web)
    assert first.errors == []
    assert fired_keys(first) == [key(web, "webb", 100 * USD, MONTH, 50)]
    assert evaluate_all(web).fired == []  # the second pass finds the key taken
    add(web, [ev("b", T0 - timedelta(hours=1), 30 * USD)])
    third = evaluate_all(web)
    assert fired_keys(third) == [key(web, "webb", 100 * USD, MONTH, 80)]
    assert evaluate_all(web).fired == []
    got = alerts(web, "budget.threshold_crossed")
    assert [(a["data"]["threshold"], a["muted"]) for a in got] == [(50, 0), (80, 0)]
    assert got[1]["data"]["spent_usd"] == format_usd(85 * USD)
    assert got[1]["severity"] == "warning" and got[0]["severity"] == "info"
    # one message per alert per channel
    messages = Counter((m["alert_id"], m["channel_name"]) for m in outbox(web))
    assert messages == {(a["id"], c): 1 for a in got for c in ("web-hook", "ops-hook")}


def test_several_thresholds_at_once_deliver_only_the_highest(web: Store) -> None:
    add(web, [ev("burst", T0 - timedelta(hours=2), 120 * USD)])
    report = evaluate_all(web)
    assert sorted(fired_keys(report)) == sorted(key(web, "webb", 100 * USD, MONTH, t) for t in (50, 80, 100))
    by_threshold = {a["data"]["threshold"]: a for a in alerts(web, "budget.threshold_crossed")}
    assert {t: a["muted"] for t, a in by_threshold.items()} == {50: 1, 80: 1, 100: 0}
    assert by_threshold[100]["severity"] == "critical"
    messages = outbox(web)
    assert sorted(m["channel_name"] for m in messages) == ["ops-hook", "web-hook"]
    assert {m["alert_id"] for m in messages} == {by_threshold[100]["id"]}
    assert evaluate_all(web).fired == []  # the silent ones never fire later in the period either
    assert len(outbox(web)) == 2


def test_a_new_period_sends_one_recovery(web: Store) -> None:
    add(web, [ev("nov", T0 - timedelta(days=1), 90 * USD)])
    evaluate_all(web)
    clock.advance(datetime(2026, 12, 1, 0, 30, tzinfo=UTC) - T0)
    report = evaluate_all(web)
    assert fired_keys(report) == [key(web, "webb", 100 * USD, "2026-12", "recovered")]
    recovered = alerts(web, "budget.recovered")
    assert len(recovered) == 1
    assert recovered[0]["data"]["reason"] == "new_period"
    assert recovered[0]["data"]["spent_usd"] == format_usd(0)
    assert recovered[0]["muted"] == 0
    assert evaluate_all(web).fired == []
    assert sum(1 for m in outbox(web) if m["alert_id"] == recovered[0]["id"]) == 2


def test_no_recovery_without_a_fired_threshold_last_period(web: Store) -> None:
    add(web, [ev("nov", T0 - timedelta(days=1), 10 * USD)])
    assert evaluate_all(web).fired == []
    clock.advance(datetime(2026, 12, 1, 0, 30, tzinfo=UTC) - T0)
    assert evaluate_all(web).fired == []


def test_raising_the_amount_recovers_and_rearms_the_thresholds(web: Store) -> None:
    add(web, [ev("a", T0 - timedelta(days=1), 85 * USD)])
    assert len(evaluate_all(web).fired) == 2  # 50 silently, 80 delivered
    budgets.update_budget(web, LOCAL, "webb", amount="200")
    raised = evaluate_all(web)
    assert fired_keys(raised) == [key(web, "webb", 200 * USD, MONTH, "recovered")]
    recovered = alerts(web, "budget.recovered")
    assert [r["data"]["reason"] for r in recovered] == ["budget_raised"]
    assert recovered[0]["data"]["amount_usd"] == format_usd(200 * USD)
    assert evaluate_all(web).fired == []
    add(web, [ev("b", T0 - timedelta(hours=1), 90 * USD)])  # 175 of 200: 50% and 80% again
    again = evaluate_all(web)
    assert sorted(fired_keys(again)) == sorted(key(web, "webb", 200 * USD, MONTH, t) for t in (50, 80))
    latest = alerts(web, "budget.threshold_crossed")[-2:]
    assert {(a["data"]["threshold"], a["data"]["amount_usd"], a["muted"]) for a in latest} == {
        (50, format_usd(200 * USD), 1), (80, format_usd(200 * USD), 0)}


def test_lowering_the_amount_is_no_recovery(web: Store) -> None:
    add(web, [ev("a", T0 - timedelta(days=1), 55 * USD)])
    evaluate_all(web)
    budgets.update_budget(web, LOCAL, "webb", amount="60")
    report = evaluate_all(web)  # 55 of 60 is 91%: 50% and 80% against the new amount, 80% delivered
    assert sorted(fired_keys(report)) == sorted(key(web, "webb", 60 * USD, MONTH, t) for t in (50, 80))
    assert [m["subject"] for m in outbox(web)][-1] == "Budget 'webb' passed 80%"
    assert alerts(web, "budget.recovered") == []


# -- forecast ---------------------------------------------------------------------------------------------

def _projection(spent: int) -> int:
    start, end = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    return round(Fraction(spent) * Fraction((end - start) / timedelta(seconds=1)) / Fraction(
        (T0 - start) / timedelta(seconds=1)))


def test_forecast_warning_fires_once_while_below_the_amount(any_store: Store) -> None:
    project(any_store, "web")
    hook(any_store, "web-hook", "web")
    budgets.create_budget(any_store, LOCAL, name="fc", amount="100", project="web", thresholds_text="80,100",
                          channel_names=["web-hook"])
    spent = 70 * USD
    assert _projection(spent) > 100 * USD  # the premise: on course to overspend, no threshold crossed
    add(any_store, [ev("a", T0 - timedelta(days=2), spent)])
    report = evaluate_all(any_store)
    assert fired_keys(report) == [key(any_store, "fc", 100 * USD, MONTH, "forecast")]
    warning = alerts(any_store, "budget.forecast_exceeded")
    assert len(warning) == 1
    assert warning[0]["data"]["forecast_usd"] == format_usd(_projection(spent))
    assert len(outbox(any_store)) == 1
    assert evaluate_all(any_store).fired == []


def test_no_forecast_warning_under_the_projection_or_once_over_the_amount(sqlite_store: Store) -> None:
    project(sqlite_store, "web")
    budgets.create_budget(sqlite_store, LOCAL, name="low", amount="100", project="web", thresholds_text="80,100")
    add(sqlite_store, [ev("a", T0 - timedelta(days=2), 40 * USD)])
    assert _projection(40 * USD) < 100 * USD
    assert evaluate_all(sqlite_store).fired == []
    # Spent past the amount: 100% fires, the "on course to overspend" warning does not.
    add(sqlite_store, [ev("b", T0 - timedelta(days=1), 70 * USD)])
    report = evaluate_all(sqlite_store)
    assert {f["kind"] for f in report.fired} == {"budget.threshold_crossed"}


def test_no_forecast_warning_once_overspent_even_without_a_100_threshold(sqlite_store: Store) -> None:
    """A budget alerting at 50% and 80% only: once spend passed the amount the period is already
    overspent, so a warning that it "is on course to overspend" would be wrong."""
    project(sqlite_store, "web")
    budgets.create_budget(sqlite_store, LOCAL, name="noh", amount="100", project="web", thresholds_text="50,80")
    add(sqlite_store, [ev("a", T0 - timedelta(days=2), 120 * USD)])
    report = evaluate_all(sqlite_store)
    assert [f["kind"] for f in report.fired] == ["budget.threshold_crossed"] * 2
    assert alerts(sqlite_store, "budget.forecast_exceeded") == []


# -- mutes ------------------------------------------------------------------------------------------------

def test_a_muted_budget_records_its_alert_and_queues_nothing(web: Store) -> None:
    alerting.mute(web, LOCAL, "budget:webb", duration=timedelta(days=1), reason="known spike")
    add(web, [ev("a", T0 - timedelta(days=1), 60 * USD)])
    report = evaluate_all(web)
    assert fired_keys(report) == [key(web, "webb", 100 * USD, MONTH, 50)]
    assert [a["muted"] for a in alerts(web)] == [1]
    assert outbox(web) == []
    assert evaluate_all(web).fired == []
    # The mute ends: later thresholds are delivered again.
    clock.advance(timedelta(days=1, minutes=1))
    add(web, [ev("b", clock.now() - timedelta(minutes=1), 25 * USD)])
    after = evaluate_all(web)
    assert fired_keys(after) == [key(web, "webb", 100 * USD, MONTH, 80)]
    assert len(outbox(web)) == 2


def test_other_budgets_are_not_muted(web: Store) -> None:
    budgets.create_budget(web, LOCAL, name="other", amount="100", project="web", channel_names=["web-hook"],
                          forecast=False)
    alerting.mute(web, LOCAL, "budget:webb", duration=timedelta(hours=2))
    add(web, [ev("a", T0 - timedelta(days=1), 60 * USD)])
    evaluate_all(web)
    assert {a["source"]: a["muted"] for a in alerts(web)} == {"budget:webb": 1, "budget:other": 0}
    assert [m["channel_name"] for m in outbox(web)] == ["web-hook"]


# -- rules ------------------------------------------------------------------------------------------------

def _rule_alerts(store: Store) -> list[dict[str, Any]]:
    return alerts(store, "rule.triggered")


def test_rule_fires_for_its_provider_group_once_per_day(any_store: Store) -> None:
    project(any_store, "web")
    hook(any_store, "web-hook", "web")
    rules.create_rule(any_store, LOCAL, name="openai-day", expression='cost > 5 and provider == "openai" per day',
                      project="web", channel_names=["web-hook"])
    today = T0.replace(hour=0)
    events = add(any_store, [
        ev("y", today - timedelta(hours=1), 100 * USD),  # yesterday
        ev("o1", today + timedelta(hours=1), 3 * USD),
        ev("o2", today + timedelta(hours=2), 3 * USD + 1),
        ev("an", today + timedelta(hours=3), 50 * USD, provider="anthropic", model="claude-sonnet-4-5"),
        ev("other", today + timedelta(hours=3), 50 * USD, project="api"),  # another project's openai spend
    ])
    report = evaluate_all(any_store)
    assert report.errors == []
    rule_id = any_store.find_rule("openai-day")["id"]  # type: ignore[index]
    assert fired_keys(report) == [f"rule:{rule_id}:2026-11-20:provider=openai"]
    fired = _rule_alerts(any_store)
    expected = cost_of(events, lambda e: e.dedupe_key in ("o1", "o2"))
    assert fired[0]["data"]["values"]["cost_usd"] == format_usd(expected)
    assert fired[0]["data"]["values"]["events"] == 2
    assert fired[0]["data"]["filters"] == {"provider": "openai"}
    assert evaluate_all(any_store).fired == []
    assert len(outbox(any_store)) == 1
    # the next day is a new window
    clock.advance(timedelta(days=1))
    add(any_store, [ev("o3", clock.now() - timedelta(hours=1), 6 * USD)])
    assert fired_keys(evaluate_all(any_store)) == [f"rule:{rule_id}:2026-11-21:provider=openai"]


def test_rule_not_fired_at_or_below_its_limit(sqlite_store: Store) -> None:
    rules.create_rule(sqlite_store, LOCAL, name="r", expression='cost > 5 and provider == "openai" per day')
    add(sqlite_store, [ev("o1", T0 - timedelta(hours=1), 5 * USD),
                       ev("an", T0 - timedelta(hours=1), 9 * USD, provider="anthropic")])
    report = evaluate_all(sqlite_store)
    assert (report.rules, report.fired, report.errors) == (1, [], [])


def test_rule_with_a_tag_counts_only_the_tagged_events(sqlite_store: Store) -> None:
    rules.create_rule(sqlite_store, LOCAL, name="team-x", expression='cost > 1 and tag.team == "x" per day')
    events = add(sqlite_store, [
        ev("x1", T0 - timedelta(hours=2), 600_000_000, tags={"team": "x"}),
        ev("x2", T0 - timedelta(hours=1), 500_000_001, tags={"team": "x", "env": "prod"}, project="api"),
        ev("y1", T0 - timedelta(hours=1), 9 * USD, tags={"team": "y"}),
        ev("n1", T0 - timedelta(hours=1), 9 * USD),
    ])
    report = evaluate_all(sqlite_store)
    assert report.errors == []
    rule_id = sqlite_store.find_rule("team-x")["id"]  # type: ignore[index]
    assert fired_keys(report) == [f"rule:{rule_id}:2026-11-20:"]
    fired = _rule_alerts(sqlite_store)[0]
    expected = cost_of(events, lambda e: (e.event.tags or {}).get("team") == "x")
    assert fired["data"]["values"]["cost_usd"] == format_usd(expected)
    assert fired["data"]["filters"] == {"tag.team": "x"}
    assert evaluate_all(sqlite_store).fired == []


def test_rule_with_a_tag_below_its_limit_is_quiet(sqlite_store: Store) -> None:
    rules.create_rule(sqlite_store, LOCAL, name="team-x", expression='cost > 1 and tag.team == "x" per day')
    add(sqlite_store, [ev("x1", T0 - timedelta(hours=2), USD, tags={"team": "x"}),
                       ev("y1", T0 - timedelta(hours=1), 9 * USD, tags={"team": "y"})])
    assert evaluate_all(sqlite_store).fired == []


def test_rolling_rule_sums_the_last_hours_and_fires_once_per_window(any_store: Store) -> None:
    rules.create_rule(any_store, LOCAL, name="burst", expression="cost > 5 over 6 hours")
    events = add(any_store, [
        ev("old", T0 - timedelta(hours=7), 10 * USD),
        ev("r1", T0 - timedelta(hours=5), 3 * USD),
        ev("r2", T0 - timedelta(hours=1), 2 * USD + 1),
    ])
    report = evaluate_all(any_store)
    assert report.errors == []
    assert len(report.fired) == 1
    assert report.fired[0]["key"].startswith(f"rule:{any_store.find_rule('burst')['id']}:over6h-")  # type: ignore[index]
    fired = _rule_alerts(any_store)[0]
    in_window = cost_of(events, lambda e: e.dedupe_key in ("r1", "r2"))
    assert fired["data"]["values"]["cost_usd"] == format_usd(in_window)
    assert fired["data"]["window_start"] == (T0 - timedelta(hours=6)).isoformat()
    clock.advance(timedelta(hours=1))  # still over $5 in the last 6 hours, same window
    assert evaluate_all(any_store).fired == []


def test_rolling_rule_quiet_when_the_spend_is_older_than_its_window(sqlite_store: Store) -> None:
    rules.create_rule(sqlite_store, LOCAL, name="burst", expression="cost > 5 over 6 hours")
    add(sqlite_store, [ev("old", T0 - timedelta(hours=6, seconds=1), 10 * USD),
                       ev("r1", T0 - timedelta(hours=5), 3 * USD)])
    assert evaluate_all(sqlite_store).fired == []


def test_a_broken_rule_is_reported_and_the_others_still_run(sqlite_store: Store) -> None:
    now = clock.now_text()
    for name, expression in [("aa-syntax", "cost >>> 5"), ("ab-tag-in-or", 'cost > 1 or tag.team == "x"'),
                             ("ac-good", "cost > 1 per day")]:
        sqlite_store.insert_rule({"name": name, "expression": expression, "channels_json": "[]", "enabled": 1,
                                  "created_utc": now, "updated_utc": now})
    sqlite_store.insert_rule({"name": "ad-disabled", "expression": "cost > 1 per day", "channels_json": "[]",
                              "enabled": 0, "created_utc": now, "updated_utc": now})
    add(sqlite_store, [ev("a", T0 - timedelta(hours=1), 2 * USD)])
    report = evaluate_all(sqlite_store)
    assert report.rules == 3
    assert len(report.errors) == 2
    assert report.errors[0].startswith("rule aa-syntax: ")
    assert report.errors[1].startswith("rule ab-tag-in-or: ") and "tag.team" in report.errors[1]
    assert [f["source"] for f in report.fired] == ["ac-good"]


def test_a_broken_budget_is_reported_and_the_others_still_run(sqlite_store: Store) -> None:
    project(sqlite_store, "web")
    now = clock.now_text()
    base = {"scope_kind": "global", "amount_nanos": 10 * USD, "period": "month", "zone": "UTC",
            "thresholds": "50", "forecast": 0, "channels_json": "[]", "created_utc": now, "updated_utc": now}
    sqlite_store.insert_budget({**base, "name": "a-bad-period", "period": "fortnight"})
    sqlite_store.insert_budget({**base, "name": "b-zero", "amount_nanos": 0})
    sqlite_store.insert_budget({**base, "name": "c-bad-zone", "zone": "Atlantis/Capital"})
    budgets.create_budget(sqlite_store, LOCAL, name="d-good", amount="10", scope="global", thresholds_text="50")
    add(sqlite_store, [ev("a", T0 - timedelta(hours=1), 6 * USD)])
    report = evaluate_all(sqlite_store)
    assert report.budgets == 4
    assert [e.split(":")[0] for e in report.errors] == ["budget a-bad-period", "budget b-zero", "budget c-bad-zone"]
    assert [f["source"] for f in report.fired] == ["d-good"]


def test_raise_recovers_even_after_many_other_threshold_alerts(sqlite_store: Store) -> None:
    """The raised budget's own earlier alert is found however many other budgets of its
    project fired since (more than any one page of alerts)."""
    project(sqlite_store, "web")
    budgets.create_budget(sqlite_store, LOCAL, name="webb", amount="100", project="web", forecast=False)
    add(sqlite_store, [ev("a", T0 - timedelta(days=1), 85 * USD)])
    assert len(evaluate_all(sqlite_store).fired) == 2
    web_id = project(sqlite_store, "web")
    clock.advance(timedelta(minutes=5))
    with sqlite_store.transaction():
        for n in range(1200):  # other budgets' alerts in the same project, newer than ours
            sqlite_store.insert_alert({
                "dedupe_key": f"budget:{1000 + n}:{USD}:{MONTH}:50", "kind": "budget.threshold_crossed",
                "source": f"budget:other-{n}", "project_id": web_id, "created_utc": clock.now_text(),
                "severity": "info", "summary": "other", "data_json": "{}", "muted": 0})
    budgets.update_budget(sqlite_store, LOCAL, "webb", amount="1000")
    report = evaluate_all(sqlite_store)
    assert fired_keys(report) == [key(sqlite_store, "webb", 1000 * USD, MONTH, "recovered")]
