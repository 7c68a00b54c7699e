"""Reading usage: `/v1/report` (the JSON of `agentcost report --json`), the streamed export, and the
event browser (`/v1/events` pages, newest first, and one event with its price breakdown)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from ...errors import InvalidInput
from ...services.export import EXPORT_COLUMNS, export_rows
from ...services.reports import ReportRequest, build_report, parse_group_by, parse_tags
from ...store.base import EventFilter
from ...timeutil import format_utc, resolve_zone, time_range
from ..deps import ActorDep, StoreDep
from ..schemas_events import EventDetail, EventPage

router = APIRouter(tags=["usage"])
Many = Annotated[list[str] | None, Query()]
Tags = Annotated[list[str] | None, Query(description="NAME=VALUE (repeatable; all must match).")]
NOT_FOUND = {"description": "No such event, or one of a project you may not read (`/problems/not-found`)."}


def _split(values: list[str] | None) -> tuple[str, ...]:
    return tuple(v.strip() for value in values or [] for v in value.split(",") if v.strip())


def _range(since: str | None, until: str | None, tz: str) -> tuple[Any, Any, Any, str]:
    zone = resolve_zone(tz)
    start, end = time_range(since, until, zone)
    try:  # out of range in UTC (year 1 with an offset ahead of it) fails here, not later
        for moment in (start, end):
            if moment is not None:
                format_utc(moment)
    except (OverflowError, ValueError):
        raise InvalidInput("since/until is out of range") from None
    return zone, start, end, getattr(zone, "key", None) or tz


def _filter(since: str | None, until: str | None, tz: str, project: list[str] | None, provider: list[str] | None,
            model: list[str] | None, key: list[str] | None, user: list[str] | None,
            tag: list[str] | None) -> EventFilter:
    _, start, end, _ = _range(since, until, tz)
    return EventFilter(since=format_utc(start) if start else None, until=format_utc(end) if end else None,
                       projects=_split(project), providers=tuple(p.lower() for p in _split(provider)),
                       models=_split(model), keys=_split(key), users=_split(user), tags=parse_tags(tag))


@router.get("/v1/report")
def report(actor: ActorDep, store: StoreDep, by: str = "day", since: str | None = None, until: str | None = None,
           tz: str = "UTC", project: Many = None, provider: Many = None, model: Many = None, key: Many = None,
           user: Many = None, tag: Tags = None) -> dict[str, Any]:
    """Cost and tokens per group: the same document as `agentcost report --json`, over the projects
    the caller may read. `by`: day, week, month, project, provider, model, key, user, agent, session
    (comma-separated); `since`/`until`: RFC 3339, a date, today, 7d...; `tz`: an IANA zone;
    `key`/`user`: the events' key id and user; `tag`: NAME=VALUE."""
    zone, start, end, label = _range(since, until, tz)
    request = ReportRequest(group_by=parse_group_by(by), since=start, until=end, zone=zone, zone_name=label,
                            projects=_split(project), providers=tuple(p.lower() for p in _split(provider)),
                            models=_split(model), keys=_split(key), users=_split(user), tags=parse_tags(tag))
    return build_report(store, actor, request).as_json()


@router.get("/v1/events", response_model=EventPage)
def list_events(actor: ActorDep, store: StoreDep, since: str | None = None, until: str | None = None,
                tz: str = "UTC", project: Many = None, provider: Many = None, model: Many = None,
                key: Many = None, user: Many = None, tag: Tags = None,
                search: Annotated[str | None, Query(max_length=200, description="A case-insensitive substring of "
                                                    "model, session, user, agent, event id or key id.")] = None,
                limit: Annotated[int, Query(ge=1, le=500)] = 100,
                cursor: Annotated[str | None, Query(max_length=200)] = None) -> dict[str, Any]:
    """Stored events, newest first, a page at a time (`agentcost events list --json`): pass the
    answer's `next_cursor` as `cursor` for the next, older page. Filters as `/v1/report`'s."""
    from ...services.events import list_events as list_page

    flt = _filter(since, until, tz, project, provider, model, key, user, tag)
    return list_page(store, actor, flt, limit=limit, cursor=cursor, search=search)


@router.get("/v1/events/{project}/{event_id}", response_model=EventDetail, responses={404: NOT_FOUND})
def show_event(project: str, event_id: str, actor: ActorDep, store: StoreDep) -> dict[str, Any]:
    """One event (`id` as `/v1/events` lists it) with what its tokens cost at the prices in force now,
    component by component, and whether that equals the stored cost (`agentcost events show --json`)."""
    from ...services.events import show_event as show

    return show(store, actor, project, event_id)


@router.get("/v1/export/events", response_class=StreamingResponse, responses={
    200: {"content": {"text/csv": {}, "application/x-ndjson": {}}, "description": "The events, streamed."}})
def export_events(actor: ActorDep, store: StoreDep, format: str = "csv", since: str | None = None,
                  until: str | None = None, tz: str = "UTC", project: Many = None, provider: Many = None,
                  model: Many = None, key: Many = None, user: Many = None, tag: Tags = None) -> StreamingResponse:
    """Every event in time order as CSV (the columns of `agentcost export events --csv`) or JSON
    Lines (`format=jsonl`), streamed. Audited."""
    if format not in ("csv", "jsonl"):
        raise InvalidInput("format must be csv or jsonl")
    flt = _filter(since, until, tz, project, provider, model, key, user, tag)
    rows = export_rows(store, actor, flt)
    if format == "csv":
        from ...formats import csv_chunks

        return StreamingResponse(csv_chunks(EXPORT_COLUMNS, rows), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": 'attachment; filename="events.csv"'})

    def lines() -> Iterator[bytes]:
        for row in rows:
            yield orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE)

    return StreamingResponse(lines(), media_type="application/x-ndjson")
