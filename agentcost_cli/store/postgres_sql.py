"""The PostgreSQL store's SQL text, apart from the code that runs them.

Rows have the SQLite store's layout (`sqlite_sql.EVENT_COLUMNS`, made by the shared
`event_row`), so `prepare` is the same pure function for both backends.
"""

from __future__ import annotations

import itertools
from datetime import datetime, tzinfo

from .base import SUM_COLUMNS
from .sqlite_sql import EVENT_COLUMNS, MIGRATIONS_TABLE
from .zones import offset_intervals

__all__ = ["EVENT_COLUMNS", "MIGRATIONS_TABLE"]

# The PostgreSQL type of each event column, for the arrays a batch travels in.
_BIGINT = {
    "project_id", "input_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens",
    "output_tokens", "reasoning_tokens", "requests", "latency_ms", "reported_cost_nanos", "cost_nanos",
    "pricing_rev", "ingest_run",
}
EVENT_TYPES = {name: "bigint" if name in _BIGINT else "text" for name in EVENT_COLUMNS}

# One statement per batch: the columns travel as arrays (one parameter each) and are
# inserted in the order given, which is (project, key) order so that two writers with
# overlapping batches take the unique index's locks in the same order (no deadlock).
# Ids were reserved in input order beforehand, so they still follow the input.
INSERT_EVENTS_SQL = (
    f"INSERT INTO events (id, {', '.join(EVENT_COLUMNS)})"
    f" SELECT r.id, {', '.join('r.' + c for c in EVENT_COLUMNS)}"
    " FROM unnest(%s::bigint[], "
    + ", ".join(f"%s::{EVENT_TYPES[c]}[]" for c in EVENT_COLUMNS)
    + f") WITH ORDINALITY AS r(id, {', '.join(EVENT_COLUMNS)}, ord)"
    " ORDER BY r.ord"
    " ON CONFLICT (project_id, dedupe_key) DO NOTHING"
    " RETURNING id, project_id, dedupe_key, cost_nanos IS NULL"
)
RESERVE_IDS_SQL = "SELECT nextval(pg_get_serial_sequence('events', 'id')) FROM generate_series(1, %s)"

# Store column (or expression) per report dimension (as in sqlite_sql).
DIMENSION_SQL = {
    "project": "p.slug",
    "provider": "x.provider",
    "model": "x.model",
    "key": "x.key_id",
    "user": "x.user_name",
    "agent": "x.agent",
    "session": "x.session_id",
}

# One (name, value) pair of EventFilter.tags: tags_json is a JSON object of strings (json_text).
TAG_SQL = "({alias}.tags_json::jsonb ->> %s::text) = %s::text"

# sum(bigint) is numeric in PostgreSQL: cast back, so sums arrive as Python ints.
ROLLUP_SUMS = (
    "count(*), sum(requests)::bigint, sum(input_tokens)::bigint, sum(cache_read_tokens)::bigint,"
    " sum(cache_write_tokens)::bigint, sum(cache_write_1h_tokens)::bigint, sum(output_tokens)::bigint,"
    " sum(reasoning_tokens)::bigint, coalesce(sum(cost_nanos), 0)::bigint,"
    " count(*) FILTER (WHERE cost_nanos IS NULL)"
)
TABLE_SUMS = ", ".join(f"sum(x.{c})::bigint" for c in SUM_COLUMNS)


def _add_sums(table: str) -> str:
    return ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in SUM_COLUMNS)


HOURLY_KEYS = "hour_utc, project_id, provider, model"
# ORDER BY: rollup rows are locked in key order, the same in every writer.
FOLD_HOURLY_SQL = f"""
    INSERT INTO usage_hourly ({HOURLY_KEYS}, {", ".join(SUM_COLUMNS)})
    SELECT substr(ts_utc, 1, 13), project_id, provider, model, {ROLLUP_SUMS}
    FROM events WHERE {{where}}
    GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT ({HOURLY_KEYS}) DO UPDATE SET {_add_sums("usage_hourly")}
"""
DAILY_KEYS = "day, project_id, provider, model, key_id, user_name, agent"
FOLD_DAILY_SQL = f"""
    INSERT INTO usage_daily ({DAILY_KEYS}, {", ".join(SUM_COLUMNS)})
    SELECT {{day}}, project_id, provider, model, coalesce(key_id, ''), coalesce(user_name, ''),
           coalesce(agent, ''), {ROLLUP_SUMS}
    FROM events WHERE {{where}}
    GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 4, 5, 6, 7
    ON CONFLICT ({DAILY_KEYS}) DO UPDATE SET {_add_sums("usage_daily")}
"""
MOVE_SUMS = (
    "input_tokens = input_tokens + %s, cache_read_tokens = cache_read_tokens + %s,"
    " cache_write_tokens = cache_write_tokens + %s, cache_write_1h_tokens = cache_write_1h_tokens + %s,"
    " output_tokens = output_tokens + %s, reasoning_tokens = reasoning_tokens + %s,"
    " cost_nanos = cost_nanos + %s, unpriced_events = unpriced_events + %s"
)

# Stored copies that a larger one may replace (see sqlite_sql.MERGE_COLUMNS for the layout),
# locked in key order so that two writers replacing the same event take turns.
MERGE_SQL = (
    "SELECT id, dedupe_key, ts_utc, provider, model, key_id, user_name, agent, input_tokens, cache_read_tokens,"
    " cache_write_tokens, cache_write_1h_tokens, output_tokens, reasoning_tokens, cost_nanos"
    " FROM events WHERE project_id = %s AND dedupe_key = ANY(%s) ORDER BY dedupe_key FOR UPDATE"
)

EVENT_SELECT = (
    "SELECT x.id, p.slug AS project, x.*, coalesce(x.model_ref, x.model) AS model_ref,"
    " r.started_utc AS ingested_utc FROM events x JOIN projects p ON p.id = x.project_id"
    " LEFT JOIN ingest_runs r ON r.id = x.ingest_run"
)

# One searched column of page_events (a base.like_pattern; backslash is ILIKE's default escape).
SEARCH_SQL = "x.{column} ILIKE %s"

REPRICE_COLUMNS = (
    "id, ts_utc, provider, model, input_tokens, cache_read_tokens, cache_write_tokens,"
    " cache_write_1h_tokens, output_tokens, reasoning_tokens, requests, price_context_json,"
    " cost_nanos, cost_source, pricing_rev"
)

# One lock per schema (several stores may share a database), taken around migrate().
MIGRATE_LOCK_SQL = "SELECT pg_advisory_lock(hashtextextended('agentcost.migrate:' || current_schema(), 0))"
MIGRATE_UNLOCK_SQL = "SELECT pg_advisory_unlock(hashtextextended('agentcost.migrate:' || current_schema(), 0))"
CREATE_MIGRATIONS_TABLE = (
    f'CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (name TEXT COLLATE "C" PRIMARY KEY,'
    ' applied_utc TEXT COLLATE "C" NOT NULL)'
)


def local_day_sql(zone: tzinfo, start: datetime, end: datetime, column: str = "ts_utc") -> str:
    """The local date (YYYY-MM-DD) of canonical UTC text in `column`, as zones.local_day_sql
    gives it for SQLite: one fixed offset per interval of the range, cut where Python's
    zoneinfo says the offset changes, so both stores cut days at the same instants."""

    def shifted(minutes: int) -> str:
        if not minutes:
            return f"substr({column}, 1, 10)"
        return f"to_char(substr({column}, 1, 19)::timestamp + interval '{minutes:+d} minutes', 'YYYY-MM-DD')"

    intervals = offset_intervals(zone, start, end)
    if len(intervals) == 1:
        return shifted(intervals[0][1])
    cases = " ".join(
        f"WHEN {column} < '{nxt.strftime('%Y-%m-%dT%H:%M:%S')}' THEN {shifted(minutes)}"
        for (_, minutes), (nxt, _) in itertools.pairwise(intervals)
        if nxt is not None
    )
    return f"CASE {cases} ELSE {shifted(intervals[-1][1])} END"
