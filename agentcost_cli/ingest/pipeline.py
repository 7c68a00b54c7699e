"""The ingest loop: records -> parsers -> pricing -> batched, idempotent store writes.

Guarantees (tests/services/test_ingest.py holds them):
- a batch of events, their rollups and the import cursors that cover them
  commit in one transaction, so a crash leaves the store consistent and a
  rerun resumes where the last commit ended;
- every event has a dedupe key unique per project, so rerunning adds nothing;
- a bad record is reported with file, line and reason, and the good ones are kept
  (or, with `strict`, nothing at all is written);
- with a `ProjectCheck`, a record whose events land in a project the caller may not
  write to is rejected like any other bad record (the reason names the project).

Large files are parsed and priced by worker processes (see parallel.py) while
this process only writes; the results are the same, in the same order.
"""

from __future__ import annotations

import gc
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from ..errors import IngestRejected, InvalidInput
from ..models import InsertResult, PricedEvent, UsageEvent
from ..store.base import Cursor, PreparedBatch, Store
from ..timeutil import now_utc
from . import reader, registry
from .base import Parser, ParseSession, RecordError, SourceContext

UNRECOGNIZED = "not a recognized usage record (see `agentcost ingest --help`)"
# Staged pieces (about 8 MB of input each) loaded per transaction: fewer commits write
# less, and a crash still loses at most this much work.
STAGED_PER_COMMIT = 4


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
    batch_bytes: int = 4 * 1024 * 1024  # raw input per batch: bounds memory for fat records
    workers: int = 0  # parser processes for large inputs; 0: one per CPU (none on one CPU)


@dataclass
class Counts:
    read: int = 0
    skipped: int = 0
    rejected: int = 0


RejectSink = Callable[[int, str, bytes | None], None]  # (line, reason, raw line)
# Whether events may land in a project: None when they may, else the reason (naming the project).
# Made by services/ from the store before the run starts, so that it holds no store and the
# forked workers of the parallel path can call it too. No check: every project is accepted
# (and the store creates those it has not seen yet).
ProjectCheck = Callable[[str], str | None]


class RecordParser:
    """Turns the raw records of one input into priced events.

    Used by the in-process path and by the worker processes of the parallel path,
    so both read, detect, reject and price exactly alike.
    """

    def __init__(self, ctx: SourceContext, fixed: Parser | None, state: dict[str, Any] | None,
                 pricer: Callable[[], Any], options: IngestOptions, counts: Counts, reject: RejectSink,
                 check_project: ProjectCheck | None = None) -> None:
        self.ctx = ctx
        self.fixed = fixed
        self.counts = counts
        self._state = state
        self._pricer = pricer
        self._options = options
        self._reject = reject
        self._check_project = check_project
        self._prefilter = fixed.prefilter if fixed is not None else None
        self._preferred = fixed
        self._sessions: dict[str, ParseSession] = {}

    def feed(self, raw: reader.RawRecord) -> list[PricedEvent]:
        """Priced events from one record; counts it; reports it when rejected."""
        if raw.data is not None:
            if not raw.data.strip():
                return []
            self.counts.read += 1
            if self._prefilter is not None and self._prefilter not in raw.data:
                self.counts.skipped += 1
                return []
            try:
                value = orjson.loads(raw.data)
            except orjson.JSONDecodeError as exc:
                return self._rejected(raw, f"invalid JSON: {exc}")
        else:
            self.counts.read += 1
            value = raw.value
        parser = self.fixed
        if parser is None:
            parser = registry.detect(value, self._preferred) if isinstance(value, dict) else None
            if parser is None:
                return self._rejected(raw, UNRECOGNIZED)
            self._preferred = parser
        session = self._sessions.get(parser.name)
        if session is None:
            session = self._sessions[parser.name] = parser.session(
                self.ctx, self._state if parser is self.fixed else None)
        try:
            events = session.parse(value)
        except RecordError as exc:
            return self._rejected(raw, str(exc))
        if not events:
            self.counts.skipped += 1
            return []
        if self._check_project is not None:
            refused = self._refusal(events)
            if refused is not None:
                return self._rejected(raw, refused)
        pricer = self._pricer()
        out = []
        for event in events:
            priced = pricer.price(event, self._options.project or event.project or self._options.default_project)
            if parser.dedupe_largest:
                priced.replace_if_larger = True
            out.append(priced)
        return out

    def state(self) -> dict[str, Any] | None:
        """The fixed parser's session state, for an import cursor."""
        if self.fixed is None:
            return None
        session = self._sessions.get(self.fixed.name)
        return session.state() if session is not None else self._state

    def _refusal(self, events: Sequence[UsageEvent]) -> str | None:
        """Why the record's events may not be written (the first refused project), or None."""
        assert self._check_project is not None
        options = self._options
        for project in dict.fromkeys(options.project or e.project or options.default_project for e in events):
            refused = self._check_project(project)
            if refused is not None:
                return refused
        return None

    def _rejected(self, raw: reader.RawRecord, reason: str) -> list[PricedEvent]:
        self.counts.rejected += 1
        self._reject(raw.line, reason, raw.data)
        return []


@dataclass
class FileResult:
    end_offset: int
    state: dict[str, Any] | None


PricerFactory = Callable[[], Any]  # returns an object with .price(event, project) -> PricedEvent
CursorFactory = Callable[[int, dict[str, Any] | None, int], Cursor]  # (end offset, parser state, last line)


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
        check_project: ProjectCheck | None = None,
    ) -> None:
        if options.fmt not in registry.FORMATS:
            registry.get_parser(options.fmt)  # raises InvalidInput for an unknown name
        self.store = store
        self.options = options
        self.check_project = check_project
        self.summary = IngestSummary()
        self.ingested_utc = now_utc()
        self._pricer_factory = pricer_factory
        self._pricer: Any = None
        self._run_id: int | None = None
        self._pending: list[PricedEvent] = []
        self._pending_rows: list[PreparedBatch] = []
        self._pending_staged: list[Path] = []
        self._pending_count = 0
        self._pending_bytes = 0
        self._pending_cursors: dict[str, Cursor] = {}
        self._on_reject = on_reject
        self._on_progress = on_progress
        self._strict_tx: Any = None
        if options.strict:
            # One transaction for the whole run: any rejection rolls everything back.
            self._strict_tx = store.transaction()
            self._strict_tx.__enter__()

    # -- public -----------------------------------------------------------
    def context(self, display: str) -> SourceContext:
        return SourceContext(path=display, fallback_timestamp=self.options.at or self.ingested_utc,
                             project=self.options.project)

    def pricer(self) -> Any:
        if self._pricer is None:
            self._pricer = self._pricer_factory()  # the catalog loads only once there is something to price
            # The catalog is a large, permanent object graph; freezing it keeps every later
            # full collection from walking it again (several µs per event otherwise).
            gc.collect()
            gc.freeze()
        return self._pricer

    def run_id(self) -> int:
        """This run's row in the store (made on first use: a run that adds nothing leaves none)."""
        if self._run_id is None:
            self._run_id = self.store.ingest_run(self.ingested_utc)
        return self._run_id

    def reject_sink(self, display: str, line_offset: int = 0) -> RejectSink:
        def sink(line: int, reason: str, raw: bytes | None) -> None:
            self.summary.rejected += 1
            if self._on_reject is not None:
                self._on_reject(Rejection(display, line_offset + line, reason, raw))

        return sink

    def ingest_stream(
        self,
        stream: BinaryIO,
        display: str,
        *,
        fmt: str | None = None,
        start_offset: int = 0,
        first_line: int = 1,
        state: dict[str, Any] | None = None,
        cursor_for: CursorFactory | None = None,
    ) -> FileResult:
        """Ingest one input in this process. With `cursor_for`, the cursor for the last
        complete line commits together with the events read up to it. A resumed read
        starts at `start_offset`, which is line `first_line` of the file."""
        fmt = fmt or self.options.fmt
        self.summary.files += 1
        fixed: Parser | None = None if fmt == "auto" else registry.get_parser(fmt)
        if fmt == "csv" or (fmt == "auto" and display.lower().endswith(".csv")):
            fixed = registry.get_parser("csv")
            records: Iterator[reader.RawRecord] = reader.iter_csv(stream)
        elif start_offset == 0 and isinstance(stream, io.BufferedReader) and reader.looks_like_document(
            reader.peek(stream)
        ):
            records = self._document_records(stream, display)
        else:
            records = reader.iter_lines(stream, start_offset, first_line)
        counts = Counts()
        parser = RecordParser(self.context(display), fixed, state, self.pricer, self.options, counts,
                              self.reject_sink(display), self.check_project)
        end_offset = start_offset
        last_line = first_line - 1
        last_progress = start_offset
        try:
            for raw in records:
                if not raw.complete and cursor_for is not None:
                    break  # a line still being written: leave it for the next run
                events = parser.feed(raw)
                last_line = raw.line
                if raw.end_offset >= 0:
                    end_offset = raw.end_offset
                if events:
                    self._pending.extend(events)
                    self._pending_count += len(events)
                    self._pending_bytes += len(raw.data) if raw.data is not None else 512
                if self._batch_full():
                    if cursor_for is not None:
                        self._pending_cursors[display] = cursor_for(end_offset, parser.state(), last_line)
                    self.flush()
                if self._on_progress is not None and raw.end_offset > 0:
                    self._on_progress(raw.end_offset - last_progress)
                    last_progress = raw.end_offset
        finally:
            self.add_counts(counts)
        if cursor_for is not None:
            self._pending_cursors[display] = cursor_for(end_offset, parser.state(), last_line)
        return FileResult(end_offset, parser.state())

    def add_counts(self, counts: Counts) -> None:
        self.summary.read += counts.read
        self.summary.skipped += counts.skipped

    def add_prepared(self, batch: PreparedBatch, *, nbytes: int, cursors: Sequence[Cursor] = ()) -> None:
        """Queue rows a worker process made; written in the order they are added."""
        self._pending_rows.append(batch)
        self._pending_count += len(batch.rows)
        self._pending_bytes += nbytes
        for cursor in cursors:
            self._pending_cursors[cursor.path] = cursor
        if self._batch_full():
            self.flush()

    def add_staged(self, path: Path, *, rows: int, nbytes: int, cursors: Sequence[Cursor] = ()) -> None:
        """Queue a batch a worker staged (Store.stage); `flush` loads several per commit."""
        self._pending_staged.append(path)
        for cursor in cursors:
            self._pending_cursors[cursor.path] = cursor
        if len(self._pending_staged) >= STAGED_PER_COMMIT:
            self.flush()

    def finish(self) -> IngestSummary:
        """Write what is pending. With `strict`, commit only if nothing was rejected."""
        if self._strict_tx is None:
            self.flush()
            return self.summary
        try:
            if self.summary.rejected:
                raise IngestRejected(f"{self.summary.rejected} record(s) rejected; nothing was written (--strict)")
            self.flush()
        except BaseException as exc:
            self._strict_tx.__exit__(type(exc), exc, exc.__traceback__)
            self._strict_tx = None
            raise
        self._strict_tx.__exit__(None, None, None)
        self._strict_tx = None
        return self.summary

    def abort(self) -> None:
        """Drop what is not yet written (each written batch is whole); roll back a strict run."""
        for path in self._pending_staged:
            path.unlink(missing_ok=True)
        self._pending, self._pending_rows, self._pending_cursors, self._pending_staged = [], [], {}, []
        self._pending_count = self._pending_bytes = 0
        if self._strict_tx is not None:
            exc = InvalidInput("aborted")
            self._strict_tx.__exit__(type(exc), exc, None)
            self._strict_tx = None

    def flush(self) -> None:
        """Write what is pending: events and rows in one transaction with the cursors, or
        (from workers) staged files, each in its own transaction, the cursors with the last."""
        if not self._pending_count and not self._pending_cursors and not self._pending_staged:
            return
        batch = self.store.prepare(self._pending, ingest_run=self.run_id())
        for extra in self._pending_rows:
            if extra.larger_wins is not None or batch.larger_wins is not None:
                batch.larger_wins = (batch.larger_wins or [False] * len(batch.rows)) + (
                    extra.larger_wins or [False] * len(extra.rows))
            batch.rows.extend(extra.rows)
        staged, cursors = self._pending_staged, list(self._pending_cursors.values())
        self._pending, self._pending_rows, self._pending_cursors, self._pending_staged = [], [], {}, []
        self._pending_count = self._pending_bytes = 0
        if batch.rows or not staged:
            with self.store.transaction():
                self._count(self.store.insert_prepared(batch))
                for cursor in [] if staged else cursors:
                    self.store.set_cursor(cursor)
        groups = [staged[i:i + STAGED_PER_COMMIT] for i in range(0, len(staged), STAGED_PER_COMMIT)]
        for index, group in enumerate(groups):
            try:
                self._count(self.store.insert_staged(group, cursors if index == len(groups) - 1 else ()))
            except BaseException:
                for rest in staged[index * STAGED_PER_COMMIT:]:
                    rest.unlink(missing_ok=True)
                raise

    # -- internals ----------------------------------------------------------
    def _batch_full(self) -> bool:
        return self._pending_count >= self.options.batch_size or self._pending_bytes >= self.options.batch_bytes

    def _count(self, result: InsertResult) -> None:
        self.summary.added += result.added
        self.summary.duplicates += result.duplicates
        self.summary.unpriced += result.unpriced_added

    def _document_records(self, stream: BinaryIO, display: str) -> Iterator[reader.RawRecord]:
        try:
            yield from reader.iter_document(stream)
        except orjson.JSONDecodeError as exc:
            self.summary.read += 1
            self.reject_sink(display)(1, f"invalid JSON document: {exc}", None)
        except ValueError as exc:
            self.summary.read += 1
            self.reject_sink(display)(1, str(exc), None)


@dataclass
class ChunkResult:
    """What a worker returns for one piece of input."""

    batch: PreparedBatch
    counts: Counts
    rejections: list[tuple[int, str, bytes | None]] = field(default_factory=list)
    lines: int = 0
    end_offset: int = 0
    state: dict[str, Any] | None = None
    nbytes: int = 0
    staged: Path | None = None  # the batch's rows, staged by the worker (batch.rows is then empty)
    staged_rows: int = 0
    in_group: bool = False  # its rows travel with a later result of the same group
