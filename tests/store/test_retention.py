"""Retention purges on each backend: events leave the rollups with them (so reports never
count what is gone, and what is kept is counted exactly as before), and only finished
deliveries and old alerts are removed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agentcost_cli.models import PricedEvent, UsageEvent
from agentcost_cli.services import retention
from agentcost_cli.settings import Settings
from agentcost_cli.store.base import AggregateQuery, EventFilter, Store
from agentcost_cli.timeutil import format_utc

CUT = datetime(2026, 11, 10, 5, tzinfo=UTC)  # 06:00 in Paris: the cut falls inside a local day


def _event(n: int, ts: datetime, project: str, cost: int) -> PricedEvent:
    event = UsageEvent(timestamp=format_utc(ts), provider="openai", model="gpt-4o", input_tokens=n, output_tokens=1,
                       id=f"e{n}")
    return PricedEvent(event, project, f"e{n}", cost, "computed", 1, "openai", "gpt-4o")


def _seed(store: Store) -> list[PricedEvent]:
    # Every 97 minutes over four days around the cut, in two projects, with distinct costs.
    start = CUT - timedelta(days=2)
    events = [_event(n, start + timedelta(minutes=97 * n), "keep" if n % 3 == 0 else "purge", 1000 + n)
              for n in range(60)]
    with store.transaction():
        store.insert_events(events, ingested_utc=format_utc(CUT))
    return events


def _totals(store: Store, grain: str | None, project: str) -> int:
    flt = EventFilter(projects=(project,))
    return sum(r.sums["cost_nanos"] for r in store.aggregate(AggregateQuery(flt, ("project",), grain)))


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "Asia/Kolkata"])
def test_purge_events_keeps_rollups_equal_to_the_events_left(backend: Store, zone: str) -> None:
    backend.set_rollup_zone(zone)
    events = _seed(backend)
    pid = backend.project_ids(["purge"])["purge"]
    removed = backend.purge_events(pid, format_utc(CUT))
    doomed = [e for e in events if e.project == "purge" and e.event.timestamp < format_utc(CUT)]
    assert removed == len(doomed) > 0
    kept_cost = sum(e.cost_nanos or 0 for e in events
                    if e.project == "purge" and e.event.timestamp >= format_utc(CUT))
    # The raw events, the hourly rollup and the daily rollup all agree on what is left.
    assert _totals(backend, None, "purge") == kept_cost
    assert _totals(backend, "hour", "purge") == kept_cost
    assert _totals(backend, "day", "purge") == kept_cost
    # The other project is untouched.
    keep_cost = sum(e.cost_nanos or 0 for e in events if e.project == "keep")
    assert _totals(backend, "day", "keep") == keep_cost == _totals(backend, None, "keep")
    # Per local day the rollup equals a sum over the raw events (the cut's own day included).
    daily = backend.aggregate(AggregateQuery(EventFilter(projects=("purge",)), (), "day"))
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    for row in daily:
        day = str(row.bucket)[:10]
        expected = sum(e.cost_nanos or 0 for e in events if e.project == "purge"
                       and e.event.timestamp >= format_utc(CUT)
                       and datetime.fromisoformat(e.event.timestamp[:-1]).replace(tzinfo=UTC)
                       .astimezone(tz).date().isoformat() == day)
        assert row.sums["cost_nanos"] == expected, day


def test_purge_events_needs_an_hour_boundary(backend: Store) -> None:
    with pytest.raises(ValueError):
        backend.purge_events(1, format_utc(CUT + timedelta(minutes=30)))


def _message(store: Store, key: str, created: datetime, status: str) -> int:
    return store.insert_outbox({"created_utc": format_utc(created), "channel": "email", "recipient": "a@example.com",
                                "template": "alert", "subject": "s", "payload_sealed": "x", "idempotency_key": key,
                                "status": status})


def test_purge_outbox_removes_only_finished_old_messages(backend: Store) -> None:
    old, new = CUT - timedelta(days=100), CUT
    ids = {s: _message(backend, f"old-{s}", old, s) for s in ("sent", "dead", "unknown", "pending")}
    fresh = _message(backend, "new-sent", new, "sent")
    assert backend.purge_outbox(format_utc(CUT - timedelta(days=90))) == 3
    assert backend.get_outbox(ids["pending"]) is not None  # never lose an undelivered message
    assert backend.get_outbox(fresh) is not None
    assert all(backend.get_outbox(ids[s]) is None for s in ("sent", "dead", "unknown"))


def test_purge_alerts_by_age(backend: Store) -> None:
    def alert(key: str, created: datetime) -> int | None:
        return backend.insert_alert({"dedupe_key": key, "kind": "test.message", "source": None, "project_id": None,
                                     "created_utc": format_utc(created), "severity": "info", "summary": "s",
                                     "data_json": "{}", "muted": 0})

    alert("old", CUT - timedelta(days=500))
    alert("new", CUT - timedelta(days=10))
    assert backend.purge_alerts(format_utc(CUT - timedelta(days=400))) == 1
    assert not backend.alert_exists("old") and backend.alert_exists("new")


def test_retention_service_uses_project_retention_over_the_default(backend: Store, tmp_path) -> None:
    events = _seed(backend)
    conf = Settings.load({"retention.events_days": 3}, environ={}, config_path=tmp_path / "none.toml")
    now = CUT + timedelta(days=1)
    with backend.transaction():
        pid = backend.project_ids(["keep"])["keep"]
    backend.update_project(pid, {"retention_days": 1})  # the project's own retention wins
    result = retention.purge(backend, conf, now=now)
    cut_keep = format_utc(now - timedelta(days=1))
    cut_default = format_utc(now - timedelta(days=3))
    expected_keep = sum(1 for e in events if e.project == "keep" and e.event.timestamp < cut_keep)
    expected_purge = sum(1 for e in events if e.project == "purge" and e.event.timestamp < cut_default)
    assert result["events"].get("keep", 0) == expected_keep > 0
    assert result["events"].get("purge", 0) == expected_purge
    assert _totals(backend, "day", "keep") == sum(e.cost_nanos or 0 for e in events
                                                 if e.project == "keep" and e.event.timestamp >= cut_keep)
