"""Projects and their members.

Only owners may touch owners: an admin manages members and viewers but cannot make,
demote or remove an owner. A project always keeps one owner: the last one can neither
leave nor be removed (transfer first). Projects created by ingest in local mode, before
accounts existed, have no members; operators see them and can share them.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import Conflict, InvalidInput, NotFound, PermissionDenied
from ..store.base import Store
from . import audit, clock
from .actor import Actor
from .permissions import RANK, ROLES, Op, Role, allowed, can_see, require, require_project, role_of
from .users import get_user_row

_SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


def check_slug(slug: str) -> str:
    if not _SLUG.match(slug):
        raise InvalidInput(f"{slug!r} is not a valid project name",
                           hint="use 1 to 63 lower-case letters, digits, '.', '_' or '-', "
                                "starting with a letter or digit")
    return slug


def _role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        raise InvalidInput(f"unknown role {text!r}", hint=f"choose one of {', '.join(ROLES)}") from None


def _summary(store: Store, actor: Actor, project: dict[str, Any], events: dict[int, int]) -> dict[str, Any]:
    pid = int(project["id"])
    role = role_of(store, actor, pid)
    return {
        "slug": project["slug"], "name": project["name"], "created_utc": project["created_utc"],
        "role": role.value if role else ("operator" if actor.is_operator else None),
        "members": len(store.members(pid)), "events": events.get(pid, 0),
        "retention_days": project["retention_days"],
        "allowed_networks": networks_of(project),
    }


def list_projects(store: Store, actor: Actor) -> list[dict[str, Any]]:
    """The projects the actor may see, and no others."""
    events = store.project_event_counts()
    return [_summary(store, actor, p, events) for p in store.list_projects()
            if can_see(store, actor, int(p["id"])) and allowed(store, actor, Op.PROJECT_VIEW, int(p["id"]))]


def create_project(store: Store, actor: Actor, slug: str, *, name: str | None = None) -> dict[str, Any]:
    """Create a project; a user who creates one owns it."""
    require(store, actor, Op.PROJECT_CREATE)
    check_slug(slug)
    now = clock.now_text()
    with store.transaction():
        pid = store.insert_project({"slug": slug, "name": name or slug, "created_utc": now,
                                    "created_by_user_id": actor.user_id})
        if actor.kind == "user" and actor.user_id is not None:
            store.set_membership(pid, actor.user_id, Role.OWNER, created_utc=now)
        audit.record(store, actor, "project.create", target=slug, project_id=pid)
    project = store.get_project_by_id(pid)
    assert project is not None
    return _summary(store, actor, project, {})


def show_project(store: Store, actor: Actor, slug: str) -> dict[str, Any]:
    project = require_project(store, actor, slug, Op.PROJECT_VIEW)
    pid = int(project["id"])
    out = _summary(store, actor, project, store.project_event_counts())
    if allowed(store, actor, Op.MEMBERS_VIEW, pid):
        out["member_list"] = store.members(pid)
    if allowed(store, actor, Op.KEYS_VIEW, pid):
        out["keys"] = sum(1 for k in store.list_api_keys([pid]) if k["revoked_utc"] is None)
    return out


def rename_project(store: Store, actor: Actor, slug: str, *, new_slug: str | None = None,
                   name: str | None = None) -> dict[str, Any]:
    project = require_project(store, actor, slug, Op.PROJECT_RENAME)
    fields: dict[str, Any] = {}
    if new_slug and new_slug != slug:
        if store.get_project(check_slug(new_slug)) is not None:
            raise Conflict(f"a project named {new_slug!r} already exists")
        fields["slug"] = new_slug
    if name:
        fields["name"] = name
    if not fields:
        raise InvalidInput("nothing to change", hint="give a new slug and/or --name")
    with store.transaction():
        store.update_project(int(project["id"]), fields)
        audit.record(store, actor, "project.rename", target=slug, project_id=int(project["id"]), detail=fields)
    return show_project(store, actor, fields.get("slug", slug))


def networks_of(project: dict[str, Any]) -> list[str]:
    text = project.get("allowed_networks")
    return [n for n in str(text).split(",") if n] if text else []


def set_allowed_networks(store: Store, actor: Actor, slug: str, networks: list[str]) -> dict[str, Any]:
    """Limit where the project's API keys may be used from (CIDR networks or addresses); an empty
    list allows every address again. Admins; audited."""
    import ipaddress

    project = require_project(store, actor, slug, Op.MEMBERS_MANAGE)
    clean: list[str] = []
    for text in networks:
        try:
            clean.append(str(ipaddress.ip_network(text.strip(), strict=False)))
        except ValueError:
            raise InvalidInput(f"{text!r} is not an IP address or network",
                               hint="use CIDR notation, e.g. 10.0.0.0/8 or 203.0.113.7") from None
    with store.transaction():
        store.update_project(int(project["id"]), {"allowed_networks": ",".join(dict.fromkeys(clean)) or None})
        audit.record(store, actor, "project.networks", target=slug, project_id=int(project["id"]),
                     detail={"allowed_networks": clean})
    return show_project(store, actor, slug)


def delete_project(store: Store, actor: Actor, slug: str) -> int:
    """Delete a project with its events, keys and memberships. Returns the events deleted."""
    project = require_project(store, actor, slug, Op.PROJECT_DELETE)
    with store.transaction():
        # Recorded first, in the same transaction: the record still finds the project's name.
        audit.record(store, actor, "project.delete", target=slug, project_id=int(project["id"]),
                     detail={"events_deleted": store.project_event_counts().get(int(project["id"]), 0)})
        return store.delete_project(int(project["id"]))


def _owners(store: Store, project_id: int) -> list[dict[str, Any]]:
    return [m for m in store.members(project_id) if m["role"] == Role.OWNER]


def _acts_as_owner(store: Store, actor: Actor, project_id: int) -> bool:
    return actor.is_operator or role_of(store, actor, project_id) == Role.OWNER


def share_project(store: Store, actor: Actor, slug: str, email: str, role: str) -> dict[str, Any]:
    """Add a member, or change a member's role."""
    wanted = _role(role)
    project = require_project(store, actor, slug, Op.MEMBERS_MANAGE)
    pid = int(project["id"])
    user = get_user_row(store, email)
    if user["status"] != "active":
        raise Conflict(f"{user['email']} is disabled")
    current = store.memberships(int(user["id"])).get(pid)
    if (wanted == Role.OWNER or current == Role.OWNER) and not _acts_as_owner(store, actor, pid):
        raise PermissionDenied("only an owner can make or change an owner", hint="ask an owner of the project")
    if current == Role.OWNER and wanted != Role.OWNER and len(_owners(store, pid)) == 1:
        raise Conflict(f"{user['email']} is the last owner of {slug}", hint="transfer the project first")
    with store.transaction():
        store.set_membership(pid, int(user["id"]), wanted, created_utc=clock.now_text())
        audit.record(store, actor, "member.role" if current else "member.add", target=user["email"], project_id=pid,
                     detail={"role": wanted.value, "previous": current})
    return {"project": slug, "email": user["email"], "role": wanted.value, "previous": current}


def unshare_project(store: Store, actor: Actor, slug: str, email: str) -> None:
    """Remove a member; anyone may remove themselves (leave), except the last owner."""
    project = store.get_project(slug)
    if project is None or not can_see(store, actor, int(project["id"])):
        raise NotFound(f"no project named {slug!r}")
    pid = int(project["id"])
    user = get_user_row(store, email)
    leaving = actor.user_id == user["id"]
    if not leaving:
        require_project(store, actor, slug, Op.MEMBERS_MANAGE)
    current = store.memberships(int(user["id"])).get(pid)
    if current is None:
        raise NotFound(f"{user['email']} is not a member of {slug}")
    if current == Role.OWNER:
        if not leaving and not _acts_as_owner(store, actor, pid):
            raise PermissionDenied("only an owner can remove an owner")
        if len(_owners(store, pid)) == 1:
            raise Conflict(f"{user['email']} is the last owner of {slug}",
                           hint="transfer the project (agentcost projects transfer) or delete it")
    with store.transaction():
        store.remove_membership(pid, int(user["id"]))
        audit.record(store, actor, "member.leave" if leaving else "member.remove", target=user["email"],
                     project_id=pid, detail={"role": current})


def transfer_project(store: Store, actor: Actor, slug: str, email: str) -> dict[str, Any]:
    """Make `email` an owner; the owner who transfers becomes an admin."""
    project = require_project(store, actor, slug, Op.PROJECT_TRANSFER)
    pid = int(project["id"])
    user = get_user_row(store, email)
    if user["status"] != "active":
        raise Conflict(f"{user['email']} is disabled")
    now = clock.now_text()
    with store.transaction():
        store.set_membership(pid, int(user["id"]), Role.OWNER, created_utc=now)
        if actor.user_id is not None and actor.user_id != user["id"] and \
                RANK[role_of(store, actor, pid) or Role.VIEWER] == RANK[Role.OWNER]:
            store.set_membership(pid, actor.user_id, Role.ADMIN, created_utc=now)
        audit.record(store, actor, "project.transfer", target=user["email"], project_id=pid)
    return show_project(store, actor, slug) if can_see(store, actor, pid) else {"slug": slug}
