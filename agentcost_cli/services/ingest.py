"""Ingest files and stdin, and import coding-agent logs incrementally."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, NotFound
from ..ingest.pipeline import IngestOptions, Ingestor, IngestSummary, Rejection
from ..store.base import Cursor, Store
from .pricing import load_pricer

AGENT_FORMATS = ("claude-code", "codex")


@dataclass
class Hooks:
    """How progress and rejections reach the presentation layer."""

    on_reject: Callable[[Rejection], None] | None = None
    on_progress: Callable[[int], None] | None = None
    on_total: Callable[[int], None] | None = None  # total bytes to read, when known


def _expand(inputs: Sequence[str]) -> list[str]:
    """Paths as given; folders expand to the .jsonl/.json/.csv files inside them, sorted."""
    out: list[str] = []
    for item in inputs:
        if item == "-":
            out.append(item)
            continue
        path = Path(item).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in (".jsonl", ".json", ".csv", ".ndjson"))
            out.extend(str(p) for p in found)
        elif path.exists():
            out.append(str(path))
        else:
            raise NotFound(f"no such file: {item}")
    return out


def ingest_inputs(store: Store, inputs: Sequence[str], options: IngestOptions, hooks: Hooks | None = None,
                  *, stdin: Any = None) -> IngestSummary:
    """Ingest files (or `-` for stdin) in the order given. Returns the run's counts."""
    hooks = hooks or Hooks()
    files = _expand(inputs or ["-"])
    if files.count("-") > 1:
        raise InvalidInput("stdin (-) can be read only once")
    if hooks.on_total is not None:
        hooks.on_total(sum(Path(f).stat().st_size for f in files if f != "-"))
    ingestor = Ingestor(store, lambda: load_pricer(store), options,
                        on_reject=hooks.on_reject, on_progress=hooks.on_progress)
    try:
        for name in files:
            if name == "-":
                stream = stdin if stdin is not None else sys.stdin.buffer
                ingestor.ingest_stream(stream, "<stdin>")
            else:
                with open(name, "rb") as handle:
                    ingestor.ingest_stream(handle, name)
    except BaseException:
        ingestor.abort()
        raise
    return ingestor.finish()


def import_agent_logs(store: Store, agent: str, roots: Sequence[Path], options: IngestOptions,
                      hooks: Hooks | None = None) -> IngestSummary:
    """Read an agent's log folders, only what is new since the last import of each file.

    A file's cursor is its byte offset after the last complete line, plus the parser's
    session state; a file that was replaced or truncated is read again from the start
    (dedupe keys keep that from double counting).
    """
    from ..ingest.agent_paths import iter_log_files

    if agent not in AGENT_FORMATS:
        raise InvalidInput(f"unknown agent {agent!r}; choose {', '.join(AGENT_FORMATS)}")
    hooks = hooks or Hooks()
    options.fmt = agent
    cursors = store.get_cursors(agent)
    plan: list[tuple[Path, os.stat_result, Cursor | None]] = []
    unchanged = 0
    for path in iter_log_files(roots):
        try:
            stat = path.stat()
        except OSError:
            continue  # vanished between listing and reading
        cursor = cursors.get(str(path))
        if cursor is not None and _same_file(cursor, stat) and stat.st_size == cursor.offset:
            unchanged += 1
            continue
        plan.append((path, stat, cursor))
    if hooks.on_total is not None:
        hooks.on_total(sum(st.st_size - (c.offset if c and _same_file(c, st) else 0) for _, st, c in plan))
    ingestor = Ingestor(store, lambda: load_pricer(store), options,
                        on_reject=hooks.on_reject, on_progress=hooks.on_progress)
    try:
        for path, stat, cursor in plan:
            resume = cursor is not None and _same_file(cursor, stat) and stat.st_size > cursor.offset
            start = cursor.offset if resume and cursor else 0
            state = cursor.state if resume and cursor else None

            def make_cursor(offset: int, session_state: dict[str, Any] | None,
                            _path: Path = path, _stat: os.stat_result = stat) -> Cursor:
                return Cursor(agent, str(_path), _stat.st_dev, _stat.st_ino, _stat.st_size, _stat.st_mtime_ns,
                              offset, session_state)

            with open(path, "rb") as handle:
                handle.seek(start)
                ingestor.ingest_stream(handle, str(path), start_offset=start, state=state, cursor_for=make_cursor)
    except BaseException:
        ingestor.abort()
        raise
    summary = ingestor.finish()
    summary.unchanged_files = unchanged
    return summary


def _same_file(cursor: Cursor, stat: os.stat_result) -> bool:
    # Same inode and not shorter than what we read: appended to, not replaced or truncated.
    return cursor.inode == stat.st_ino and cursor.device == stat.st_dev and stat.st_size >= cursor.offset
