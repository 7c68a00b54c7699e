"""Store.page_events (newest first, keyset paging, filters, literal search) and Store.get_event,
on each backend."""

from __future__ import annotations

import pytest

from agentcost_cli.models import PricedEvent, UsageEvent
from agentcost_cli.store.base import EventFilter, Store

TS = "2026-11-20T10:00:00.000000Z"


def _event(key: str, *, ts: str = TS, project: str = "p1", model: str = "gpt-4o", user: str | None = None,
           session: str | None = None, agent: str | None = None, key_id: str | None = None,
           tags: dict[str, str] | None = None) -> PricedEvent:
    event = UsageEvent(timestamp=ts, provider="openai", model=model, input_tokens=10, output_tokens=5, id=key,
                       user=user, session=session, agent=agent, key_id=key_id, tags=tags)
    return PricedEvent(event, project, key, 7, "computed", 1, "openai", model)


@pytest.fixture
def events(backend: Store) -> Store:
    """Nine events: three share one timestamp (ties are broken by row id), one is in another project."""
    rows = [
        _event("a1", ts="2026-11-20T10:00:00.000000Z", user="Alice", session="s-1"),
        _event("a2", ts="2026-11-20T10:01:00.000000Z", user="bob", agent="Planner"),
        _event("a3", ts="2026-11-20T10:02:00.000000Z", model="gpt-4o-mini", key_id="k_100%"),
        _event("a4", ts="2026-11-20T10:02:00.000000Z", model="gpt-4o-mini", key_id="k1000"),
        _event("a5", ts="2026-11-20T10:02:00.000000Z", tags={"env": "prod"}),
        _event("a6", ts="2026-11-20T10:03:00.000000Z", project="p2", user="alice"),
        _event("a7", ts="2026-11-20T10:04:00.000000Z", session="under_score"),
        _event("a8", ts="2026-11-20T10:05:00.000000Z", session="underXscore", tags={"env": "prod"}),
        _event("a9", ts="2026-11-20T10:06:00.000000Z"),
    ]
    with backend.transaction():
        backend.insert_events(rows, ingested_utc=TS)
    return backend


def _keys(rows: list[dict[str, object]]) -> list[object]:
    return [r["dedupe_key"] for r in rows]


def test_pages_run_newest_first_and_resume_after_the_last_row(events: Store) -> None:
    everything = events.page_events(EventFilter(), limit=100)
    assert _keys(everything) == ["a9", "a8", "a7", "a6", "a5", "a4", "a3", "a2", "a1"]
    seen: list[object] = []
    before = None
    while True:
        page = events.page_events(EventFilter(), limit=2, before=before)
        if not page:
            break
        seen += _keys(page)
        before = (str(page[-1]["ts_utc"]), int(str(page[-1]["id"])))
    assert seen == _keys(everything)  # the tie at 10:02 is split across pages without a loss or a repeat
    assert everything[0]["project"] == "p1" and everything[3]["project"] == "p2"
    assert everything[0]["ingested_utc"] == TS and everything[0]["cost_nanos"] == 7


def test_filters_apply(events: Store) -> None:
    assert _keys(events.page_events(EventFilter(projects=("p2",)), limit=10)) == ["a6"]
    assert _keys(events.page_events(EventFilter(models=("gpt-4o-mini",)), limit=10)) == ["a4", "a3"]
    assert _keys(events.page_events(EventFilter(keys=("k1000",)), limit=10)) == ["a4"]
    assert _keys(events.page_events(EventFilter(users=("bob",)), limit=10)) == ["a2"]
    assert _keys(events.page_events(EventFilter(tags=(("env", "prod"),)), limit=10)) == ["a8", "a5"]
    window = EventFilter(since="2026-11-20T10:02:00.000000Z", until="2026-11-20T10:04:00.000000Z")
    assert _keys(events.page_events(window, limit=10)) == ["a6", "a5", "a4", "a3"]


def test_search_is_case_insensitive_and_literal(events: Store) -> None:
    def found(text: str) -> list[object]:
        return _keys(events.page_events(EventFilter(), limit=10, search=text))

    assert found("ALICE") == ["a6", "a1"]  # user_name, any case
    assert found("plan") == ["a2"]  # agent
    assert found("mini") == ["a4", "a3"]  # model
    assert found("a7") == ["a7"]  # the event id
    assert found("_") == ["a7", "a3"]  # "_" is no wildcard: only the texts holding one (session, key id)
    assert found("100%") == ["a3"]  # nor is "%"
    assert found("under_") == ["a7"]
    assert found("no such thing") == []
    assert _keys(events.page_events(EventFilter(projects=("p1",)), limit=10, search="alice")) == ["a1"]


def test_get_event_by_project_and_id(events: Store) -> None:
    row = events.get_event("p2", "a6")
    assert row is not None and row["user_name"] == "alice" and row["project"] == "p2"
    assert row.keys() == events.page_events(EventFilter(), limit=1)[0].keys()
    assert events.get_event("p1", "a6") is None  # the id belongs to another project
    assert events.get_event("nope", "a6") is None
