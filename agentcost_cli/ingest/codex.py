"""Codex CLI session logs: `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*.jsonl`.

Every line is `{timestamp, type, payload}`. `session_meta` names the session and
its cwd, `turn_context` sets the model, and `event_msg` lines whose payload type
is `token_count` carry `info.last_token_usage` (this turn) and
`info.total_token_usage` (running total for the session).

Follows ccusage's Codex loader (ryoppippi/ccusage `apps/codex/src/data-loader.ts`):
cached input is a subset of input, reasoning is inside output, totals-only lines
become deltas, and a missing model falls back to "gpt-5" with a flag. Codex
re-emits `token_count` with an unchanged running total (rate-limit and UI
refreshes, not new requests); those are skipped. Older ccusage releases counted
them again (ccusage#876, #884); ccusage 20.0.24 skips them, and our totals equal
its `ccusage codex daily` totals on the fixtures and on generated logs.

One case ccusage handles differently: a running total that goes down (a
restarted session). ccusage clamps each field's delta at zero; we take the new
total as the usage so far, since the counter evidently started again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from ..models import UsageEvent
from .base import Parser, ParseSession, RecordError, SourceContext, token_count
from .claude_code import slugify, timestamp_of

PROVIDER = "openai"
AGENT = "codex"
FALLBACK_MODEL = "gpt-5"  # what ccusage assumes for legacy sessions without model metadata

_LINE_TYPES = frozenset({"session_meta", "turn_context", "event_msg", "response_item", "compacted"})
_ROLLOUT_ID = re.compile(r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$", re.IGNORECASE)


class Usage(NamedTuple):
    """One Codex usage block. `input` includes `cached`; `output` includes `reasoning`."""

    input: int
    cached: int
    output: int
    reasoning: int
    total: int

    def minus(self, earlier: Usage) -> Usage:
        """Per-field delta, never negative (as ccusage computes it)."""
        return Usage(*(max(now - then, 0) for now, then in zip(self, earlier, strict=True)))


def read_usage(value: Any, where: str) -> Usage | None:
    """A usage block, or None when absent. Raises RecordError on bad counts."""
    if not isinstance(value, Mapping):
        return None
    cached_key = "cached_input_tokens"
    if value.get(cached_key) is None:
        cached_key = "cache_read_input_tokens"  # an older spelling ccusage also accepts
    usage_in = token_count(value, "input_tokens", where=where)
    usage_out = token_count(value, "output_tokens", where=where)
    total = token_count(value, "total_tokens", where=where)
    return Usage(
        input=usage_in,
        cached=token_count(value, cached_key, where=where),
        output=usage_out,
        reasoning=token_count(value, "reasoning_output_tokens", where=where),
        # Legacy lines omit total_tokens; Codex's own total is input + output.
        total=total or usage_in + usage_out,
    )


def _model_in(payload: Mapping[str, Any]) -> str | None:
    """The model named on a line, where ccusage looks for it (info first, then payload)."""
    info = payload.get("info")
    places: list[Any] = []
    if isinstance(info, Mapping):
        meta = info.get("metadata")
        places += [info.get("model"), info.get("model_name")]
        places.append(meta.get("model") if isinstance(meta, Mapping) else None)
    meta = payload.get("metadata")
    places += [payload.get("model"), meta.get("model") if isinstance(meta, Mapping) else None]
    for value in places:
        if isinstance(value, str) and value.strip():
            return value.strip()[:256]
    return None


def session_from_path(path: str) -> str | None:
    """`rollout-2025-10-01T09-30-00-<uuid>.jsonl` -> the uuid (Codex's session id), else the stem."""
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    stem = name[: -len(".jsonl")] if name.endswith(".jsonl") else name
    if not stem or stem == "-":
        return None
    found = _ROLLOUT_ID.search(stem)
    return found.group(1).lower() if found else stem


def _cwd_project(payload: Mapping[str, Any]) -> str | None:
    cwd = payload.get("cwd")
    if not isinstance(cwd, str) or not cwd.strip("/\\"):
        return None
    return slugify(cwd.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1])


class CodexSession(ParseSession):
    """One rollout file: the model, running total, session id and project carry across lines."""

    def __init__(self, parser: Parser, ctx: SourceContext, state: Mapping[str, Any] | None = None) -> None:
        super().__init__(parser, ctx)
        state = state if isinstance(state, Mapping) else {}
        self.session_id: str | None = _str(state.get("session")) or session_from_path(ctx.path)
        self.project: str | None = _str(state.get("project"))
        self.model: str | None = _str(state.get("model"))
        previous = state.get("previous_total")
        self.previous_total = _restore_usage(previous)

    def state(self) -> dict[str, Any] | None:
        return {
            "session": self.session_id,
            "project": self.project,
            "model": self.model,
            "previous_total": None if self.previous_total is None else list(self.previous_total),
        }

    def parse(self, record: Any) -> list[UsageEvent]:
        if not isinstance(record, Mapping):
            raise RecordError("expected a JSON object")
        payload = record.get("payload")
        if not isinstance(payload, Mapping):
            return []
        kind = record.get("type")
        if kind == "event_msg":
            return self._token_count(record, payload) if payload.get("type") == "token_count" else []
        if kind == "turn_context":
            self.model = _model_in(payload) or self.model
            self.project = self.project or _cwd_project(payload)
        elif kind == "session_meta":
            self.session_id = _str(payload.get("id")) or self.session_id
            # The launch directory; later turn_context cwds may have moved.
            self.project = _cwd_project(payload) or self.project
        return []

    def _token_count(self, record: Mapping[str, Any], payload: Mapping[str, Any]) -> list[UsageEvent]:
        info = payload.get("info")
        if not isinstance(info, Mapping):
            return []  # rate-limit-only updates carry `info: null`
        last = read_usage(info.get("last_token_usage"), "info.last_token_usage.")
        total = read_usage(info.get("total_token_usage"), "info.total_token_usage.")
        previous = self.previous_total
        if total is not None:
            if total == previous:
                return []  # a re-emit: the running total did not move, so no new request
            self.previous_total = total
        if last is not None:
            usage = last
        elif total is None:
            return []
        elif previous is None or total.total < previous.total:
            usage = total  # first total of the file, or the running total restarted
        else:
            usage = total.minus(previous)
        if not any(usage[:4]):
            return []  # ccusage drops all-zero deltas too
        return [self._event(record, payload, usage, total)]

    def _event(
        self, record: Mapping[str, Any], payload: Mapping[str, Any], usage: Usage, total: Usage | None
    ) -> UsageEvent:
        timestamp = timestamp_of(record.get("timestamp"))
        named = _model_in(payload)
        if named:
            self.model = named
        model = self.model or FALLBACK_MODEL
        cached = min(usage.cached, usage.input)  # ccusage clamps the same way
        # The running total identifies a request within a session and is the same on
        # every re-read, so it makes a stable dedupe key; without one, the time does.
        # No session id at all (stdin without session_meta): fall back to a content hash.
        marker = str(total.total) if total is not None else timestamp
        event_id = "codex:" + self.session_id + ":" + marker if self.session_id else None
        return UsageEvent(
            timestamp=timestamp,
            provider=PROVIDER,
            model=model,
            input_tokens=usage.input - cached,
            cache_read_tokens=cached,
            output_tokens=usage.output,
            # Informational subset of output; a log claiming more is clamped, not trusted.
            reasoning_tokens=min(usage.reasoning, usage.output),
            id=event_id,
            project=self.ctx.project or self.project,
            session=self.session_id,
            agent=AGENT,
            metadata=None if self.model else {"model_fallback": True},
            source=AGENT,
        )


def _str(value: Any) -> str | None:
    return value[:512] if isinstance(value, str) and value else None


def _restore_usage(value: Any) -> Usage | None:
    if not isinstance(value, list | tuple) or len(value) != len(Usage._fields):
        return None
    return Usage(*value) if all(type(item) is int and item >= 0 for item in value) else None


class CodexParser(Parser):
    name = "codex"
    description = "Codex CLI session logs (~/.codex/sessions/**/rollout-*.jsonl)"
    prefilter = None  # turn_context and session_meta lines carry state, so every line matters

    def detect(self, record: Mapping[str, Any]) -> bool:
        kind = record.get("type")
        return (
            isinstance(kind, str)
            and kind in _LINE_TYPES
            and isinstance(record.get("payload"), Mapping)
            and "timestamp" in record
        )

    def parse_record(self, record: Any, ctx: SourceContext) -> list[UsageEvent]:
        return self.session(ctx).parse(record)

    def session(self, ctx: SourceContext, state: dict[str, Any] | None = None) -> ParseSession:
        return CodexSession(self, ctx, state)
