"""The `Store` contract that every backend (SQLite, PostgreSQL) implements.

The contract tests in tests/store/ run against each implementation, so the
services never need to know which one they have.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import StoreError
from ..models import TOKEN_FIELDS, InsertResult, PricedEvent
from .accounts import AccountStore
from .alerts import AlertStore

# The dimensions each source can group by: the daily rollup, the hourly one, the events.
DAILY_DIMENSIONS = ("project", "provider", "model", "key", "user", "agent")
HOURLY_DIMENSIONS = ("project", "provider", "model")
EVENT_DIMENSIONS = (*DAILY_DIMENSIONS, "session")

SUM_COLUMNS = ("events", "requests", *TOKEN_FIELDS, "cost_nanos", "unpriced_events")

# The columns `Store.page_events` searches (case-insensitive substring).
SEARCH_COLUMNS = ("model", "session_id", "user_name", "agent", "dedupe_key", "key_id")


def like_pattern(text: str) -> str:
    """`text` as a LIKE pattern matching it anywhere, literally (escape character: backslash)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(frozen=True)
class EventFilter:
    """Which events a query covers. Times are canonical UTC text; `until` is exclusive."""

    since: str | None = None
    until: str | None = None
    projects: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()  # events.key_id, as the "key" dimension reports it
    users: tuple[str, ...] = ()  # events.user_name
    tags: tuple[tuple[str, str], ...] = ()  # (name, value) pairs, all must match: raw events only


@dataclass(frozen=True)
class AggregateQuery:
    """What to sum, and from where (`time_grain`):
    - "day": the daily rollup (days in the store's `rollup_zone`; DAILY_DIMENSIONS;
      filter.since/until are then local dates, YYYY-MM-DD, until exclusive);
    - "hour": the hourly rollup (UTC hours; HOURLY_DIMENSIONS);
    - "minute": the raw events bucketed by minute; None: the raw events, one bucket.
    """

    filter: EventFilter
    dimensions: tuple[str, ...] = ()  # subset of EVENT_DIMENSIONS
    time_grain: str | None = None


@dataclass
class AggregateRow:
    """One group: `bucket` is the UTC hour/minute prefix when a time grain was asked."""

    bucket: str | None
    keys: tuple[str | None, ...]
    sums: dict[str, int] = field(default_factory=dict)


# Scratch files of staged batches are named STAGE_PREFIX + the loading process's pid + "-...",
# so a crashed run's leftovers can be told from a live run's.
STAGE_PREFIX = ".agentcost-stage-"


@dataclass
class PreparedBatch:
    """Events as plain rows, made by `Store.prepare` (which needs no connection, so it can
    run in a worker process: tuples pickle about 7x faster than the event objects).
    The row layout belongs to the backend that made it."""

    rows: list[tuple[Any, ...]]
    larger_wins: list[bool] | None = None  # per row: a stored copy with fewer tokens is replaced


@dataclass(frozen=True)
class Cursor:
    """How far an incremental import has read one file."""

    source: str
    path: str
    device: int
    inode: int
    size: int
    mtime_ns: int
    offset: int
    state: dict[str, Any] | None = None


@dataclass(frozen=True)
class MigrationStatus:
    applied: list[tuple[str, str]]  # (name, applied_utc)
    pending: list[str]


class Store(AccountStore, AlertStore, ABC):
    """Owns all persistence. Methods raise `StoreError` when the backend fails.
    The account tables' half of the contract is in `accounts.AccountStore`, the alerting
    half in `alerts.AlertStore`."""

    location: str
    supports_backup = True  # False: `backup` raises ConfigError naming the backend's own tool

    # -- lifecycle -------------------------------------------------------
    @abstractmethod
    def migrate(self) -> list[str]:
        """Apply pending migrations in order, each in its own transaction. Returns the names applied."""

    @abstractmethod
    def migration_status(self) -> MigrationStatus: ...

    @abstractmethod
    def backup(self, destination: Path) -> None:
        """Write a consistent copy of the live store to `destination` (the store may be in use)."""

    @abstractmethod
    def close(self) -> None: ...

    @property
    @abstractmethod
    def rollup_zone(self) -> str:
        """The time zone (IANA name or UTC) the daily rollup cuts days in."""

    @abstractmethod
    def set_rollup_zone(self, name: str) -> None:
        """Cut the daily rollup's days in another zone (rebuilds it)."""

    def table_counts(self) -> dict[str, int]:
        """Row counts per table, for `agentcost db status`."""
        return {}

    def durability_warnings(self) -> list[str]:
        """Backend settings that can lose acknowledged writes in a crash (PostgreSQL's
        synchronous_commit=off), for a long-running process to log when it starts."""
        return []

    def defer_checkpoints(self, pages: int) -> bool:
        """Have this connection leave write-ahead-log checkpoints to another connection's
        `checkpoint` (SQLite). False when the backend has none to defer."""
        return False

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database without blocking writers (SQLite)."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """A write transaction; nested use joins the outer one. Rolls back on any exception."""

    # -- events ----------------------------------------------------------
    def insert_events(self, events: Sequence[PricedEvent], *, ingested_utc: str) -> InsertResult:
        """Insert events that are new for their (project, dedupe key) and fold them into the rollups.

        Duplicates, in the store or within `events`, are skipped and counted; the first copy wins
        (or, for events marked `replace_if_larger`, the copy with the most tokens).
        Must be called inside `transaction()` so that a batch and its rollups commit together.
        """
        return self.insert_prepared(self.prepare(events, ingest_run=self.ingest_run(ingested_utc)))

    @staticmethod
    @abstractmethod
    def prepare(events: Sequence[PricedEvent], *, ingest_run: int | None) -> PreparedBatch:
        """Turn events into rows for `insert_prepared`; pure, so any process can do it."""

    @abstractmethod
    def ingest_run(self, started_utc: str) -> int:
        """The id of the ingest run that started at `started_utc` (created on first use)."""

    @abstractmethod
    def insert_prepared(self, batch: PreparedBatch) -> InsertResult:
        """`insert_events` for rows made by `prepare`. Must be called inside `transaction()`."""

    @staticmethod
    def stage(batch: PreparedBatch, directory: Path) -> Path | None:
        """Write rows where `insert_staged` can bulk-load them; None when this backend (or this
        batch) cannot be staged. Pure: runs in worker processes."""
        return None

    def insert_staged(self, paths: Sequence[Path], cursors: Sequence[Cursor] = ()) -> InsertResult:
        """Load staged batches, in order, and write `cursors` in one transaction of its own;
        then delete the files. Only ever given files this store's `stage` made, so a backend
        that stages nothing (the default `stage`) never receives a call."""
        raise StoreError(f"{type(self).__name__} stages no batches, so it cannot load {len(paths)} of them")

    @property
    def stage_directory(self) -> Path | None:
        """Where `stage` may write scratch files for this store; None: do not stage."""
        return None

    @staticmethod
    def remove_stale_stages(directory: Path) -> int:
        """Delete staged files that crashed runs left behind."""
        return 0

    @abstractmethod
    def aggregate(self, query: AggregateQuery) -> list[AggregateRow]:
        """Sum the `SUM_COLUMNS` per group. A "hour" grain or no grain reads the rollups;
        "session" or a "minute" grain reads the events."""

    @abstractmethod
    def existing_dedupe_keys(self, project_id: int, keys: Sequence[str]) -> set[str]:
        """Which of `keys` the project already has (the API answers those `duplicate`)."""

    @abstractmethod
    def iter_events(self, flt: EventFilter, *, batch_size: int = 5000) -> Iterator[dict[str, Any]]:
        """Stream events in time order, as dicts of stored columns (costs as integer nanos)."""

    @abstractmethod
    def page_events(self, flt: EventFilter, *, limit: int, before: tuple[str, int] | None = None,
                    search: str | None = None) -> list[dict[str, Any]]:
        """One page of events, newest first: the `limit` events that match `flt` (and `search`) and
        come before `before`, a (ts_utc, id) position (keyset paging; the last row's pair resumes).

        `search`: a case-insensitive substring of model, session_id, user_name, agent, dedupe_key
        or key_id, matched literally (`%` and `_` are no wildcards). Rows are `iter_events`'s.
        """

    @abstractmethod
    def get_event(self, project: str, dedupe_key: str) -> dict[str, Any] | None:
        """The event `dedupe_key` (the public event id) of the project named `project`, as
        `iter_events` gives it; None when there is none."""

    @abstractmethod
    def count_events(self, flt: EventFilter) -> int: ...

    @abstractmethod
    def unpriced_models(self) -> list[dict[str, Any]]:
        """(provider, model, events, first_seen, last_seen) for events stored without a price."""

    @abstractmethod
    def iter_events_for_reprice(self, since: str | None, *, batch_size: int = 5000) -> Iterator[list[dict[str, Any]]]:
        """Batches of events whose cost is computed from prices (not provider-reported), in id order."""

    @abstractmethod
    def update_costs(self, updates: Sequence[tuple[int, int | None, str, int | None]]) -> None:
        """Set (cost_nanos, cost_source, pricing_rev) by event id. Call `rebuild_rollups` after."""

    @abstractmethod
    def rebuild_rollups(self, since: str | None = None) -> None:
        """Recompute the rollups from events (for the hours from `since` on, or all)."""

    # -- projects --------------------------------------------------------
    @abstractmethod
    def project_ids(self, slugs: Sequence[str]) -> dict[str, int]:
        """Ids for the slugs, creating the projects that do not exist yet."""

    @abstractmethod
    def list_projects(self) -> list[dict[str, Any]]: ...

    # -- import cursors --------------------------------------------------
    @abstractmethod
    def get_cursors(self, source: str) -> dict[str, Cursor]: ...

    @abstractmethod
    def set_cursor(self, cursor: Cursor) -> None: ...

    # -- pricing ---------------------------------------------------------
    @abstractmethod
    def current_pricing_revision(self) -> dict[str, Any] | None: ...

    @abstractmethod
    def add_pricing_revision(self, *, snapshot_id: int | None, reason: str) -> int: ...

    @abstractmethod
    def add_pricing_snapshot(self, info: dict[str, Any]) -> int: ...

    @abstractmethod
    def active_pricing_snapshot(self) -> dict[str, Any] | None: ...

    @abstractmethod
    def list_pricing_snapshots(self) -> list[dict[str, Any]]: ...

    @abstractmethod
    def add_price_override(self, override: dict[str, Any]) -> int: ...

    @abstractmethod
    def remove_price_overrides(self, provider: str, model: str, *, removed_utc: str) -> int: ...

    @abstractmethod
    def active_price_overrides(self) -> list[dict[str, Any]]: ...

    @abstractmethod
    def add_price_history(self, rows: Sequence[dict[str, Any]]) -> None: ...

    @abstractmethod
    def price_history(self, provider: str | None = None, model: str | None = None) -> list[dict[str, Any]]: ...

    # -- key/value -------------------------------------------------------
    @abstractmethod
    def get_meta(self, key: str) -> str | None: ...

    @abstractmethod
    def set_meta(self, key: str, value: str) -> None: ...
