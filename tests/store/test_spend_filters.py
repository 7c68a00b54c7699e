"""EventFilter's keys, users and tags (the spend an alert rule or budget watches), on each backend.

Raw events (no grain, "minute") take all three; the daily rollup takes keys and users;
filters a rollup cannot apply are refused rather than silently ignored.
"""

from __future__ import annotations

import pytest

from agentcost_cli.models import PricedEvent, UsageEvent
from agentcost_cli.store.base import AggregateQuery, EventFilter, Store

TS = "2026-11-20T10:15:00.000000Z"
TS2 = "2026-11-20T10:16:30.000000Z"


def _event(key: str, *, cost: int, key_id: str | None = None, user: str | None = None,
           tags: dict[str, str] | None = None, ts: str = TS, project: str = "p1") -> PricedEvent:
    event = UsageEvent(timestamp=ts, provider="openai", model="gpt-4o", input_tokens=10, output_tokens=5, id=key,
                       user=user, key_id=key_id, tags=tags)
    return PricedEvent(event, project, key, cost, "computed", 1, "openai", "gpt-4o")


@pytest.fixture
def spend(backend: Store) -> Store:
    """Six events with distinct costs, so every sum names the events it covers."""
    with backend.transaction():
        backend.insert_events([
            _event("e1", cost=1, key_id="k1", user="alice", tags={"team": "web", "env": "prod"}),
            _event("e2", cost=2, key_id="k1", user="bob", tags={"team": "web", "env": "dev"}, ts=TS2),
            _event("e3", cost=4, key_id="k2", user="alice", tags={"team": "api"}),
            _event("e4", cost=8, key_id="k2", user=None, tags={"team.name": "o'brien \"x\""}, ts=TS2),
            _event("e5", cost=16, key_id=None, user="carol", tags=None),
            _event("e6", cost=32, key_id="k1", user="alice", tags={"env": "prod"}, project="p2"),
        ], ingested_utc=TS)
    return backend


def _cost(store: Store, flt: EventFilter, grain: str | None = None) -> int:
    return sum(row.sums["cost_nanos"] for row in store.aggregate(AggregateQuery(flt, (), grain)))


RAW_CASES = [
    (EventFilter(), 63),
    (EventFilter(keys=("k1",)), 1 + 2 + 32),
    (EventFilter(keys=("k1", "k2")), 1 + 2 + 4 + 8 + 32),
    (EventFilter(users=("alice",)), 1 + 4 + 32),
    (EventFilter(users=("alice", "carol")), 1 + 4 + 16 + 32),
    (EventFilter(keys=("k1",), users=("alice",)), 1 + 32),
    (EventFilter(tags=(("team", "web"),)), 1 + 2),
    (EventFilter(tags=(("team", "web"), ("env", "prod"))), 1),  # every pair must match
    (EventFilter(tags=(("env", "prod"),)), 1 + 32),
    (EventFilter(tags=(("team", "nope"),)), 0),
    (EventFilter(tags=(("web", "team"),)), 0),  # name and value are not interchangeable
    (EventFilter(tags=(("team.name", "o'brien \"x\""),)), 8),  # a name is not a JSON path
    (EventFilter(tags=(("team", "web"), ("team", "api"))), 0),
    (EventFilter(projects=("p1",), keys=("k1",), tags=(("env", "prod"),)), 1),
    (EventFilter(since=TS2, users=("bob", "alice")), 2),
]


@pytest.mark.parametrize(("flt", "expected"), RAW_CASES)
def test_raw_events_filter_by_key_user_and_tags(spend: Store, flt: EventFilter, expected: int) -> None:
    assert _cost(spend, flt) == expected
    assert _cost(spend, flt, "minute") == expected
    events = list(spend.iter_events(flt))
    assert sum(e["cost_nanos"] for e in events) == expected
    assert spend.count_events(flt) == len(events)


def test_iter_events_pages_keep_the_filter(spend: Store) -> None:
    flt = EventFilter(keys=("k1", "k2"))
    assert [e["dedupe_key"] for e in spend.iter_events(flt, batch_size=2)] == ["e1", "e3", "e6", "e2", "e4"]
    assert spend.count_events(EventFilter(tags=(("team", "web"),))) == 2


def test_the_key_filter_takes_what_the_key_dimension_reports(spend: Store) -> None:
    for grain in (None, "day"):
        rows = spend.aggregate(AggregateQuery(EventFilter(), ("key",), grain))
        by_key = {row.keys[0]: row.sums["cost_nanos"] for row in rows}
        assert by_key == {"k1": 35, "k2": 12, None: 16}
        for key in ("k1", "k2"):
            assert _cost(spend, EventFilter(keys=(key,)), grain) == by_key[key]


def test_minute_buckets_with_a_filter(spend: Store) -> None:
    rows = spend.aggregate(AggregateQuery(EventFilter(users=("alice", "bob")), ("user",), "minute"))
    assert sorted((r.bucket, r.keys, r.sums["cost_nanos"]) for r in rows) == [
        ("2026-11-20T10:15", ("alice",), 1 + 4 + 32),
        ("2026-11-20T10:16", ("bob",), 2),
    ]


@pytest.mark.parametrize(("flt", "expected"), [
    (EventFilter(keys=("k1",)), 35),
    (EventFilter(keys=("k2",), users=("alice",)), 4),
    (EventFilter(users=("carol",)), 16),
    (EventFilter(users=("alice",), projects=("p1",)), 5),
    (EventFilter(keys=("nope",)), 0),
])
def test_daily_rollup_filters_by_key_and_user(spend: Store, flt: EventFilter, expected: int) -> None:
    assert _cost(spend, flt, "day") == expected
    assert _cost(spend, flt) == expected  # the same answer as the raw events
    # Grouped by a dimension (the plain GROUP BY path as well as the key-prefix one).
    for dims in (("model",), ("user",), ("project", "agent")):
        rows = spend.aggregate(AggregateQuery(flt, dims, "day"))
        assert sum(r.sums["cost_nanos"] for r in rows) == expected


@pytest.mark.parametrize(("grain", "flt", "message"), [
    ("day", EventFilter(tags=(("team", "web"),)), "keeps no tags"),
    ("hour", EventFilter(tags=(("team", "web"),)), "keeps no tags"),
    ("hour", EventFilter(keys=("k1",)), "no key or user"),
    ("hour", EventFilter(users=("alice",)), "no key or user"),
])
def test_filters_a_rollup_cannot_apply_are_refused(spend: Store, grain: str, flt: EventFilter, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        spend.aggregate(AggregateQuery(flt, (), grain))


def test_empty_new_fields_change_nothing(spend: Store) -> None:
    for grain in (None, "minute", "hour", "day"):
        plain = spend.aggregate(AggregateQuery(EventFilter(projects=("p1",)), ("project",), grain))
        same = spend.aggregate(AggregateQuery(EventFilter(projects=("p1",), keys=(), users=(), tags=()),
                                              ("project",), grain))
        assert plain == same and sum(r.sums["cost_nanos"] for r in plain) == 31
