"""`budgets.spend_nanos` reads whole hours from the hourly rollup and the ragged ends from the
events: for any range and filter it must equal the plain sum over the events."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agentcost_cli.models import PricedEvent, UsageEvent
from agentcost_cli.services import budgets
from agentcost_cli.store import open_store
from agentcost_cli.store.base import AggregateQuery, EventFilter
from agentcost_cli.timeutil import format_utc

START = datetime(2026, 11, 3, 21, 0, tzinfo=UTC)


def test_rollup_and_event_parts_add_up_to_the_event_sum(tmp_path: Path) -> None:
    rng = random.Random(5)
    store = open_store(tmp_path / "spend.db")
    events = []
    for n in range(600):
        ts = START + timedelta(seconds=rng.randrange(0, 3 * 86400))
        event = UsageEvent(timestamp=format_utc(ts), provider=rng.choice(["openai", "anthropic"]), model="m",
                           input_tokens=1, output_tokens=1, id=f"e{n}")
        events.append(PricedEvent(event, rng.choice(["a", "b"]), f"e{n}", rng.randrange(1, 10**9), "computed", 1,
                                  event.provider, "m"))
    with store.transaction():
        store.insert_events(events, ingested_utc=format_utc(START))
    try:
        for _ in range(60):
            since = START + timedelta(seconds=rng.randrange(-3600, 3 * 86400))
            until = since + timedelta(seconds=rng.choice([59, 3599, 3600, 7201, rng.randrange(1, 2 * 86400)]))
            projects = rng.choice([(), ("a",), ("a", "b")])
            providers = rng.choice([(), ("openai",)])
            flt = EventFilter(since=format_utc(since), until=format_utc(until), projects=projects,
                              providers=providers)
            plain = sum(r.sums["cost_nanos"] for r in store.aggregate(AggregateQuery(flt)))
            expected = sum(e.cost_nanos or 0 for e in events
                           if format_utc(since) <= e.event.timestamp < format_utc(until)
                           and (not projects or e.project in projects)
                           and (not providers or e.event.provider in providers))
            assert budgets.spend_nanos(store, flt) == plain == expected, (since, until, projects, providers)
    finally:
        store.close()
