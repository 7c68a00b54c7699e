"""Projects, members and keys: `/v1/projects*`, `/v1/keys*`."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from ...errors import InvalidInput
from ...services import keys, projects
from ...timeutil import normalize_timestamp, parse_utc
from ..deps import ActorDep, StoreDep
from ..paging import page
from ..schemas import KeyCreate, KeyRotate, MemberRole, ProjectCreate, ProjectUpdate, Transfer

router = APIRouter(tags=["projects"])
Limit = Annotated[int, Query(ge=1, le=1000)]


@router.get("/v1/projects")
def list_projects(actor: ActorDep, store: StoreDep, limit: Limit = 100, cursor: str | None = None) -> dict[str, Any]:
    """The projects the caller may see (and no others)."""
    return page(projects.list_projects(store, actor), cursor, limit)


@router.post("/v1/projects", status_code=201)
def create_project(body: ProjectCreate, actor: ActorDep, store: StoreDep) -> dict[str, Any]:
    """Create a project; the signed-in user who creates it owns it."""
    return projects.create_project(store, actor, body.slug, name=body.name)


@router.get("/v1/projects/{slug}")
def show_project(slug: str, actor: ActorDep, store: StoreDep) -> dict[str, Any]:
    return projects.show_project(store, actor, slug)


@router.patch("/v1/projects/{slug}")
def update_project(slug: str, body: ProjectUpdate, actor: ActorDep, store: StoreDep) -> dict[str, Any]:
    """Rename the project, and/or set where its API keys may be used from."""
    result: dict[str, Any] = {}
    if body.slug or body.name:
        result = projects.rename_project(store, actor, slug, new_slug=body.slug, name=body.name)
        slug = result["slug"]
    if body.allowed_networks is not None:
        result = projects.set_allowed_networks(store, actor, slug, body.allowed_networks)
    return result or projects.show_project(store, actor, slug)


@router.delete("/v1/projects/{slug}")
def delete_project(slug: str, actor: ActorDep, store: StoreDep) -> dict[str, Any]:
    """Delete the project with its events, keys and memberships (owners only)."""
    return {"project": slug, "events_deleted": projects.delete_project(store, actor, slug)}


@router.put("/v1/projects/{slug}/members/{email}")
def share_project(slug: str, email: str, body: MemberRole, actor: ActorDep, store: StoreDep) -> dict[str, Any]:
    """Add a member or change their role (owners alone touch owners)."""
    return projects.share_project(store, actor, slug, email, body.role)


@router.delete("/v1/projects/{slug}/members/{email}", status_code=204, response_class=Response)
def unshare_project(slug: str, email: str, actor: ActorDep, store: StoreDep) -> Response:
    """Remove a member (anyone may remove themselves; never the last owner)."""
    projects.unshare_project(store, actor, slug, email)
    return Response(status_code=204)


@router.post("/v1/projects/{slug}/transfer")
def transfer_project(slug: str, body: Transfer, actor: ActorDep, store: StoreDep) -> dict[str, Any]:
    return projects.transfer_project(store, actor, slug, body.email)


@router.get("/v1/keys", tags=["keys"])
def list_keys(actor: ActorDep, store: StoreDep, project: str | None = None, include_revoked: bool = False,
              limit: Limit = 100, cursor: str | None = None) -> dict[str, Any]:
    """Keys the caller may see: never the key itself, which is not stored."""
    return page(keys.list_keys(store, actor, project, include_revoked=include_revoked), cursor, limit)


@router.post("/v1/projects/{slug}/keys", status_code=201, tags=["keys"])
def create_key(slug: str, body: KeyCreate, actor: ActorDep, store: StoreDep) -> dict[str, Any]:
    """Create a key; the answer's `key` is shown this once."""
    expires = None
    if body.expires_at:
        try:
            expires = parse_utc(normalize_timestamp(body.expires_at))
        except ValueError as exc:
            raise InvalidInput(f"expires_at: {exc}") from None
    listing, key = keys.create_key(store, actor, slug, name=body.name, scopes=keys.parse_scopes(body.scopes),
                                   expires=expires, env=body.env)
    return {**listing, "key": key}


@router.delete("/v1/keys/{key_id}", tags=["keys"])
def revoke_key(key_id: int, actor: ActorDep, store: StoreDep) -> dict[str, Any]:
    return keys.revoke_key(store, actor, str(key_id))


@router.post("/v1/keys/{key_id}/rotate", status_code=201, tags=["keys"])
def rotate_key(key_id: int, body: KeyRotate, actor: ActorDep, store: StoreDep) -> dict[str, Any]:
    """A successor key (shown once); the old one keeps working for `overlap_seconds`."""
    listing, key = keys.rotate_key(store, actor, str(key_id), overlap=timedelta(seconds=body.overlap_seconds))
    return {**listing, "key": key}
