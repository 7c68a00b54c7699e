"""Operators and auditors: `/v1/users*`, `/v1/audit`, `/v1/outbox*`, and `/v1/pricing*` (its own
module, routes/pricing.py, included here)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from ...errors import InvalidInput
from ...services import audit, outbox, users
from ..deps import ActorDep, StoreDep, UserDep
from ..paging import decode, page
from ..schemas import OutboxMessageBody, OutboxPage
from . import pricing as pricing_routes

router = APIRouter()
router.include_router(pricing_routes.router)
Limit = Annotated[int, Query(ge=1, le=1000)]
MessageId = Annotated[int, Path(ge=1, le=2**63 - 1)]
MAX_OFFSET = 10_000_000  # an outbox cursor is a position: none is ever this far


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


@router.get("/v1/outbox", tags=["outbox"], response_model=OutboxPage)
def outbox_list(actor: UserDep, store: StoreDep, status: str | None = None, limit: Limit = 100,
                cursor: str | None = None) -> dict[str, Any]:
    """Queued and sent messages, newest first, without their bodies (server admins)."""
    start = decode(cursor)
    if start > MAX_OFFSET:
        raise InvalidInput("invalid cursor", hint="pass the next_cursor of the previous page as it was")
    return page(outbox.list_messages(store, actor, status=status, limit=start + limit + 1), cursor, limit)


@router.get("/v1/outbox/{message_id}", tags=["outbox"], response_model=OutboxMessageBody,
            responses={404: {"description": "No such message (`/problems/not-found`)."}})
def outbox_show(message_id: MessageId, actor: UserDep, store: StoreDep) -> dict[str, Any]:
    """One message with its rendered body, which may hold a live sign-in or reset link (server admins)."""
    return outbox.show_message(store, actor, message_id)
