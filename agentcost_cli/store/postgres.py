"""The scale-out store: PostgreSQL through psycopg 3, shared by several daemons and hosts.

It answers exactly as `SqliteStore` does (the contract tests in tests/store/ run on both):
the same columns in the same order, the same canonical UTC text, integer nano-USD, text
that sorts bytewise. What differs is how it stays right with writers in other processes:

- events: `INSERT ... ON CONFLICT (project_id, dedupe_key) DO NOTHING RETURNING`, so a
  concurrent copy of an event waits for the first writer, then is counted a duplicate,
  and the rollups are folded from exactly the rows this statement added;
- rollups: `INSERT ... ON CONFLICT DO UPDATE` adding to the stored sums, rows taken in
  key order (as are the events) so that two writers never deadlock on each other;
- rebuilds lock the rollup tables against writers while they recompute them;
- migrations run under an advisory lock per schema, so daemons starting together
  apply each migration once.

One store object holds one connection (autocommit between transactions) and is used
by one thread at a time; the daemon gives each worker thread its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg import errors as pg_errors

from ..errors import ConfigError, StoreError
from ..models import InsertResult, PricedEvent
from ..timeutil import now_utc, parse_utc
from . import redact_location, zones
from .base import (
    DAILY_DIMENSIONS,
    EVENT_DIMENSIONS,
    HOURLY_DIMENSIONS,
    SEARCH_COLUMNS,
    SUM_COLUMNS,
    AggregateQuery,
    AggregateRow,
    Cursor,
    EventFilter,
    MigrationStatus,
    PreparedBatch,
    Store,
    like_pattern,
)
from .migrations.postgres import MIGRATIONS
from .postgres_accounts import PgAccountTables
from .postgres_alerts import PgAlertTables
from .postgres_pricing import PgPricingTables
from .postgres_sql import (
    CREATE_MIGRATIONS_TABLE,
    DIMENSION_SQL,
    EVENT_COLUMNS,
    EVENT_SELECT,
    FOLD_DAILY_SQL,
    FOLD_HOURLY_SQL,
    INSERT_EVENTS_SQL,
    MERGE_SQL,
    MIGRATE_LOCK_SQL,
    MIGRATE_UNLOCK_SQL,
    MIGRATIONS_TABLE,
    MOVE_SUMS,
    REPRICE_COLUMNS,
    RESERVE_IDS_SQL,
    ROLLUP_SUMS,
    SEARCH_SQL,
    TABLE_SUMS,
    TAG_SQL,
    local_day_sql,
)
from .sqlite_sql import (
    COST_INDEX,
    R_COST,
    R_KEY,
    R_PROJECT,
    R_REV,
    R_SOURCE,
    R_TOKENS,
    TOKEN_SLICE,
    check_filter_grain,
    event_row,
    json_text,
    row_total,
)

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10


class PostgresStore(PgPricingTables, PgAccountTables, PgAlertTables, Store):
    supports_backup = False  # pg_dump's job (see backup)

    def __init__(self, dsn: str, *, rollup_zone: str = "UTC") -> None:
        self.dsn = dsn
        self.location = redact_location(dsn)
        self._requested_zone = rollup_zone
        self._zone_name: str | None = None
        self._depth = 0
        self._lock = threading.RLock()
        self.conn = self._connect()

    def _connect(self) -> psycopg.Connection[Any]:
        from psycopg.conninfo import conninfo_to_dict

        try:
            extra: dict[str, Any] = {"application_name": "agentcost"}
            given = conninfo_to_dict(self.dsn)
            if "connect_timeout" not in given:
                extra["connect_timeout"] = CONNECT_TIMEOUT_S
            extra = {k: v for k, v in extra.items() if k not in given}
            return psycopg.connect(self.dsn, autocommit=True, **extra)
        except psycopg.ProgrammingError as exc:  # a malformed URL
            raise ConfigError(f"cannot use store {self.location}: {_first_line(exc)}") from None
        except psycopg.Error as exc:
            raise StoreError(f"cannot open store {self.location}: {_first_line(exc)}",
                             hint="check that PostgreSQL is running and store.path points at it") from None

    def _run(self, sql: str, params: Sequence[Any] | None = None) -> psycopg.Cursor[Any]:
        """Execute one statement. A connection lost between transactions is opened again;
        a lost connection, a deadlock or a serialization failure raise StoreError."""
        if self._depth == 0 and (self.conn.broken or self.conn.closed):
            with self._lock:
                self.conn = self._connect()
        try:
            return self.conn.execute(sql, params)
        except psycopg.OperationalError as exc:
            raise self._unavailable(exc) from None

    def _unavailable(self, exc: psycopg.Error) -> StoreError:
        if isinstance(exc, pg_errors.TransactionRollback):  # deadlock, serialization failure
            return StoreError(f"{self.location}: {_first_line(exc)}", hint="retry: a concurrent writer won")
        return StoreError(f"{self.location}: {_first_line(exc)}",
                          hint="check that PostgreSQL is running and reachable")

    # -- lifecycle -------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            if self.conn.broken or self.conn.closed:
                self.conn = self._connect()
            try:
                with self.conn.transaction():
                    self._depth = 1
                    try:
                        yield
                    finally:
                        self._depth = 0
            except psycopg.OperationalError as exc:
                raise self._unavailable(exc) from None

    @contextmanager
    def _atomic(self) -> Iterator[None]:
        """Around one statement that may fail (a taken email): inside a transaction, a savepoint,
        so that the failure leaves the transaction usable, as SQLite's statement rollback does."""
        if not self._depth:
            yield
            return
        with self._lock, self.conn.transaction():
            yield

    def _applied(self) -> list[tuple[str, str]]:
        if not self._has_table(MIGRATIONS_TABLE):
            return []
        rows = [(str(n), str(t)) for n, t in self._run(f"SELECT name, applied_utc FROM {MIGRATIONS_TABLE}")]
        order = {name: index for index, (name, _) in enumerate(MIGRATIONS)}
        return sorted(rows, key=lambda r: (order.get(r[0], len(order)), r[1], r[0]))  # the order they applied in

    def migrate(self) -> list[str]:
        done: list[str] = []
        self._run(MIGRATE_LOCK_SQL)  # a second daemon starting now waits here, then finds nothing to do
        try:
            self._run(CREATE_MIGRATIONS_TABLE)
            applied = {name for name, _ in self._applied()}
            known = [name for name, _ in MIGRATIONS]
            unknown = applied - set(known)
            if unknown:
                raise StoreError(
                    f"{self.location} was migrated by a newer agentcost ({', '.join(sorted(unknown))})",
                    hint="upgrade agentcost",
                )
            for name, statements in MIGRATIONS:
                if name in applied:
                    continue
                with self.transaction():
                    for statement in statements:
                        self._run(statement)
                    if name == "m002_daily_rollup":  # existing events (a store from before these rollups)
                        self._run(FOLD_HOURLY_SQL.format(where="TRUE"))
                        self._fold_daily("TRUE", ())
                    self._run(f"INSERT INTO {MIGRATIONS_TABLE} VALUES (%s, %s)", (name, now_utc()))
                done.append(name)
        finally:
            if not (self.conn.broken or self.conn.closed):
                self._run(MIGRATE_UNLOCK_SQL)
        return done

    def migration_status(self) -> MigrationStatus:
        applied = self._applied()
        names = {name for name, _ in applied}
        return MigrationStatus(applied, [name for name, _ in MIGRATIONS if name not in names])

    def durability_warnings(self) -> list[str]:
        """API-08: PostgreSQL acknowledges commits it has not flushed when synchronous_commit
        is off (or fsync is), so events the API answered for could vanish in a crash."""
        found = []
        for setting, bad in (("synchronous_commit", "off"), ("fsync", "off")):
            row = self._run(f"SHOW {setting}").fetchone()
            if row is not None and str(row[0]).lower() == bad:
                found.append(f"PostgreSQL runs with {setting}={bad} for {self.location}: a crash can lose "
                             f"events the API already acknowledged; set {setting}=on "
                             "(ALTER DATABASE ... SET ..., or postgresql.conf)")
        return found

    # -- the daily rollup's zone ------------------------------------------
    @property
    def rollup_zone(self) -> str:
        """The zone usage_daily cuts days in: chosen when the store is created, kept in meta."""
        if self._zone_name is None:
            if not self._has_table("meta"):
                self._zone_name = self._requested_zone
                return self._zone_name
            # The first store to ask records its zone; every later one (on any host) reads that.
            self._run("INSERT INTO meta VALUES ('rollup.zone', %s) ON CONFLICT (key) DO NOTHING",
                      (self._requested_zone,))
            row = self._run("SELECT value FROM meta WHERE key = 'rollup.zone'").fetchone()
            self._zone_name = str(row[0]) if row else self._requested_zone
        return self._zone_name

    def set_rollup_zone(self, name: str) -> None:
        zones.zone_named(name)  # raises for unknown names
        with self.transaction():
            self._lock_rollups()
            self._run("INSERT INTO meta VALUES ('rollup.zone', %s)"
                      " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (name,))
            self._zone_name = name
            self._run("DELETE FROM usage_daily")
            self._fold_daily("TRUE", ())

    def _has_table(self, name: str) -> bool:
        row = self._run("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
        return bool(row and row[0])

    def _lock_rollups(self) -> None:
        """Keep writers off the rollups until this transaction ends: a rebuild recomputes them
        from the events it sees, and a writer folding its events in meanwhile would count twice."""
        self._run("LOCK TABLE usage_hourly, usage_daily IN EXCLUSIVE MODE")
        self._refresh_zone()

    def _refresh_zone(self) -> None:
        """Read the rollup zone again: another daemon (or `agentcost db rollup-zone`) may have
        changed it since this store cached it. Called once this transaction holds a rollup
        lock, so no change can commit between this read and this transaction's folds."""
        row = self._run("SELECT value FROM meta WHERE key = 'rollup.zone'").fetchone()
        if row is not None:
            self._zone_name = str(row[0])

    def _fold_daily(self, where: str, params: Sequence[Any]) -> None:
        """Add the events matching `where` into usage_daily."""
        bounds = self._run(f"SELECT min(ts_utc), max(ts_utc) FROM events WHERE {where}", params).fetchone()
        if bounds is None or bounds[0] is None:
            return
        zone = zones.zone_named(self.rollup_zone)
        day = local_day_sql(zone, parse_utc(bounds[0]), parse_utc(bounds[1]))
        self._run(FOLD_DAILY_SQL.format(day=day, where=where), params)

    def backup(self, destination: Path) -> None:
        """Not this program's job for PostgreSQL: pg_dump makes a consistent copy of a live
        database that PostgreSQL can restore (with its sequences, grants and all); a copy in
        any other shape could not be restored into the shared store."""
        raise ConfigError(
            f"{self.location} is a PostgreSQL store: back it up with PostgreSQL's own tools",
            hint=f"pg_dump --format=custom --file={destination} '{self.location}'"
                 " (and keep the server key file, auth.key_file, with it)",
        )

    def close(self) -> None:
        self.conn.close()

    def table_counts(self) -> dict[str, int]:
        """Row counts per table of this store's schema, for `agentcost db status`."""
        names = [str(r[0]) for r in self._run(
            "SELECT c.relname FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace"
            " AND c.relkind IN ('r', 'p') ORDER BY c.relname")]
        return {name: int(self._run(f'SELECT count(*) FROM "{name}"').fetchone()[0])  # type: ignore[index]
                for name in names}

    # -- events ----------------------------------------------------------
    @staticmethod
    def prepare(events: Sequence[PricedEvent], *, ingest_run: int | None) -> PreparedBatch:
        rows = [event_row(item, item.project, ingest_run) for item in events]
        larger = [item.replace_if_larger for item in events] if any(i.replace_if_larger for i in events) else None
        return PreparedBatch(rows, larger)

    def insert_prepared(self, batch: PreparedBatch) -> InsertResult:
        if not batch.rows:
            return InsertResult()
        if not self._depth:
            raise StoreError("inserts must run inside a transaction")
        # The lock every insert into the rollups takes anyway, taken first: a zone change or a
        # rebuild then either waits for this transaction or has committed before the zone is read.
        self._run("LOCK TABLE usage_hourly, usage_daily IN ROW EXCLUSIVE MODE")
        self._refresh_zone()
        ids = self.project_ids(sorted({row[R_PROJECT] for row in batch.rows}))
        result = InsertResult()
        rows = batch.rows
        larger_new: set[tuple[str, str]] = set()
        if batch.larger_wins is not None:
            rows = self._merge_larger(rows, batch.larger_wins, ids, result, larger_new)
        first: dict[tuple[str, str], tuple[Any, ...]] = {}
        for row in rows:  # the first copy of a key wins, as in SQLite's ordered insert
            first.setdefault((row[R_PROJECT], row[R_KEY]), row)
        result.duplicates += len(rows) - len(first)
        unique = list(first.values())
        if not unique:  # every row replaced or skipped a stored copy
            return result
        reserved = [r[0] for r in self._run(RESERVE_IDS_SQL, (len(unique),))]  # ids in input order
        numbered = sorted(zip(reserved, unique, strict=True), key=lambda p: (ids[p[1][R_PROJECT]], p[1][R_KEY]))
        columns: list[list[Any]] = [[n for n, _ in numbered], [ids[row[R_PROJECT]] for _, row in numbered]]
        columns += [[row[i] for _, row in numbered] for i in range(1, len(EVENT_COLUMNS))]
        added = self._run(INSERT_EVENTS_SQL, columns).fetchall()
        if added:
            new_ids = [r[0] for r in added]
            self._run(FOLD_HOURLY_SQL.format(where="id = ANY(%s)"), (new_ids,))
            self._fold_daily("id = ANY(%s)", (new_ids,))
            result.unpriced_added = sum(1 for r in added if r[3])
        result.added = len(added)
        result.duplicates += len(unique) - len(added)
        if larger_new:
            # A writer elsewhere stored one of these keys since _merge_larger looked: apply the
            # larger-copy rule against its copy now (our insert waited for it to commit).
            stored = {(int(r[1]), str(r[2])) for r in added}
            lost = [row for row in unique if (row[R_PROJECT], row[R_KEY]) in larger_new
                    and (ids[row[R_PROJECT]], row[R_KEY]) not in stored]
            if lost:
                self._replace_smaller(lost, ids, result)
        return result

    def _merge_larger(self, rows: list[tuple[Any, ...]], larger_wins: list[bool], ids: dict[str, int],
                      result: InsertResult, larger_new: set[tuple[str, str]]) -> list[tuple[Any, ...]]:
        """Apply "the copy with the most tokens wins" to the rows that ask for it (as
        SqliteStore._merge_larger does). Returns what is left to insert normally, and adds
        to `larger_new` the keys of larger-wins rows that no stored copy had."""
        plain: list[tuple[Any, ...]] = []
        best: dict[tuple[str, str], tuple[Any, ...]] = {}
        for row, larger in zip(rows, larger_wins, strict=True):
            if not larger:
                plain.append(row)
                continue
            key = (row[R_PROJECT], row[R_KEY])
            held = best.get(key)
            if held is None:
                best[key] = row
            else:
                result.duplicates += 1
                if row_total(row) > row_total(held):
                    best[key] = row
        by_project: dict[str, list[tuple[Any, ...]]] = {}
        for (project, _), row in best.items():
            by_project.setdefault(project, []).append(row)
        for project, items in by_project.items():
            stored = self._stored_copies(ids[project], [row[R_KEY] for row in items])
            for row in items:
                found = stored.get(row[R_KEY])
                if found is None:
                    plain.append(row)
                    larger_new.add((project, row[R_KEY]))
                    continue
                result.duplicates += 1
                if row_total(row) > sum(found[TOKEN_SLICE][:5]):
                    self._replace(ids[project], found, row)
                    result.replaced += 1
        return plain

    def _stored_copies(self, project_id: int, keys: list[str]) -> dict[str, tuple[Any, ...]]:
        """The stored events with these keys, locked until the transaction ends."""
        return {found[1]: found for found in self._run(MERGE_SQL, (project_id, sorted(keys)))}

    def _replace_smaller(self, rows: list[tuple[Any, ...]], ids: dict[str, int], result: InsertResult) -> None:
        for row in rows:
            found = self._stored_copies(ids[row[R_PROJECT]], [row[R_KEY]]).get(row[R_KEY])
            if found is not None and row_total(row) > sum(found[TOKEN_SLICE][:5]):
                self._replace(ids[row[R_PROJECT]], found, row)
                result.replaced += 1

    def _replace(self, project_id: int, found: tuple[Any, ...], row: tuple[Any, ...]) -> None:
        new_tokens = row[R_TOKENS]
        old_tokens = found[TOKEN_SLICE]
        old_cost, new_cost = found[COST_INDEX], row[R_COST]
        self._run(
            "UPDATE events SET input_tokens = %s, cache_read_tokens = %s, cache_write_tokens = %s,"
            " cache_write_1h_tokens = %s, output_tokens = %s, reasoning_tokens = %s, cost_nanos = %s,"
            " cost_source = %s, pricing_rev = %s WHERE id = %s",
            (*new_tokens, new_cost, row[R_SOURCE], row[R_REV], found[0]),
        )
        deltas = [new - old for new, old in zip(new_tokens, old_tokens, strict=True)]
        cost_delta = (new_cost or 0) - (old_cost or 0)
        unpriced_delta = int(new_cost is None) - int(old_cost is None)
        ts, provider, model, key_id, user, agent = found[2:8]
        moves = (*deltas, cost_delta, unpriced_delta)
        self._run(
            f"UPDATE usage_hourly SET {MOVE_SUMS}"
            " WHERE hour_utc = %s AND project_id = %s AND provider = %s AND model = %s",
            (*moves, ts[:13], project_id, provider, model),
        )
        day = zones.local_day(zones.zone_named(self.rollup_zone), ts)
        self._run(
            f"UPDATE usage_daily SET {MOVE_SUMS} WHERE day = %s AND project_id = %s AND provider = %s"
            " AND model = %s AND key_id = %s AND user_name = %s AND agent = %s",
            (*moves, day, project_id, provider, model, key_id or "", user or "", agent or ""),
        )

    @staticmethod
    def _where(flt: EventFilter, alias: str, time_column: str, hour_grain: bool = False) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if flt.since:
            clauses.append(f"{alias}.{time_column} >= %s")
            params.append(flt.since[:13] if hour_grain else flt.since)
        if flt.until:
            clauses.append(f"{alias}.{time_column} < %s")
            params.append(flt.until[:13] if hour_grain else flt.until)
        for column, values in (("p.slug", flt.projects), (f"{alias}.provider", flt.providers),
                               (f"{alias}.model", flt.models), (f"{alias}.key_id", flt.keys),
                               (f"{alias}.user_name", flt.users)):
            if values:
                clauses.append(f"{column} = ANY(%s)")
                params.append(list(values))
        for name, value in flt.tags:
            clauses.append(TAG_SQL.format(alias=alias))
            params.extend((name, value))
        return (" AND ".join(clauses) or "TRUE"), params

    def aggregate(self, query: AggregateQuery) -> list[AggregateRow]:
        check_filter_grain(query.filter, query.time_grain)
        grain = query.time_grain
        allowed: tuple[str, ...]
        if grain == "day":
            table, time_column, bucket_sql, allowed = "usage_daily", "day", "x.day", DAILY_DIMENSIONS
        elif grain == "hour":
            table, time_column, bucket_sql, allowed = "usage_hourly", "hour_utc", "x.hour_utc", HOURLY_DIMENSIONS
        else:
            table, time_column, allowed = "events", "ts_utc", EVENT_DIMENSIONS
            bucket_sql = "substr(x.ts_utc, 1, 16)" if grain == "minute" else "NULL::text"
        missing = set(query.dimensions) - set(allowed)
        if missing:
            raise StoreError(f"{table} has no {', '.join(sorted(missing))} dimension")
        sums = ROLLUP_SUMS if table == "events" else TABLE_SUMS
        where, params = self._where(query.filter, "x", time_column, hour_grain=table == "usage_hourly")
        dims = [DIMENSION_SQL[d] for d in query.dimensions]
        select = ", ".join([bucket_sql, *dims, sums])
        positions = [str(i) for i in range(1, len(dims) + 2)]
        join = " JOIN projects p ON p.id = x.project_id" if "project" in query.dimensions or \
            query.filter.projects else ""
        # Groups in key order, NULL first: the order SQLite's GROUP BY hands them out in.
        sql = (f"SELECT {select} FROM {table} x{join} WHERE {where} GROUP BY {', '.join(positions)}"
               f" ORDER BY {', '.join(p + ' NULLS FIRST' for p in positions)}")
        width = len(dims)
        return [AggregateRow(record[0], tuple(None if v == "" else v for v in record[1:1 + width]),
                             dict(zip(SUM_COLUMNS, record[1 + width:], strict=True)))
                for record in self._run(sql, params)]

    def existing_dedupe_keys(self, project_id: int, keys: Sequence[str]) -> set[str]:
        if not keys:
            return set()
        return {str(r[0]) for r in self._run(
            "SELECT dedupe_key FROM events WHERE project_id = %s AND dedupe_key = ANY(%s)",
            (project_id, list(dict.fromkeys(keys))))}

    def iter_events(self, flt: EventFilter, *, batch_size: int = 5000) -> Iterator[dict[str, Any]]:
        """Pages of `batch_size` events, each page one query that resumes after the last
        (ts_utc, id) read: the connection stays free for other work between pages."""
        where, params = self._where(flt, "x", "ts_utc")
        after: tuple[str, int] | None = None
        while True:
            page_where, page_params = where, list(params)
            if after is not None:
                page_where += " AND (x.ts_utc, x.id) > (%s, %s)"
                page_params += after
            cursor = self._run(f"{EVENT_SELECT} WHERE {page_where} ORDER BY x.ts_utc, x.id LIMIT %s",
                               [*page_params, batch_size])
            names = [d[0] for d in cursor.description or ()]
            records = cursor.fetchall()
            for record in records:
                yield dict(zip(names, record, strict=True))
            if len(records) < batch_size:
                return
            last = dict(zip(names, records[-1], strict=True))
            after = (last["ts_utc"], last["id"])

    def page_events(self, flt: EventFilter, *, limit: int, before: tuple[str, int] | None = None,
                    search: str | None = None) -> list[dict[str, Any]]:
        where, params = self._where(flt, "x", "ts_utc")
        if before is not None:
            where += " AND (x.ts_utc, x.id) < (%s, %s)"  # events_ts (ts_utc, id), walked backwards
            params += [before[0], int(before[1])]
        if search:
            where += f" AND ({' OR '.join(SEARCH_SQL.format(column=c) for c in SEARCH_COLUMNS)})"
            params += [like_pattern(search)] * len(SEARCH_COLUMNS)
        cursor = self._run(f"{EVENT_SELECT} WHERE {where} ORDER BY x.ts_utc DESC, x.id DESC LIMIT %s",
                           [*params, int(limit)])
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, record, strict=True)) for record in cursor.fetchall()]

    def get_event(self, project: str, dedupe_key: str) -> dict[str, Any] | None:
        cursor = self._run(f"{EVENT_SELECT} WHERE p.slug = %s AND x.dedupe_key = %s", (project, dedupe_key))
        names = [d[0] for d in cursor.description or ()]
        record = cursor.fetchone()
        return None if record is None else dict(zip(names, record, strict=True))

    def count_events(self, flt: EventFilter) -> int:
        where, params = self._where(flt, "x", "ts_utc")
        row = self._run(f"SELECT count(*) FROM events x JOIN projects p ON p.id = x.project_id WHERE {where}",
                        params).fetchone()
        return int(row[0]) if row else 0

    def unpriced_models(self) -> list[dict[str, Any]]:
        cursor = self._run(
            "SELECT provider, model, count(*) AS events, min(ts_utc) AS first_seen, max(ts_utc) AS last_seen"
            " FROM events WHERE cost_source = 'unpriced' GROUP BY provider, model ORDER BY events DESC, model"
        )
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, r, strict=True)) for r in cursor]

    def iter_events_for_reprice(
        self, since: str | None, *, batch_size: int = 5000
    ) -> Iterator[list[dict[str, Any]]]:
        last_id = 0
        while True:
            params: list[Any] = [last_id]
            sql = f"SELECT {REPRICE_COLUMNS} FROM events WHERE id > %s AND cost_source <> 'reported'"
            if since:
                sql += " AND ts_utc >= %s"
                params.append(since)
            sql += " ORDER BY id LIMIT %s"
            params.append(batch_size)
            cursor = self._run(sql, params)
            names = [d[0] for d in cursor.description or ()]
            batch = [dict(zip(names, r, strict=True)) for r in cursor]
            if not batch:
                return
            last_id = batch[-1]["id"]
            yield batch

    def update_costs(self, updates: Sequence[tuple[int, int | None, str, int | None]]) -> None:
        if not updates:
            return
        self._run(
            "UPDATE events e SET cost_nanos = u.cost, cost_source = u.source, pricing_rev = u.rev"
            " FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::bigint[]) AS u(id, cost, source, rev)"
            " WHERE e.id = u.id",
            [[u[i] for u in updates] for i in range(4)],
        )

    def rebuild_rollups(self, since: str | None = None) -> None:
        with self.transaction():
            self._lock_rollups()
            if since:
                self._run("DELETE FROM usage_hourly WHERE hour_utc >= %s", (since[:13],))
                self._run(FOLD_HOURLY_SQL.format(where="ts_utc >= %s"), (since[:13],))
                zone = zones.zone_named(self.rollup_zone)
                first_day = zones.local_day(zone, since)
                start = zones.utc_start_of_day(zone, first_day).strftime("%Y-%m-%dT%H:%M:%S")
                self._run("DELETE FROM usage_daily WHERE day >= %s", (first_day,))
                self._fold_daily("ts_utc >= %s", (start,))
            else:
                self._run("DELETE FROM usage_hourly")
                self._run(FOLD_HOURLY_SQL.format(where="TRUE"))
                self._run("DELETE FROM usage_daily")
                self._fold_daily("TRUE", ())

    def purge_events(self, project_id: int, before_utc: str) -> int:
        hour = before_utc[:13]
        cut = parse_utc(before_utc)
        if (cut.minute, cut.second, cut.microsecond) != (0, 0, 0):
            raise ValueError("purge_events cuts at the start of an hour")
        zone = zones.zone_named(self.rollup_zone)
        boundary = zones.local_day(zone, before_utc)
        start = zones.utc_start_of_day(zone, boundary).strftime("%Y-%m-%dT%H:%M:%S")
        with self.transaction():
            self._lock_rollups()
            cur = self._run("DELETE FROM events WHERE project_id = %s AND ts_utc < %s", (project_id, before_utc))
            removed = int(cur.rowcount)
            if removed:
                # Hours before the cut are gone whole. Local days before the cut's local day are
                # too; that day (cut mid-day when the zone is not UTC) is folded again from what
                # is left of it.
                self._run("DELETE FROM usage_hourly WHERE project_id = %s AND hour_utc < %s", (project_id, hour))
                self._run("DELETE FROM usage_daily WHERE project_id = %s AND day <= %s", (project_id, boundary))
                self._fold_daily("project_id = %s AND ts_utc >= %s AND ts_utc < %s",
                                 (project_id, start, (zones.utc_start_of_day(zone, _next_day(boundary))
                                                       .strftime("%Y-%m-%dT%H:%M:%S"))))
        return removed

    # -- projects --------------------------------------------------------
    def project_ids(self, slugs: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for slug in slugs:
            row = self._run("SELECT id FROM projects WHERE slug = %s", (slug,)).fetchone()
            if row is None:
                # Another daemon may create it at the same moment: one insert wins, both read its id.
                self._run("INSERT INTO projects (slug, name, created_utc) VALUES (%s, %s, %s)"
                          " ON CONFLICT (slug) DO NOTHING", (slug, slug, now_utc()))
                row = self._run("SELECT id FROM projects WHERE slug = %s", (slug,)).fetchone()
            found[slug] = int(row[0]) if row else 0
        return found

    def list_projects(self) -> list[dict[str, Any]]:
        cursor = self._run(
            "SELECT id, slug, name, created_utc, retention_days, created_by_user_id, allowed_networks FROM projects"
            " ORDER BY slug")
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, r, strict=True)) for r in cursor]

    # -- ingest runs -----------------------------------------------------
    def ingest_run(self, started_utc: str) -> int:
        self._run("INSERT INTO ingest_runs (started_utc) VALUES (%s) ON CONFLICT (started_utc) DO NOTHING",
                  (started_utc,))
        row = self._run("SELECT id FROM ingest_runs WHERE started_utc = %s", (started_utc,)).fetchone()
        return int(row[0]) if row else 0

    # -- cursors ---------------------------------------------------------
    def get_cursors(self, source: str) -> dict[str, Cursor]:
        rows = self._run(
            'SELECT path, device, inode, size, mtime_ns, "offset", state_json FROM ingest_cursors WHERE source = %s',
            (source,),
        )
        return {
            path: Cursor(source, path, dev, ino, size, mtime, offset, orjson.loads(state) if state else None)
            for path, dev, ino, size, mtime, offset, state in rows
        }

    def set_cursor(self, cursor: Cursor) -> None:
        self._run(
            "INSERT INTO ingest_cursors VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (source, path) DO UPDATE SET device = excluded.device, inode = excluded.inode,"
            ' size = excluded.size, mtime_ns = excluded.mtime_ns, "offset" = excluded."offset",'
            " state_json = excluded.state_json, updated_utc = excluded.updated_utc",
            (cursor.source, cursor.path, cursor.device, cursor.inode, cursor.size, cursor.mtime_ns,
             cursor.offset, json_text(cursor.state), now_utc()),
        )

    # -- meta ------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._run("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._run("INSERT INTO meta VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                  (key, value))


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _next_day(day: str) -> str:
    from datetime import date, timedelta

    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()
