"""Response models of the event browser: `GET /v1/events` and `GET /v1/events/{project}/{event_id}`
(the documents of `agentcost events list --json` and `agentcost events show --json`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

EVENT_ROW_EXAMPLE: dict[str, Any] = {
    "id": "req_01J9Z6", "timestamp": "2026-11-20T10:15:30.123000Z", "project": "web", "provider": "anthropic",
    "model": "claude-sonnet-4-5-20250929", "model_ref": "claude-sonnet-4-5", "input_tokens": 1200,
    "cache_read_tokens": 48000, "cache_write_tokens": 0, "cache_write_1h_tokens": 0, "output_tokens": 850,
    "reasoning_tokens": 0, "requests": 1, "latency_ms": None, "user": "alice", "session": None, "agent": "my-app",
    "key_id": None, "tags": {"env": "prod"}, "price_context": None, "reported_cost_usd": None,
    "cost_usd": "0.031740000", "cost_source": "computed", "pricing_revision": 3, "source_format": "native",
    "ingested_at": "2026-11-20T10:15:31.000000Z", "metadata": None,
}


class EventRow(BaseModel):
    """One stored event: the columns of `agentcost export events`, money as decimal strings (USD)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [EVENT_ROW_EXAMPLE]})

    id: str = Field(description="The event id (unique within its project).")
    timestamp: str = Field(description="UTC, RFC 3339.")
    project: str
    provider: str
    model: str
    model_ref: str | None = Field(None, description="The catalog model the event was priced as.")
    input_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cache_write_1h_tokens: int
    output_tokens: int
    reasoning_tokens: int
    requests: int
    latency_ms: int | float | None = None
    user: str | None = None
    session: str | None = None
    agent: str | None = None
    key_id: str | None = None
    tags: dict[str, Any] | list[Any] | None = None
    price_context: dict[str, Any] | None = None
    reported_cost_usd: str | None = None
    cost_usd: str | None = Field(None, description="None: no price was known (unpriced).")
    cost_source: str = Field(description="computed, reported or unpriced.")
    pricing_revision: int | None = None
    source_format: str | None = None
    ingested_at: str | None = None
    metadata: dict[str, Any] | None = None


class EventPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"events": [EVENT_ROW_EXAMPLE],
                                                               "next_cursor": "ZToyMDI2LTExLTIwVDEwOjE1OjMwWnw0Mg"}]})

    events: list[EventRow] = Field(description="Newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page; null on the last.")


class PriceComponent(BaseModel):
    component: str = Field(description="input, cache_read, cache_write, cache_write_1h, output, reasoning "
                           "or requests.")
    tokens: int | None = Field(description="Tokens billed in this component (null for the per-request fee).")
    requests: int | None = Field(description="Requests billed (the per-request fee only).")
    rate_usd_per_mtok: str | None = Field(description="USD per million tokens, a decimal string.")
    rate_usd_per_1k_requests: str | None = Field(description="USD per 1000 requests (the per-request fee).")
    cost_usd: str = Field(description="tokens x rate, exact (not rounded), a decimal string.")


class EventDetail(EventRow):
    """The event with what its tokens cost at the prices in force now, component by component."""

    price_breakdown: list[PriceComponent]
    breakdown_total_usd: str | None = Field(description="The components' total rounded to nano-USD, as stored "
                                            "costs are; null when no price is known.")
    matches_stored_cost: bool | None = Field(description="Whether that total equals `cost_usd`.")
    override_applied: bool = Field(description="A manual price override is part of the prices.")
    current_pricing_revision: int | None
    note: str | None = Field(description="Why the total differs from the stored cost, or why there is no "
                             "breakdown.")
