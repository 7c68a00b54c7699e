"""Browsing raw events: a page at a time, newest first, and one event with its price breakdown.

Reading needs `USAGE_READ`, as reports do: operators read everything; anyone else only the
projects they may read (each project a filter names is checked; no name means all of theirs).
An event of a project the actor may not read is answered NotFound, exactly like one that does
not exist, so that a refusal tells nothing about what is stored.

Pages are keyset-paged on (timestamp, row id): the cursor is that position of the last row,
encoded, so a page costs the same however deep it is, and events stored meanwhile neither
shift nor repeat rows of later pages.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from decimal import Decimal
from typing import Any

import orjson

from ..errors import InvalidInput, NotFound, PermissionDenied
from ..models import UsageEvent, format_usd
from ..pricing.rates import Rate, RateCard
from ..store.base import EventFilter, Store
from .actor import Actor
from .export import event_row
from .permissions import Op, scope_projects

MAX_LIMIT = 500
MAX_SEARCH = 200
# (component, token column, the card's rate) in the order a bill lists them.
_COMPONENTS = (
    ("input", "input_tokens", "input"),
    ("cache_read", "cache_read_tokens", "cache_read"),
    ("cache_write", "cache_write_tokens", "cache_write"),
    ("cache_write_1h", "cache_write_1h_tokens", "cache_write_1h"),
    ("output", "output_tokens", "output"),
    ("reasoning", "reasoning_tokens", "reasoning"),
)
_MTOK = Decimal(1_000_000)


def encode_cursor(ts_utc: str, row_id: int) -> str:
    return base64.urlsafe_b64encode(f"e:{ts_utc}|{int(row_id)}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, int]:
    """The (ts_utc, id) position a cursor of `list_events` encodes.

    Raises:
        InvalidInput: not a cursor `list_events` made.
    """
    try:
        text = base64.urlsafe_b64decode(cursor.encode("ascii") + b"==").decode()
        kind, _, rest = text.partition(":")
        ts, _, row_id = rest.rpartition("|")
        if kind != "e" or not ts or len(ts) > 40 or not row_id.isdigit() or len(row_id) > 19:
            raise ValueError
        return ts, int(row_id)
    except (ValueError, UnicodeError):
        raise InvalidInput("invalid cursor", hint="pass the next_cursor of the previous page as it was") from None


def list_events(store: Store, actor: Actor, flt: EventFilter, *, limit: int = 100, cursor: str | None = None,
                search: str | None = None) -> dict[str, Any]:
    """One page of the events `actor` may read (`USAGE_READ`), newest first.

    Args:
        flt: which events (times are canonical UTC text, `until` exclusive).
        limit: rows per page, 1..500.
        cursor: the `next_cursor` of the previous page; None for the newest.
        search: a case-insensitive substring of model, session, user, agent, event id or key id.

    Returns:
        {"events": [rows with EXPORT_COLUMNS keys], "next_cursor": str | None (None: the last page)}.

    Raises:
        InvalidInput: a limit out of range, a malformed cursor, an over-long search.
        NotFound, PermissionDenied: a named project is refused (see permissions.scope_projects).
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
    before = decode_cursor(cursor) if cursor else None
    text = (search or "").strip() or None
    if text is not None and len(text) > MAX_SEARCH:
        raise InvalidInput(f"search text is longer than {MAX_SEARCH} characters")
    projects = scope_projects(store, actor, flt.projects, Op.USAGE_READ)
    if projects is None:  # the actor may read no project: an empty page, not someone else's events
        return {"events": [], "next_cursor": None}
    stored = store.page_events(replace(flt, projects=projects), limit=limit + 1, before=before, search=text)
    more = len(stored) > limit
    stored = stored[:limit]
    next_cursor = encode_cursor(stored[-1]["ts_utc"], stored[-1]["id"]) if more else None
    return {"events": [event_row(s) for s in stored], "next_cursor": next_cursor}


def show_event(store: Store, actor: Actor, project: str, event_id: str) -> dict[str, Any]:
    """One event (the `id` of its row in `list_events`) with what its tokens cost at the prices
    in force now, component by component.

    Returns:
        The event's row (EXPORT_COLUMNS keys) plus
        - "price_breakdown": [{"component", "tokens", "requests", "rate_usd_per_mtok",
          "rate_usd_per_1k_requests", "cost_usd"}], one per component the rate card prices
          (input, cache_read, cache_write, cache_write_1h, output, reasoning, requests); a token
          component has "requests" and "rate_usd_per_1k_requests" None, the per-request fee has
          "tokens" and "rate_usd_per_mtok" None. "cost_usd" is exact (not rounded to nanos).
          Empty when no price is known or genai-prices' own arithmetic prices the model.
        - "breakdown_total_usd": the total those prices give, rounded to nano-USD as stored
          costs are (None when no price is known);
        - "matches_stored_cost": whether that total equals "cost_usd" (None: nothing to compare);
        - "override_applied": a manual price override is part of the prices;
        - "current_pricing_revision": the pricing revision in force now;
        - "note": why the total differs from the stored cost, or why there is no breakdown (or None).

    Raises:
        NotFound: no such event, or one of a project the actor may not read.
    """
    missing = NotFound(f"no event {event_id!r} in project {project!r}")
    try:
        allowed = scope_projects(store, actor, (project,), Op.USAGE_READ)
    except (NotFound, PermissionDenied):
        raise missing from None
    stored = store.get_event(project, event_id) if allowed else None
    if stored is None:
        raise missing
    row = event_row(stored)
    row.update(_breakdown(store, stored))
    return row


def _pick(rate: Rate, prompt_tokens: int) -> Decimal:
    """The rate's price for an event with this many prompt tokens (long-context tiers)."""
    base, tiers = rate
    for start, price in reversed(tiers):
        if prompt_tokens > start:
            return price
    return base


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _breakdown(store: Store, stored: dict[str, Any]) -> dict[str, Any]:
    from ..pricing.engine import slow_cost_nanos
    from .pricing import load_pricer

    pricer = load_pricer(store)
    ts, model = stored["ts_utc"], stored["model"]
    context = orjson.loads(stored["price_context_json"]) if stored["price_context_json"] else None
    resolution = pricer.catalog.resolve(stored["provider"], model)
    override = pricer.override_for(resolution.provider_id, resolution.model_ref, model, ts)
    out: dict[str, Any] = {"price_breakdown": [], "breakdown_total_usd": None, "matches_stored_cost": None,
                           "override_applied": override is not None,
                           "current_pricing_revision": pricer.revision, "note": None}
    reported = stored["cost_source"] == "reported"
    if resolution.model is None and override is None:
        out["note"] = (f"no price is known for {stored['provider']}/{model}"
                       + ("; the stored cost is the one reported with the event" if reported
                          else "; the event is stored unpriced (see `agentcost pricing missing`)"))
        return out
    card, prices = pricer.rate_card(resolution, ts, context, override)
    if card is None:
        event = UsageEvent(
            timestamp=ts, provider=stored["provider"], model=model, input_tokens=stored["input_tokens"],
            cache_read_tokens=stored["cache_read_tokens"], cache_write_tokens=stored["cache_write_tokens"],
            cache_write_1h_tokens=stored["cache_write_1h_tokens"], output_tokens=stored["output_tokens"],
            reasoning_tokens=stored["reasoning_tokens"], requests=stored["requests"], price_context=context)
        total = slow_cost_nanos(prices, event)
        notes = ["this model's prices have a shape only genai-prices' own arithmetic computes, so there is "
                 "no per-component breakdown"]
    else:
        out["price_breakdown"] = _components(card, stored)
        total = card.cost_nanos(stored["input_tokens"], stored["cache_read_tokens"], stored["cache_write_tokens"],
                                stored["cache_write_1h_tokens"], stored["output_tokens"],
                                stored["reasoning_tokens"], stored["requests"])
        notes = []
    out["breakdown_total_usd"] = format_usd(total)
    cost = stored["cost_nanos"]
    out["matches_stored_cost"] = cost is not None and cost == total
    if reported:
        notes.append("the stored cost is the one reported with the event; the breakdown is what the prices "
                     "in force give for its tokens")
    elif cost is None:
        notes.append("the event was stored unpriced (no price was known when it was ingested); "
                     "`agentcost pricing reprice` prices it now")
    elif cost != total:
        rev = stored["pricing_rev"]
        notes.append(f"the stored cost was computed with pricing revision {rev}; the prices in force now "
                     f"(revision {pricer.revision}) give another total; `agentcost pricing reprice` "
                     "updates stored costs" if rev != pricer.revision else
                     "the stored cost differs from what the prices in force give (a price override or "
                     "price change with the same revision); `agentcost pricing reprice` recomputes it")
    if override is not None and notes:
        notes.append(f"a manual price override (since {override['effective_from_utc']}) is part of the prices")
    out["note"] = "; ".join(notes) or None
    return out


def _components(card: RateCard, stored: dict[str, Any]) -> list[dict[str, Any]]:
    """Each priced bucket's tokens x rate, as RateCard.cost_nanos bills it (reasoning tokens are
    part of output, billed at the reasoning rate only when the card has one)."""
    prompt = sum(stored[c] for c in ("input_tokens", "cache_read_tokens", "cache_write_tokens",
                                     "cache_write_1h_tokens"))
    items: list[dict[str, Any]] = []
    for component, column, rate_name in _COMPONENTS:
        rate: Rate | None = getattr(card, rate_name)
        tokens = int(stored[column])
        if component == "output" and card.reasoning is not None:
            tokens -= int(stored["reasoning_tokens"])  # billed apart, below
        if rate is None:
            if tokens and component != "reasoning":  # tokens with no price: billed nothing
                items.append(_item(component, tokens, None, None, Decimal(0)))
            continue
        price = _pick(rate, prompt)
        items.append(_item(component, tokens, None, price, Decimal(tokens) * price / _MTOK))
    if card.requests_kcount is not None:
        price = _pick(card.requests_kcount, prompt)
        requests = int(stored["requests"])
        items.append(_item("requests", None, requests, price, Decimal(requests) * price / 1000))
    return items


def _item(component: str, tokens: int | None, requests: int | None, rate: Decimal | None,
          cost: Decimal) -> dict[str, Any]:
    per_request = requests is not None
    return {
        "component": component,
        "tokens": tokens,
        "requests": requests,
        "rate_usd_per_mtok": None if per_request or rate is None else _plain(rate),
        "rate_usd_per_1k_requests": _plain(rate) if per_request and rate is not None else None,
        "cost_usd": _plain(cost),
    }
