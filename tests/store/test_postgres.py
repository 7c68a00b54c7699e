"""What only the PostgreSQL store must get right: writers in other processes (two
connections here), daemons migrating at once, durability settings (API-08), lost
connections, and answers identical to SQLite's for the same input."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest

from agentcost_cli.errors import ConfigError, StoreError
from agentcost_cli.models import PricedEvent, UsageEvent
from agentcost_cli.store import open_store
from agentcost_cli.store.base import AggregateQuery, EventFilter, Store

from ..pg import pg_database, pg_schema
from .conftest import Location

T = TypeVar("T")
TS = "2026-11-20T10:15:00.000000Z"


@pytest.fixture
def pg() -> Iterator[Location]:
    with pg_schema() as url:
        yield Location("postgres", url)


def priced(key: str, *, project: str = "p1", hour: int = 10, out: int = 5, larger: bool = False) -> PricedEvent:
    event = UsageEvent(timestamp=f"2026-11-20T{hour:02d}:15:00.000000Z", provider="openai", model="gpt-4o",
                       input_tokens=10, output_tokens=out, id=key, user="alice")
    item = PricedEvent(event, project, key, out * 10, "computed", 1, "openai", "gpt-4o")
    item.replace_if_larger = larger
    return item


def together(*jobs: Callable[[], T]) -> list[T]:
    """Run the jobs in threads released at the same moment; re-raise the first failure."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(index: int, job: Callable[[], T]) -> None:
        barrier.wait()
        try:
            results[index] = job()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    return results


def _sums_agree(store: Store) -> None:
    """Both rollups hold exactly what the events add up to."""
    events = {r.keys: r.sums for r in store.aggregate(AggregateQuery(EventFilter(), ("project", "model")))}
    for grain in ("hour", "day"):
        merged: dict[Any, dict[str, int]] = {}
        for row in store.aggregate(AggregateQuery(EventFilter(), ("project", "model"), grain)):
            sums = merged.setdefault(row.keys, dict.fromkeys(row.sums, 0))
            for name, value in row.sums.items():
                sums[name] += value
        assert merged == events, grain


def test_concurrent_writers_never_double_count(pg: Location) -> None:
    """Two connections insert overlapping batches, in different orders, at the same moment:
    every key is stored once, each is counted `added` by exactly one writer, and the rollups
    equal the events (no deadlock either: both take the locks in key order)."""
    def write(store: Store, chosen: list[str]) -> int:
        with store.transaction():
            events = [priced(k, project=f"p{int(k.split('-')[1]) % 3}", hour=int(k.split('-')[1]) % 24)
                      for k in chosen]
            return store.insert_events(events, ingested_utc=TS).added

    first, second = pg.open(), pg.open()
    try:
        rng = random.Random(5)
        total_added = 0
        for round_ in range(8):
            keys = [f"r{round_}-{i}" for i in range(300)]
            a = rng.sample(keys, 220)
            b = rng.sample(keys, 220)
            added = together(partial(write, first, a), partial(write, second, b))
            assert sum(added) == len(set(a) | set(b))
            total_added += sum(added)
        assert first.count_events(EventFilter()) == total_added == second.count_events(EventFilter())
        _sums_agree(first)
    finally:
        first.close()
        second.close()


def test_concurrent_larger_copies_keep_rollups_exact(pg: Location) -> None:
    """Two writers replace the same growing events with copies of different sizes: the largest
    wins, and the rollups move by exactly what the stored events changed."""
    def write(store: Store, out: int) -> None:
        with store.transaction():
            store.insert_events([priced(f"m{i}", out=out, larger=True) for i in range(60)], ingested_utc=TS)

    first, second = pg.open(), pg.open()
    try:
        with first.transaction():
            first.insert_events([priced(f"m{i}", out=1, larger=True) for i in range(50)], ingested_utc=TS)
        for size_a, size_b in ((5, 9), (30, 20), (40, 40)):
            together(partial(write, first, size_a), partial(write, second, size_b))
            stored = {e["dedupe_key"]: e["output_tokens"] for e in first.iter_events(EventFilter())}
            assert len(stored) == 60  # m50..m59 are new to both writers in the first round
            assert set(stored.values()) == {max(size_a, size_b)}
            _sums_agree(first)
    finally:
        first.close()
        second.close()


def test_two_daemons_migrating_at_once_apply_each_migration_once(pg: Location) -> None:
    from agentcost_cli.store.migrations.postgres import MIGRATIONS

    first, second = pg.open(migrate=False), pg.open(migrate=False)
    try:
        done = together(first.migrate, second.migrate)
        assert sorted(done[0] + done[1]) == sorted(name for name, _ in MIGRATIONS)
        assert first.migration_status().pending == [] and second.migrate() == []
        assert [name for name, _ in second.migration_status().applied] == [name for name, _ in MIGRATIONS]
    finally:
        first.close()
        second.close()


def test_a_zone_changed_by_another_daemon_is_used_at_once(pg: Location) -> None:
    """One daemon changes the daily rollup's zone; another, which read the old zone earlier,
    cuts the days of its next events in the new one."""
    changer, writer = pg.open(), pg.open()
    try:
        assert writer.rollup_zone == "UTC"
        changer.set_rollup_zone("Asia/Tokyo")
        with writer.transaction():
            writer.insert_events([priced("late", hour=20)], ingested_utc=TS)  # 05:15 the next day in Tokyo
        days = [r.bucket for r in changer.aggregate(AggregateQuery(EventFilter(), (), "day"))]
        assert days == ["2026-11-21"] and writer.rollup_zone == "Asia/Tokyo"
    finally:
        changer.close()
        writer.close()


def test_synchronous_commit_off_is_reported() -> None:
    """API-08: the store names the setting; the daemon logs it at start (tests/server/)."""
    with pg_database(synchronous_commit="off") as url:
        store = open_store(url)
        try:
            warnings = store.durability_warnings()
        finally:
            store.close()
    assert len(warnings) == 1 and "synchronous_commit=off" in warnings[0]


def test_durable_settings_give_no_warning(backend: Store) -> None:
    assert backend.durability_warnings() == []


def test_backup_names_pg_dump(pg: Location, tmp_path: Path) -> None:
    store = pg.open()
    try:
        assert store.supports_backup is False
        with pytest.raises(ConfigError) as refused:
            store.backup(tmp_path / "copy.db")
        assert "pg_dump" in (refused.value.hint or "")
        assert not (tmp_path / "copy.db").exists()
    finally:
        store.close()


def test_passwords_stay_out_of_the_location(pg: Location) -> None:
    from agentcost_cli.store import redact_location

    assert redact_location("postgresql://agent:s3cret@db:5432/costs") == "postgresql://agent:***@db:5432/costs"
    assert redact_location("postgresql://db/costs?password=s3cret&sslmode=require") == \
        "postgresql://db/costs?password=***&sslmode=require"
    store = pg.open()
    try:
        assert store.location == pg.url  # nothing to hide here
    finally:
        store.close()


def test_a_lost_connection_is_reopened(pg: Location) -> None:
    store = pg.open()
    try:
        store.set_meta("k", "v")
        pid = store.conn.info.backend_pid  # type: ignore[attr-defined]
        pg.sql("SELECT pg_terminate_backend(?)", (pid,))
        with pytest.raises(StoreError):  # the first use finds the connection gone
            store.get_meta("k")
        assert store.get_meta("k") == "v"  # the next one opens a fresh one
        with store.transaction():
            assert store.insert_events([priced("after")], ingested_utc=TS).added == 1
    finally:
        store.close()


def test_an_unreachable_server_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="cannot open store"):
        open_store("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "Asia/Kolkata"])
def test_answers_match_sqlite_exactly(pg: Location, tmp_path: Path, zone: str) -> None:
    """The same input through the real ingest pipeline into both stores: the same events (ids,
    columns, order), the same sums at every grain, the same reports, across a DST change."""
    from agentcost_cli.services.actor import LOCAL
    from agentcost_cli.services.demo import build_demo_store
    from agentcost_cli.services.reports import ReportRequest, build_report

    now = datetime(2026, 11, 5, 12, tzinfo=UTC)  # the month before spans the end of summer time
    stores = [open_store(tmp_path / "same.db", rollup_zone=zone), pg.open(rollup_zone=zone)]
    try:
        for store in stores:
            build_demo_store(store, LOCAL, events=1500, seed=3, now=now)
            store.project_ids(["B", "a", "_z", "Zeta", "ä"])  # byte order, not a locale's
            store.rebuild_rollups(since="2026-10-20T00:00:00.000000Z")
        sqlite, postgres = stores

        def events(store: Store) -> list[dict[str, Any]]:
            return [{k: v for k, v in e.items() if k != "ingested_utc"}  # when each ingest ran
                    for e in store.iter_events(EventFilter(), batch_size=400)]

        assert events(postgres) == events(sqlite)
        assert [p["slug"] for p in postgres.list_projects()] == [p["slug"] for p in sqlite.list_projects()]
        assert postgres.unpriced_models() == sqlite.unpriced_models()
        for dims, grain in (((), None), (("project", "model"), "day"), (("key", "user", "agent"), "day"),
                            (("provider",), "hour"), (("session",), "minute"), (("project",), None)):
            query = AggregateQuery(EventFilter(since="2026-10-20T00:00:00.000000Z" if grain != "day" else None),
                                   dims, grain)
            assert postgres.aggregate(query) == sqlite.aggregate(query), (dims, grain)
        tz = ZoneInfo(zone) if zone != "UTC" else UTC
        for group_by in (("day",), ("week", "project"), ("month", "model"), ("day", "session"), ("provider", "user")):
            request = ReportRequest(group_by=group_by, zone=tz, zone_name=zone)
            assert build_report(postgres, LOCAL, request).as_json() == build_report(sqlite, LOCAL, request).as_json()
    finally:
        for store in stores:
            store.close()


def test_parallel_ingest_writes_what_sequential_sqlite_writes(pg: Location, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Forked parse workers (the parent holds the PostgreSQL connection) hand rows back
    instead of staging files (`stage_directory` is None): the same events, same duplicates."""
    import json

    from agentcost_cli.ingest import parallel
    from agentcost_cli.ingest.pipeline import IngestOptions
    from agentcost_cli.services.actor import LOCAL
    from agentcost_cli.services.ingest import Hooks, ingest_inputs

    if not parallel.can_fork():
        pytest.skip("the parallel path needs fork()")
    src = tmp_path / "big.jsonl"
    src.write_text("".join(json.dumps({
        "id": f"e{i - 9 if i % 10 == 9 else i}", "timestamp": f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
        "provider": "openai", "model": "gpt-4o-mini", "input_tokens": 100 + i, "output_tokens": i % 50,
        "project": f"p{i % 3}"}) + "\n" for i in range(4000)))
    sqlite = open_store(tmp_path / "a.db")
    postgres = pg.open()
    try:
        assert postgres.stage_directory is None
        sequential = ingest_inputs(sqlite, LOCAL, [str(src)], IngestOptions(workers=0), Hooks())
        monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
        monkeypatch.setattr(parallel, "CHUNK_BYTES", 20_000)
        in_parallel = ingest_inputs(postgres, LOCAL, [str(src)], IngestOptions(workers=2), Hooks())
        assert in_parallel.as_dict() == sequential.as_dict() and sequential.duplicates > 300

        def events(store: Store) -> list[tuple[Any, ...]]:
            return [(e["project"], e["dedupe_key"], e["ts_utc"], e["input_tokens"], e["cost_nanos"])
                    for e in store.iter_events(EventFilter())]

        assert events(postgres) == events(sqlite)
        _sums_agree(postgres)
    finally:
        sqlite.close()
        postgres.close()
