"""A realistic sample store for `agentcost demo`: a month of a small team's usage."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from ..ingest.pipeline import IngestOptions, Ingestor, IngestSummary
from ..store.base import Store
from ..timeutil import format_utc
from .actor import Actor
from .permissions import Op, require
from .pricing import load_pricer

# (provider, model, share of calls, typical prompt, typical output, cache-heavy?)
MODELS = (
    ("anthropic", "claude-sonnet-4-5-20250929", 0.30, 12000, 900, True),
    ("anthropic", "claude-haiku-4-5-20251001", 0.12, 4000, 400, True),
    ("openai", "gpt-5", 0.18, 8000, 1500, False),
    ("openai", "gpt-4o-mini", 0.15, 2500, 300, False),
    ("google", "gemini-2.5-pro", 0.10, 30000, 1200, False),
    ("google", "gemini-2.5-flash", 0.08, 6000, 500, False),
    ("deepseek", "deepseek-chat", 0.05, 5000, 600, False),
    ("acme", "acme-internal-llm", 0.02, 3000, 300, False),  # no public price: shows up as unpriced
)
PROJECTS = (("web", ("alice", "bob")), ("api", ("carol", "dan")), ("research", ("erin",)))
AGENTS = ("sdk", "claude-code", "codex")


def demo_events(count: int, *, seed: int = 7, now: datetime | None = None, days: int = 30) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    weights = [m[2] for m in MODELS]
    for index in range(count):
        provider, model, _, prompt, out, cached = rng.choices(MODELS, weights)[0]
        project, users = rng.choice(PROJECTS)
        ts = now - timedelta(seconds=rng.random() * days * 86400)
        total_prompt = int(rng.lognormvariate(0, 0.6) * prompt)
        cache_read = int(total_prompt * rng.uniform(0.5, 0.9)) if cached and rng.random() < 0.8 else 0
        cache_write = int((total_prompt - cache_read) * 0.3) if cached and rng.random() < 0.4 else 0
        cache_write_1h = cache_write // 3 if rng.random() < 0.2 else 0
        output = max(1, int(rng.lognormvariate(0, 0.7) * out))
        reasoning = int(output * 0.4) if model == "gpt-5" else 0
        yield {
            "id": f"demo-{seed}-{index}",
            "timestamp": format_utc(ts),
            "provider": provider,
            "model": model,
            "project": project,
            "input_tokens": total_prompt - cache_read - cache_write,
            "cache_read_tokens": cache_read,
            "cache_write_tokens": cache_write - cache_write_1h,
            "cache_write_1h_tokens": cache_write_1h,
            "output_tokens": output,
            "reasoning_tokens": reasoning,
            "latency_ms": int(rng.uniform(300, 9000)),
            "user": rng.choice(users),
            "agent": rng.choice(AGENTS),
            "session": f"s-{rng.randrange(count // 40 + 1)}",
            "tags": {"env": rng.choice(("prod", "prod", "staging"))},
        }


def create_demo_store(actor: Actor, target: Path, *, events: int = 5000, seed: int = 7,
                      rollup_zone: str = "UTC") -> tuple[Store, IngestSummary]:
    """Replace any store at `target` with a fresh demo store (the caller closes it).

    Needs `STORE_ADMIN`, checked before the old store is removed. `target` is a file on this
    machine, so only the local CLI calls this.
    """
    from ..store import open_store

    require(None, actor, Op.STORE_ADMIN)
    for suffix in ("", "-wal", "-shm"):
        Path(str(target) + suffix).unlink(missing_ok=True)
    store = open_store(target, rollup_zone=rollup_zone)
    try:
        return store, build_demo_store(store, actor, events=events, seed=seed)
    except BaseException:
        store.close()
        raise


def build_demo_store(store: Store, actor: Actor, *, events: int = 5000, seed: int = 7,
                     now: datetime | None = None) -> IngestSummary:
    """Ingest the sample through the real pipeline (parse, price, dedupe, rollups). Needs `STORE_ADMIN`."""
    require(store, actor, Op.STORE_ADMIN)
    payload = b"".join(orjson.dumps(e, option=orjson.OPT_APPEND_NEWLINE) for e in demo_events(events, seed=seed,
                                                                                               now=now))
    ingestor = Ingestor(store, lambda: load_pricer(store), IngestOptions(fmt="native"))
    ingestor.ingest_stream(io.BufferedReader(io.BytesIO(payload)), "demo")
    return ingestor.finish()
