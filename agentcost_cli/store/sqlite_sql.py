"""The SQLite store's SQL text and row layout, apart from the code that runs them."""

from __future__ import annotations

from typing import Any

import orjson

from ..models import TOKEN_FIELDS, PricedEvent
from .base import SUM_COLUMNS, EventFilter

MIGRATIONS_TABLE = "_agentcost_migrations"

EVENT_COLUMNS = (
    "project_id",
    "dedupe_key",
    "ts_utc",
    "provider",
    "model",
    "model_ref",
    *TOKEN_FIELDS,
    "requests",
    "latency_ms",
    "user_name",
    "session_id",
    "agent",
    "key_id",
    "tags_json",
    "price_context_json",
    "metadata_json",
    "reported_cost_nanos",
    "cost_nanos",
    "cost_source",
    "pricing_rev",
    "source_format",
    "ingest_run",
)
INSERT_EVENT_SQL = (
    f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
    " ON CONFLICT (project_id, dedupe_key) DO NOTHING"
)

# Store column (or expression) per report dimension.
DIMENSION_SQL = {
    "project": "p.slug",
    "provider": "x.provider",
    "model": "x.model",
    "key": "x.key_id",
    "user": "x.user_name",
    "agent": "x.agent",
    "session": "x.session_id",
}

# The rows of iter_events / page_events / get_event: every stored column, the project's slug,
# the catalog model (its own name when none was stored) and when its ingest run started.
EVENT_SELECT = (
    "SELECT x.id, p.slug AS project, x.*, coalesce(x.model_ref, x.model) AS model_ref,"
    " r.started_utc AS ingested_utc FROM events x JOIN projects p ON p.id = x.project_id"
    " LEFT JOIN ingest_runs r ON r.id = x.ingest_run"
)
# One searched column of page_events (a base.like_pattern; LIKE ignores ASCII case in SQLite).
SEARCH_SQL = "x.{column} LIKE ? ESCAPE '\\'"

# One (name, value) pair of EventFilter.tags: tags_json is a JSON object of strings (json_text).
TAG_SQL = "EXISTS (SELECT 1 FROM json_each({alias}.tags_json) t WHERE t.key = ? AND t.value = ?)"


def check_filter_grain(flt: EventFilter, grain: str | None) -> None:
    """Refuse filters the source of `grain` cannot apply: the rollups keep no tags, and the
    hourly rollup has no key or user (see base.AggregateQuery)."""
    if flt.tags and grain in ("day", "hour"):
        raise ValueError(f"the {'daily' if grain == 'day' else 'hourly'} rollup keeps no tags: "
                         "filter by tag on the raw events (time_grain None or 'minute')")
    if grain == "hour" and (flt.keys or flt.users):
        raise ValueError("the hourly rollup has no key or user: filter by key or user on the daily "
                         "rollup (time_grain 'day') or on the raw events")


ROLLUP_SUMS = (
    "count(*), sum(requests), sum(input_tokens), sum(cache_read_tokens), sum(cache_write_tokens),"
    " sum(cache_write_1h_tokens), sum(output_tokens), sum(reasoning_tokens),"
    " coalesce(sum(cost_nanos), 0), sum(cost_nanos IS NULL)"
)  # column names are unqualified so the same text serves the folds and the events scan
ADD_SUMS = ", ".join(f"{c} = {c} + excluded.{c}" for c in SUM_COLUMNS)
HOURLY_KEYS = "hour_utc, project_id, provider, model"
FOLD_HOURLY_SQL = f"""
    INSERT INTO usage_hourly ({HOURLY_KEYS}, {", ".join(SUM_COLUMNS)})
    SELECT substr(ts_utc, 1, 13), project_id, provider, model, {ROLLUP_SUMS}
    FROM events WHERE {{where}}
    GROUP BY 1, 2, 3, 4
    ON CONFLICT ({HOURLY_KEYS}) DO UPDATE SET {ADD_SUMS}
"""
DAILY_KEYS = "day, project_id, provider, model, key_id, user_name, agent"
FOLD_DAILY_SQL = f"""
    INSERT INTO usage_daily ({DAILY_KEYS}, {", ".join(SUM_COLUMNS)})
    SELECT {{day}}, project_id, provider, model, coalesce(key_id, ''), coalesce(user_name, ''),
           coalesce(agent, ''), {ROLLUP_SUMS}
    FROM events WHERE {{where}}
    GROUP BY 1, 2, 3, 4, 5, 6, 7
    ON CONFLICT ({DAILY_KEYS}) DO UPDATE SET {ADD_SUMS}
"""
DAILY_KEY = ("day", "project_id", "provider", "model", "key_id", "user_name", "agent")
DAILY_COLUMN = {"project": "project_id", "provider": "provider", "model": "model", "key": "key_id",
                 "user": "user_name", "agent": "agent"}
MOVE_SUMS = (
    "input_tokens = input_tokens + ?, cache_read_tokens = cache_read_tokens + ?,"
    " cache_write_tokens = cache_write_tokens + ?, cache_write_1h_tokens = cache_write_1h_tokens + ?,"
    " output_tokens = output_tokens + ?, reasoning_tokens = reasoning_tokens + ?,"
    " cost_nanos = cost_nanos + ?, unpriced_events = unpriced_events + ?"
)


# Columns read when a larger copy may replace a stored event (see _merge_larger).
MERGE_COLUMNS = (
    "ts_utc, provider, model, key_id, user_name, agent, input_tokens, cache_read_tokens, cache_write_tokens,"
    " cache_write_1h_tokens, output_tokens, reasoning_tokens, cost_nanos"
)
TOKEN_SLICE = slice(8, 14)
COST_INDEX = 14
FOUND_WIDTH = 15  # id, dedupe_key and the MERGE_COLUMNS
# Staged rows whose (project, key) is stored already, beside the stored copy.
STAGED_CONFLICTS_SQL = (
    f"SELECT e.id, e.dedupe_key, {', '.join('e.' + c.strip() for c in MERGE_COLUMNS.split(','))}, r.*"
    " FROM {stage}.rows r JOIN main.projects p ON p.slug = r.project"
    " JOIN main.events e ON e.project_id = p.id AND e.dedupe_key = r.dedupe_key"
)


def json_text(value: Any) -> str | None:
    return orjson.dumps(value).decode() if value else None


STAGE_COLUMNS = ("project", *EVENT_COLUMNS[1:])
MAX_STAGED = 8  # SQLite attaches at most 10 databases by default

LOAD_STAGED_SQL = (
    f"INSERT INTO events ({', '.join(EVENT_COLUMNS)})"
    f" SELECT p.id, {', '.join('r.' + c for c in STAGE_COLUMNS[1:])}"
    " FROM {stage}.rows r JOIN main.projects p ON p.slug = r.project"
    " WHERE 1 ORDER BY r.rowid"  # input order, so the first copy of a duplicate wins
    " ON CONFLICT (project_id, dedupe_key) DO NOTHING"
)


# Positions in a prepared row (EVENT_COLUMNS order; the project is a slug until insert).
R_PROJECT, R_KEY, R_TS = 0, 1, 2
R_TOKENS = slice(6, 12)
R_COST, R_SOURCE, R_REV = 22, 23, 24


def keep_largest(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """One row per (project, key): the one with most tokens, at its first occurrence's place."""
    best: dict[tuple[Any, Any], int] = {}
    out: list[tuple[Any, ...]] = []
    for row in rows:
        key = (row[R_PROJECT], row[R_KEY])
        at = best.get(key)
        if at is None:
            best[key] = len(out)
            out.append(row)
        elif row_total(row) > row_total(out[at]):
            out[at] = row
    return out


def row_total(row: tuple[Any, ...]) -> int:
    """Prompt plus output tokens (reasoning is part of output)."""
    return int(row[6] + row[7] + row[8] + row[9] + row[10])


def event_row(item: PricedEvent, project: Any, ingest_run: int | None) -> tuple[Any, ...]:
    e = item.event
    reported = None
    if e.reported_cost_usd is not None:
        from ..models import usd_to_nanos

        reported = usd_to_nanos(e.reported_cost_usd)
    return (
        project,
        item.dedupe_key,
        e.timestamp,
        item.provider,
        e.model,
        None if item.model_ref == e.model else item.model_ref,  # stored only when it says something
        e.input_tokens,
        e.cache_read_tokens,
        e.cache_write_tokens,
        e.cache_write_1h_tokens,
        e.output_tokens,
        e.reasoning_tokens,
        e.requests,
        e.latency_ms,
        e.user,
        e.session,
        e.agent,
        e.key_id,
        json_text(e.tags),
        json_text(e.price_context),
        json_text(e.metadata),
        reported,
        item.cost_nanos,
        item.cost_source,
        item.pricing_rev,
        e.source,
        ingest_run,
    )
