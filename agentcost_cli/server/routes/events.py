"""`POST /v1/events`: usage in, per-item results out (API-03..06)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from ...errors import AuthError
from ..deps import ActorDep, runs_inline
from ..ingest_pool import batch_items
from ..problems import problem
from ..schemas import EVENT_EXAMPLE, BatchAnswer

CLIENT_CLOSED_REQUEST = 499
router = APIRouter(prefix="/v1", tags=["events"])

_BODY_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {
            "schema": {"oneOf": [
                {"$ref": "#/components/schemas/NativeEvent"},
                {"type": "object", "required": ["events"], "properties": {
                    "events": {"type": "array", "items": {"$ref": "#/components/schemas/NativeEvent"},
                               "maxItems": 1000}}},
            ]},
            "examples": {
                "batch": {"summary": "A batch", "value": {"events": [EVENT_EXAMPLE]}},
                "single": {"summary": "One event", "value": EVENT_EXAMPLE},
            },
        }},
    },
}


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None when it exceeds `limit` bytes (checked as it streams in)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _errors_for(result: Any, item: Any) -> list[dict[str, Any]]:
    """Every problem of a rejected native event, each with its JSON pointer (API-02): the parser
    stops at the first, so the schema is asked for the full list."""
    base = {"id": result.id, "index": result.index, "status": 422}
    if isinstance(item, dict):
        from pydantic import ValidationError

        from ..schemas import NativeEvent

        try:
            NativeEvent.model_validate(item)
        except ValidationError as exc:
            found = [{**base, "detail": f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}",
                      "pointer": f"/events/{result.index}/" + "/".join(str(p) for p in e["loc"])}
                     for e in exc.errors()]
            if found:
                return found
    return [{**base, "detail": result.detail, "pointer": result.pointer}]


async def _ingest(request: Request, actor: Any, fmt: str) -> Response:
    config = request.app.state.config
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type not in ("application/json", ""):
        return problem("unsupported-media-type", f"send application/json, not {content_type}")
    try:
        body = await _read_body(request, config.max_body_bytes)
    except ClientDisconnect:  # nobody to answer; logged as nginx's 499, not as a server error
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    if body is None:
        return problem("payload-too-large", f"the body exceeds {config.max_body_bytes:,} bytes; send smaller batches")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return problem("malformed-json", f"the body is not valid JSON: {exc}")
    items = batch_items(document)
    if items is None:
        return problem("validation-error", "send one event object or {\"events\": [...]}",
                       errors=[{"detail": "expected an object", "pointer": ""}])
    if len(items) > config.max_batch_events:
        return problem("payload-too-large", f"{len(items):,} events in one batch; the limit is "
                       f"{config.max_batch_events:,}")
    if not items:
        return JSONResponse({"successes": [], "errors": []})
    project = request.query_params.get("project") or None

    def prepare() -> Any:
        from ...services.usage import prepare_events

        limiter = request.app.state.limiter
        if limiter is not None:
            limiter.charge_events(request, actor, len(items))
        return prepare_events(request.app.state.stores.get(), actor, items, fmt=fmt, project=project)

    # Validation and pricing are pure Python: on a pool thread they would still hold the GIL, so
    # when they need only local lookups (deps.runs_inline) they run right here and save the
    # hand-off (measured: +15% events/s at batches of 100). The write joins other requests' commit.
    inline = runs_inline(request)
    pool = request.app.state.ingest_pool
    if pool is not None and len(items) >= pool.min_events and pool.running:
        prepared = await _prepare_pooled(request, actor, pool, body, len(items), fmt, project, inline)
    else:
        prepared = prepare() if inline else await run_in_threadpool(prepare)
    result = await request.app.state.writer.submit(prepared)
    scheduler = request.app.state.scheduler
    if scheduler is not None and result.count("created"):
        scheduler.nudge("alerts.evaluate")  # budgets and rules see the new spend within seconds
    metrics = request.app.state.metrics
    if metrics is not None:
        metrics.events(project or "-", result.count("created"), result.count("duplicate"), result.count("rejected"))
    successes = [{"id": r.id, "status": r.status} for r in result.items if r.status != "rejected"]
    errors = [error for r in result.items if r.status == "rejected"
              for error in _errors_for(r, items[r.index] if fmt == "native" else None)]
    if errors and not successes:
        return problem("validation-error", f"all {len(errors)} event(s) were rejected", errors=errors)
    return Response(orjson.dumps({"successes": successes, "errors": errors}), status_code=207 if errors else 200,
                    media_type="application/json")


async def _prepare_pooled(request: Request, actor: Any, pool: Any, body: bytes, count: int, fmt: str,
                          project: str | None, inline: bool) -> Any:
    """A large batch validated and priced by a worker process (server/ingest_pool.py), with the
    scope, the time and the pricing revision decided here, as `prepare_events` decides them."""

    def scope() -> tuple[Any, Any, str, int | None]:
        from ...services import clock
        from ...services.usage import current_pricer, ingest_scope

        limiter = request.app.state.limiter
        if limiter is not None:
            limiter.charge_events(request, actor, count)
        store = request.app.state.stores.get()
        options, check = ingest_scope(store, actor, fmt, project)
        return options, check, clock.now_text(), current_pricer(store).revision

    options, check, received, revision = scope() if inline else await run_in_threadpool(scope)
    return await pool.prepare(body, fmt, options, check, received, revision)


@router.post("/events", response_model=BatchAnswer, openapi_extra=_BODY_SCHEMA, responses={
    207: {"model": BatchAnswer, "description": "Some events were rejected; the others are stored."},
    413: {"description": "More than the batch limit (1,000 events or 1 MB by default)."},
    422: {"description": "Every event was rejected (`errors` lists why)."},
})
async def post_events(request: Request, actor: ActorDep) -> Response:
    """Record usage events (native schema, docs/events.md), one or a batch.

    Each event must carry a client `id`: sending the same id again (a retry) is answered
    `duplicate` and stores nothing. The answer comes only after the events are committed.
    Authenticate with a project API key with the `ingest` scope (or a member's access token).
    """
    if actor is None:  # pragma: no cover - the dependency raises first
        raise AuthError("credentials required")
    return await _ingest(request, actor, "native")


@router.post("/events/{fmt}", response_model=BatchAnswer, responses={
    207: {"model": BatchAnswer, "description": "Some responses were rejected; the others are stored."},
})
async def post_provider_events(fmt: str, request: Request, actor: ActorDep) -> Response:
    """Record provider responses as they came back from the API: `openai` (Chat Completions,
    Responses), `anthropic` (Messages) or `gemini` (generateContent), one or `{"events": [...]}`.
    The response's own id deduplicates; `?project=` chooses the project (default: the key's)."""
    return await _ingest(request, actor, fmt)
