"""The embedded default store: one SQLite file, WAL, explicit transactions."""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from ..errors import StoreError
from ..models import InsertResult, PricedEvent
from ..timeutil import now_utc, parse_utc
from . import zones
from .base import (
    DAILY_DIMENSIONS,
    EVENT_DIMENSIONS,
    HOURLY_DIMENSIONS,
    SEARCH_COLUMNS,
    STAGE_PREFIX,
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
from .migrations.sqlite import MIGRATIONS
from .sqlite_accounts import AccountTables
from .sqlite_alerts import AlertTables
from .sqlite_pricing import PricingTables
from .sqlite_sql import (
    COST_INDEX,
    DAILY_COLUMN,
    DAILY_KEY,
    DIMENSION_SQL,
    EVENT_SELECT,
    FOLD_DAILY_SQL,
    FOLD_HOURLY_SQL,
    FOUND_WIDTH,
    INSERT_EVENT_SQL,
    LOAD_STAGED_SQL,
    MAX_STAGED,
    MERGE_COLUMNS,
    MIGRATIONS_TABLE,
    MOVE_SUMS,
    R_COST,
    R_KEY,
    R_PROJECT,
    R_REV,
    R_SOURCE,
    R_TOKENS,
    ROLLUP_SUMS,
    SEARCH_SQL,
    STAGE_COLUMNS,
    STAGED_CONFLICTS_SQL,
    TAG_SQL,
    TOKEN_SLICE,
    check_filter_grain,
    event_row,
    json_text,
    keep_largest,
    row_total,
)

_WRITE_LOCKS: dict[str, threading.RLock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def _write_lock(path: Path) -> threading.RLock:
    """One lock per store file in this process (re-entrant: a thread that already writes through
    one connection and opens another to the same file is not deadlocked by it)."""
    key = str(path.resolve())
    with _WRITE_LOCKS_GUARD:
        lock = _WRITE_LOCKS.get(key)
        if lock is None:
            lock = _WRITE_LOCKS[key] = threading.RLock()
        return lock


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SqliteStore(PricingTables, AccountTables, AlertTables, Store):
    def __init__(self, path: Path, *, synchronous: str = "FULL", busy_timeout_ms: int = 10_000,
                 rollup_zone: str = "UTC") -> None:
        self.path = path
        self.location = str(path)
        self._requested_zone = rollup_zone
        self._zone_name: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, so nothing commits behind our back.
            self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            mode = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{path}: could not switch to WAL journal mode (got {mode})")
            self.conn.execute(f"PRAGMA synchronous = {'FULL' if synchronous == 'FULL' else 'NORMAL'}")
            self.conn.execute("PRAGMA foreign_keys = ON")
            self.conn.execute("PRAGMA cache_size = -65536")  # 64 MiB page cache
        except (sqlite3.DatabaseError, OSError) as exc:  # OSError: a folder in the path is a file, or not ours
            raise StoreError(f"cannot open store {path}: {exc}") from None
        self._depth = 0
        self._lock = threading.RLock()
        self._write_lock = _write_lock(path)

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
            # Writers in this process queue on one lock per file: SQLite's own busy handler makes
            # waiting connections sleep and retry, which under load (the daemon opens a connection
            # per worker thread) turns into a convoy of sleeps. Other processes still meet
            # busy_timeout.
            with self._write_lock:
                try:
                    self.conn.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError as exc:
                    raise StoreError(f"{self.path}: {exc}",
                                     hint="another agentcost process may hold the store") from None
                self._depth = 1
                try:
                    yield
                except BaseException:
                    self._depth = 0
                    self.conn.execute("ROLLBACK")
                    raise
                self._depth = 0
                self.conn.execute("COMMIT")

    def _applied(self) -> list[tuple[str, str]]:
        self.conn.execute(
            f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (name TEXT PRIMARY KEY, applied_utc TEXT NOT NULL)"
        )
        return list(self.conn.execute(f"SELECT name, applied_utc FROM {MIGRATIONS_TABLE} ORDER BY rowid"))

    def migrate(self) -> list[str]:
        applied = {name for name, _ in self._applied()}
        known = [name for name, _ in MIGRATIONS]
        unknown = applied - set(known)
        if unknown:
            raise StoreError(
                f"{self.path} was migrated by a newer agentcost ({', '.join(sorted(unknown))})",
                hint="upgrade agentcost",
            )
        done: list[str] = []
        for name, statements in MIGRATIONS:
            if name in applied:
                continue
            with self.transaction():
                for statement in statements:
                    self.conn.execute(statement)
                if name == "m002_daily_rollup":  # existing events (a store from before these rollups)
                    self.conn.execute(FOLD_HOURLY_SQL.format(where="1"))
                    self._fold_daily("1", ())
                self.conn.execute(f"INSERT INTO {MIGRATIONS_TABLE} VALUES (?, ?)", (name, now_utc()))
            done.append(name)
        return done

    # -- the daily rollup's zone ------------------------------------------
    @property
    def rollup_zone(self) -> str:
        """The zone usage_daily cuts days in: chosen when the store is created, kept in meta."""
        if self._zone_name is None:
            stored = self.conn.execute("SELECT value FROM meta WHERE key = 'rollup.zone'").fetchone() \
                if self._has_table("meta") else None
            if stored is None:
                self._zone_name = self._requested_zone
                if self._has_table("meta"):
                    self.conn.execute("INSERT OR IGNORE INTO meta VALUES ('rollup.zone', ?)", (self._zone_name,))
            else:
                self._zone_name = str(stored[0])
        return self._zone_name

    def set_rollup_zone(self, name: str) -> None:
        """Cut the daily rollup's days in another zone (rebuilds it)."""
        zones.zone_named(name)  # raises for unknown names
        with self.transaction():
            self.conn.execute(
                "INSERT INTO meta VALUES ('rollup.zone', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (name,),
            )
            self._zone_name = name
            self.conn.execute("DELETE FROM usage_daily")
            self._fold_daily("1", ())

    def _has_table(self, name: str) -> bool:
        return self.conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone() is not None

    def _fold_daily(self, where: str, params: Sequence[Any]) -> None:
        """Add the events matching `where` into usage_daily."""
        bounds = self.conn.execute(f"SELECT min(ts_utc), max(ts_utc) FROM events WHERE {where}", params).fetchone()
        if bounds[0] is None:
            return
        zone = zones.zone_named(self.rollup_zone)
        day = zones.local_day_sql(zone, parse_utc(bounds[0]), parse_utc(bounds[1]))
        self.conn.execute(FOLD_DAILY_SQL.format(day=day, where=where), params)

    def migration_status(self) -> MigrationStatus:
        applied = self._applied()
        names = {name for name, _ in applied}
        return MigrationStatus(applied, [name for name, _ in MIGRATIONS if name not in names])

    def backup(self, destination: Path) -> None:
        destination = destination.expanduser()
        if destination.resolve() == self.path.resolve():
            raise StoreError("the backup destination is the store itself")
        destination.parent.mkdir(parents=True, exist_ok=True)
        tmp = destination.with_name(destination.name + ".partial")
        tmp.unlink(missing_ok=True)
        target = sqlite3.connect(tmp)
        try:
            # The online backup API copies a consistent snapshot while writers continue.
            self.conn.backup(target)
        finally:
            target.close()
        tmp.replace(destination)

    def close(self) -> None:
        self.conn.close()

    def table_counts(self) -> dict[str, int]:
        """Row counts per table, for `agentcost db status` (via sqlite-utils introspection)."""
        import sqlite_utils

        db = sqlite_utils.Database(self.conn)
        return {name: db[name].count for name in db.table_names()}

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
        ids = self.project_ids(sorted({row[R_PROJECT] for row in batch.rows}))
        result = InsertResult()
        rows = batch.rows
        if batch.larger_wins is not None:
            rows = self._merge_larger(rows, batch.larger_wins, ids, result)
        rows = [(ids[row[R_PROJECT]], *row[1:]) for row in rows]
        before = self.conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]
        added = self.conn.executemany(INSERT_EVENT_SQL, rows).rowcount
        if added:
            # New rows are exactly those above the old max id (rowids grow while we hold the write lock).
            self.conn.execute(FOLD_HOURLY_SQL.format(where="id > ?"), (before,))
            self._fold_daily("id > ?", (before,))
            result.unpriced_added = self.conn.execute(
                "SELECT count(*) FROM events WHERE id > ? AND cost_nanos IS NULL", (before,)
            ).fetchone()[0]
        result.added = added
        result.duplicates += len(rows) - added
        return result

    @staticmethod
    def stage(batch: PreparedBatch, directory: Path) -> Path | None:
        """Write rows to a scratch SQLite file that `insert_staged` loads in one statement.

        Runs in worker processes: the per-row cost of binding parameters then falls on
        them, and the parent's load is a single INSERT ... SELECT, all in C.
        """
        if not batch.rows:
            return None
        rows = batch.rows
        larger = batch.larger_wins is not None
        if larger:
            if not all(batch.larger_wins or ()):
                return None  # a mix of dedupe rules: leave it to insert_prepared
            rows = keep_largest(rows)
        handle, name = tempfile.mkstemp(prefix=f"{STAGE_PREFIX}{os.getppid()}-", suffix=".db", dir=directory)
        os.close(handle)
        scratch = sqlite3.connect(name, isolation_level=None)
        try:
            scratch.execute("PRAGMA journal_mode = OFF")  # a scratch file: nothing to recover
            scratch.execute("PRAGMA synchronous = OFF")
            scratch.execute(f"CREATE TABLE rows ({', '.join(STAGE_COLUMNS)})")
            # The dedupe rule travels with the rows: "larger" means the copy with most tokens wins.
            scratch.execute("CREATE TABLE rule (larger_wins INTEGER NOT NULL, dropped INTEGER NOT NULL)")
            scratch.execute("BEGIN")
            scratch.execute("INSERT INTO rule VALUES (?, ?)", (int(larger), len(batch.rows) - len(rows)))
            scratch.executemany(f"INSERT INTO rows VALUES ({', '.join('?' * len(STAGE_COLUMNS))})", rows)
            scratch.execute("COMMIT")
        finally:
            scratch.close()
        return Path(name)

    def insert_staged(self, paths: Sequence[Path], cursors: Sequence[Cursor] = ()) -> InsertResult:
        """Load files made by `stage`, in order, fold them into the rollups and write `cursors`,
        in one transaction; then delete the files. Cannot run inside an open transaction (ATTACH).

        Several pieces per transaction: every commit rewrites the index pages it touched, so
        fewer, larger commits write much less.
        """
        if self._depth:
            raise StoreError("insert_staged needs to ATTACH, which SQLite refuses inside a transaction")
        if len(paths) > MAX_STAGED:
            raise StoreError(f"at most {MAX_STAGED} staged files per load")
        attached: list[str] = []
        try:
            for index, path in enumerate(paths):
                self.conn.execute("ATTACH DATABASE ? AS " + f"stage{index}", (str(path),))
                attached.append(f"stage{index}")
            with self.transaction():
                result = InsertResult()
                before = self.conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]
                for alias in attached:
                    slugs = [row[0] for row in self.conn.execute(f"SELECT DISTINCT project FROM {alias}.rows")]
                    ids = self.project_ids(slugs)
                    staged = self.conn.execute(f"SELECT count(*) FROM {alias}.rows").fetchone()[0]
                    larger, dropped = self.conn.execute(f"SELECT larger_wins, dropped FROM {alias}.rule").fetchone()
                    result.duplicates += dropped  # copies the worker already collapsed
                    if larger:
                        # Rows whose key is stored already: keep whichever copy has more tokens.
                        # The bulk load below then skips them (ON CONFLICT DO NOTHING).
                        for found_and_row in self.conn.execute(STAGED_CONFLICTS_SQL.format(stage=alias)).fetchall():
                            found, row = found_and_row[:FOUND_WIDTH], found_and_row[FOUND_WIDTH:]
                            if row_total(row) > sum(found[TOKEN_SLICE][:5]):
                                self._replace(ids[row[R_PROJECT]], found, row)
                                result.replaced += 1
                    added = self.conn.execute(LOAD_STAGED_SQL.format(stage=alias)).rowcount
                    result.added += added
                    result.duplicates += staged - added
                if result.added:
                    self.conn.execute(FOLD_HOURLY_SQL.format(where="id > ?"), (before,))
                    self._fold_daily("id > ?", (before,))
                    result.unpriced_added = self.conn.execute(
                        "SELECT count(*) FROM events WHERE id > ? AND cost_nanos IS NULL", (before,)
                    ).fetchone()[0]
                for cursor in cursors:
                    self.set_cursor(cursor)
        finally:
            for alias in attached:
                self.conn.execute(f"DETACH DATABASE {alias}")
            for path in paths:
                path.unlink(missing_ok=True)
        return result

    def defer_checkpoints(self, pages: int) -> bool:
        """Leave WAL checkpoints to another connection's `checkpoint` unless the WAL grows past
        `pages` pages (a bound, should that connection fall behind)."""
        self.conn.execute(f"PRAGMA wal_autocheckpoint = {int(pages)}")
        return True

    def checkpoint(self) -> None:
        """Copy what the WAL holds into the database, as far as readers allow; waits for nobody
        (PASSIVE). Writers go on meanwhile."""
        try:
            self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"checkpoint failed: {exc}") from None

    @property
    def stage_directory(self) -> Path | None:
        return self.path.parent  # the same disk as the store

    @staticmethod
    def remove_stale_stages(directory: Path) -> int:
        """Delete scratch files left by runs that died (their parent process is gone)."""
        removed = 0
        for leftover in directory.glob(f"{STAGE_PREFIX}*.db"):
            try:
                pid = int(leftover.name[len(STAGE_PREFIX):].split("-", 1)[0])
            except ValueError:
                continue
            if pid != os.getpid() and not _alive(pid):
                leftover.unlink(missing_ok=True)
                removed += 1
        return removed

    def _merge_larger(self, rows: list[tuple[Any, ...]], larger_wins: list[bool], ids: dict[str, int],
                      result: InsertResult) -> list[tuple[Any, ...]]:
        """Apply "the copy with the most tokens wins" to the rows that ask for it.

        Returns what is left to insert normally. A stored copy with fewer tokens is
        updated in place, and its rollup rows are moved by the difference.
        """
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
            for start in range(0, len(items), 500):
                chunk = items[start:start + 500]
                stored = {found[1]: found for found in self.conn.execute(
                    f"SELECT id, dedupe_key, {MERGE_COLUMNS} FROM events WHERE project_id = ?"
                    f" AND dedupe_key IN ({', '.join('?' * len(chunk))})",
                    [ids[project], *(row[R_KEY] for row in chunk)],
                )}
                for row in chunk:
                    found = stored.get(row[R_KEY])
                    if found is None:
                        plain.append(row)
                        continue
                    result.duplicates += 1
                    if row_total(row) > sum(found[TOKEN_SLICE][:5]):
                        self._replace(ids[project], found, row)
                        result.replaced += 1
        return plain

    def _replace(self, project_id: int, found: tuple[Any, ...], row: tuple[Any, ...]) -> None:
        new_tokens = row[R_TOKENS]
        old_tokens = found[TOKEN_SLICE]
        old_cost, new_cost = found[COST_INDEX], row[R_COST]
        self.conn.execute(
            "UPDATE events SET input_tokens = ?, cache_read_tokens = ?, cache_write_tokens = ?,"
            " cache_write_1h_tokens = ?, output_tokens = ?, reasoning_tokens = ?, cost_nanos = ?,"
            " cost_source = ?, pricing_rev = ? WHERE id = ?",
            (*new_tokens, new_cost, row[R_SOURCE], row[R_REV], found[0]),
        )
        deltas = [new - old for new, old in zip(new_tokens, old_tokens, strict=True)]
        cost_delta = (new_cost or 0) - (old_cost or 0)
        unpriced_delta = (new_cost is None) - (old_cost is None)
        ts, provider, model, key_id, user, agent = found[2:8]
        moves = (*deltas, cost_delta, unpriced_delta)
        self.conn.execute(
            f"UPDATE usage_hourly SET {MOVE_SUMS}"
            " WHERE hour_utc = ? AND project_id = ? AND provider = ? AND model = ?",
            (*moves, ts[:13], project_id, provider, model),
        )
        day = zones.local_day(zones.zone_named(self.rollup_zone), ts)
        self.conn.execute(
            f"UPDATE usage_daily SET {MOVE_SUMS} WHERE day = ? AND project_id = ? AND provider = ? AND model = ?"
            " AND key_id = ? AND user_name = ? AND agent = ?",
            (*moves, day, project_id, provider, model, key_id or "", user or "", agent or ""),
        )

    @staticmethod
    def _where(flt: EventFilter, alias: str, time_column: str, hour_grain: bool = False) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if flt.since:
            clauses.append(f"{alias}.{time_column} >= ?")
            params.append(flt.since[:13] if hour_grain else flt.since)
        if flt.until:
            clauses.append(f"{alias}.{time_column} < ?")
            params.append(flt.until[:13] if hour_grain else flt.until)
        for column, values in (("p.slug", flt.projects), (f"{alias}.provider", flt.providers),
                               (f"{alias}.model", flt.models), (f"{alias}.key_id", flt.keys),
                               (f"{alias}.user_name", flt.users)):
            if values:
                clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
                params.extend(values)
        for name, value in flt.tags:
            clauses.append(TAG_SQL.format(alias=alias))
            params.extend((name, value))
        return (" AND ".join(clauses) or "1"), params

    def aggregate(self, query: AggregateQuery) -> list[AggregateRow]:
        check_filter_grain(query.filter, query.time_grain)
        if query.time_grain == "day" and not query.filter.projects:
            fast = self._daily_by_key_prefix(query)
            if fast is not None:
                return fast
        return self._aggregate(query)

    def _daily_by_key_prefix(self, query: AggregateQuery) -> list[AggregateRow] | None:
        """Group usage_daily by a prefix of its primary key, which SQLite streams without
        sorting, and finish the grouping here. A report by day and model reads a few
        thousand groups this way instead of sorting every row (measured: 36 ms vs 62 ms
        for 94k rollup rows). None when the prefix would be nearly the whole key."""
        columns = [DAILY_COLUMN[d] for d in query.dimensions]
        depth = max((DAILY_KEY.index(c) for c in columns), default=0)
        if depth > 3:  # through key/user/agent: as many groups as rows; plain GROUP BY is cheaper
            return None
        prefix = DAILY_KEY[: depth + 1]
        where, params = self._where(query.filter, "x", "day")
        inner_sums = ", ".join(f"sum(x.{c}) AS {c}" for c in SUM_COLUMNS)
        outer_sums = ", ".join(f"sum(g.{c})" for c in SUM_COLUMNS)
        outer_keys = ["g.day", *("p.slug" if c == "project_id" else f"g.{c}" for c in columns)]
        join = " JOIN projects p ON p.id = g.project_id" if "project_id" in columns else ""
        sql = (
            f"SELECT {', '.join(outer_keys)}, {outer_sums} FROM"
            f" (SELECT {', '.join('x.' + c for c in prefix)}, {inner_sums} FROM usage_daily x"
            f" WHERE {where} GROUP BY {', '.join('x.' + c for c in prefix)}) g{join}"
            f" GROUP BY {', '.join(str(i + 1) for i in range(len(outer_keys)))}"
        )
        width = len(columns)
        return [AggregateRow(r[0], tuple(None if v == "" else v for v in r[1:1 + width]),
                             dict(zip(SUM_COLUMNS, r[1 + width:], strict=True)))
                for r in self.conn.execute(sql, params)]

    def _aggregate(self, query: AggregateQuery) -> list[AggregateRow]:
        grain = query.time_grain
        allowed: tuple[str, ...]
        if grain == "day":
            table, time_column, bucket_sql, allowed = "usage_daily", "day", "x.day", DAILY_DIMENSIONS
        elif grain == "hour":
            table, time_column, bucket_sql, allowed = "usage_hourly", "hour_utc", "x.hour_utc", HOURLY_DIMENSIONS
        else:
            table, time_column, allowed = "events", "ts_utc", EVENT_DIMENSIONS
            bucket_sql = "substr(x.ts_utc, 1, 16)" if grain == "minute" else "NULL"
        missing = set(query.dimensions) - set(allowed)
        if missing:
            raise StoreError(f"{table} has no {', '.join(sorted(missing))} dimension")
        sums = ROLLUP_SUMS if table == "events" else ", ".join(f"sum(x.{c})" for c in SUM_COLUMNS)
        where, params = self._where(query.filter, "x", time_column, hour_grain=table == "usage_hourly")
        dims = [DIMENSION_SQL[d] for d in query.dimensions]
        select = ", ".join([bucket_sql, *dims, sums])
        group = ", ".join(str(i) for i in range(1, len(dims) + 2))
        # Join projects only to name them or filter on them: most reports need neither.
        join = " JOIN projects p ON p.id = x.project_id" if "project" in query.dimensions or \
            query.filter.projects else ""
        if join and table == "events" and (query.filter.since or query.filter.until):
            # Without statistics SQLite starts from projects and reads the project's events through
            # events_dedupe, all of them, before the time filter (0.8 s for one hour of one project on
            # 1M events). A time range is the narrower cut: read events_ts first, then the project.
            join = " CROSS JOIN projects p ON p.id = x.project_id"
        sql = f"SELECT {select} FROM {table} x{join} WHERE {where} GROUP BY {group}"
        rows = []
        width = len(dims)
        for record in self.conn.execute(sql, params):
            keys = tuple(None if v == "" else v for v in record[1 : 1 + width])
            rows.append(AggregateRow(record[0], keys, dict(zip(SUM_COLUMNS, record[1 + width :], strict=True))))
        return rows

    def existing_dedupe_keys(self, project_id: int, keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):  # well under SQLite's bound-variable limit
            chunk = unique[start:start + 500]
            marks = ", ".join("?" for _ in chunk)
            found.update(r[0] for r in self.conn.execute(
                f"SELECT dedupe_key FROM events WHERE project_id = ? AND dedupe_key IN ({marks})",
                (project_id, *chunk)))
        return found

    def iter_events(self, flt: EventFilter, *, batch_size: int = 5000) -> Iterator[dict[str, Any]]:
        where, params = self._where(flt, "x", "ts_utc")
        cursor = self.conn.execute(f"{EVENT_SELECT} WHERE {where} ORDER BY x.ts_utc, x.id", params)
        names = [d[0] for d in cursor.description]
        while True:
            chunk = cursor.fetchmany(batch_size)
            if not chunk:
                return
            for record in chunk:
                yield dict(zip(names, record, strict=True))

    def page_events(self, flt: EventFilter, *, limit: int, before: tuple[str, int] | None = None,
                    search: str | None = None) -> list[dict[str, Any]]:
        where, params = self._where(flt, "x", "ts_utc")
        if before is not None:
            # Spelled out rather than as a row value, so that events_ts (ts_utc, then the rowid)
            # serves it as a range.
            where += " AND x.ts_utc <= ? AND (x.ts_utc < ? OR x.id < ?)"
            params += [before[0], before[0], int(before[1])]
        if search:
            where += f" AND ({' OR '.join(SEARCH_SQL.format(column=c) for c in SEARCH_COLUMNS)})"
            params += [like_pattern(search)] * len(SEARCH_COLUMNS)
        # CROSS JOIN: walk events_ts backwards from the newest and stop after `limit` matches;
        # left to itself SQLite may start from projects and sort every event of the project.
        sql = (f"{EVENT_SELECT.replace(' JOIN projects', ' CROSS JOIN projects')} WHERE {where}"
               " ORDER BY x.ts_utc DESC, x.id DESC LIMIT ?")
        cursor = self.conn.execute(sql, [*params, int(limit)])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, record, strict=True)) for record in cursor]

    def get_event(self, project: str, dedupe_key: str) -> dict[str, Any] | None:
        cursor = self.conn.execute(f"{EVENT_SELECT} WHERE p.slug = ? AND x.dedupe_key = ?", (project, dedupe_key))
        names = [d[0] for d in cursor.description]
        record = cursor.fetchone()
        return None if record is None else dict(zip(names, record, strict=True))

    def count_events(self, flt: EventFilter) -> int:
        where, params = self._where(flt, "x", "ts_utc")
        sql = f"SELECT count(*) FROM events x JOIN projects p ON p.id = x.project_id WHERE {where}"
        return int(self.conn.execute(sql, params).fetchone()[0])

    def unpriced_models(self) -> list[dict[str, Any]]:
        sql = (
            "SELECT provider, model, count(*) AS events, min(ts_utc) AS first_seen, max(ts_utc) AS last_seen"
            " FROM events WHERE cost_source = 'unpriced' GROUP BY provider, model ORDER BY events DESC, model"
        )
        cursor = self.conn.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, r, strict=True)) for r in cursor]

    def iter_events_for_reprice(
        self, since: str | None, *, batch_size: int = 5000
    ) -> Iterator[list[dict[str, Any]]]:
        last_id = 0
        columns = (
            "id, ts_utc, provider, model, input_tokens, cache_read_tokens, cache_write_tokens,"
            " cache_write_1h_tokens, output_tokens, reasoning_tokens, requests, price_context_json,"
            " cost_nanos, cost_source, pricing_rev"
        )
        while True:
            params: list[Any] = [last_id]
            sql = f"SELECT {columns} FROM events WHERE id > ? AND cost_source != 'reported'"
            if since:
                sql += " AND ts_utc >= ?"
                params.append(since)
            sql += " ORDER BY id LIMIT ?"
            params.append(batch_size)
            cursor = self.conn.execute(sql, params)
            names = [d[0] for d in cursor.description]
            batch = [dict(zip(names, r, strict=True)) for r in cursor]
            if not batch:
                return
            last_id = batch[-1]["id"]
            yield batch

    def update_costs(self, updates: Sequence[tuple[int, int | None, str, int | None]]) -> None:
        self.conn.executemany(
            "UPDATE events SET cost_nanos = ?, cost_source = ?, pricing_rev = ? WHERE id = ?",
            [(cost, source, rev, event_id) for event_id, cost, source, rev in updates],
        )

    def rebuild_rollups(self, since: str | None = None) -> None:
        with self.transaction():
            if since:
                self.conn.execute("DELETE FROM usage_hourly WHERE hour_utc >= ?", (since[:13],))
                self.conn.execute(FOLD_HOURLY_SQL.format(where="ts_utc >= ?"), (since[:13],))
                zone = zones.zone_named(self.rollup_zone)
                first_day = zones.local_day(zone, since)
                start = zones.utc_start_of_day(zone, first_day).strftime("%Y-%m-%dT%H:%M:%S")
                self.conn.execute("DELETE FROM usage_daily WHERE day >= ?", (first_day,))
                self._fold_daily("ts_utc >= ?", (start,))
            else:
                self.conn.execute("DELETE FROM usage_hourly")
                self.conn.execute(FOLD_HOURLY_SQL.format(where="1"))
                self.conn.execute("DELETE FROM usage_daily")
                self._fold_daily("1", ())

    def purge_events(self, project_id: int, before_utc: str) -> int:
        hour = before_utc[:13]
        cut = parse_utc(before_utc)
        if (cut.minute, cut.second, cut.microsecond) != (0, 0, 0):
            raise ValueError("purge_events cuts at the start of an hour")
        zone = zones.zone_named(self.rollup_zone)
        boundary = zones.local_day(zone, before_utc)
        start = zones.utc_start_of_day(zone, boundary).strftime("%Y-%m-%dT%H:%M:%S")
        with self.transaction():
            cur = self.conn.execute("DELETE FROM events WHERE project_id = ? AND ts_utc < ?", (project_id, before_utc))
            removed = int(cur.rowcount)
            if removed:
                # Hours before the cut are gone whole. Local days before the cut's local day are
                # too; that day (cut mid-day when the zone is not UTC) is folded again from what
                # is left of it.
                self.conn.execute("DELETE FROM usage_hourly WHERE project_id = ? AND hour_utc < ?", (project_id, hour))
                self.conn.execute("DELETE FROM usage_daily WHERE project_id = ? AND day <= ?", (project_id, boundary))
                self._fold_daily("project_id = ? AND ts_utc >= ? AND ts_utc < ?",
                                 (project_id, start, (zones.utc_start_of_day(zone, _next_day(boundary))
                                                       .strftime("%Y-%m-%dT%H:%M:%S"))))
        return removed

    # -- projects --------------------------------------------------------
    def project_ids(self, slugs: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for slug in slugs:
            row = self.conn.execute("SELECT id FROM projects WHERE slug = ?", (slug,)).fetchone()
            if row is None:
                with self.transaction():
                    cur = self.conn.execute(
                        "INSERT INTO projects (slug, name, created_utc) VALUES (?, ?, ?)", (slug, slug, now_utc())
                    )
                found[slug] = int(cur.lastrowid or 0)
            else:
                found[slug] = int(row[0])
        return found

    def list_projects(self) -> list[dict[str, Any]]:
        cursor = self.conn.execute(
            "SELECT id, slug, name, created_utc, retention_days, created_by_user_id, allowed_networks FROM projects"
            " ORDER BY slug")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, r, strict=True)) for r in cursor]

    # -- ingest runs -----------------------------------------------------
    def ingest_run(self, started_utc: str) -> int:
        with self.transaction():
            self.conn.execute("INSERT OR IGNORE INTO ingest_runs (started_utc) VALUES (?)", (started_utc,))
            row = self.conn.execute("SELECT id FROM ingest_runs WHERE started_utc = ?", (started_utc,)).fetchone()
        return int(row[0])

    # -- cursors ---------------------------------------------------------
    def get_cursors(self, source: str) -> dict[str, Cursor]:
        rows = self.conn.execute(
            "SELECT path, device, inode, size, mtime_ns, offset, state_json FROM ingest_cursors WHERE source = ?",
            (source,),
        )
        return {
            path: Cursor(source, path, dev, ino, size, mtime, offset, orjson.loads(state) if state else None)
            for path, dev, ino, size, mtime, offset, state in rows
        }

    def set_cursor(self, cursor: Cursor) -> None:
        self.conn.execute(
            "INSERT INTO ingest_cursors VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (source, path) DO UPDATE SET device = excluded.device, inode = excluded.inode,"
            " size = excluded.size, mtime_ns = excluded.mtime_ns, offset = excluded.offset,"
            " state_json = excluded.state_json, updated_utc = excluded.updated_utc",
            (cursor.source, cursor.path, cursor.device, cursor.inode, cursor.size, cursor.mtime_ns,
             cursor.offset, json_text(cursor.state), now_utc()),
        )

    # -- meta ------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value)
            )


def _next_day(day: str) -> str:
    from datetime import date, timedelta

    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()
