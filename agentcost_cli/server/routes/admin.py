"""Operators and auditors: `/v1/users*`, `/v1/audit`, `/v1/pricing*`, `/v1/outbox`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from ...services import audit, outbox, pricing, users
from ..deps import ActorDep, StoreDep, UserDep
from ..paging import page

router = APIRouter()
Limit = Annotated[int, Query(ge=1, le=1000)]


class UserCreate(BaseModel):
    email: str = Field(max_length=254)
    name: str | None = Field(None, max_length=200)
    admin: bool = False
    verified: bool = Field(False, description="Mark the address verified (no verification email).")
    password: str | None = Field(None, min_length=8, max_length=256,
                                 description="Omitted: the user is invited by email.")


class UserUpdate(BaseModel):
    name: str | None = Field(None, max_length=200)
    admin: bool | None = None
    active: bool | None = None


@router.get("/v1/users", tags=["users"])
def list_users(actor: UserDep, store: StoreDep, limit: Limit = 100, cursor: str | None = None) -> dict[str, Any]:
    """Every account (server admins)."""
    return page(users.list_users(store, actor), cursor, limit)


@router.post("/v1/users", status_code=201, tags=["users"])
def create_user(body: UserCreate, actor: UserDep, store: StoreDep) -> dict[str, Any]:
    return users.create_user(store, actor, email=body.email, password=body.password, name=body.name,
                             admin=body.admin, verified=body.verified)


@router.get("/v1/users/{email}", tags=["users"])
def show_user(email: str, actor: UserDep, store: StoreDep) -> dict[str, Any]:
    return users.show_user(store, actor, email)


@router.patch("/v1/users/{email}", tags=["users"])
def update_user(email: str, body: UserUpdate, actor: UserDep, store: StoreDep) -> dict[str, Any]:
    """Change a name or the admin flag, or disable (`active: false`: sessions end, keys are revoked)."""
    result: dict[str, Any] = {}
    if body.name is not None or body.admin is not None:
        result = users.update_user(store, actor, email, name=body.name, admin=body.admin)
    if body.active is not None:
        result = {**result, **users.set_status(store, actor, email, active=body.active)}
    return result or users.show_user(store, actor, email)


@router.delete("/v1/users/{email}", status_code=204, response_class=Response, tags=["users"])
def delete_user(email: str, actor: UserDep, store: StoreDep) -> Response:
    users.delete_user(store, actor, email)
    return Response(status_code=204)


@router.get("/v1/audit", tags=["audit"])
def audit_log(actor: ActorDep, store: StoreDep, project: str | None = None, since: str | None = None,
              until: str | None = None, action: str | None = None, limit: Limit = 100,
              cursor: str | None = None) -> dict[str, Any]:
    """Audit records, newest first. The cursor is the id of the last record of the previous page."""
    before = int(cursor) if cursor and cursor.isdigit() else None
    rows = audit.list_records(store, actor, project=project, since=since, until=until, action=action,
                              limit=limit + 1, before_id=before)
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": rows, "next_cursor": str(rows[-1]["id"]) if more and rows else None}


@router.get("/v1/pricing/models", tags=["pricing"])
def pricing_models(actor: ActorDep, store: StoreDep, search: str | None = None, provider: str | None = None,
                   limit: Limit = 100, cursor: str | None = None) -> dict[str, Any]:
    """The price catalog (USD per million tokens), searchable."""
    return page([asdict(r) for r in pricing.list_models(store, actor, search=search, provider=provider)],
                cursor, limit)


@router.get("/v1/outbox", tags=["outbox"])
def outbox_list(actor: UserDep, store: StoreDep, status: str | None = None, limit: Limit = 100) -> dict[str, Any]:
    return {"items": outbox.list_messages(store, actor, status=status, limit=limit), "next_cursor": None}
