"""`agentcost ingest` and `agentcost import claude-code|codex` in remote mode: the files are read
and parsed here, exactly as for a local ingest (same formats, same detection, same file:line
rejections), and the events are sent to the daemon's `POST /v1/events` in batches, each event
with its dedupe key as its id, so a re-run (or a retried batch) is answered `duplicate` and
counts nothing twice. The daemon prices them and applies the signed-in user's permissions.

Before reading, the user's projects and roles (`GET /v1/me`) go through the same scope check
a local run makes (services.ingest), so a refused `--project` stops the run before anything is
read, and a record naming a project the user may not write to is rejected with its file and
line, in the same words as locally. The daemon checks again; this only makes the answers alike.

With `--strict` nothing is sent until every input has parsed cleanly; a batch the daemon
partly rejects cannot be taken back, which the summary says.

Imports are incremental as locally, but their per-file cursors stay on this machine
(`CursorBook`: one JSON file per profile under the data folder, per server and agent), and a
file's cursor is saved only after the daemon acknowledged every event read up to it: a run
that fails part way sends the same events again next time, which the daemon answers
`duplicate`. One difference remains: the daemon keeps the first copy of an event it stores,
so a Claude Code reply that was still streaming when an import ran keeps the tokens of that
copy (a local import replaces it with the larger copy the next run reads).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ..errors import IngestRejected, InvalidInput
from ..ingest.pipeline import IngestOptions, Ingestor, IngestSummary, ProjectCheck, Rejection
from ..models import PricedEvent, UsageEvent
from ..store.base import Cursor

if TYPE_CHECKING:
    from ..services.ingest import Hooks
    from ..store.base import Store
    from .session import RemoteSession

MAX_EVENTS = 1000
MAX_BYTES = 900_000  # under the daemon's 1 MB default, with room for the envelope


class _Unpriced:
    """The daemon prices what it stores: here an event only needs its project and dedupe key."""

    def price(self, event: UsageEvent, project: str) -> PricedEvent:
        return PricedEvent(event, project, event.dedupe_key(), None, "unpriced", None, event.provider or "",
                           event.model)


class Uploader(Ingestor):
    """An Ingestor whose writes are HTTP batches instead of store transactions."""

    def __init__(self, session: RemoteSession, options: IngestOptions, hooks: Hooks,
                 check_project: ProjectCheck | None = None) -> None:
        self.session = session
        self.strict = options.strict
        self._held: list[dict[str, Any]] = []  # --strict: everything, sent at the end
        # Agent logs repeat a message as it streams, each copy larger: keep the largest per key
        # over the whole run and send those at the end (the daemon keeps the first copy it gets).
        self._largest: dict[tuple[str, str], PricedEvent] = {}
        self._priced: dict[tuple[str, str], bool] = {}  # (provider, model) -> the daemon has a price for it
        super().__init__(cast("Store", None), _Unpriced, _relaxed(options), on_reject=hooks.on_reject,
                         on_progress=hooks.on_progress, check_project=check_project)

    @property
    def cursors(self) -> list[Cursor]:
        """Each imported file's cursor at the end of the run (an import's `cursor_for` sets them)."""
        return list(self._pending_cursors.values())

    def flush(self) -> None:
        documents = []
        for priced in self._pending:
            if priced.replace_if_larger:
                key = (priced.project, priced.dedupe_key)
                kept = self._largest.get(key)
                if kept is not None:
                    self.summary.duplicates += 1  # a store counts every copy after the first so
                if kept is None or priced.total_tokens > kept.total_tokens:
                    self._largest[key] = priced
            else:
                documents.append(_native(priced))
        self._pending = []
        self._pending_count = self._pending_bytes = 0
        if self.strict:
            self._held.extend(documents)
            return
        self._send(documents)

    def finish(self) -> IngestSummary:
        self.flush()
        largest = [_native(p) for p in self._largest.values()]
        self._largest = {}
        if self.strict:
            self._held.extend(largest)
        else:
            self._send(largest)
        if self.strict:
            if self.summary.rejected:
                raise IngestRejected(f"{self.summary.rejected} record(s) rejected; nothing was sent (--strict)")
            held, self._held = self._held, []
            self._send(held)
        return self.summary

    def abort(self) -> None:
        self._pending, self._held, self._largest = [], [], {}

    def _send(self, documents: list[dict[str, Any]]) -> None:
        import orjson

        batch: list[dict[str, Any]] = []
        size = 0
        for document in documents:
            length = len(orjson.dumps(document)) + 1
            if batch and (len(batch) >= MAX_EVENTS or size + length > MAX_BYTES):
                self._post(batch)
                batch, size = [], 0
            batch.append(document)
            size += length
        if batch:
            self._post(batch)

    def _post(self, batch: list[dict[str, Any]]) -> None:
        from ..errors import InvalidInput as Refused

        try:
            answer = self.session.request("POST", "/v1/events", json={"events": batch}).json()
        except Refused as exc:  # every event of the batch refused (422): the problem lists why
            answer = {"successes": [], "errors": getattr(exc, "errors", None) or [
                {"id": d.get("id"), "detail": exc.message} for d in batch]}
        sent = {d.get("id"): d for d in batch}
        for item in answer.get("successes", []):
            if item["status"] == "created":
                self.summary.added += 1
                self.summary.unpriced += self._unpriced(sent.get(item["id"]) or {})
            else:
                self.summary.duplicates += 1
        for error in answer.get("errors", []):
            self.summary.rejected += 1
            if self._on_reject is not None:
                self._on_reject(Rejection(self.session.server, 0, f"event {error.get('id')}: {error.get('detail')}",
                                          None))


    def _unpriced(self, document: dict[str, Any]) -> bool:
        """Whether the daemon stored this event without a cost, as a local summary counts it: no
        reported cost, and a model the daemon has no price for (asked once per model and run,
        `GET /v1/pricing/models/{model}`; the answer does not say it)."""
        if document.get("reported_cost_usd") is not None:
            return False
        key = (str(document.get("provider") or ""), str(document.get("model") or ""))
        if key not in self._priced:
            from urllib.parse import quote

            from ..errors import NotFound

            try:
                self.session.request("GET", "/v1/pricing/models/" + quote(key[1], safe=""),
                                     params={"provider": key[0]} if key[0] else None)
                self._priced[key] = True
            except NotFound:
                self._priced[key] = False
        return not self._priced[key]


def _relaxed(options: IngestOptions) -> IngestOptions:
    from dataclasses import replace

    # The base class would open a store transaction for --strict; the Uploader holds events instead.
    return replace(options, strict=False, batch_size=min(options.batch_size, 5 * MAX_EVENTS))


def _native(priced: PricedEvent) -> dict[str, Any]:
    document = priced.event.to_native()
    document["id"] = priced.dedupe_key
    document["project"] = priced.project
    return document


class _Memberships:
    """The signed-in user's projects and roles (`GET /v1/me`), shaped as the little of a Store
    that the ingest scope check reads. Project ids are made up here: they only tie the two
    lookups together."""

    def __init__(self, me: dict[str, Any]) -> None:
        self.user_id = int(me["id"])
        self._roles = dict(me.get("projects") or {})
        self._ids = {slug: index for index, slug in enumerate(sorted(self._roles), start=1)}

    def get_project(self, slug: str) -> dict[str, Any] | None:
        return {"id": self._ids[slug], "slug": slug} if slug in self._ids else None

    def get_project_by_id(self, project_id: int) -> dict[str, Any] | None:
        return next(({"id": i, "slug": s} for s, i in self._ids.items() if i == project_id), None)

    def memberships(self, user_id: int) -> dict[int, str]:
        return {self._ids[slug]: role for slug, role in self._roles.items()} if user_id == self.user_id else {}


def _scope(session: RemoteSession, options: IngestOptions) -> tuple[IngestOptions, ProjectCheck | None]:
    """The options and project check a local run by the signed-in user would have.

    Raises:
        NotFound, PermissionDenied: as locally, before anything is read or sent.
    """
    from ..services.actor import user_actor
    from ..services.ingest import _ingest_scope

    me = session.me()
    view = _Memberships(me)
    actor = user_actor({"id": view.user_id, "email": me["email"], "is_admin": me.get("is_admin", False)})
    return _ingest_scope(cast("Store", view), actor, options)


def upload_inputs(session: RemoteSession, inputs: Sequence[str], options: IngestOptions, hooks: Hooks,
                  *, stdin: Any = None) -> IngestSummary:
    """The remote counterpart of services.ingest.ingest_inputs (same inputs, same summary)."""
    from ..services.ingest import _expand

    files = _expand(inputs or ["-"])
    if files.count("-") > 1:
        raise InvalidInput("stdin (-) can be read only once")
    options, check_project = _scope(session, options)
    if hooks.on_total is not None:
        hooks.on_total(sum(Path(f).stat().st_size for f in files if f != "-"))
    uploader = Uploader(session, options, hooks, check_project)
    try:
        for name in files:
            if name == "-":
                uploader.ingest_stream(stdin if stdin is not None else sys.stdin.buffer, "<stdin>")
            else:
                with open(name, "rb") as handle:
                    uploader.ingest_stream(handle, name)
    except BaseException:
        uploader.abort()
        raise
    return uploader.finish()


# -- imports: the per-file cursors, kept on this machine ------------------------------------------

class CursorBook:
    """Import cursors for one (profile, server), in `<data dir>/imports/<profile>.json`:
    `{"version": 1, "servers": {server: {agent: {path: cursor}}}}`. Written whole to a
    temporary file and renamed over the old one (0600), under an exclusive lock, so a crash
    leaves the previous cursors and two imports at once both keep theirs."""

    VERSION = 1

    def __init__(self, path: Path, server: str) -> None:
        self.path = path
        self.server = server

    @classmethod
    def for_session(cls, session: RemoteSession) -> CursorBook:
        from .. import paths

        return cls(paths.data_dir() / "imports" / f"{session.profile}.json", session.server)

    def _read(self) -> dict[str, Any]:
        import orjson

        try:
            document = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, orjson.JSONDecodeError):
            return {}  # unreadable: every file is read again, and the daemon answers `duplicate`
        if not isinstance(document, dict) or document.get("version") != self.VERSION:
            return {}
        return document

    def load(self, agent: str) -> dict[str, Cursor]:
        saved = self._read().get("servers", {}).get(self.server, {}).get(agent, {})
        out: dict[str, Cursor] = {}
        for path, fields in saved.items() if isinstance(saved, dict) else ():
            try:
                out[path] = Cursor(**fields)
            except TypeError:
                continue
        return out

    def save(self, agent: str, cursors: Sequence[Cursor]) -> None:
        import orjson

        from ..auth.credentials import exclusive_lock

        if not cursors:
            return
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with exclusive_lock(self.path.with_name(self.path.name + ".lock")):
            document = self._read() or {"version": self.VERSION}
            document["version"] = self.VERSION
            servers = document.setdefault("servers", {})
            files = servers.setdefault(self.server, {}).setdefault(agent, {})
            for cursor in cursors:
                files[cursor.path] = asdict(cursor)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(orjson.dumps(document))
                handle.flush()
                os.fsync(handle.fileno())
            tmp.replace(self.path)


class _SavedCursors:
    """The CursorBook's cursors for one agent, where services.ingest plans an import from a store's."""

    def __init__(self, cursors: dict[str, Cursor]) -> None:
        self._cursors = cursors

    def get_cursors(self, source: str) -> dict[str, Cursor]:
        return self._cursors


def upload_agent_logs(session: RemoteSession, agent: str, roots: Sequence[Path], options: IngestOptions,
                      hooks: Hooks, *, book: CursorBook | None = None) -> IngestSummary:
    """The remote counterpart of services.ingest.import_agent_logs: the same files, the same
    planning from per-file cursors (kept in `book`), the same summary."""
    from ..services.ingest import AGENT_FORMATS, _cursor, _plan_imports

    if agent not in AGENT_FORMATS:
        raise InvalidInput(f"unknown agent {agent!r}; choose {', '.join(AGENT_FORMATS)}")
    options, check_project = _scope(session, replace(options, fmt=agent))
    book = book or CursorBook.for_session(session)
    plan, unchanged = _plan_imports(cast("Store", _SavedCursors(book.load(agent))), agent, roots)
    if hooks.on_total is not None:
        hooks.on_total(sum(item.stat.st_size - item.start for item in plan))
    uploader = Uploader(session, options, hooks, check_project)
    try:
        for item in plan:
            with open(item.path, "rb") as handle:
                handle.seek(item.start)
                uploader.ingest_stream(handle, str(item.path), start_offset=item.start, first_line=item.first_line,
                                       state=item.state, cursor_for=partial(_cursor, agent, item))
    except BaseException:
        uploader.abort()
        raise
    summary = uploader.finish()
    book.save(agent, uploader.cursors)  # only now: every event they cover has been acknowledged
    summary.unchanged_files = unchanged
    return summary
