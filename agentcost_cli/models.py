"""Domain models shared by the CLI, the store, the services and (later) the API.

`UsageEvent` is the one normalized usage record that every parser produces.
It is a slots dataclass rather than a pydantic model because ingestion builds
a million of them per run; validation happens where events are built.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

# Disjoint token buckets, in the order every report and export uses.
TOKEN_FIELDS: tuple[str, ...] = (
    "input_tokens",  # prompt tokens neither read from nor written to a cache
    "cache_read_tokens",
    "cache_write_tokens",  # 5-minute (default TTL) cache writes
    "cache_write_1h_tokens",
    "output_tokens",  # includes reasoning tokens
    "reasoning_tokens",  # informational subset of output_tokens
)

NANOS_PER_USD = 1_000_000_000
NANO = Decimal("0.000000001")


def nanos_to_usd(nanos: int) -> Decimal:
    """Exact: integer nano-USD to a Decimal with nine places."""
    return (Decimal(nanos) / NANOS_PER_USD).quantize(NANO)


def usd_to_nanos(usd: Decimal) -> int:
    from decimal import ROUND_HALF_EVEN

    return int((usd * NANOS_PER_USD).to_integral_value(rounding=ROUND_HALF_EVEN))


def format_usd(nanos: int | None) -> str | None:
    """Money as a decimal string for JSON/CSV: exact, nine places."""
    # format(..., "f"): str() would write tiny amounts as "1E-9", which is not a plain decimal.
    return None if nanos is None else format(nanos_to_usd(nanos), "f")


@dataclass(slots=True)
class UsageEvent:
    """One priced-or-to-be-priced unit of usage. See docs/events.md."""

    timestamp: str  # canonical UTC text (timeutil.normalize_timestamp)
    provider: str
    model: str
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    requests: int = 1
    id: str | None = None
    project: str | None = None
    latency_ms: int | None = None
    user: str | None = None
    session: str | None = None
    agent: str | None = None
    key_id: str | None = None
    tags: dict[str, str] | None = None
    price_context: dict[str, str] | None = None
    reported_cost_usd: Decimal | None = None
    metadata: dict[str, Any] | None = None
    source: str | None = field(default=None, compare=False)  # which parser made it

    @property
    def prompt_tokens(self) -> int:
        """Total prompt: the quantity long-context tiers are measured against."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens + self.cache_write_1h_tokens

    def dedupe_key(self) -> str:
        """`id` when the event has one, else a content hash (docs/events.md, "Dedupe key")."""
        if self.id:
            return self.id
        canonical = (
            self.timestamp,
            self.provider,
            self.model,
            self.input_tokens,
            self.cache_read_tokens,
            self.cache_write_tokens,
            self.cache_write_1h_tokens,
            self.output_tokens,
            self.reasoning_tokens,
            self.requests,
            self.user,
            self.session,
            self.agent,
            self.key_id,
            sorted((self.tags or {}).items()),
            sorted((self.price_context or {}).items()),
            None if self.reported_cost_usd is None else str(self.reported_cost_usd),
        )
        return "h:" + hashlib.blake2b(orjson.dumps(canonical), digest_size=16).hexdigest()

    def to_native(self) -> dict[str, Any]:
        """The native JSON shape (what `agentcost export events --jsonl` writes, minus costs)."""
        out: dict[str, Any] = {
            "id": self.dedupe_key(),
            "timestamp": self.timestamp,
            "provider": self.provider,
            "model": self.model,
            "project": self.project,
        }
        for name in TOKEN_FIELDS:
            out[name] = getattr(self, name)
        out["requests"] = self.requests
        for name in ("latency_ms", "user", "session", "agent", "key_id", "tags", "price_context", "metadata"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.reported_cost_usd is not None:
            out["reported_cost_usd"] = format(self.reported_cost_usd, "f")
        return out


@dataclass(slots=True)
class PricedEvent:
    """An event plus what pricing decided about it, ready for the store."""

    event: UsageEvent
    project: str
    dedupe_key: str
    cost_nanos: int | None  # None: unpriced (unknown model), never $0
    cost_source: str  # "computed", "reported" or "unpriced"
    pricing_rev: int | None
    provider: str  # canonical provider id used for pricing
    model_ref: str  # canonical model id when it resolved, else the raw model
    replace_if_larger: bool = False  # a copy with more tokens replaces the stored one

    @property
    def total_tokens(self) -> int:
        e = self.event
        return e.prompt_tokens + e.output_tokens


@dataclass(slots=True)
class InsertResult:
    added: int = 0
    duplicates: int = 0
    unpriced_added: int = 0
    replaced: int = 0  # stored copies superseded by a larger one (counted in duplicates too)
