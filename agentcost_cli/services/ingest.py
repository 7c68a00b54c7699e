"""Ingest files and stdin, and import coding-agent logs incrementally.

Who may write where (`EVENTS_INGEST`): operators (the local owner, server admins) write
anywhere, and projects are created on first sight. Anyone else writes only to projects
that exist and that they may ingest into. What is known before reading (`--project`, an
API key's own project) is checked first, and a refusal stops the run before anything is
written; a project named by the data itself is checked per record, and a refused record
is rejected like any other bad line (file:line: reason naming the project).
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, NotFound, PermissionDenied
from ..ingest.pipeline import IngestOptions, Ingestor, IngestSummary, ProjectCheck, Rejection
from ..store.base import Cursor, Store
from .actor import Actor
from .permissions import Op, require_project
from .pricing import load_pricer

AGENT_FORMATS = ("claude-code", "codex")


@dataclass
class Hooks:
    """How progress and rejections reach the presentation layer."""

    on_reject: Callable[[Rejection], None] | None = None
    on_progress: Callable[[int], None] | None = None
    on_total: Callable[[int], None] | None = None  # total bytes to read, when known


@dataclass(frozen=True)
class _ProjectScope:
    """The projects a non-operator's run may write to, looked up before the run starts
    (so it holds no store: forked workers call it as they are)."""

    allowed: frozenset[str]
    refused: dict[str, str]  # projects the actor sees but may not write to: why not

    def __call__(self, slug: str) -> str | None:
        if slug in self.allowed:
            return None
        # Unseen projects read "not found", like `require_project` says: probing reveals nothing.
        return self.refused.get(slug) or f"no project named {slug!r}"


def _ingest_scope(store: Store, actor: Actor, options: IngestOptions) -> tuple[IngestOptions, ProjectCheck | None]:
    """The options and project check for `actor`'s run. Raises (before anything is written)
    when the run's fixed destination, `--project` or the key's own project, is refused.

    Raises:
        NotFound: `--project` names a project the actor cannot see (for a key: any other project).
        PermissionDenied: the actor may not ingest into it, or into any project at all.
    """
    if actor.is_operator:
        return options, None
    if actor.kind == "key":
        own = store.get_project_by_id(actor.key_project_id) if actor.key_project_id is not None else None
        if own is None:
            raise PermissionDenied(f"{actor.label} belongs to no project")
        # Events that name no project go to the key's own project.
        options = replace(options, default_project=str(own["slug"]))
        require_project(store, actor, options.default_project, Op.EVENTS_INGEST)
        candidates: set[int] = {int(own["id"])}
    else:
        candidates = set(store.memberships(actor.user_id)) if actor.user_id is not None else set()
    if options.project is not None:
        require_project(store, actor, options.project, Op.EVENTS_INGEST)
    # Only projects the actor is in (a membership, the key's project) can pass; each is asked
    # of the one permission check. Every other name is refused as not found.
    allowed: set[str] = set()
    refused: dict[str, str] = {}
    for project_id in candidates:
        project = store.get_project_by_id(project_id)
        if project is None:
            continue
        slug = str(project["slug"])
        try:
            require_project(store, actor, slug, Op.EVENTS_INGEST)
        except PermissionDenied as exc:
            refused[slug] = exc.message
        except NotFound:
            continue
        else:
            allowed.add(slug)
    if not allowed:
        raise PermissionDenied(f"{actor.label} may not ingest events into any project")
    return options, _ProjectScope(frozenset(allowed), refused)


@contextmanager
def bulk_allocation() -> Iterator[None]:
    """Ingest makes millions of short-lived objects with no reference cycles: collect the
    young generation far less often while it runs (refcounting frees them anyway)."""
    old = gc.get_threshold()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*old)


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


@bulk_allocation()
def ingest_inputs(store: Store, actor: Actor, inputs: Sequence[str], options: IngestOptions,
                  hooks: Hooks | None = None, *, stdin: Any = None) -> IngestSummary:
    """Ingest files (or `-` for stdin) in the order given. Returns the run's counts.

    Large files of stateless formats are parsed by worker processes (ingest/parallel.py).
    Needs `EVENTS_INGEST` on every project the events land in (see the module docstring).

    Raises:
        NotFound, PermissionDenied: `--project` (or an API key's own project) is refused;
            nothing was written. Records naming a refused project are rejected one by one.
    """
    from ..ingest import parallel

    options, check_project = _ingest_scope(store, actor, options)
    hooks = hooks or Hooks()
    files = _expand(inputs or ["-"])
    if files.count("-") > 1:
        raise InvalidInput("stdin (-) can be read only once")
    sizes = {f: Path(f).stat().st_size for f in files if f != "-"}
    if hooks.on_total is not None:
        hooks.on_total(sum(sizes.values()))
    # Workers stage their rows for the store to bulk-load, which leaves this process mostly
    # waiting: one worker per CPU (a strict run cannot stage, so it keeps a CPU for writing).
    workers = parallel.worker_count(options.workers, parent_busy=options.strict) if parallel.can_fork() else 0
    ingestor = Ingestor(store, lambda: load_pricer(store), options,
                        on_reject=hooks.on_reject, on_progress=hooks.on_progress, check_project=check_project)
    try:
        for name in files:
            if name == "-":
                stream = stdin if stdin is not None else sys.stdin.buffer
                ingestor.ingest_stream(stream, "<stdin>")
                continue
            fmt = parallel.parallel_format(name, options.fmt) if workers and sizes[name] >= \
                parallel.PARALLEL_MIN_BYTES else None
            if fmt is not None:
                parallel.ingest_file(ingestor, name, fmt, sizes[name], workers, hooks.on_progress)
            else:
                with open(name, "rb") as handle:
                    ingestor.ingest_stream(handle, name)
    except BaseException:
        ingestor.abort()
        raise
    return ingestor.finish()


@dataclass(frozen=True)
class _Planned:
    path: Path
    stat: os.stat_result
    start: int
    first_line: int
    state: dict[str, Any] | None


def _plan_imports(store: Store, agent: str, roots: Sequence[Path]) -> tuple[list[_Planned], int]:
    """Files with something new since their cursor, and how many have nothing new."""
    from ..ingest.agent_paths import iter_log_files

    cursors = store.get_cursors(agent)
    plan: list[_Planned] = []
    unchanged = 0
    for path in iter_log_files(roots):
        try:
            stat = path.stat()
        except OSError:
            continue  # vanished between listing and reading
        cursor = cursors.get(str(path))
        if cursor is not None and _same_file(cursor, stat):
            if stat.st_size == cursor.offset:
                unchanged += 1
                continue
            saved = cursor.state or {}
            plan.append(_Planned(path, stat, cursor.offset, int(saved.get("line", 0)) + 1, saved.get("parser")))
        else:
            plan.append(_Planned(path, stat, 0, 1, None))  # new, replaced or truncated: from the start
    return plan, unchanged


def _cursor(agent: str, item: _Planned, offset: int, state: dict[str, Any] | None, line: int) -> Cursor:
    return Cursor(agent, str(item.path), item.stat.st_dev, item.stat.st_ino, item.stat.st_size,
                  item.stat.st_mtime_ns, offset, {"parser": state, "line": line})


@bulk_allocation()
def import_agent_logs(store: Store, actor: Actor, agent: str, roots: Sequence[Path], options: IngestOptions,
                      hooks: Hooks | None = None) -> IngestSummary:
    """Read an agent's log folders, only what is new since the last import of each file.

    A file's cursor is its byte offset after the last complete line, the line number
    there, and the parser's session state; a file that was replaced or truncated is
    read again from the start (dedupe keys keep that from double counting). Many
    files are parsed by worker processes, one file per worker at a time.
    Needs `EVENTS_INGEST` like `ingest_inputs`; a record refused for its project is
    rejected, and (like every rejected line) not read again by later imports.
    """
    from ..ingest import parallel

    if agent not in AGENT_FORMATS:
        raise InvalidInput(f"unknown agent {agent!r}; choose {', '.join(AGENT_FORMATS)}")
    hooks = hooks or Hooks()
    options.fmt = agent
    options, check_project = _ingest_scope(store, actor, options)
    plan, unchanged = _plan_imports(store, agent, roots)
    total = sum(item.stat.st_size - item.start for item in plan)
    if hooks.on_total is not None:
        hooks.on_total(total)
    workers = parallel.worker_count(options.workers, parent_busy=False) if parallel.can_fork() else 0
    ingestor = Ingestor(store, lambda: load_pricer(store), options,
                        on_reject=hooks.on_reject, on_progress=hooks.on_progress, check_project=check_project)
    try:
        if workers and len(plan) > 1 and total >= parallel.PARALLEL_MIN_BYTES:
            _import_parallel(ingestor, agent, plan, workers, hooks)
        else:
            for item in plan:
                with open(item.path, "rb") as handle:
                    handle.seek(item.start)
                    ingestor.ingest_stream(
                        handle, str(item.path), start_offset=item.start, first_line=item.first_line,
                        state=item.state, cursor_for=partial(_cursor, agent, item),
                    )
    except BaseException:
        ingestor.abort()
        raise
    summary = ingestor.finish()
    summary.unchanged_files = unchanged
    return summary


def _import_parallel(ingestor: Ingestor, agent: str, plan: list[_Planned], workers: int, hooks: Hooks) -> None:
    from ..ingest import parallel

    by_path = {str(item.path): item for item in plan}
    waiting: list[Cursor] = []  # cursors of files whose rows travel with a later result

    def take(piece: parallel.Piece, result: Any) -> None:
        item = by_path[piece.path]
        ingestor.summary.files += 1
        sink = ingestor.reject_sink(piece.display)
        for line, reason, raw in result.rejections:
            sink(line, reason, raw)
        ingestor.add_counts(result.counts)
        # A cursor commits with the rows it covers, never before them.
        waiting.append(_cursor(agent, item, result.end_offset, result.state, result.lines))
        if not result.in_group:
            if result.staged is not None:
                ingestor.add_staged(result.staged, rows=result.staged_rows, nbytes=result.nbytes, cursors=waiting)
            else:
                ingestor.add_prepared(result.batch, nbytes=result.nbytes, cursors=waiting)
            waiting.clear()
        if hooks.on_progress is not None:
            hooks.on_progress(item.stat.st_size - item.start)

    pieces = [parallel.Piece(str(item.path), str(item.path), item.start, -1, agent, item.state,
                             stop_at_partial_line=True, first_line=item.first_line) for item in plan]
    parallel.run(ingestor, pieces, workers, take, stage=True)


def agent_log_roots(agent: str, given: Sequence[Path], setting: str) -> list[Path]:
    """The folders to import `agent`'s logs from: those given, else the configured or default ones.

    Raises:
        NotFound: a given folder does not exist, or no default folder does.
    """
    from ..ingest import agent_paths

    if given:
        roots = [path.expanduser() for path in given]
        missing = [str(path) for path in roots if not path.is_dir()]
        if missing:
            raise NotFound(f"no such folder: {missing[0]}")
        return roots
    if agent not in AGENT_FORMATS:
        raise InvalidInput(f"unknown agent {agent!r}; choose {', '.join(AGENT_FORMATS)}")
    roots = agent_paths.claude_code_roots(setting) if agent == "claude-code" else agent_paths.codex_roots(setting)
    if not roots:
        where = "~/.claude/projects" if agent == "claude-code" else "~/.codex/sessions"
        raise NotFound(f"no {agent} logs found (looked in {where})", hint="point at them with --path")
    return roots


def _same_file(cursor: Cursor, stat: os.stat_result) -> bool:
    # Same inode and not shorter than what we read: appended to, not replaced or truncated.
    return cursor.inode == stat.st_ino and cursor.device == stat.st_dev and stat.st_size >= cursor.offset
