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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidInput
from ..ingest import registry
from ..ingest.base import RecordError, SourceContext
from ..ingest.native import NATIVE_FIELDS
from ..ingest.pipeline import IngestOptions
from ..models import PricedEvent
from ..pricing.engine import Pricer
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


def _pricer(store: Store) -> Pricer:
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
    accepted: list[tuple[int, str, list[PricedEvent]]]


def prepare_events(store: Store, actor: Actor, items: Sequence[Any], *, fmt: str = "native",
                   project: str | None = None) -> PreparedBatch:
    """Validate, price and permission-check a batch (reads the store, writes nothing).

    Raises:
        PermissionDenied, NotFound: the actor may not ingest at all, or not into `project`.
        InvalidInput: an unknown format.
    """
    if fmt not in API_FORMATS:
        raise InvalidInput(f"unknown format {fmt!r}", hint=f"use one of {', '.join(API_FORMATS)}")
    # Where the actor may write, remembered for a second like the credential (authcache).
    who = (actor.kind, actor.key_id, actor.user_id, actor.is_admin, actor.scopes)
    options, check = authcache.remembered(
        ("ingest-scope", store.location, who, fmt, project),
        lambda: _ingest_scope(store, actor, IngestOptions(fmt=fmt, project=project)))
    parser = registry.get_parser(fmt)
    received = clock.now_text()
    ctx = SourceContext(path="api", fallback_timestamp=received, project=options.project)
    pricer = _pricer(store)
    results: list[ItemResult | None] = [None] * len(items)
    accepted: list[tuple[int, str, list[PricedEvent]]] = []
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
        accepted.append((index, item_id, [pricer.price(e, options.project or e.project or options.default_project)
                                          for e in events]))
    return PreparedBatch(received, results, accepted)


def commit_batches(store: Store, batches: Sequence[PreparedBatch]) -> list[BatchResult]:
    """Store prepared batches in one transaction (one commit, one rollup fold for all of them);
    one BatchResult per batch, in order. An id seen earlier in the same call is a duplicate,
    across batches too, exactly as if they had been committed one after the other.

    Raises:
        StoreError: the transaction failed; nothing of any batch is stored.
    """
    answers: list[list[ItemResult | None]] = [list(batch.results) for batch in batches]
    with store.transaction():
        seen = _stored_keys(store, [p for batch in batches for _, _, priced in batch.accepted for p in priced])
        fresh: list[PricedEvent] = []
        for batch, results in zip(batches, answers, strict=True):
            for index, item_id, priced in batch.accepted:
                keys = [(p.project, p.dedupe_key) for p in priced]
                if all(key in seen for key in keys):
                    results[index] = ItemResult(index, item_id, "duplicate")
                    continue
                fresh.extend(p for p in priced if (p.project, p.dedupe_key) not in seen)
                seen.update(keys)
                results[index] = ItemResult(index, item_id, "created")
        if fresh:  # one ingest run for the group: they arrived within one commit's time
            store.insert_events(fresh, ingested_utc=batches[0].received)
    return [BatchResult([r for r in results if r is not None]) for results in answers]


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


def _stored_keys(store: Store, priced: Sequence[PricedEvent]) -> set[tuple[str, str]]:
    """Which (project, dedupe key) pairs of `priced` the store already has."""
    wanted: dict[str, list[str]] = {}
    for p in priced:
        wanted.setdefault(p.project, []).append(p.dedupe_key)
    found: set[tuple[str, str]] = set()
    for slug, keys in wanted.items():
        project = store.get_project(slug)
        if project is not None:
            found.update((slug, key) for key in store.existing_dedupe_keys(int(project["id"]), keys))
    return found
