"""Parse and price in worker processes while this process writes to the store.

SQLite writes and JSON parsing each cost about as much per event, and Python
threads cannot overlap them (the sqlite3 module holds the GIL while it binds
rows). So workers, forked after the price catalog is loaded (they inherit it,
copy-on-write), turn pieces of input into plain row tuples, and the parent
inserts them in input order: the first copy of a duplicate still wins, and
rejected lines keep their true line numbers.

Pieces are byte ranges of one large file (stateless formats), or whole files
(agent logs, whose parsers keep state across lines). At most a few pieces are in
flight at once, so memory stays bounded however large the input.
"""

from __future__ import annotations

import io
import itertools
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import StoreError
from ..store.base import STAGE_PREFIX, PreparedBatch
from . import reader, registry
from .pipeline import STAGED_PER_COMMIT, ChunkResult, Counts, Ingestor, RecordParser

CHUNK_BYTES = 8 * 1024 * 1024
PIECE_TIMEOUT_S = 600.0
PARALLEL_MIN_BYTES = 24 * 1024 * 1024  # below this, starting workers costs more than it saves
_STATEFUL = frozenset({"claude-code", "codex"})

class IngestWorkerError(StoreError):
    """A worker process died or hung; what was committed before stays consistent."""


# Set in the parent just before forking; the workers read it (fork copies it).
_WORKER: dict[str, Any] = {}


@dataclass(frozen=True)
class Piece:
    path: str
    display: str
    start: int
    end: int  # -1: to the end of the file
    fmt: str
    state: dict[str, Any] | None = None
    stop_at_partial_line: bool = False  # imports: a line still being written waits for the next run
    first_line: int = 1


def worker_count(requested: int, *, parent_busy: bool = True) -> int:
    """Workers for a parallel read: one per CPU, less one when this process is kept busy
    writing (a large file of many events); agent logs are mostly text, so the parent idles."""
    if requested > 0:
        return requested
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(4, cpus - 1 if parent_busy else cpus) if cpus > 1 else 0


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def split(path: str, size: int, chunk: int | None = None) -> list[tuple[int, int]]:
    """Byte ranges of about `chunk` bytes (default CHUNK_BYTES) that start and end on line boundaries."""
    chunk = chunk or CHUNK_BYTES
    bounds = [0]
    with open(path, "rb") as handle:
        position = chunk
        while position < size:
            handle.seek(position)
            handle.readline()  # to the end of the line that straddles the cut
            cut = handle.tell()
            if cut >= size:
                break
            bounds.append(cut)
            position = cut + chunk
    bounds.append(size)
    return list(itertools.pairwise(bounds))


def parallel_format(path: str, fmt: str) -> str | None:
    """The format to parse `path` with in pieces, or None when it must be read in one go."""
    if fmt == "csv" or path.lower().endswith(".csv") or fmt in _STATEFUL:
        return None
    with open(path, "rb") as handle:
        head = handle.read(64 * 1024)
    if reader.looks_like_document(head):
        return None
    if fmt == "auto":
        # Agent logs keep state across lines: never cut them. Look at the first record to be sure.
        import orjson

        try:
            first = orjson.loads(head.split(b"\n", 1)[0])
        except orjson.JSONDecodeError:
            return fmt
        parser = registry.detect(first) if isinstance(first, dict) else None
        if parser is not None and parser.name in _STATEFUL:
            return None
    return fmt


def _parse_group(group: tuple[Piece, ...]) -> list[ChunkResult]:
    """Runs in a worker: a group of pieces (small files travel together), staged as one
    file when staging is on. The last result then carries the group's rows; the others
    carry only their counts, cursor data and rejections (`in_group`)."""
    env = _WORKER
    results = [_parse_piece(piece) for piece in group]
    if len(results) > 1:
        rows: list[tuple[Any, ...]] = []
        larger: list[bool] | None = None
        for result in results:
            own = result.batch.larger_wins
            if own is not None or larger is not None:
                larger = (larger or [False] * len(rows)) + (own or [False] * len(result.batch.rows))
            rows.extend(result.batch.rows)
            result.batch = PreparedBatch([])
            result.in_group = True
        results[-1].batch = PreparedBatch(rows, larger)
        results[-1].in_group = False
    last = results[-1]
    if env.get("stage_dir") is not None:
        staged = env["stage"](last.batch, env["stage_dir"])
        if staged is not None:
            last.staged, last.staged_rows, last.batch = staged, len(last.batch.rows), PreparedBatch([])
    return results


def _parse_piece(piece: Piece) -> ChunkResult:
    """One piece of input to prepared rows."""
    env = _WORKER
    with open(piece.path, "rb") as handle:
        handle.seek(piece.start)
        data = handle.read() if piece.end < 0 else handle.read(piece.end - piece.start)
    counts = Counts()
    rejections: list[tuple[int, str, bytes | None]] = []
    ctx = env["context"](piece.display)
    fixed = None if piece.fmt == "auto" else registry.get_parser(piece.fmt)
    parser = RecordParser(ctx, fixed, piece.state, lambda: env["pricer"], env["options"], counts,
                          lambda line, reason, raw: rejections.append((line, reason, raw)), env["check_project"])
    events = []
    lines = piece.first_line - 1
    end_offset = piece.start
    kept_bytes = 0  # of the lines that became events: what a batch's memory grows with
    for raw in reader.iter_lines(io.BytesIO(data), piece.start, piece.first_line):
        if piece.stop_at_partial_line and not raw.complete:
            break
        lines = raw.line
        found = parser.feed(raw)
        if found:
            events.extend(found)
            kept_bytes += len(raw.data or b"")
        end_offset = raw.end_offset
    batch = env["prepare"](events, ingest_run=env["ingest_run"])
    return ChunkResult(batch, counts, rejections, lines, end_offset, parser.state(), kept_bytes)


def _groups(pieces: Iterable[Piece], target: int) -> Iterator[tuple[Piece, ...]]:
    """Consecutive pieces, together up to about `target` bytes (a large piece goes alone)."""
    group: list[Piece] = []
    size = 0
    for piece in pieces:
        length = piece.end - piece.start if piece.end >= 0 else _remaining(piece)
        if group and size + length > target:
            yield tuple(group)
            group, size = [], 0
        group.append(piece)
        size += length
    if group:
        yield tuple(group)


def _remaining(piece: Piece) -> int:
    try:
        return max(0, Path(piece.path).stat().st_size - piece.start)
    except OSError:
        return 0


def _bounded(pool: Any, pieces: Iterable[Piece], window: int) -> Iterator[tuple[Piece, ChunkResult]]:
    """Results in input order, with at most `window` groups in flight."""
    flight: deque[tuple[tuple[Piece, ...], Any]] = deque()

    def drain() -> Iterator[tuple[Piece, ChunkResult]]:
        group, pending = flight.popleft()
        try:
            # A piece takes well under a second; a worker the OS killed never answers at all.
            results = pending.get(timeout=PIECE_TIMEOUT_S)
        except multiprocessing.TimeoutError:
            raise IngestWorkerError(
                f"a worker parsing {group[0].display} did not answer in {PIECE_TIMEOUT_S:.0f} s",
                hint="it may have run out of memory; rerun with AGENTCOST_WORKERS=1 or a smaller input",
            ) from None
        yield from zip(group, results, strict=True)

    for group in _groups(pieces, CHUNK_BYTES):
        flight.append((group, pool.apply_async(_parse_group, (group,))))
        if len(flight) >= window:
            yield from drain()
    while flight:
        yield from drain()


def run(ingestor: Ingestor, pieces: list[Piece], workers: int,
        on_piece: Callable[[Piece, ChunkResult], None], *, stage: bool = False) -> None:
    """Parse `pieces` in `workers` processes; hand each result, in order, to `on_piece`.

    With `stage`, workers also write their rows to scratch files for the store to bulk-load
    (not in a strict run: SQLite cannot attach them inside its one long transaction).
    """
    ingestor.flush()  # what came before this input is written before it
    ingestor.pricer()  # load the catalog before forking, so every worker inherits it
    store = ingestor.store
    stage_dir = store.stage_directory if stage and not ingestor.options.strict else None
    if stage_dir is not None:
        store.remove_stale_stages(stage_dir)
    _WORKER.update(
        pricer=ingestor.pricer(), options=ingestor.options, context=ingestor.context,
        prepare=type(store).prepare, stage=type(store).stage, stage_dir=stage_dir,
        ingest_run=ingestor.run_id(), check_project=ingestor.check_project,
    )
    context = multiprocessing.get_context("fork")
    try:
        with context.Pool(workers) as pool:
            # Staged results are files, not memory: let workers run ahead while this process
            # loads a group of them in one transaction.
            window = workers + 1 + (STAGED_PER_COMMIT if stage_dir is not None else 0)
            for piece, result in _bounded(pool, pieces, window=window):
                on_piece(piece, result)
    except BaseException:
        # The pool is terminated by now; drop what its workers staged and nobody loaded.
        if stage_dir is not None:
            for leftover in stage_dir.glob(f"{STAGE_PREFIX}{os.getpid()}-*.db"):
                leftover.unlink(missing_ok=True)
        raise
    finally:
        _WORKER.clear()
    ingestor.flush()


def ingest_file(ingestor: Ingestor, path: str, fmt: str, size: int, workers: int,
                on_progress: Callable[[int], None] | None) -> None:
    """One large file of a stateless format, cut into pieces."""
    ingestor.summary.files += 1
    lines_before = 0

    def take(piece: Piece, result: ChunkResult) -> None:
        nonlocal lines_before
        sink = ingestor.reject_sink(path, lines_before)
        for line, reason, raw in result.rejections:
            sink(line, reason, raw)
        ingestor.add_counts(result.counts)
        if result.staged is not None:
            ingestor.add_staged(result.staged, rows=result.staged_rows, nbytes=result.nbytes)
        else:
            ingestor.add_prepared(result.batch, nbytes=result.nbytes)
        lines_before += result.lines
        if on_progress is not None:
            on_progress(piece.end - piece.start)

    pieces = [Piece(path, path, start, end, fmt) for start, end in split(path, size)]
    run(ingestor, pieces, workers, take, stage=True)
