"""The Store contract, run on each backend (the `location` and `backend` fixtures in conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentcost_cli.models import PricedEvent, UsageEvent
from agentcost_cli.store import open_store
from agentcost_cli.store.base import AggregateQuery, Cursor, EventFilter, Store
from agentcost_cli.store.migrations.sqlite import MIGRATIONS
from agentcost_cli.store.sqlite_sql import EVENT_COLUMNS

from .conftest import Location

EXPECTED_EVENT_COLUMNS = ["id", *EVENT_COLUMNS]


def priced(ts: str, *, key: str, project: str = "p1", model: str = "gpt-4o", cost: int | None = 1000,
           user: str | None = "alice", inp: int = 10, out: int = 5) -> PricedEvent:
    event = UsageEvent(timestamp=ts, provider="openai", model=model, input_tokens=inp, output_tokens=out,
                       id=key, user=user)
    return PricedEvent(event, project, key, cost, "computed" if cost is not None else "unpriced", 1,
                       "openai", model)


def test_migrations_are_recorded_and_idempotent(backend: Store) -> None:
    status = backend.migration_status()
    assert [name for name, _ in status.applied] == [name for name, _ in MIGRATIONS]
    assert status.pending == []
    assert backend.migrate() == []


def test_both_backends_have_the_same_migrations() -> None:
    from agentcost_cli.store.migrations.postgres import MIGRATIONS as PG_MIGRATIONS

    assert [name for name, _ in PG_MIGRATIONS] == [name for name, _ in MIGRATIONS]


def test_schema_has_expected_event_columns(location: Location) -> None:
    location.open().close()
    assert location.columns("events") == EXPECTED_EVENT_COLUMNS  # in order: `SELECT *` rows match
    if location.kind == "sqlite":
        assert location.sql("PRAGMA journal_mode")[0][0] == "wal"


def test_every_table_has_the_same_columns_in_both_backends(location: Location, tmp_path: Path) -> None:
    location.open().close()
    reference = Location("sqlite", str(tmp_path / "reference.db"))
    reference.open().close()
    tables = sorted(open_store(reference.url).table_counts())
    assert tables == sorted(location.open(migrate=False).table_counts())
    assert {t: location.columns(t) for t in tables} == {t: reference.columns(t) for t in tables}


def test_newer_schema_is_refused(location: Location) -> None:
    from agentcost_cli.errors import StoreError

    location.open().close()
    location.sql("INSERT INTO _agentcost_migrations VALUES ('m999_future', '2030-01-01')")
    with pytest.raises(StoreError, match="newer agentcost"):
        location.open()


def test_insert_dedupes_within_and_across_batches(backend: Store) -> None:
    ts = "2026-11-20T10:15:00.000000Z"
    with backend.transaction():
        first = backend.insert_events([priced(ts, key="a"), priced(ts, key="b"), priced(ts, key="a")],
                                      ingested_utc=ts)
    assert (first.added, first.duplicates) == (2, 1)
    with backend.transaction():
        second = backend.insert_events([priced(ts, key="a"), priced(ts, key="c", cost=None)], ingested_utc=ts)
    assert (second.added, second.duplicates, second.unpriced_added) == (1, 1, 1)
    assert backend.count_events(EventFilter()) == 3


def test_same_key_in_two_projects_is_two_events(backend: Store) -> None:
    ts = "2026-11-20T10:15:00.000000Z"
    with backend.transaction():
        result = backend.insert_events([priced(ts, key="a", project="x"), priced(ts, key="a", project="y")],
                                       ingested_utc=ts)
    assert result.added == 2


def test_insert_outside_transaction_is_refused(backend: Store) -> None:
    from agentcost_cli.errors import StoreError

    with pytest.raises(StoreError):
        backend.insert_events([priced("2026-11-20T10:15:00.000000Z", key="a")], ingested_utc="x")


def test_daily_rollup_is_filled_when_its_migration_runs_on_an_old_store(location: Location) -> None:
    store = location.open()
    with store.transaction():
        store.insert_events([priced("2026-11-20T10:15:00.000000Z", key=str(i)) for i in range(3)], ingested_utc="x")
    store.close()
    location.sql("DROP TABLE usage_daily")  # roll the schema back to before m002
    location.sql("DELETE FROM _agentcost_migrations WHERE name = 'm002_daily_rollup'")
    store = location.open()
    try:
        rows = store.aggregate(AggregateQuery(EventFilter(), (), "day"))
        assert [(r.bucket, r.sums["events"]) for r in rows] == [("2026-11-20", 3)]
    finally:
        store.close()


def test_failed_transaction_leaves_nothing(backend: Store) -> None:
    ts = "2026-11-20T10:15:00.000000Z"
    with pytest.raises(RuntimeError), backend.transaction():
        backend.insert_events([priced(ts, key="a")], ingested_utc=ts)
        raise RuntimeError("crash mid-batch")
    assert backend.count_events(EventFilter()) == 0
    assert backend.aggregate(AggregateQuery(EventFilter())) == []


def _rollup_equals_events(store: Store, dims: tuple[str, ...]) -> None:
    """The hourly rollup equals the events summed per UTC hour."""
    hourly = store.aggregate(AggregateQuery(EventFilter(), dims, "hour"))
    collapse: dict[tuple[object, ...], dict[str, int]] = {}
    for row in store.aggregate(AggregateQuery(EventFilter(), dims, "minute")):
        assert row.bucket is not None
        key = (row.bucket[:13], *row.keys)
        sums = collapse.setdefault(key, dict.fromkeys(row.sums, 0))
        for name, value in row.sums.items():
            sums[name] += value
    assert {(r.bucket, *r.keys): r.sums for r in hourly} == collapse


def _daily_equals_events(store: Store) -> None:
    """The daily rollup (UTC store zone here) equals the events summed per UTC date."""
    dims = ("project", "model", "key", "user", "agent")
    daily = {(r.bucket, *r.keys): r.sums for r in store.aggregate(AggregateQuery(EventFilter(), dims, "day"))}
    by_day: dict[tuple[object, ...], dict[str, int]] = {}
    for row in store.aggregate(AggregateQuery(EventFilter(), dims, "minute")):
        assert row.bucket is not None
        sums = by_day.setdefault((row.bucket[:10], *row.keys), dict.fromkeys(row.sums, 0))
        for name, value in row.sums.items():
            sums[name] += value
    assert daily == by_day


def test_rollups_match_raw_events(backend: Store) -> None:
    rows = [
        priced("2026-11-20T10:15:00.000000Z", key="a", cost=100),
        priced("2026-11-20T10:59:59.999999Z", key="b", cost=200, model="gpt-5"),
        priced("2026-11-20T11:00:00.000000Z", key="c", cost=None),
        priced("2026-11-21T00:00:00.000000Z", key="d", cost=7, user=None, project="p2"),
    ]
    with backend.transaction():
        backend.insert_events(rows, ingested_utc="x")
    _rollup_equals_events(backend, ("project", "model"))
    _daily_equals_events(backend)
    totals = backend.aggregate(AggregateQuery(EventFilter()))
    assert len(totals) == 1
    assert totals[0].sums["events"] == 4
    assert totals[0].sums["cost_nanos"] == 307
    assert totals[0].sums["unpriced_events"] == 1
    by_hour = {r.bucket: r.sums["events"] for r in backend.aggregate(AggregateQuery(EventFilter(), (), "hour"))}
    assert by_hour == {"2026-11-20T10": 2, "2026-11-20T11": 1, "2026-11-21T00": 1}


def test_rebuild_rollups_restores_them(backend: Store) -> None:
    with backend.transaction():
        backend.insert_events([priced("2026-11-20T10:15:00.000000Z", key=str(i)) for i in range(5)],
                              ingested_utc="x")
    before = backend.aggregate(AggregateQuery(EventFilter(), ("model",), "hour"))
    backend.rebuild_rollups()
    assert backend.aggregate(AggregateQuery(EventFilter(), ("model",), "hour")) == before
    backend.rebuild_rollups(since="2026-11-20T10:00:00.000000Z")
    assert backend.aggregate(AggregateQuery(EventFilter(), ("model",), "hour")) == before
    _daily_equals_events(backend)


def test_filters_apply_to_both_paths(backend: Store) -> None:
    with backend.transaction():
        backend.insert_events([
            priced("2026-11-19T23:00:00.000000Z", key="a", project="x"),
            priced("2026-11-20T01:00:00.000000Z", key="b", project="x", model="gpt-5"),
            priced("2026-11-20T02:00:00.000000Z", key="c", project="y"),
        ], ingested_utc="x")
    flt = EventFilter(since="2026-11-20T00:00:00.000000Z", projects=("x",))
    assert backend.count_events(flt) == 1
    rows = backend.aggregate(AggregateQuery(flt, ("model",)))
    assert [(r.keys, r.sums["events"]) for r in rows] == [(("gpt-5",), 1)]
    assert [e["dedupe_key"] for e in backend.iter_events(EventFilter(models=("gpt-4o",)))] == ["a", "c"]


def test_cursors_round_trip(backend: Store) -> None:
    cursor = Cursor("claude-code", "/x/a.jsonl", 1, 2, 300, 4, 250, {"cwd": "/src/app"})
    with backend.transaction():
        backend.set_cursor(cursor)
        backend.set_cursor(Cursor("claude-code", "/x/a.jsonl", 1, 2, 400, 5, 400, None))
    got = backend.get_cursors("claude-code")
    assert got["/x/a.jsonl"].offset == 400
    assert got["/x/a.jsonl"].state is None
    assert backend.get_cursors("codex") == {}


def test_backup_is_a_consistent_copy(tmp_path: Path) -> None:
    """SQLite only: PostgreSQL refuses, naming pg_dump (tests/store/test_postgres.py)."""
    backend = open_store(tmp_path / "contract.db")
    with backend.transaction():
        backend.insert_events([priced("2026-11-20T10:15:00.000000Z", key=str(i)) for i in range(50)],
                              ingested_utc="x")
    target = tmp_path / "copy.db"
    backend.backup(target)
    copy = open_store(target)
    try:
        assert copy.count_events(EventFilter()) == 50
        assert copy.migration_status().pending == []
    finally:
        copy.close()
        backend.close()


def test_meta_and_projects(backend: Store) -> None:
    backend.set_meta("k", "v1")
    backend.set_meta("k", "v2")
    assert backend.get_meta("k") == "v2"
    assert backend.get_meta("missing") is None
    ids = backend.project_ids(["b", "a"])
    assert ids == backend.project_ids(["a", "b"])
    assert [p["slug"] for p in backend.list_projects()] == ["a", "b"]


def growing(ts: str, key: str, out: int, cost: int | None) -> PricedEvent:
    item = priced(ts, key=key, out=out, cost=cost)
    item.replace_if_larger = True
    return item


def test_largest_copy_wins_within_and_across_batches(backend: Store) -> None:
    ts = "2026-11-20T10:15:00.000000Z"
    with backend.transaction():
        first = backend.insert_events([growing(ts, "m", 5, 50), growing(ts, "m", 9, 90), growing(ts, "m", 7, 70),
                                       priced(ts, key="plain", out=1)], ingested_utc=ts)
    assert (first.added, first.duplicates) == (2, 2)
    stored = {e["dedupe_key"]: e for e in backend.iter_events(EventFilter())}
    assert (stored["m"]["output_tokens"], stored["m"]["cost_nanos"]) == (9, 90)
    with backend.transaction():  # a later import sees the reply grown further, then a smaller stale copy
        later = backend.insert_events([growing(ts, "m", 20, 200), growing(ts, "m", 3, 30)], ingested_utc=ts)
    assert (later.added, later.duplicates, later.replaced) == (0, 2, 1)
    stored = {e["dedupe_key"]: e for e in backend.iter_events(EventFilter())}
    assert (stored["m"]["output_tokens"], stored["m"]["cost_nanos"]) == (20, 200)
    _rollup_equals_events(backend, ("model",))
    _daily_equals_events(backend)
    with backend.transaction():  # unpriced -> priced through a replacement keeps unpriced_events right
        backend.insert_events([growing(ts, "u", 1, None)], ingested_utc=ts)
        backend.insert_events([growing(ts, "u", 2, 5)], ingested_utc=ts)
    totals = backend.aggregate(AggregateQuery(EventFilter()))[0].sums
    assert totals["unpriced_events"] == 0 and totals["cost_nanos"] == 1000 + 200 + 5
    _rollup_equals_events(backend, ("model",))
    _daily_equals_events(backend)


def test_m003_moves_ingestion_times_to_runs_and_keeps_every_event(location: Location) -> None:
    """Upgrade from a frozen m002 schema: same events, same export, leaner rows."""
    from agentcost_cli.services.actor import LOCAL
    from agentcost_cli.services.export import export_rows

    location.sql("CREATE TABLE _agentcost_migrations (name TEXT PRIMARY KEY, applied_utc TEXT NOT NULL)")
    for name, statements in location.migrations[:2]:
        for statement in statements:
            location.sql(statement)
        location.sql("INSERT INTO _agentcost_migrations VALUES (?, 'then')", (name,))
    location.sql("INSERT INTO projects (slug, name, created_utc) VALUES ('web', 'web', 'then')")
    old_columns = location.columns("events")
    assert "ingested_utc" in old_columns
    for i, (model, ref, ingested) in enumerate([("gpt-4o", "gpt-4o", "2026-11-01T00:00:00.000000Z"),
                                                 ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5",
                                                  "2026-11-02T00:00:00.000000Z")]):
        values = dict.fromkeys(old_columns, 0)
        del values["id"]  # assigned in insertion order
        values.update(project_id=1, dedupe_key=f"k{i}", ts_utc="2026-11-01T10:00:00.000000Z",
                      provider="openai", model=model, model_ref=ref, requests=1, cost_source="computed",
                      cost_nanos=100 + i, ingested_utc=ingested, latency_ms=None, user_name=None, session_id=None,
                      agent=None, key_id=None, tags_json=None, price_context_json=None, metadata_json=None,
                      reported_cost_nanos=None, pricing_rev=None, source_format="native")
        location.sql(f"INSERT INTO events ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                     tuple(values.values()))
    store = location.open()
    try:
        assert store.migration_status().pending == []
        rows = list(export_rows(store, LOCAL, EventFilter()))
        assert [(r["id"], r["model_ref"], r["ingested_at"], r["cost_usd"]) for r in rows] == [
            ("k0", "gpt-4o", "2026-11-01T00:00:00.000000Z", "0.000000100"),
            ("k1", "claude-sonnet-4-5", "2026-11-02T00:00:00.000000Z", "0.000000101")]
        assert location.sql("SELECT model_ref FROM events ORDER BY id") == [(None,), ("claude-sonnet-4-5",)]
        assert location.sql("SELECT count(*) FROM ingest_runs") == [(2,)]
        assert location.columns("events") == EXPECTED_EVENT_COLUMNS
    finally:
        store.close()
