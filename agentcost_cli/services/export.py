"""`agentcost export events`: raw events as flat rows, streamed in time order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from ..models import format_usd
from ..store.base import EventFilter, Store

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


def export_rows(store: Store, flt: EventFilter) -> Iterator[dict[str, Any]]:
    """One dict per event with EXPORT_COLUMNS keys; JSON fields decoded, money as decimal strings."""
    for stored in store.iter_events(flt):
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
        yield row
