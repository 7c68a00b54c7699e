"""The ingest loop: records -> parsers -> pricing -> batched, idempotent store writes.

Guarantees (tests/services/test_ingest.py holds them):
- a batch of events, their rollups and the import cursors that cover them
  commit in one transaction, so a crash leaves the store consistent and a
  rerun resumes where the last commit ended;
- every event has a dedupe key unique per project, so rerunning adds nothing;
- a bad record is reported with file, line and reason, and the good ones are kept
  (or, with `strict`, nothing at all is written).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import orjson

from ..errors import IngestRejected, InvalidInput
from ..models import PricedEvent
from ..store.base import Cursor, Store
from ..timeutil import now_utc
from . import reader, registry
from .base import Parser, ParseSession, RecordError, SourceContext


@dataclass(frozen=True)
class Rejection:
    path: str
    line: int
    reason: str
    raw: bytes | None  # the original line, for --reject-file


@dataclass
class IngestSummary:
    files: int = 0
    read: int = 0
    added: int = 0
    duplicates: int = 0
    rejected: int = 0
    unpriced: int = 0
    skipped: int = 0  # records that carry no usage (user turns, tool output, ...)
    unchanged_files: int = 0  # imports: files with nothing new since the last run

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class IngestOptions:
    fmt: str = "auto"
    project: str | None = None  # --project: wins over what the data says
    default_project: str = "default"
    at: str | None = None  # --at: time for responses that carry none
    strict: bool = False
    batch_size: int = 20000


@dataclass
class _PendingFile:
    cursor: Cursor | None = None


@dataclass
class FileResult:
    end_offset: int
    state: dict[str, Any] | None
    sessions: dict[str, ParseSession] = field(default_factory=dict)


PricerFactory = Callable[[], Any]  # returns an object with .price(event, project) -> PricedEvent


class Ingestor:
    """Streams any number of inputs into one store; call `finish()` once at the end."""

    def __init__(
        self,
        store: Store,
        pricer_factory: PricerFactory,
        options: IngestOptions,
        *,
        on_reject: Callable[[Rejection], None] | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        if options.fmt not in registry.FORMATS:
            registry.get_parser(options.fmt)  # raises InvalidInput for an unknown name
        self.store = store
        self.options = options
        self.summary = IngestSummary()
        self._pricer_factory = pricer_factory
        self._pricer: Any = None
        self._pending: list[PricedEvent] = []
        self._pending_cursors: dict[str, Cursor] = {}
        self._on_reject = on_reject
        self._on_progress = on_progress
        self._ingested_utc = now_utc()
        self._strict_tx: Any = None
        if options.strict:
            # One transaction for the whole run: any rejection rolls everything back.
            self._strict_tx = store.transaction()
            self._strict_tx.__enter__()

    # -- public -----------------------------------------------------------
    def ingest_stream(
        self,
        stream: BinaryIO,
        display: str,
        *,
        fmt: str | None = None,
        start_offset: int = 0,
        state: dict[str, Any] | None = None,
        cursor_for: Callable[[int, dict[str, Any] | None], Cursor] | None = None,
    ) -> FileResult:
        """Ingest one input. With `cursor_for`, the cursor for the last complete line
        commits together with the events read up to it."""
        fmt = fmt or self.options.fmt
        self.summary.files += 1
        ctx = SourceContext(
            path=display,
            fallback_timestamp=self.options.at or self._ingested_utc,
            project=self.options.project,
        )
        result = FileResult(end_offset=start_offset, state=state)
        fixed: Parser | None = None if fmt == "auto" else registry.get_parser(fmt)
        if fmt == "csv" or (fmt == "auto" and display.lower().endswith(".csv")):
            fixed = registry.get_parser("csv")
            records: Iterator[reader.RawRecord] = reader.iter_csv(stream)
        elif start_offset == 0 and isinstance(stream, _peekable_types()) and reader.looks_like_document(
            reader.peek(stream)
        ):
            records = self._document_records(stream, display)
        else:
            records = reader.iter_lines(stream, start_offset)
        prefilter = fixed.prefilter if fixed is not None else None
        preferred: Parser | None = fixed
        last_progress = start_offset
        for raw in records:
            if raw.data is not None:
                if not raw.complete and cursor_for is not None:
                    break  # a line still being written: leave it for the next run
                if not raw.data.strip():
                    self._advance(result, raw)
                    continue
                self.summary.read += 1
                if prefilter is not None and prefilter not in raw.data:
                    self.summary.skipped += 1
                    self._advance(result, raw)
                    continue
                try:
                    value = orjson.loads(raw.data)
                except orjson.JSONDecodeError as exc:
                    self._reject(display, raw.line, f"invalid JSON: {exc}", raw.data)
                    self._advance(result, raw)
                    continue
            else:
                self.summary.read += 1
                value = raw.value
            parser = fixed
            if parser is None:
                parser = registry.detect(value, preferred) if isinstance(value, dict) else None
                if parser is None:
                    self._reject(display, raw.line, "not a recognized usage record (see `agentcost ingest --help`)",
                                 raw.data)
                    self._advance(result, raw)
                    continue
                preferred = parser
            session = result.sessions.get(parser.name)
            if session is None:
                session = result.sessions[parser.name] = parser.session(ctx, state if parser is fixed else None)
            try:
                events = session.parse(value)
            except RecordError as exc:
                self._reject(display, raw.line, str(exc), raw.data)
                self._advance(result, raw)
                continue
            if not events:
                self.summary.skipped += 1
            else:
                pricer = self._get_pricer()
                for event in events:
                    project = self.options.project or event.project or self.options.default_project
                    priced = pricer.price(event, project)
                    if parser.dedupe_largest:
                        priced.replace_if_larger = True
                    self._pending.append(priced)
            self._advance(result, raw)
            if cursor_for is not None and fixed is not None:
                result.state = result.sessions[fixed.name].state()
            if len(self._pending) >= self.options.batch_size:
                if cursor_for is not None:
                    self._pending_cursors[display] = cursor_for(result.end_offset, result.state)
                self._flush()
            if self._on_progress is not None and raw.end_offset > 0:
                self._on_progress(raw.end_offset - last_progress)
                last_progress = raw.end_offset
        if cursor_for is not None:
            self._pending_cursors[display] = cursor_for(result.end_offset, result.state)
        return result

    def finish(self) -> IngestSummary:
        """Write what is pending. With `strict`, commit only if nothing was rejected."""
        if self._strict_tx is not None:
            try:
                if self.summary.rejected:
                    raise IngestRejected(
                        f"{self.summary.rejected} record(s) rejected; nothing was written (--strict)"
                    )
                self._flush()
            except BaseException as exc:
                self._strict_tx.__exit__(type(exc), exc, exc.__traceback__)
                self._strict_tx = None
                raise
            self._strict_tx.__exit__(None, None, None)
            self._strict_tx = None
        else:
            self._flush()
        return self.summary

    def abort(self) -> None:
        """Roll back a strict run (pending batches of a normal run are simply dropped)."""
        if self._strict_tx is not None:
            exc = InvalidInput("aborted")
            self._strict_tx.__exit__(type(exc), exc, None)
            self._strict_tx = None
        self._pending.clear()
        self._pending_cursors.clear()

    # -- internals ----------------------------------------------------------
    def _document_records(self, stream: BinaryIO, display: str) -> Iterator[reader.RawRecord]:
        try:
            yield from reader.iter_document(stream)
        except orjson.JSONDecodeError as exc:
            self.summary.read += 1
            self._reject(display, 1, f"invalid JSON document: {exc}", None)
        except ValueError as exc:
            self.summary.read += 1
            self._reject(display, 1, str(exc), None)

    @staticmethod
    def _advance(result: FileResult, raw: reader.RawRecord) -> None:
        if raw.end_offset >= 0:
            result.end_offset = raw.end_offset

    def _get_pricer(self) -> Any:
        if self._pricer is None:
            self._pricer = self._pricer_factory()  # the catalog loads only once there is something to price
        return self._pricer

    def _reject(self, path: str, line: int, reason: str, raw: bytes | None) -> None:
        self.summary.rejected += 1
        if self._on_reject is not None:
            self._on_reject(Rejection(path, line, reason, raw))

    def _flush(self) -> None:
        if not self._pending and not self._pending_cursors:
            return
        with self.store.transaction():
            result = self.store.insert_events(self._pending, ingested_utc=self._ingested_utc)
            for cursor in self._pending_cursors.values():
                self.store.set_cursor(cursor)
        self.summary.added += result.added
        self.summary.duplicates += result.duplicates
        self.summary.unpriced += result.unpriced_added
        self._pending = []
        self._pending_cursors = {}


def _peekable_types() -> tuple[type, ...]:
    import io

    return (io.BufferedReader,)
