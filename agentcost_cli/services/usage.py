"""Recording usage sent over the API: one batch of events in, one result per item out.

The rules (API-04..06):
- each item carries a client id (the dedupe key); an id already stored in its project is
  a no-op answered `duplicate`, within the batch too (the first copy wins);
- a bad item is `rejected` with a reason and a JSON pointer; the good ones are stored;
- the answer is built only after the batch is committed: an error while writing stores
  nothing and raises (the API answers 503), so an acknowledged event is a stored event.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidInput
from ..ingest import registry
from ..ingest.base import RecordError, SourceContext
from ..ingest.native import NATIVE_FIELDS
from ..ingest.pipeline import IngestOptions, ProjectCheck
from ..models import PricedEvent
from ..pricing.engine import Pricer
from ..store.base import PreparedBatch as StoreRows
from ..store.base import Store
from . import authcache, clock
from .actor import Actor
from .ingest import _ingest_scope
from .pricing import load_pricer

API_FORMATS = ("native", "openai", "anthropic", "gemini")
MAX_ID_LENGTH = 128
_PRICERS: dict[tuple[str, int | None], Pricer] = {}
_PRICERS_LOCK = threading.Lock()


@dataclass(frozen=True)
class ItemResult:
    index: int
    id: str | None
    status: str  # created | duplicate | rejected
    detail: str | None = None
    pointer: str | None = None


@dataclass
class BatchResult:
    items: list[ItemResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for item in self.items if item.status == status)


def current_pricer(store: Store) -> Pricer:
    """The store's pricer, reused while the pricing revision stands (every price change makes a
    new revision), so a busy daemon does not rebuild the catalog per request. Shared by every
    connection to the same store in this process: the daemon opens one per worker thread, and
    building a catalog per thread costs seconds of CPU under load."""
    # Read once a second, not per request (authcache): a price change made in this process
    # clears it at once, one made by another daemon applies within the second.
    memo = ("pricing-revision", store.location)
    revision = authcache.cached(memo)
    if revision is None:
        revision = store.current_pricing_revision()
        if revision is not None:  # a store with no revision yet gets one from load_pricer below
            authcache.remembered(memo, lambda: revision)
    key = (store.location, revision["id"] if revision is not None else None)
    with _PRICERS_LOCK:
        cached = _PRICERS.get(key)
    if cached is not None and revision is not None:
        return cached
    pricer = load_pricer(store)
    with _PRICERS_LOCK:
        _PRICERS.clear()  # older revisions are done with
        _PRICERS[(store.location, pricer.revision)] = pricer
    return pricer


def _pointer(index: int, message: str) -> str:
    """`/events/3/model` when the reason names a field, else `/events/3`."""
    first = message.split(" ", 1)[0].rstrip(":,")
    return f"/events/{index}/{first}" if first in NATIVE_FIELDS else f"/events/{index}"


@dataclass
class PreparedBatch:
    """A batch validated, priced and checked against the actor's permissions, not yet stored:
    what `commit_batches` needs, so a daemon can commit many requests' batches in one transaction."""

    received: str
    results: list[ItemResult | None]
    # (index, id, events): PricedEvents, or with `rows` the store's rows plus a last field, the
    # event's replace_if_larger, and the ingest run left as None (prepared in a worker process)
    accepted: list[tuple[int, str, list[Any]]]
    rows: bool = False


def ingest_scope(store: Store, actor: Actor, fmt: str,
                 project: str | None) -> tuple[IngestOptions, ProjectCheck | None]:
    """Where `actor` may write a batch of `fmt` (remembered for a second, like the credential).

    Raises:
        PermissionDenied, NotFound: the actor may not ingest at all, or not into `project`.
        InvalidInput: an unknown format.
    """
    if fmt not in API_FORMATS:
        raise InvalidInput(f"unknown format {fmt!r}", hint=f"use one of {', '.join(API_FORMATS)}")
    who = (actor.kind, actor.key_id, actor.user_id, actor.is_admin, actor.scopes)
    return authcache.remembered(
        ("ingest-scope", store.location, who, fmt, project),
        lambda: _ingest_scope(store, actor, IngestOptions(fmt=fmt, project=project)))


def prepare_events(store: Store, actor: Actor, items: Sequence[Any], *, fmt: str = "native",
                   project: str | None = None) -> PreparedBatch:
    """Validate, price and permission-check a batch (reads the store, writes nothing).

    Raises:
        PermissionDenied, NotFound: the actor may not ingest at all, or not into `project`.
        InvalidInput: an unknown format.
    """
    options, check = ingest_scope(store, actor, fmt, project)
    return prepare_items(items, fmt, options, check, clock.now_text(), current_pricer(store))


def prepare_items(items: Sequence[Any], fmt: str, options: IngestOptions, check: ProjectCheck | None,
                  received: str, pricer: Pricer, *, to_row: Callable[[PricedEvent], Any] | None = None,
                  ) -> PreparedBatch:
    """`prepare_events` once the scope, the time and the pricer are known: pure, so a worker
    process can run it. With `to_row`, accepted events travel as what it makes of them (rows)."""
    parser = registry.get_parser(fmt)
    ctx = SourceContext(path="api", fallback_timestamp=received, project=options.project)
    results: list[ItemResult | None] = [None] * len(items)
    accepted: list[tuple[int, str, list[Any]]] = []
    for index, item in enumerate(items):
        outcome = _parse_item(index, item, fmt, parser, ctx)
        if isinstance(outcome, ItemResult):
            results[index] = outcome
            continue
        item_id, events = outcome
        target = options.project or events[0].project or options.default_project
        refused = check(target) if check is not None else None
        if refused is not None:
            results[index] = ItemResult(index, item_id, "rejected", refused, f"/events/{index}/project")
            continue
        priced = [pricer.price(e, options.project or e.project or options.default_project) for e in events]
        accepted.append((index, item_id, priced if to_row is None else [to_row(p) for p in priced]))
    return PreparedBatch(received, results, accepted, rows=to_row is not None)


def commit_batches(store: Store, batches: Sequence[PreparedBatch]) -> list[BatchResult]:
    """Store prepared batches in one transaction (one commit, one rollup fold for all of them);
    one BatchResult per batch, in order. An id seen earlier in the same call is a duplicate,
    across batches too, exactly as if they had been committed one after the other.

    Raises:
        StoreError: the transaction failed; nothing of any batch is stored.
    """
    answers: list[list[ItemResult | None]] = [list(batch.results) for batch in batches]
    with store.transaction():
        seen = _stored_keys(store, [key for batch in batches for key in _batch_keys(batch)])
        parts: list[tuple[bool, list[Any]]] = []  # (rows?, what to insert), in order
        for batch, results in zip(batches, answers, strict=True):
            fresh: list[Any] = []
            for index, item_id, events in batch.accepted:
                if len(events) == 1:  # the usual case, without the general case's lists
                    event = events[0]
                    key = (event[0], event[1]) if batch.rows else (event.project, event.dedupe_key)
                    if key in seen:
                        results[index] = ItemResult(index, item_id, "duplicate")
                    else:
                        fresh.append(event)
                        seen.add(key)
                        results[index] = ItemResult(index, item_id, "created")
                    continue
                keys = _keys(batch, events)
                if all(key in seen for key in keys):
                    results[index] = ItemResult(index, item_id, "duplicate")
                    continue
                fresh.extend(e for e, key in zip(events, keys, strict=True) if key not in seen)
                seen.update(keys)
                results[index] = ItemResult(index, item_id, "created")
            if fresh:
                parts.append((batch.rows, fresh))
        # One ingest run for the group: they arrived within one commit's time.
        if parts and not any(rows for rows, _ in parts):
            store.insert_events([p for _, fresh in parts for p in fresh], ingested_utc=batches[0].received)
        elif parts:
            _insert_rows(store, parts, batches[0].received)
    return [BatchResult([r for r in results if r is not None]) for results in answers]


def _batch_keys(batch: PreparedBatch) -> list[tuple[str, str]]:
    if batch.rows:  # the SQLite row layout: project slug, then dedupe key (store/sqlite_sql.py)
        return [(row[0], row[1]) for _, _, rows in batch.accepted for row in rows]
    return [(p.project, p.dedupe_key) for _, _, priced in batch.accepted for p in priced]


def _keys(batch: PreparedBatch, events: list[Any]) -> list[tuple[str, str]]:
    if batch.rows:  # the SQLite row layout: project slug, then dedupe key (store/sqlite_sql.py)
        return [(row[0], row[1]) for row in events]
    return [(p.project, p.dedupe_key) for p in events]


def _insert_rows(store: Store, parts: list[tuple[bool, list[Any]]], received: str) -> None:
    """`insert_events` for a group where some batches came as rows from a worker process."""
    run = store.ingest_run(received)
    rows: list[tuple[Any, ...]] = []
    larger: list[bool] = []
    for is_rows, fresh in parts:
        if is_rows:
            rows.extend((*row[:-2], run) for row in fresh)
            larger.extend(row[-1] for row in fresh)
        else:
            prepared = store.prepare(fresh, ingest_run=run)
            rows.extend(prepared.rows)
            larger.extend(prepared.larger_wins or [False] * len(prepared.rows))
    store.insert_prepared(StoreRows(rows, larger if any(larger) else None))


def record_events(store: Store, actor: Actor, items: Sequence[Any], *, fmt: str = "native",
                  project: str | None = None) -> BatchResult:
    """Validate, price and store a batch; one ItemResult per item, in order.

    Raises:
        PermissionDenied, NotFound: the actor may not ingest at all, or not into `project`.
        InvalidInput: an unknown format.
        StoreError: the batch could not be committed (nothing of it is stored).
    """
    return commit_batches(store, [prepare_events(store, actor, items, fmt=fmt, project=project)])[0]


def _parse_item(index: int, item: Any, fmt: str, parser: Any,
                ctx: SourceContext) -> ItemResult | tuple[str, list[Any]]:
    """(id, events) for a good item; the rejection otherwise."""
    if not isinstance(item, dict):
        return ItemResult(index, None, "rejected", "an event must be a JSON object", f"/events/{index}")
    raw_id = item.get("id")
    item_id = raw_id if isinstance(raw_id, str) else None
    if fmt == "native" and (not item_id or not item_id.strip()):
        return ItemResult(index, None, "rejected", "id is required: a client-chosen id (at most 128 characters) "
                          "makes a retry safe", f"/events/{index}/id")
    if item_id is not None and len(item_id) > MAX_ID_LENGTH:
        return ItemResult(index, item_id[:MAX_ID_LENGTH], "rejected", f"id must be at most {MAX_ID_LENGTH} "
                          "characters", f"/events/{index}/id")
    try:
        events = parser.parse_record(item, ctx)
    except RecordError as exc:
        return ItemResult(index, item_id, "rejected", str(exc), _pointer(index, str(exc)))
    if not events:
        return ItemResult(index, item_id, "rejected", "the record carries no usage", f"/events/{index}")
    if fmt != "native":
        item_id = item_id or events[0].id
        if not item_id:
            return ItemResult(index, None, "rejected", "the response carries no id to deduplicate on",
                              f"/events/{index}/id")
    return item_id or "", events


def _stored_keys(store: Store, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (project, dedupe key) pairs the store already has."""
    wanted: dict[str, list[str]] = {}
    for slug, key in keys:
        wanted.setdefault(slug, []).append(key)
    found: set[tuple[str, str]] = set()
    for slug, dedupe_keys in wanted.items():
        project = store.get_project(slug)
        if project is not None:
            found.update((slug, key) for key in store.existing_dedupe_keys(int(project["id"]), dedupe_keys))
    return found
