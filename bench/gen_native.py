#!/usr/bin/env python3
"""Write deterministic synthetic agentcost native events (JSON Lines) for benchmarks.

    python bench/gen_native.py OUT.jsonl --events 1000000 --seed 1
    python bench/gen_native.py OUT.jsonl --bytes 1G --seed 1        # memory benchmark input

Each line is one native event (docs/events.md) with a unique "id": a realistic
mix of providers and models from the bundled price catalog (Anthropic, OpenAI,
Google, DeepSeek, Mistral, plus ~1% of an unknown model that prices as
unpriced), projects, users, agents, API keys, cache tokens, reasoning tokens,
tags, and timestamps spread over 90 days in time order (with jitter, a mix of
JavaScript `toISOString()` and canonical microsecond forms).

`--bytes SIZE` pads each event's `metadata` with text so that the file reaches
SIZE (K/M/G suffixes, powers of 1024); with `--events N` as well, the padding
is sized so that N events make about SIZE, otherwise events are written (with
about `--pad` bytes of padding each) until the file reaches SIZE.

Output is a pure function of the arguments (and --end, which defaults to a
fixed date). A JSON summary (events, bytes, token totals) goes to stdout.
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

# (provider, model, weight, kind). kind picks the token shape.
MODELS: tuple[tuple[str, str, float, str], ...] = (
    ("anthropic", "claude-sonnet-4-5", 0.22, "anthropic"),
    ("anthropic", "claude-haiku-4-5", 0.07, "anthropic"),
    ("anthropic", "claude-opus-4-1", 0.03, "anthropic"),
    ("openai", "gpt-5", 0.12, "reasoning"),
    ("openai", "gpt-5-mini", 0.08, "reasoning"),
    ("openai", "gpt-4o-mini", 0.14, "openai"),
    ("openai", "gpt-4.1", 0.04, "openai"),
    ("google", "gemini-2.5-pro", 0.06, "reasoning"),
    ("google", "gemini-2.5-flash", 0.10, "openai"),
    ("deepseek", "deepseek-chat", 0.05, "openai"),
    ("deepseek", "deepseek-reasoner", 0.02, "reasoning"),
    ("mistral", "mistral-large-latest", 0.03, "plain"),
    ("mistral", "mistral-small-latest", 0.03, "plain"),
    ("acme", "acme-frontier-2", 0.0, "unknown"),  # not in any catalog: unpriced; ~1% of events
)
PROJECTS = ("web", "mobile", "search", "support-bot", "billing", "data-pipeline", "docs", "infra",
            "growth", "research", "ml-platform", "internal-tools")
AGENTS = ("code-review", "triage", "summarizer", "sql-helper", "planner", "support", None, None)
TAG_CHOICES = (None, None, None, {"env": "prod"}, {"env": "staging"}, {"env": "prod", "team": "core"},
               {"feature": "chat"}, {"feature": "autocomplete", "env": "prod"})
WORDS = (  # noqa: SIM905
    "the a to of and in is for that this it with on we be as are can not function return value file test "
    "error config module import class method parser token cache request response user session project build "
    "run check update fix add remove refactor handle case path string list dict type async await state store "
    "query index table column row migration schema field option flag default setting environment variable"
).split()
DAYS = 90
MASK64 = (1 << 64) - 1
DEFAULT_END = "2026-11-01"  # fixed so the output never depends on the day it runs


def parse_size(text: str) -> int:
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    factor = 1
    for suffix, mult in (("K", 1024), ("M", 1024**2), ("G", 1024**3)):
        if text.endswith(suffix):
            factor, text = mult, text[:-1]
            break
    return int(float(text) * factor)


class Profile:
    """One project's habits: its models, API keys, team, agents and sessions.

    Real usage is correlated (a project sticks to a few models and keys, a team
    of users, one or two agents), which is what keeps rollups small; drawing
    every dimension independently would make nearly every event its own group.
    """

    def __init__(self, rng: random.Random, users: list[str]) -> None:
        known = [m for m in MODELS if m[3] != "unknown"]
        count = rng.randint(2, 5)
        chosen: list[tuple[str, str, float, str]] = []
        while len(chosen) < count:
            pick = rng.choices(known, weights=[m[2] for m in known])[0]
            if pick not in chosen:
                chosen.append(pick)
        self.model_table = rng.choices(chosen, weights=[1 / (i + 1) for i in range(count)], k=1024)
        keys = [f"key-{rng.getrandbits(32):08x}" for _ in range(rng.randint(1, 3))]
        self.key_table = rng.choices(keys, weights=[1 / (i + 1) ** 2 for i in range(len(keys))], k=1024)
        team = rng.sample(users, rng.randint(3, 12))
        self.user_table = rng.choices(team, weights=[1 / (i + 1) for i in range(len(team))], k=1024)
        agents: list[str | None] = [a for a in AGENTS if a is not None]
        mine: list[str | None] = [*rng.sample(agents, rng.randint(0, 2)), None]
        self.agent_table = rng.choices(mine, k=1024)
        self.sessions: dict[str, str] = {}


class Generator:
    def __init__(self, seed: int, end: datetime, total_hint: int) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.start = end - timedelta(days=DAYS)
        self.start_epoch = int(self.start.timestamp())
        # average spacing so that total_hint events cover the 90 days
        self.step = DAYS * 86400.0 / max(total_hint, 1)
        self._day_cache: dict[int, str] = {}
        rng = self.rng
        users = [f"user{n:03d}@example.com" for n in range(80)]
        self.profiles = {name: Profile(rng, users) for name in PROJECTS}
        # 4096-slot lookup tables: one getrandbits per pick instead of rng.choices().
        self.project_table = rng.choices(PROJECTS, weights=[1 / (i + 1) ** 0.7 for i in range(len(PROJECTS))],
                                         k=4096)
        self.unknown = next(m for m in MODELS if m[3] == "unknown")
        self.text = " ".join(rng.choice(WORDS) for _ in range(200_000))
        self.totals = dict.fromkeys(("input_tokens", "cache_read_tokens", "cache_write_tokens",
                                     "cache_write_1h_tokens", "output_tokens", "reasoning_tokens"), 0)

    def _session(self) -> str:
        return f"sess-{self.rng.getrandbits(64):016x}"

    def _timestamp(self, index: int) -> str:
        rng = self.rng
        t = self.start_epoch + index * self.step + rng.random() * self.step
        whole = int(t)
        day, rem = divmod(whole, 86400)
        day_text = self._day_cache.get(day)
        if day_text is None:
            day_text = self._day_cache[day] = datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%d")
        hh, rem = divmod(rem, 3600)
        mm, ss = divmod(rem, 60)
        if rng.random() < 0.7:  # JavaScript Date.toISOString()
            return f"{day_text}T{hh:02d}:{mm:02d}:{ss:02d}.{rng.getrandbits(10) % 1000:03d}Z"
        return f"{day_text}T{hh:02d}:{mm:02d}:{ss:02d}.{rng.getrandbits(20) % 1000000:06d}Z"

    def event(self, index: int, pad: int) -> dict[str, Any]:
        rng = self.rng
        bits = rng.getrandbits(64)
        project = self.project_table[bits & 4095]
        prof = self.profiles[project]
        if (bits >> 12) % 100 == 0:  # ~1%: a model no catalog knows (prices as unpriced)
            provider, model, _, kind = self.unknown
        else:
            provider, model, _, kind = prof.model_table[(bits >> 20) & 1023]
        prompt = int(rng.lognormvariate(7.3, 1.1)) + 20  # median ~1.5k tokens
        output = int(rng.lognormvariate(5.5, 1.0)) + 1  # median ~250 tokens
        if prompt > 900_000:
            prompt = 900_000
        cache_read = cache_write = cache_write_1h = reasoning = 0
        if kind == "anthropic":
            r = rng.random()
            if r < 0.6:
                cache_read = int(prompt * 3 * rng.random())
            if r > 0.4:
                cache_write = int(prompt * rng.random())
                if r > 0.9:
                    cache_write_1h, cache_write = cache_write // 2, cache_write - cache_write // 2
        elif kind in ("openai", "reasoning"):
            if rng.random() < 0.5:
                cache_read = int(prompt * 0.8 * rng.random())
                prompt -= cache_read if cache_read < prompt else 0
            if kind == "reasoning":
                reasoning = int(output * rng.random())
                output += reasoning
        ev: dict[str, Any] = {
            # index * odd constant mod 2**64 is a bijection: unique, yet in random order like real
            # provider ids (chatcmpl-..., msg_01...), so the unique index sees random inserts.
            "id": f"evt_{(index * 0x9E3779B97F4A7C15 + self.seed) & MASK64:016x}{(bits >> 32) & 0xFFFFFFFF:08x}",
            "timestamp": self._timestamp(index),
            "provider": provider,
            "model": model,
            "project": project,
            "input_tokens": prompt,
            "output_tokens": output,
        }
        if cache_read:
            ev["cache_read_tokens"] = cache_read
        if cache_write:
            ev["cache_write_tokens"] = cache_write
        if cache_write_1h:
            ev["cache_write_1h_tokens"] = cache_write_1h
        if reasoning:
            ev["reasoning_tokens"] = reasoning
        r2 = rng.getrandbits(32)
        if r2 & 63 == 0:
            ev["requests"] = 1 + (r2 >> 6) % 4
        ev["latency_ms"] = 200 + int(rng.random() * 20_000)
        user = prof.user_table[(r2 >> 12) & 1023]
        ev["user"] = user
        session = prof.sessions.get(user)
        if session is None or (r2 >> 22) & 31 == 0:  # a session lasts ~32 of its user's events
            session = prof.sessions[user] = self._session()
        ev["session"] = session
        agent = prof.agent_table[(bits >> 42) & 1023]
        if agent is not None:
            ev["agent"] = agent
        ev["key_id"] = prof.key_table[(bits >> 52) & 1023]
        tags = TAG_CHOICES[rng.getrandbits(3)]
        if tags is not None:
            ev["tags"] = tags
        if pad > 0:
            length = pad - 64 + rng.getrandbits(7)  # +-64 around pad
            start = rng.randrange(0, len(self.text) - length - 1)
            ev["metadata"] = {"request_id": f"req_{rng.getrandbits(48):012x}", "prompt_excerpt":
                              self.text[start:start + length]}
        elif r2 & 0xC0000000 == 0:
            ev["metadata"] = {"request_id": f"req_{rng.getrandbits(48):012x}"}
        t = self.totals
        t["input_tokens"] += prompt
        t["cache_read_tokens"] += cache_read
        t["cache_write_tokens"] += cache_write
        t["cache_write_1h_tokens"] += cache_write_1h
        t["output_tokens"] += output
        t["reasoning_tokens"] += reasoning
        return ev


def generate(out: str, *, events: int | None, target_bytes: int | None, seed: int, pad: int,
             end: datetime) -> dict[str, Any]:
    if target_bytes and events:
        # base line is ~420 bytes; pad the rest (padding adds ~60 bytes of JSON around it)
        pad = max(0, target_bytes // events - 480)
    elif not target_bytes:
        pad = 0
    total_hint = events or (target_bytes // (pad + 480) if target_bytes else 1)
    gen = Generator(seed, end, total_hint)
    dumps = orjson.dumps
    written = 0
    count = 0
    limit = events if events else sys.maxsize
    with open(out, "wb") as handle:
        chunk: list[bytes] = []
        while count < limit:
            line = dumps(gen.event(count, pad)) + b"\n"
            chunk.append(line)
            written += len(line)
            count += 1
            if len(chunk) >= 10_000:
                handle.write(b"".join(chunk))
                chunk = []
            if target_bytes and not events and written >= target_bytes:
                break
        handle.write(b"".join(chunk))
    return {"path": out, "events": count, "bytes": written, "seed": seed, "pad": pad, "totals": gen.totals}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="output .jsonl file")
    parser.add_argument("--events", type=int, help="number of events (default 1000000 unless --bytes)")
    parser.add_argument("--bytes", dest="size", help="target file size, e.g. 1G or 500M (pads metadata)")
    parser.add_argument("--pad", type=int, default=1024, help="metadata padding per event with --bytes alone")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--end", default=DEFAULT_END, help=f"last day of data, YYYY-MM-DD (default {DEFAULT_END})")
    args = parser.parse_args(argv)
    target = parse_size(args.size) if args.size else None
    events = args.events if args.events is not None else (None if target else 1_000_000)
    if events is not None and events < 1:
        parser.error("--events must be positive")
    end = datetime.strptime(args.end, "%Y-%m-%d").replace(tzinfo=UTC)
    summary = generate(args.out, events=events, target_bytes=target, seed=args.seed, pad=args.pad, end=end)
    sys.stdout.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
