"""Claude Code session logs: `<config>/projects/<encoded cwd>/<session>.jsonl`.

Token totals match ccusage 20.0.24 (checked by running it on the fixtures and on
bench/gen_agent_logs.py output). What ccusage does, and what we do:

- A usage record is any line with `message.usage` holding numeric `input_tokens`
  and `output_tokens`, whatever its `type`. Lines without them yield [].
- `<synthetic>` model lines (replies Claude Code makes up locally) are skipped.
  ccusage leaves them out of its per-model breakdown but adds their usage to the
  totals; real ones always carry zero usage, so the totals agree.
- `isApiErrorMessage` lines are kept: ccusage counts their usage too. In
  practice they are `<synthetic>` lines with zero usage.
- A line without `message.model` is counted (ccusage keeps its tokens in the
  totals); its model is "unknown", which prices as unpriced, never as $0.
- Dedupe key: `message.id` + `requestId`. Claude Code writes one line per
  content block, each repeating the reply's usage, so without this a reply counts
  2-6 times. Without `requestId` (API proxies) ccusage 20 keys on `message.id` +
  `timestamp` (found by running it; its docs say message id alone), and so do we.
  Without a message id ccusage does not dedupe; we key on the line's own `uuid`,
  which never merges two lines yet keeps re-imports idempotent.
- Cache writes: with the `cache_creation` split, 5-minute and 1-hour writes are
  its two fields (ccusage sums them, even when `cache_creation_input_tokens`
  says otherwise); without it, all of `cache_creation_input_tokens` are 5-minute.
- `costUSD` (old logs) is not the reported cost: ccusage's default "auto" mode
  uses it, we price from tokens. It is kept as `metadata.cost_usd_logged`.

Where we differ from ccusage, and why:
- Among lines sharing a dedupe key the one with the most tokens wins, as in
  ccusage: some Claude Code versions log streaming snapshots whose
  `output_tokens` grow across one reply (ccusage#901, #938). The parser sets
  `dedupe_largest`, and the store replaces a stored copy with a larger one,
  also across imports (a reply still being written when one import ran).
- A split that sums to zero while `cache_creation_input_tokens` does not: ccusage
  counts zero writes, we count the total as 5-minute writes rather than drop it.
- Two lines with no message id and no uuid that are otherwise identical merge
  into one event (content-hash key); ccusage counts both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from ..models import UsageEvent
from ..timeutil import normalize_timestamp
from .base import MAX_TOKENS, Parser, ParseSession, RecordError, SourceContext, token_count

PROVIDER = "anthropic"
AGENT = "claude-code"
SYNTHETIC_MODEL = "<synthetic>"
UNKNOWN_MODEL = "unknown"

# Claude Code's own record types, used only by detect().
_RECORD_TYPES = frozenset(
    {"user", "assistant", "system", "summary", "file-history-snapshot", "queue-operation", "progress"}
)
_SLUG_JUNK = re.compile(r"[^a-z0-9._-]+")
# Claude Code names a project folder after its launch directory with every
# character outside [A-Za-z0-9] replaced by "-" (/home/me/my_app -> -home-me-my-app).
_FOLDER_JUNK = re.compile(r"[^A-Za-z0-9]")
# JavaScript's Date.toISOString(): the only timestamp shape Claude Code writes.
_JS_ISO = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")
_MAX_TEXT = 512


# -- project names --------------------------------------------------------------


def slugify(name: str) -> str | None:
    """Lowercase, keep [a-z0-9._-], collapse the rest to "-"; None when nothing is left."""
    slug = _SLUG_JUNK.sub("-", name.lower()).strip("-")
    return slug or None


def _basename(path: str) -> str:
    # cwd may be a Windows path even when we run on POSIX, so split on both separators.
    return path.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]


def project_folder(path: str) -> str | None:
    """The encoded project folder: the path component right after `projects`."""
    parts = path.replace("\\", "/").split("/")
    for index in range(len(parts) - 2, -1, -1):
        if parts[index] == "projects" and parts[index + 1]:
            return parts[index + 1]
    return None


def project_from_folder(folder: str) -> str | None:
    """Best guess from an encoded folder name: its last dash-separated word.

    Lossy (`-src-my-app` gives "app"), so only used until a `cwd` is seen.
    """
    words = [word for word in folder.split("-") if word]
    return slugify(words[-1]) if words else None


def launch_dir(cwd: str, folder: str) -> str | None:
    """The ancestor of `cwd` (or `cwd` itself) whose encoding is `folder`, if any.

    The `cwd` field follows `cd` inside a session, so a later line may sit in a
    subdirectory; the project is the directory Claude Code was started in.
    """
    candidate = cwd.rstrip("/\\") or cwd
    while candidate:
        if _FOLDER_JUNK.sub("-", candidate) == folder:
            return candidate
        cut = max(candidate.rfind("/"), candidate.rfind("\\"))
        if cut <= 0:
            return None
        candidate = candidate[:cut]
    return None


# -- field helpers ----------------------------------------------------------------


def _count(usage: Mapping[str, Any], key: str) -> int:
    value = usage.get(key)
    if type(value) is int and 0 <= value <= MAX_TOKENS:  # the one case real logs hit
        return value
    return token_count(usage, key, where="message.usage.")


def _text(value: Any, where: str) -> str | None:
    if value is None or value == "":
        return None
    if type(value) is str:
        if len(value) > _MAX_TEXT:
            raise RecordError(f"{where} is longer than {_MAX_TEXT} characters")
        return value
    raise RecordError(f"{where} must be text, got {type(value).__name__}")


_valid_dates: dict[str, bool] = {}


def timestamp_of(value: Any) -> str:
    """Canonical UTC text. A fast path for `toISOString()` output, else timeutil.

    `normalize_timestamp` validates with strptime (about 5 µs); here the calendar
    check runs once per distinct day, which matters at a million lines.
    """
    if type(value) is str and len(value) == 24 and _JS_ISO.fullmatch(value):
        day = value[:10]
        if day not in _valid_dates and len(_valid_dates) < 100_000:
            _valid_dates[day] = _valid_day(day)
        if _valid_dates.get(day) and value[11:13] < "24" and value[14:16] < "60" and value[17:19] < "60":
            return value[:23] + "000Z"
    if value is None or value == "":
        raise RecordError("timestamp is missing")
    try:
        return normalize_timestamp(value)
    except ValueError as exc:
        raise RecordError(str(exc)) from None


def _valid_day(day: str) -> bool:
    try:
        date(int(day[0:4]), int(day[5:7]), int(day[8:10]))
    except ValueError:
        return False
    return True


def _cache_writes(usage: Mapping[str, Any]) -> tuple[int, int]:
    """(5-minute writes, 1-hour writes). See the module docstring.

    The split matters for price: 1-hour writes cost 2x input, 5-minute 1.25x.
    """
    split = usage.get("cache_creation")
    if isinstance(split, Mapping):
        where = "message.usage.cache_creation."
        five_min = token_count(split, "ephemeral_5m_input_tokens", where=where)
        one_hour = token_count(split, "ephemeral_1h_input_tokens", where=where)
        if five_min or one_hour:
            return five_min, one_hour
    return _count(usage, "cache_creation_input_tokens"), 0


def _metadata(record: Mapping[str, Any]) -> dict[str, Any] | None:
    version = record.get("version")
    cost = record.get("costUSD")
    if cost is None or isinstance(cost, bool) or not isinstance(cost, int | float):
        return {"version": version} if type(version) is str else None
    out: dict[str, Any] = {"cost_usd_logged": str(cost)}
    if type(version) is str:
        out["version"] = version
    return out


# -- parser -------------------------------------------------------------------------


class ClaudeCodeSession(ParseSession):
    """One session file. Remembers the project (from `cwd`) and the last dedupe key."""

    def __init__(self, parser: Parser, ctx: SourceContext, state: Mapping[str, Any] | None = None) -> None:
        super().__init__(parser, ctx)
        state = state if isinstance(state, Mapping) else {}
        self._folder = project_folder(ctx.path) if ctx.path != "-" else None
        self._project = _state_text(state, "project")
        if self._project is None and self._folder:
            self._project = project_from_folder(self._folder)
        self._locked = state.get("project_locked") is True  # proven: folder == encoded launch dir
        self._cwd_seen = state.get("cwd_seen") is True
        self._last_cwd: str | None = None  # lets the common "same cwd again" case cost one compare
        # Content-block lines of one reply are consecutive; skipping repeats of the
        # key just emitted that carry no more tokens saves work the store would
        # discard anyway (the largest copy of a key wins, see `dedupe_largest`).
        self._last_key = _state_text(state, "last_key")
        last_total = state.get("last_total")
        self._last_total = last_total if type(last_total) is int else -1

    def state(self) -> dict[str, Any] | None:
        return {
            "project": self._project,
            "project_locked": self._locked,
            "cwd_seen": self._cwd_seen,
            "last_key": self._last_key,
            "last_total": self._last_total,
        }

    def parse(self, record: Any) -> list[UsageEvent]:
        if not isinstance(record, Mapping):
            raise RecordError("expected a JSON object")
        message = record.get("message")
        if not isinstance(message, Mapping):
            return []
        usage = message.get("usage")
        if usage is None:
            return []
        if not isinstance(usage, Mapping):
            raise RecordError("message.usage must be an object")
        # ccusage's schema requires both counts; lines without them are not usage.
        if usage.get("input_tokens") is None or usage.get("output_tokens") is None:
            return []
        model = message.get("model")
        if model == SYNTHETIC_MODEL:
            return []
        key = _event_id(record, message)
        if key is not None and key == self._last_key and _total(usage) <= self._last_total:
            return []
        cwd = record.get("cwd")
        if cwd != self._last_cwd and type(cwd) is str and cwd:
            self._note_cwd(cwd)
        event = self._event(record, message, usage, model, key)
        self._last_key = key
        self._last_total = _total(usage)
        return [event]

    def _event(
        self, record: Mapping[str, Any], message: Mapping[str, Any], usage: Mapping[str, Any], model: Any,
        key: str | None,
    ) -> UsageEvent:
        write_5m, write_1h = _cache_writes(usage)
        session = record.get("sessionId")
        return UsageEvent(
            timestamp=timestamp_of(record.get("timestamp")),
            provider=PROVIDER,
            model=_text(model, "message.model") or UNKNOWN_MODEL,
            input_tokens=_count(usage, "input_tokens"),
            cache_read_tokens=_count(usage, "cache_read_input_tokens"),
            cache_write_tokens=write_5m,
            cache_write_1h_tokens=write_1h,
            output_tokens=_count(usage, "output_tokens"),
            id=key,
            project=self.ctx.project or self._project,
            session=session if type(session) is str and session else _text(session, "sessionId"),
            agent=AGENT,
            metadata=_metadata(record),
            source=AGENT,
        )

    def _note_cwd(self, cwd: str) -> None:
        """Settle the project from the session's working directory (see launch_dir)."""
        self._last_cwd = cwd
        if self._locked or self.ctx.project:
            return
        root = launch_dir(cwd, self._folder) if self._folder else None
        if root is not None:
            self._project, self._locked = slugify(_basename(root)) or self._project, True
        elif not self._cwd_seen:
            # No folder to check against (stdin, odd layout, or a name Claude Code
            # shortened): the session's first cwd is the best evidence we have.
            self._project = slugify(_basename(cwd)) or self._project
        self._cwd_seen = True


def _total(usage: Mapping[str, Any]) -> int:
    """All tokens of a usage block; non-numbers count as 0 (parse() rejects them later)."""
    total = 0
    for key in ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"):
        value = usage.get(key)
        if type(value) is int:
            total += value
    return total


def _event_id(record: Mapping[str, Any], message: Mapping[str, Any]) -> str | None:
    """The dedupe key; see the module docstring."""
    message_id = message.get("id")
    request_id = record.get("requestId")
    if type(message_id) is str and message_id:
        if type(request_id) is str and request_id:
            return "cc:" + message_id + ":" + request_id
        _text(request_id, "requestId")  # reject garbage rather than silently re-keying
        return "cc:" + message_id + "@" + timestamp_of(record.get("timestamp"))
    _text(message_id, "message.id")
    uuid = _text(record.get("uuid"), "uuid")
    return "cc:uuid:" + uuid if uuid else None


def _state_text(state: Mapping[str, Any], key: str) -> str | None:
    value = state.get(key)
    return value if isinstance(value, str) and value else None


class ClaudeCodeParser(Parser):
    name = "claude-code"
    description = "Claude Code session logs (~/.claude/projects/**/*.jsonl)"
    prefilter = b'"usage"'
    dedupe_largest = True

    def detect(self, record: Mapping[str, Any]) -> bool:
        # Claude Code keeps model and usage inside `message`; a top-level one means
        # an agentcost native event or a provider response (OpenAI `object`,
        # Anthropic `type: "message"`), and `payload` means a Codex line.
        if "model" in record or "usage" in record or "object" in record or "payload" in record:
            return False
        kind = record.get("type")
        if not isinstance(kind, str):
            return "message" in record and "requestId" in record
        if "sessionId" in record and (kind in _RECORD_TYPES or "parentUuid" in record):
            return True  # in auto mode an unclaimed line is rejected, so claim every kind
        if kind == "summary" and "leafUuid" in record:
            return True  # summary lines carry no sessionId
        if kind == "file-history-snapshot" and "snapshot" in record:
            return True
        return "message" in record and "requestId" in record

    def parse_record(self, record: Any, ctx: SourceContext) -> list[UsageEvent]:
        return self.session(ctx).parse(record)

    def session(self, ctx: SourceContext, state: dict[str, Any] | None = None) -> ParseSession:
        return ClaudeCodeSession(self, ctx, state)
