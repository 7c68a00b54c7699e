"""`agentcost ingest` in remote mode: the files are read and parsed here, exactly as for a local
ingest (same formats, same detection, same file:line rejections), and the events are sent to
the daemon's `POST /v1/events` in batches, each event with its dedupe key as its id, so a
re-run (or a retried batch) is answered `duplicate` and counts nothing twice. The daemon
prices them and applies the signed-in user's permissions.

With `--strict` nothing is sent until every input has parsed cleanly; a batch the daemon
partly rejects cannot be taken back, which the summary says.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ..errors import IngestRejected, InvalidInput
from ..ingest.pipeline import IngestOptions, Ingestor, IngestSummary, Rejection
from ..models import PricedEvent, UsageEvent

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

    def __init__(self, session: RemoteSession, options: IngestOptions, hooks: Hooks) -> None:
        self.session = session
        self.strict = options.strict
        self._held: list[dict[str, Any]] = []  # --strict: everything, sent at the end
        # Agent logs repeat a message as it streams, each copy larger: keep the largest per key
        # over the whole run and send those at the end (the daemon keeps the first copy it gets).
        self._largest: dict[tuple[str, str], PricedEvent] = {}
        super().__init__(cast("Store", None), _Unpriced, _relaxed(options), on_reject=hooks.on_reject,
                         on_progress=hooks.on_progress)

    def flush(self) -> None:
        documents = []
        for priced in self._pending:
            if priced.replace_if_larger:
                key = (priced.project, priced.dedupe_key)
                kept = self._largest.get(key)
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
        for item in answer.get("successes", []):
            if item["status"] == "created":
                self.summary.added += 1
            else:
                self.summary.duplicates += 1
        for error in answer.get("errors", []):
            self.summary.rejected += 1
            if self._on_reject is not None:
                self._on_reject(Rejection(self.session.server, 0, f"event {error.get('id')}: {error.get('detail')}",
                                          None))


def _relaxed(options: IngestOptions) -> IngestOptions:
    from dataclasses import replace

    # The base class would open a store transaction for --strict; the Uploader holds events instead.
    return replace(options, strict=False, batch_size=min(options.batch_size, 5 * MAX_EVENTS))


def _native(priced: PricedEvent) -> dict[str, Any]:
    document = priced.event.to_native()
    document["id"] = priced.dedupe_key
    document["project"] = priced.project
    return document


def upload_inputs(session: RemoteSession, inputs: Sequence[str], options: IngestOptions, hooks: Hooks,
                  *, stdin: Any = None) -> IngestSummary:
    """The remote counterpart of services.ingest.ingest_inputs (same inputs, same summary)."""
    from ..services.ingest import _expand

    files = _expand(inputs or ["-"])
    if files.count("-") > 1:
        raise InvalidInput("stdin (-) can be read only once")
    if hooks.on_total is not None:
        hooks.on_total(sum(Path(f).stat().st_size for f in files if f != "-"))
    uploader = Uploader(session, options, hooks)
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
