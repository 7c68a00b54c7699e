#!/usr/bin/env python3
"""Write realistic synthetic coding-agent session logs for benchmarks and tests.

    python bench/gen_agent_logs.py claude-code OUTDIR --records 100000 --seed 1
    python bench/gen_agent_logs.py codex OUTDIR --records 20000 --seed 1

claude-code writes OUTDIR/projects/-home-user-src-projN/<session>.jsonl (plus
sub-agent transcripts, both the old `agent-<id>.jsonl` and the newer
`<session>/subagents/` layout); codex writes
OUTDIR/sessions/YYYY/MM/DD/rollout-<time>-<session>.jsonl.

The lines follow the real formats closely (one Claude Code line per content
block repeating the reply's id, requestId and usage; tool results; summaries;
`<synthetic>` and API-error lines; Codex re-emitting unchanged token counts),
with real-looking text so that sizes match: about 2.5 KB per Claude Code line.

--records is a target: a session stops at the end of a reply, so the total
may run a few lines over. Output is a pure function of (--seed, --end,
--records). --end defaults to today's UTC midnight, so runs on the same day
are byte-identical; pass it to pin the data for good. A JSON summary goes to
stdout: files, records, bytes, the number of unique billable replies and their
token totals (ccusage's four buckets for Claude Code), to check parsers against.
100,000 Claude Code records make about 247 MB in about 2 seconds.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

CLAUDE_MODELS = (
    ("claude-sonnet-4-5-20250929", 0.6),
    ("claude-opus-4-1-20250805", 0.2),
    ("claude-haiku-4-5-20251001", 0.2),
)
CODEX_MODELS = (("gpt-5-codex", 0.6), ("gpt-5", 0.4))
CLAUDE_VERSIONS = ("2.0.8", "2.0.14", "2.0.21", "2.0.28", "2.0.37")
DAYS = 60
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

VOCABULARY = (
    "the a to of and in is for that this it with on we be as are can not function return value "
    "file test error config module import class method parser token cache request response user "
    "session project build run check update fix add remove refactor handle case path string list "
    "dict type async await promise callback state store query index table column row migration "
    "schema field option flag default setting environment variable docker compose service api "
    "endpoint route handler middleware auth login password hash key secret header body json yaml "
    "now let me look at the implementation first then I will update tests so that the behaviour "
    "matches what you described above; the failing case comes from an off-by-one in the loop"
)
WORDS = VOCABULARY.split()
CODE = (
    "def {n}(self, value: int) -> int:\n        return value * 2\n",
    "    if not items:\n        raise ValueError('empty input')\n",
    "import {n} from './{n}';\nexport const handler = async (req, res) => {{\n",
    "    for index, row in enumerate(rows):\n        total += row.amount\n",
    "  \"{n}\": {{\n    \"version\": \"1.2.3\",\n    \"private\": true\n  }},\n",
    "SELECT id, name FROM {n} WHERE created_at > ? ORDER BY id;\n",
    "    assert result == expected, f\"got {{result!r}}\"\n",
    "fn {n}(input: &str) -> Result<String, Error> {{\n    Ok(input.trim().to_owned())\n}}\n",
)


class Corpus:
    """One big block of prose and code; content is cut out of it by slicing (fast)."""

    def __init__(self, rng: random.Random, size: int = 1_500_000) -> None:
        parts: list[str] = []
        length = 0
        while length < size:
            if rng.random() < 0.45:
                chunk = "".join(rng.choice(CODE).format(n=rng.choice(WORDS)) for _ in range(rng.randint(3, 12)))
            else:
                words = rng.choices(WORDS, k=rng.randint(20, 90))
                chunk = " ".join(words).capitalize() + ".\n\n"
            parts.append(chunk)
            length += len(chunk)
        self.text = "".join(parts)
        self.rng = rng

    def cut(self, low: int, high: int) -> str:
        size = int(self.rng.triangular(low, high, low + (high - low) // 4))
        start = self.rng.randrange(0, len(self.text) - size - 1)
        return self.text[start : start + size]


def pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([name for name, _ in weighted], [weight for _, weight in weighted])[0]


def new_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Totals:
    """What a correct parser must find: unique billable replies and their tokens."""

    def __init__(self) -> None:
        self.files = 0
        self.records = 0
        self.bytes = 0
        self.messages = 0
        self.tokens: dict[str, int] = {}

    def add(self, **tokens: int) -> None:
        self.messages += 1
        for name, value in tokens.items():
            self.tokens[name] = self.tokens.get(name, 0) + value

    def write(self, path: str, lines: list[bytes]) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        data = b"\n".join(lines) + b"\n"
        with open(path, "wb") as handle:
            handle.write(data)
        self.files += 1
        self.records += len(lines)
        self.bytes += len(data)

    def summary(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "records": self.records,
            "bytes": self.bytes,
            "unique_messages": self.messages,
            "tokens": self.tokens,
        }


# -- Claude Code ------------------------------------------------------------------


class ClaudeSession:
    """Writes one transcript: turns of user prompt -> replies (one line per block) -> tool results."""

    def __init__(
        self, gen: ClaudeGenerator, *, project: str, start: datetime, budget: int, sidechain: bool = False,
        session_id: str | None = None, agent_id: str | None = None,
    ) -> None:
        self.gen, self.rng, self.corpus = gen, gen.rng, gen.corpus
        self.budget = budget
        self.lines: list[bytes] = []
        self.now = start
        self.session_id = session_id or new_uuid(self.rng)
        self.agent_id = agent_id
        self.sidechain = sidechain
        self.root = f"/home/user/src/{project}"
        self.cwd = self.root
        self.version = self.rng.choice(CLAUDE_VERSIONS)
        self.branch = self.rng.choice(("main", "main", "feature/cache", "fix/parser"))
        haiku_bias = 0.5 if sidechain else 0.0
        self.model = CLAUDE_MODELS[2][0] if self.rng.random() < haiku_bias else pick(self.rng, CLAUDE_MODELS)
        self.one_hour_cache = self.rng.random() < 0.3  # some sessions use the 1-hour cache TTL
        self.context = self.rng.randint(12_000, 25_000)  # system prompt + tools, in tokens
        self.parent: str | None = None

    def tick(self, low_ms: int, high_ms: int) -> str:
        self.now += timedelta(milliseconds=self.rng.randint(low_ms, high_ms))
        return ts(self.now)

    def base(self, kind: str) -> dict[str, Any]:
        line_uuid = new_uuid(self.rng)
        line: dict[str, Any] = {
            "parentUuid": self.parent,
            "isSidechain": self.sidechain,
            "userType": "external",
            "cwd": self.cwd,
            "sessionId": self.session_id,
            "version": self.version,
            "gitBranch": self.branch,
        }
        if self.agent_id:
            line["agentId"] = self.agent_id
        line["type"] = kind
        line["uuid"] = line_uuid
        self.parent = line_uuid
        return line

    def emit(self, line: dict[str, Any]) -> None:
        self.lines.append(orjson.dumps(line))

    def run(self) -> list[bytes]:
        if not self.sidechain and self.rng.random() < 0.25:  # a resumed session starts with summaries
            for _ in range(self.rng.randint(1, 3)):
                summary = self.corpus.cut(30, 90).replace("\n", " ")
                self.emit({"type": "summary", "summary": summary, "leafUuid": new_uuid(self.rng)})
        while len(self.lines) < self.budget:
            self.turn()
        return self.lines

    def turn(self) -> None:
        if not self.sidechain and self.rng.random() < 0.3:
            self.emit({
                "type": "file-history-snapshot", "messageId": new_uuid(self.rng),
                "snapshot": {"messageId": new_uuid(self.rng), "trackedFileBackups": {},
                             "timestamp": ts(self.now)},
                "isSnapshotUpdate": False,
            })
        self.cwd = self.root if self.rng.random() < 0.8 else self.root + "/packages/api"  # `cd` happens
        prompt = self.base("user")
        prompt["message"] = {"role": "user", "content": self.corpus.cut(40, 1200)}
        prompt["timestamp"] = self.tick(20_000, 600_000)
        self.emit(prompt)
        self.context += self.rng.randint(50, 400)
        if self.rng.random() < 0.04:
            self.api_error()
        for step in range(self.rng.randint(1, 10)):
            final = step >= 9 or self.rng.random() < 0.2
            tools = self.reply(final)
            for tool_id, tool_name in tools:
                self.tool_result(tool_id, tool_name)
            if not tools or len(self.lines) >= self.budget:
                break
        if self.rng.random() < 0.05:
            self.synthetic()
        elif self.rng.random() < 0.05:
            system = self.base("system")
            system.update({"subtype": "informational", "content": "Conversation compacted", "level": "info",
                           "timestamp": self.tick(100, 2_000), "isMeta": False})
            self.emit(system)

    def usage(self, output: int) -> dict[str, Any]:
        """Cache read = context so far; cache write = what is new since the last call.

        Also counts the reply in the expected totals (each reply is written once
        as a unique message.id + requestId, however many lines it spans).
        """
        rng = self.rng
        written = rng.randint(200, 9_000) if rng.random() < 0.85 else rng.randint(9_000, 40_000)
        one_hour = written if self.one_hour_cache else (written // 3 if rng.random() < 0.1 else 0)
        read, fresh = self.context, rng.randint(1, 12)
        self.context += written + output
        if self.context > 160_000:
            self.context = rng.randint(15_000, 40_000)  # auto-compaction
        self.gen.totals.add(input_tokens=fresh, output_tokens=output, cache_creation_tokens=written,
                            cache_read_tokens=read, cache_write_1h_tokens=one_hour)
        return {
            "input_tokens": fresh,
            "cache_creation_input_tokens": written,
            "cache_read_input_tokens": read,
            "cache_creation": {"ephemeral_5m_input_tokens": written - one_hour, "ephemeral_1h_input_tokens": one_hour},
            "output_tokens": output,
            "service_tier": "standard",
        }

    def reply(self, final: bool) -> list[tuple[str, str]]:
        """One API response, written as one line per content block."""
        rng = self.rng
        blocks: list[dict[str, Any]] = []
        if rng.random() < 0.3:
            signature = "".join(rng.choices(BASE62, k=rng.randint(300, 900)))
            blocks.append({"type": "thinking", "thinking": self.corpus.cut(300, 4_500), "signature": signature})
        if final or rng.random() < 0.6:
            blocks.append({"type": "text", "text": self.corpus.cut(100, 3_400)})
        tools: list[tuple[str, str]] = []
        if not final:
            for _ in range(rng.choice((1, 1, 1, 2, 3))):
                tool_id = "toolu_01" + "".join(rng.choices(BASE62, k=22))
                name, tool_input = self.tool_input()
                blocks.append({"type": "tool_use", "id": tool_id, "name": name, "input": tool_input})
                tools.append((tool_id, name))
        output = sum(len(orjson.dumps(block)) for block in blocks) // 4 + rng.randint(5, 60)
        usage = self.usage(output)
        message_id = "msg_01" + "".join(rng.choices(BASE62, k=22))
        request_id = "req_011C" + "".join(rng.choices(BASE62, k=18))
        stop = "tool_use" if tools else "end_turn"
        self.tick(1_500, 25_000)
        for block in blocks:
            line = self.base("assistant")
            line["message"] = {
                "model": self.model, "id": message_id, "type": "message", "role": "assistant",
                "content": [block], "stop_reason": stop, "stop_sequence": None, "usage": usage,
            }
            line["requestId"] = request_id
            line["timestamp"] = self.tick(20, 900)
            self.emit(line)
        return tools

    def tool_input(self) -> tuple[str, dict[str, Any]]:
        rng, corpus = self.rng, self.corpus
        file_path = f"{self.root}/src/{rng.choice(WORDS)}/{rng.choice(WORDS)}.py"
        kind = rng.random()
        if kind < 0.35:
            return "Read", {"file_path": file_path}
        if kind < 0.6:
            return "Bash", {"command": f"cd {self.root} && pytest -q tests/{rng.choice(WORDS)}",
                            "description": corpus.cut(20, 80).replace("\n", " ")}
        if kind < 0.85:
            return "Edit", {"file_path": file_path, "old_string": corpus.cut(60, 1_200),
                            "new_string": corpus.cut(60, 1_500)}
        return "Grep", {"pattern": rng.choice(WORDS), "path": self.root, "output_mode": "content"}

    def tool_result(self, tool_id: str, name: str) -> None:
        text = self.corpus.cut(200, 6_000)
        line = self.base("user")
        line["message"] = {"role": "user", "content": [
            {"tool_use_id": tool_id, "type": "tool_result", "content": text, "is_error": False}]}
        if name == "Read":
            line["toolUseResult"] = {"type": "text", "file": {
                "filePath": f"{self.root}/src/{self.rng.choice(WORDS)}.py", "content": text[:1_500],
                "numLines": text.count("\n") + 1, "startLine": 1, "totalLines": text.count("\n") + 1}}
        elif name == "Bash":
            line["toolUseResult"] = {"stdout": text[:1_500], "stderr": "", "interrupted": False, "isImage": False}
        else:
            line["toolUseResult"] = {"filePath": f"{self.root}/src/app.py", "oldString": "", "newString": "",
                                     "structuredPatch": [], "userModified": False}
        line["timestamp"] = self.tick(100, 30_000)
        self.emit(line)

    def _local_reply(self, text: str, error: bool) -> None:
        line = self.base("assistant")
        zero = {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0, "server_tool_use": {"web_search_requests": 0},
                "service_tier": None, "cache_creation": None}
        line["message"] = {
            "id": new_uuid(self.rng), "container": None, "model": "<synthetic>", "role": "assistant",
            "stop_reason": "stop_sequence", "stop_sequence": "", "type": "message", "usage": zero,
            "content": [{"type": "text", "text": text}],
        }
        if error:
            line["isApiErrorMessage"] = True
        line["timestamp"] = self.tick(100, 5_000)
        self.emit(line)

    def synthetic(self) -> None:
        self._local_reply("No response requested.", error=False)

    def api_error(self) -> None:
        self._local_reply(
            'API Error: 529 {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
            error=True,
        )


class ClaudeGenerator:
    def __init__(self, seed: int, end: datetime) -> None:
        self.rng = random.Random(seed)
        self.corpus = Corpus(self.rng)
        self.end = end
        self.totals = Totals()

    def run(self, outdir: str, records: int) -> Totals:
        projects = [f"proj{n}" for n in range(1, max(2, min(12, records // 8_000 + 2)) + 1)]
        left = records
        while left > 0:
            project = self.rng.choice(projects)
            size = min(left, self.rng.randint(200, 3_000))
            left -= self.write_session(outdir, project, size)
        return self.totals

    def write_session(self, outdir: str, project: str, size: int) -> int:
        rng = self.rng
        folder = os.path.join(outdir, "projects", "-home-user-src-" + project)
        start = self.end - timedelta(seconds=rng.uniform(3_600, DAYS * 86_400))
        agents = rng.randint(1, 3) if size >= 600 and rng.random() < 0.35 else 0
        agent_size = size // 6
        main = ClaudeSession(self, project=project, start=start, budget=size - agents * agent_size)
        lines = main.run()
        self.totals.write(os.path.join(folder, main.session_id + ".jsonl"), lines)
        written = len(lines)
        for _ in range(agents):
            agent_id = "".join(rng.choices("0123456789abcdef", k=8))
            sub = ClaudeSession(self, project=project, start=start + timedelta(minutes=rng.randint(1, 90)),
                                budget=agent_size, sidechain=True, session_id=main.session_id, agent_id=agent_id)
            sub_lines = sub.run()
            # Older Claude Code: agent-<id>.jsonl beside the session; newer: <session>/subagents/.
            if rng.random() < 0.5:
                path = os.path.join(folder, f"agent-{agent_id}.jsonl")
            else:
                path = os.path.join(folder, main.session_id, "subagents", f"agent-{agent_id}.jsonl")
            self.totals.write(path, sub_lines)
            written += len(sub_lines)
        return written


# -- Codex --------------------------------------------------------------------------


class CodexGenerator:
    def __init__(self, seed: int, end: datetime) -> None:
        self.rng = random.Random(seed)
        self.corpus = Corpus(self.rng, size=600_000)
        self.end = end
        self.totals = Totals()

    def run(self, outdir: str, records: int) -> Totals:
        left = records
        while left > 0:
            left -= self.write_session(outdir, min(left, self.rng.randint(100, 1_500)))
        return self.totals

    def write_session(self, outdir: str, budget: int) -> int:
        rng, corpus = self.rng, self.corpus
        now = self.end - timedelta(seconds=rng.uniform(3_600, DAYS * 86_400))
        session_id = new_uuid(rng)
        cwd = f"/home/user/src/proj{rng.randint(1, 6)}"
        model = pick(rng, CODEX_MODELS)
        totals_only = rng.random() < 0.1  # legacy sessions log only the running total
        lines: list[bytes] = []

        def emit(kind: str, payload: dict[str, Any], step_ms: tuple[int, int] = (50, 2_000)) -> None:
            nonlocal now
            now += timedelta(milliseconds=rng.randint(*step_ms))
            lines.append(orjson.dumps({"timestamp": ts(now), "type": kind, "payload": payload}))

        start = now
        emit("session_meta", {
            "id": session_id, "timestamp": ts(now), "cwd": cwd, "originator": "codex_cli_rs",
            "cli_version": "0.46.0", "instructions": None, "source": "cli", "model_provider": "openai",
            "git": {"commit_hash": "".join(rng.choices("0123456789abcdef", k=40)), "branch": "main"},
        })
        running = {"input_tokens": 0, "cached_input_tokens": 0, "output_tokens": 0,
                   "reasoning_output_tokens": 0, "total_tokens": 0}
        context = rng.randint(4_000, 9_000)
        while len(lines) < budget:
            emit("turn_context", {"cwd": cwd, "approval_policy": "on-request", "model": model, "effort": "medium",
                                  "summary": "auto", "sandbox_policy": {"mode": "workspace-write"}},
                 (20_000, 600_000))
            text = corpus.cut(40, 900)
            emit("event_msg", {"type": "user_message", "message": text, "kind": "plain"})
            emit("response_item", {"type": "message", "role": "user",
                                   "content": [{"type": "input_text", "text": text}]})
            for step in range(rng.randint(1, 8)):
                final = step == 7 or rng.random() < 0.25
                emit("response_item", {"type": "reasoning", "summary": [
                    {"type": "summary_text", "text": corpus.cut(60, 400)}],
                    "encrypted_content": "gAAAAA" + "".join(rng.choices(BASE62, k=rng.randint(200, 1_200)))},
                    (1_000, 20_000))
                if final:
                    answer = corpus.cut(100, 2_500)
                    emit("response_item", {"type": "message", "role": "assistant",
                                           "content": [{"type": "output_text", "text": answer}]})
                    emit("event_msg", {"type": "agent_message", "message": answer})
                else:
                    call_id = "call_" + "".join(rng.choices(BASE62, k=24))
                    command = orjson.dumps({"command": ["bash", "-lc", f"rg {rng.choice(WORDS)} src"]}).decode()
                    emit("response_item", {"type": "function_call", "name": "shell", "arguments": command,
                                           "call_id": call_id})
                if rng.random() < 0.15:
                    emit("event_msg", {"type": "token_count", "info": None, "rate_limits": {"primary": None}})
                last = self.call_usage(context)
                context = min(context + last["input_tokens"] // 8 + rng.randint(200, 3_000), 250_000)
                for name in running:
                    running[name] += last[name]
                info: dict[str, Any] = {"total_token_usage": dict(running), "model_context_window": 272_000}
                if not totals_only:
                    info["last_token_usage"] = last
                emit("event_msg", {"type": "token_count", "info": info,
                                   "rate_limits": {"primary": {"used_percent": rng.randint(1, 90)}}})
                self.totals.add(input_tokens=last["input_tokens"] - last["cached_input_tokens"],
                                cache_read_tokens=last["cached_input_tokens"], output_tokens=last["output_tokens"],
                                reasoning_tokens=last["reasoning_output_tokens"])
                if rng.random() < 0.3:  # Codex re-emits the same counts on rate-limit refreshes
                    emit("event_msg", {"type": "token_count", "info": info,
                                       "rate_limits": {"primary": {"used_percent": rng.randint(1, 90)}}})
                if final or len(lines) >= budget:
                    break
                output = corpus.cut(100, 4_000)
                emit("response_item", {"type": "function_call_output", "call_id": call_id, "output": orjson.dumps(
                    {"output": output, "metadata": {"exit_code": 0, "duration_seconds": 0.2}}).decode()})
        folder = os.path.join(outdir, "sessions", f"{start:%Y}", f"{start:%m}", f"{start:%d}")
        self.totals.write(os.path.join(folder, f"rollout-{start:%Y-%m-%dT%H-%M-%S}-{session_id}.jsonl"), lines)
        return len(lines)

    def call_usage(self, context: int) -> dict[str, int]:
        rng = self.rng
        input_tokens = context + rng.randint(100, 2_000)
        cached = int(input_tokens * rng.uniform(0.6, 0.97)) if context > 9_000 else 0
        output = rng.randint(30, 3_000)
        reasoning = int(output * rng.uniform(0, 0.7))
        return {"input_tokens": input_tokens, "cached_input_tokens": cached, "output_tokens": output,
                "reasoning_output_tokens": reasoning, "total_tokens": input_tokens + output}


# -- CLI ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("agent", choices=("claude-code", "codex"))
    parser.add_argument("outdir")
    parser.add_argument("--records", type=int, default=100_000, help="lines to write in total (default 100000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--end", help="latest day of data, YYYY-MM-DD (default: today, UTC)")
    args = parser.parse_args(argv)
    if args.records < 1:
        parser.error("--records must be positive")
    if args.end:
        end = datetime.strptime(args.end, "%Y-%m-%d").replace(tzinfo=UTC)
    else:
        end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    make: Callable[[int, datetime], ClaudeGenerator | CodexGenerator]
    make = ClaudeGenerator if args.agent == "claude-code" else CodexGenerator
    generator = make(args.seed, end)
    generator.run(args.outdir, args.records)
    sys.stdout.write(orjson.dumps(generator.totals.summary(), option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
