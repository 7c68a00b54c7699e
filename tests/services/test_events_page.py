"""services.events: pages of events (cursor, limits, permissions) and one event's price breakdown;
and the report filters by key, user and tag (and the source each filter routes to)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from agentcost_cli.errors import InvalidInput, NotFound, PermissionDenied
from agentcost_cli.services import clock, pricing, users
from agentcost_cli.services.actor import LOCAL, Actor, user_actor
from agentcost_cli.services.events import decode_cursor, encode_cursor, list_events, show_event
from agentcost_cli.services.export import EXPORT_COLUMNS
from agentcost_cli.services.reports import ReportRequest, build_report, parse_tags
from agentcost_cli.services.usage import record_events
from agentcost_cli.store.base import EventFilter, Store


def _native(i: int, **extra: Any) -> dict[str, Any]:
    return {"id": f"e{i:02d}", "timestamp": f"2026-11-20T10:{i:02d}:00Z", "provider": "anthropic",
            "model": "claude-sonnet-4-5", "input_tokens": 1000 + i, "cache_read_tokens": 20_000,
            "cache_write_tokens": 500, "output_tokens": 300, **extra}


@pytest.fixture
def filled(store: Store) -> Store:
    result = record_events(store, LOCAL, [_native(i, user="alice" if i % 2 else "bob", key_id=f"k{i % 3}",
                                                  tags={"env": "prod" if i < 5 else "dev"})
                                          for i in range(12)], project="web")
    assert all(item.status == "created" for item in result.items)
    record_events(store, LOCAL, [_native(30, user="carol")], project="ops")
    return store


def _ids(page: dict[str, Any]) -> list[str]:
    return [row["id"] for row in page["events"]]


def test_pages_follow_the_cursor_to_the_end(filled: Store) -> None:
    first = list_events(filled, LOCAL, EventFilter(projects=("web",)), limit=5)
    assert _ids(first) == ["e11", "e10", "e09", "e08", "e07"]
    assert set(first["events"][0]) == set(EXPORT_COLUMNS)
    assert isinstance(first["events"][0]["cost_usd"], str) and Decimal(first["events"][0]["cost_usd"]) > 0
    assert first["events"][0]["tags"] == {"env": "dev"}
    second = list_events(filled, LOCAL, EventFilter(projects=("web",)), limit=5, cursor=first["next_cursor"])
    third = list_events(filled, LOCAL, EventFilter(projects=("web",)), limit=5, cursor=second["next_cursor"])
    assert _ids(second) == ["e06", "e05", "e04", "e03", "e02"]
    assert _ids(third) == ["e01", "e00"] and third["next_cursor"] is None
    exact = list_events(filled, LOCAL, EventFilter(projects=("web",)), limit=12)
    assert len(exact["events"]) == 12 and exact["next_cursor"] is None  # no empty page after a full one


def test_filters_and_search(filled: Store) -> None:
    assert _ids(list_events(filled, LOCAL, EventFilter(users=("carol",)))) == ["e30"]
    assert _ids(list_events(filled, LOCAL, EventFilter(keys=("k0",), tags=(("env", "prod"),)))) == ["e03", "e00"]
    assert _ids(list_events(filled, LOCAL, EventFilter(), search="CAROL")) == ["e30"]
    assert _ids(list_events(filled, LOCAL, EventFilter(), search="  ")) [0] == "e30"  # blank: no search


@pytest.mark.parametrize("cursor", ["garbage", "", "ZTo", encode_cursor("2026", 1)[:-2] + "!!", "bzox"])
def test_a_malformed_cursor_is_invalid_input(filled: Store, cursor: str) -> None:
    if cursor == "":  # empty means "the first page"
        assert list_events(filled, LOCAL, EventFilter(), cursor=cursor)["events"]
        return
    with pytest.raises(InvalidInput):
        list_events(filled, LOCAL, EventFilter(), cursor=cursor)


def test_cursor_round_trip_and_limits(filled: Store) -> None:
    assert decode_cursor(encode_cursor("2026-11-20T10:00:00.000000Z", 42)) == ("2026-11-20T10:00:00.000000Z", 42)
    for limit in (0, 501, -1):
        with pytest.raises(InvalidInput):
            list_events(filled, LOCAL, EventFilter(), limit=limit)
    assert len(list_events(filled, LOCAL, EventFilter(), limit=500)["events"]) == 13
    with pytest.raises(InvalidInput):
        list_events(filled, LOCAL, EventFilter(), search="x" * 201)


def _member(store: Store, email: str, project: str, role: str = "viewer") -> Actor:
    with clock.frozen(datetime(2026, 11, 20, tzinfo=UTC)):
        users.create_user(store, LOCAL, email=email, password=None, verified=True)
    row = store.find_user(email)
    assert row is not None
    project_row = store.get_project(project)
    assert project_row is not None
    store.set_membership(int(project_row["id"]), int(row["id"]), role, created_utc=clock.now_text())
    return user_actor(row)


def test_readers_see_only_their_projects_and_no_hint_of_others(filled: Store) -> None:
    viewer = _member(filled, "v@example.com", "ops")
    assert _ids(list_events(filled, viewer, EventFilter())) == ["e30"]
    with pytest.raises((NotFound, PermissionDenied)):
        list_events(filled, viewer, EventFilter(projects=("web",)))
    assert show_event(filled, viewer, "ops", "e30")["id"] == "e30"
    with pytest.raises(NotFound) as refused:
        show_event(filled, viewer, "web", "e01")
    with pytest.raises(NotFound) as missing:
        show_event(filled, viewer, "web", "no-such-event")
    assert type(refused.value) is type(missing.value)
    with pytest.raises(NotFound):
        show_event(filled, LOCAL, "web", "e30")  # the id is in another project


def test_breakdown_adds_up_to_the_stored_cost(filled: Store) -> None:
    event = show_event(filled, LOCAL, "web", "e02")
    parts = {item["component"]: item for item in event["price_breakdown"]}
    assert parts["input"]["tokens"] == 1002 and parts["cache_read"]["tokens"] == 20_000
    assert parts["output"]["tokens"] == 300 and parts["cache_write"]["tokens"] == 500
    for item in parts.values():
        if item["rate_usd_per_mtok"] is not None:
            assert Decimal(item["cost_usd"]) == Decimal(item["tokens"]) * Decimal(item["rate_usd_per_mtok"]) / 10**6
    total = sum(Decimal(item["cost_usd"]) for item in parts.values())
    assert Decimal(event["breakdown_total_usd"]) == total.quantize(Decimal("0.000000001"))
    assert event["breakdown_total_usd"] == event["cost_usd"]
    assert event["matches_stored_cost"] is True and event["note"] is None and event["override_applied"] is False


def test_a_price_change_after_ingest_is_explained(filled: Store) -> None:
    before = show_event(filled, LOCAL, "web", "e02")
    pricing.set_override(filled, LOCAL, provider="anthropic", model="claude-sonnet-4-5", rates={"output": "30"},
                         effective_from=datetime(2026, 1, 1, tzinfo=UTC), reason="test")
    after = show_event(filled, LOCAL, "web", "e02")
    assert after["cost_usd"] == before["cost_usd"]  # stored costs do not move by themselves
    output = next(i for i in after["price_breakdown"] if i["component"] == "output")
    assert output["rate_usd_per_mtok"] == "30" and output["cost_usd"] == "0.009"
    assert after["matches_stored_cost"] is False and after["override_applied"] is True
    assert "reprice" in after["note"] and "override" in after["note"]


def test_unpriced_and_reported_events(store: Store) -> None:
    record_events(store, LOCAL, [
        {"id": "u1", "timestamp": "2026-11-20T10:00:00Z", "provider": "acme", "model": "acme-internal",
         "input_tokens": 5, "output_tokens": 1},
        {"id": "r1", "timestamp": "2026-11-20T10:00:00Z", "provider": "openai", "model": "gpt-4o",
         "input_tokens": 1000, "output_tokens": 100, "reported_cost_usd": "0.5"},
    ], project="p")
    unpriced = show_event(store, LOCAL, "p", "u1")
    assert unpriced["cost_usd"] is None and unpriced["price_breakdown"] == []
    assert unpriced["breakdown_total_usd"] is None and unpriced["matches_stored_cost"] is None
    assert "no price is known" in unpriced["note"]
    reported = show_event(store, LOCAL, "p", "r1")
    assert reported["cost_usd"] == "0.500000000" and reported["cost_source"] == "reported"
    assert reported["price_breakdown"] and reported["matches_stored_cost"] is False
    assert "reported" in reported["note"]


# -- report filters by key, user and tag ----------------------------------------------------------

def test_report_filters_by_key_user_and_tag(filled: Store) -> None:
    def events(**kw: Any) -> tuple[int, str]:
        report = build_report(filled, LOCAL, ReportRequest(group_by=("day",), **kw))
        return report.totals["events"], report.source

    assert events() == (13, "daily")
    assert events(users=("alice",)) == (6, "daily")  # the daily rollup keeps users
    assert events(keys=("k1", "k2")) == (8, "daily")
    assert events(tags=(("env", "prod"),)) == (5, "events")  # no rollup keeps tags
    assert events(tags=(("env", "prod"),), users=("bob",)) == (3, "events")
    # Bounds that are not local midnights would read the hourly rollup, which has no users: events instead.
    hours = {"since": datetime(2026, 11, 20, 10, tzinfo=UTC), "until": datetime(2026, 11, 20, 11, tzinfo=UTC)}
    assert events(**hours) == (13, "hourly")
    assert events(users=("carol",), **hours) == (1, "events")
    by_user = build_report(filled, LOCAL, ReportRequest(group_by=("user",), keys=("k0",)))
    assert {r["user"]: r["events"] for r in by_user.rows} == {"bob": 2, "alice": 2}


def test_parse_tags() -> None:
    assert parse_tags(["env=prod", "q=a=b", "empty="]) == (("env", "prod"), ("q", "a=b"), ("empty", ""))
    for bad in ("env", "=prod"):
        with pytest.raises(InvalidInput):
            parse_tags([bad])
