"""Liveness, readiness and the error-type pages."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ... import __version__
from ...errors import NotFound
from ..problems import PROBLEM_TYPES

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up (no store access)."""
    return {"status": "ok", "version": __version__}


@router.get("/readyz", responses={503: {"description": "The store is unreachable or needs migrating."}})
def readyz(request: Request) -> JSONResponse:
    """The store answers and its migrations are current."""
    try:
        status = request.app.state.stores.get().migration_status()
    except Exception as exc:
        return JSONResponse({"status": "unavailable", "detail": f"store: {type(exc).__name__}"}, status_code=503)
    if status.pending:
        return JSONResponse({"status": "unavailable", "detail": f"pending migrations: {', '.join(status.pending)}"},
                            status_code=503)
    return JSONResponse({"status": "ready", "migrations": len(status.applied)})


@router.get("/problems/{slug}", tags=["errors"])
def problem_type(slug: str) -> dict[str, Any]:
    """What an error `type` means."""
    if slug not in PROBLEM_TYPES:
        raise NotFound(f"no problem type {slug!r}")
    status, title, meaning = PROBLEM_TYPES[slug]
    return {"type": f"/problems/{slug}", "status": status, "title": title, "description": meaning}
