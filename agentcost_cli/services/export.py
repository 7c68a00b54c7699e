"""`agentcost export events`: raw events as flat rows, streamed in time order.

Exporting needs `USAGE_EXPORT` (operators: everything; others: the projects they may
read) and leaves a `data.export` record in the audit log, refused or not.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import orjson

from ..errors import NotFound, PermissionDenied
from ..models import format_usd
from ..store.base import EventFilter, Store
from .actor import Actor
from .audit import DENIED, record
from .permissions import Op, scope_projects

# Stable, documented column order (README "Export columns"); append only.
EXPORT_COLUMNS = (
    "id", "timestamp", "project", "provider", "model", "model_ref",
    "input_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens", "output_tokens",
    "reasoning_tokens", "requests", "latency_ms", "user", "session", "agent", "key_id",
    "tags", "price_context", "reported_cost_usd", "cost_usd", "cost_source", "pricing_revision",
    "source_format", "ingested_at", "metadata",
)
_JSON_FIELDS = {"tags": "tags_json", "price_context": "price_context_json", "metadata": "metadata_json"}
_RENAMED = {"id": "dedupe_key", "timestamp": "ts_utc", "user": "user_name", "session": "session_id",
            "pricing_revision": "pricing_rev", "ingested_at": "ingested_utc"}


def export_rows(store: Store, actor: Actor, flt: EventFilter) -> Iterator[dict[str, Any]]:
    """One dict per event with EXPORT_COLUMNS keys; JSON fields decoded, money as decimal strings.

    Checks and audits at once (not when the rows are first read); the rows then stream.

    Raises:
        NotFound, PermissionDenied: a named project is refused (see reports._readable_projects).
    """
    detail: dict[str, Any] = {"since": flt.since, "until": flt.until, "projects": list(flt.projects),
                              "providers": list(flt.providers), "models": list(flt.models)}
    try:
        projects = scope_projects(store, actor, flt.projects, Op.USAGE_EXPORT)
    except (NotFound, PermissionDenied):
        record(store, actor, "data.export", target=",".join(flt.projects), outcome=DENIED, detail=detail)
        raise
    if projects is None:  # the actor may read no project: an empty export
        record(store, actor, "data.export", target=None, detail=detail)
        return iter(())
    # One project: the record belongs to it too, so that its admins see it in its audit log.
    one = store.get_project(projects[0]) if len(projects) == 1 else None
    record(store, actor, "data.export", target=",".join(projects) or "all",
           project_id=int(one["id"]) if one is not None else None, detail=detail)
    return _rows(store, replace(flt, projects=projects))


def _rows(store: Store, flt: EventFilter) -> Iterator[dict[str, Any]]:
    for stored in store.iter_events(flt):
        yield event_row(stored)


def event_row(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored event (a Store.iter_events/page_events dict) as exports and the API show it:
    EXPORT_COLUMNS keys, JSON fields decoded, money as decimal strings."""
    row: dict[str, Any] = {}
    for column in EXPORT_COLUMNS:
        if column in _JSON_FIELDS:
            raw = stored[_JSON_FIELDS[column]]
            row[column] = orjson.loads(raw) if raw else None
        elif column == "cost_usd":
            row[column] = format_usd(stored["cost_nanos"])
        elif column == "reported_cost_usd":
            row[column] = format_usd(stored["reported_cost_nanos"])
        else:
            row[column] = stored[_RENAMED.get(column, column)]
    return row
