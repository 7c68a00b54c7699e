"""Reading usage: `/v1/report` (the JSON of `agentcost report --json`) and the streamed export."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from ...errors import InvalidInput
from ...services.export import EXPORT_COLUMNS, export_rows
from ...services.reports import ReportRequest, build_report, parse_group_by
from ...store.base import EventFilter
from ...timeutil import format_utc, resolve_zone, time_range
from ..deps import ActorDep, StoreDep

router = APIRouter(tags=["usage"])
Many = Annotated[list[str] | None, Query()]


def _split(values: list[str] | None) -> tuple[str, ...]:
    return tuple(v.strip() for value in values or [] for v in value.split(",") if v.strip())


def _range(since: str | None, until: str | None, tz: str) -> tuple[Any, Any, Any, str]:
    zone = resolve_zone(tz)
    start, end = time_range(since, until, zone)
    return zone, start, end, getattr(zone, "key", None) or tz


@router.get("/v1/report")
def report(actor: ActorDep, store: StoreDep, by: str = "day", since: str | None = None, until: str | None = None,
           tz: str = "UTC", project: Many = None, provider: Many = None, model: Many = None) -> dict[str, Any]:
    """Cost and tokens per group: the same document as `agentcost report --json`, over the projects
    the caller may read. `by`: day, week, month, project, provider, model, key, user, agent, session
    (comma-separated); `since`/`until`: RFC 3339, a date, today, 7d...; `tz`: an IANA zone."""
    zone, start, end, label = _range(since, until, tz)
    request = ReportRequest(group_by=parse_group_by(by), since=start, until=end, zone=zone, zone_name=label,
                            projects=_split(project), providers=tuple(p.lower() for p in _split(provider)),
                            models=_split(model))
    return build_report(store, actor, request).as_json()


@router.get("/v1/export/events", response_class=StreamingResponse, responses={
    200: {"content": {"text/csv": {}, "application/x-ndjson": {}}, "description": "The events, streamed."}})
def export_events(actor: ActorDep, store: StoreDep, format: str = "csv", since: str | None = None,
                  until: str | None = None, tz: str = "UTC", project: Many = None, provider: Many = None,
                  model: Many = None) -> StreamingResponse:
    """Every event in time order as CSV (the columns of `agentcost export events --csv`) or JSON
    Lines (`format=jsonl`), streamed. Audited."""
    if format not in ("csv", "jsonl"):
        raise InvalidInput("format must be csv or jsonl")
    _, start, end, _ = _range(since, until, tz)
    flt = EventFilter(since=format_utc(start) if start else None, until=format_utc(end) if end else None,
                      projects=_split(project), providers=tuple(p.lower() for p in _split(provider)),
                      models=_split(model))
    rows = export_rows(store, actor, flt)
    if format == "csv":
        from ...formats import csv_chunks

        return StreamingResponse(csv_chunks(EXPORT_COLUMNS, rows), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": 'attachment; filename="events.csv"'})

    def lines() -> Iterator[bytes]:
        for row in rows:
            yield orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE)

    return StreamingResponse(lines(), media_type="application/x-ndjson")
