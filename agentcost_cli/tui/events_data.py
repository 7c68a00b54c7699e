"""What the Events screen shows, as plain data: a page of events as table cells, and one event
(`Backend.show_event`) as labelled fields and a price breakdown. No widgets here, so that the
screen stays thin and these read the same in tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from .formatting import local_time, money, tokens

# (label, key) of the table's columns, in order; the time label gets the zone's name. The cost
# comes before the token counts so that it is on screen at 80 columns (the rest scroll sideways).
COLUMNS = (
    ("time", "timestamp"), ("project", "project"), ("provider", "provider"), ("model", "model"), ("cost", "cost_usd"),
    ("input", "input_tokens"), ("output", "output_tokens"), ("cache", "cache"),
    ("user", "user"), ("agent", "agent"), ("session", "session"),
)
RIGHT = {"input", "output", "cache", "cost"}
UNPRICED = "unpriced"

# Every field of an event (services.export.EXPORT_COLUMNS) with the label the detail pane gives it.
FIELD_LABELS = (
    ("id", "Event"), ("project", "Project"), ("timestamp", "Time"), ("provider", "Provider"), ("model", "Model"),
    ("model_ref", "Priced as"), ("input_tokens", "Input tokens"), ("cache_read_tokens", "Cache read tokens"),
    ("cache_write_tokens", "Cache write tokens"), ("cache_write_1h_tokens", "Cache write 1h tokens"),
    ("output_tokens", "Output tokens"), ("reasoning_tokens", "Reasoning tokens"), ("requests", "Requests"),
    ("latency_ms", "Latency (ms)"), ("user", "User"), ("session", "Session"), ("agent", "Agent"),
    ("key_id", "Key"), ("cost_usd", "Cost (USD)"), ("cost_source", "Cost source"),
    ("reported_cost_usd", "Reported cost"), ("pricing_revision", "Pricing revision"),
    ("source_format", "Source"), ("ingested_at", "Ingested"), ("tags", "Tags"),
    ("price_context", "Price context"), ("metadata", "Metadata"),
)
_JSON = {"tags", "price_context", "metadata"}
_COMPONENT = {"cache_read": "cache read", "cache_write": "cache write", "cache_write_1h": "cache write 1h"}


def event_key(row: dict[str, Any]) -> str:
    """A row's identity in the table: an event id is unique within its project."""
    return f"{row['project']}\x1f{row['id']}"


def split_key(key: str) -> tuple[str, str]:
    project, _, event_id = key.partition("\x1f")
    return project, event_id


def cost_text(cost_usd: str | None) -> str:
    """Money for a stored cost; an unpriced event reads `unpriced`, never $0.00."""
    return UNPRICED if cost_usd is None else money(cost_usd)


def exact_usd(value: str | None) -> str:
    """An exact decimal string as dollars, unrounded (a breakdown's parts are often fractions of a cent)."""
    return "-" if value is None else f"${value}"


def cache_tokens(row: dict[str, Any]) -> int:
    return int(row["cache_read_tokens"] or 0) + int(row["cache_write_tokens"] or 0) + int(
        row["cache_write_1h_tokens"] or 0)


def row_cells(row: dict[str, Any], zone: tzinfo) -> tuple[str, ...]:
    """One `list_events` row as the table's cells (COLUMNS order)."""
    return (
        local_time(row["timestamp"], zone, "%Y-%m-%d %H:%M"), row["project"], row["provider"], row["model"],
        cost_text(row["cost_usd"]), tokens(row["input_tokens"]), tokens(row["output_tokens"]),
        tokens(cache_tokens(row)), row["user"] or "-", row["agent"] or "-", row["session"] or "-",
    )


def _value(key: str, value: Any, zone: tzinfo, zone_name: str) -> str:
    if value is None or value == "" or value == {}:
        return "-"
    if key in _JSON:
        return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    if key in ("timestamp", "ingested_at"):
        return f"{local_time(value, zone, '%Y-%m-%d %H:%M:%S')} {zone_name} ({value})"
    if key in ("cost_usd", "reported_cost_usd"):
        return f"{exact_usd(value)} ({money(value)})"
    if isinstance(value, int) and not isinstance(value, bool) and key != "pricing_revision":
        return f"{value:,}"
    return str(value)


def detail_fields(event: dict[str, Any], zone: tzinfo, zone_name: str) -> list[tuple[str, str]]:
    """Every field of the normalized event, labelled; JSON fields pretty-printed. An unpriced
    event's cost reads `unpriced`."""
    fields = []
    for key, label in FIELD_LABELS:
        value = event.get(key)
        if key == "cost_usd" and value is None:
            fields.append((label, UNPRICED))
        else:
            fields.append((label, _value(key, value, zone, zone_name)))
    return fields


@dataclass(frozen=True)
class Breakdown:
    rows: list[tuple[str, str, str, str]]  # component, tokens, rate, cost
    total: str  # the breakdown's total (exact), or "-" when no price is known
    stored: str  # the stored cost, or "unpriced"
    verdict: str  # how the two compare, in words
    note: str | None


def breakdown(event: dict[str, Any]) -> Breakdown:
    """The price breakdown of a `show_event` answer, ready to show."""
    rows = []
    for item in event.get("price_breakdown") or []:
        amount = (f"{item['tokens']:,}" if item.get("tokens") is not None
                  else f"{item.get('requests') or 0:,} requests")
        if item.get("rate_usd_per_mtok") is not None:
            rate = f"${item['rate_usd_per_mtok']} / 1M tokens"
        elif item.get("rate_usd_per_1k_requests") is not None:
            rate = f"${item['rate_usd_per_1k_requests']} / 1K requests"
        else:
            rate = "no price"
        rows.append((_COMPONENT.get(item["component"], item["component"]), amount, rate, exact_usd(item["cost_usd"])))
    matches = event.get("matches_stored_cost")
    if event.get("cost_usd") is None:
        verdict = "unpriced: no cost is stored for this event (it is not counted as free)"
    elif matches is None:
        verdict = "no price is known now to compare with"
    elif matches:
        verdict = "matches the stored cost"
    else:
        verdict = "DIFFERS from the stored cost"
    return Breakdown(rows=rows, total=exact_usd(event.get("breakdown_total_usd")),
                     stored=UNPRICED if event.get("cost_usd") is None else exact_usd(event["cost_usd"]),
                     verdict=verdict, note=event.get("note"))
