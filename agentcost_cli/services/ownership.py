"""Who may see and change the alerting objects (channels, budgets, rules).

Each belongs to one project or to the whole store (`project_id` NULL). Project objects
follow the project's roles: viewers read them (with USAGE_READ), admins and admin-scoped
keys change them (BUDGETS_MANAGE). Store-wide objects watch or reach everything, so only
operators (server admins, the local owner) see or change them. An object the actor may
not see answers "not found", like a project does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import NotFound
from ..store.base import Store
from .actor import Actor
from .permissions import Op, allowed, can_see, readable_project_ids, require, require_project


def owner_project_id(store: Store, actor: Actor, project: str | None, op: Op = Op.BUDGETS_MANAGE) -> int | None:
    """The project a new object will belong to (None: store-wide), when `actor` may `op` there."""
    if project:
        return int(require_project(store, actor, project, op)["id"])
    require(store, actor, Op.STORE_ADMIN)
    return None


def check(store: Store, actor: Actor, row: dict[str, Any] | None, what: str, op: Op) -> dict[str, Any]:
    """`row` when `actor` may `op` on it.

    Raises:
        NotFound: no row, or the actor may not see it.
        PermissionDenied: the actor sees it (a project member) but may not `op` there.
    """
    if row is None:
        raise NotFound(f"no {what}")
    project_id = row.get("project_id")
    if project_id is None:
        if not actor.is_operator:
            raise NotFound(f"no {what}")
        return row
    if not can_see(store, actor, int(project_id)):
        raise NotFound(f"no {what}")
    project = store.get_project_by_id(int(project_id))
    if project is None:
        raise NotFound(f"no {what}")
    if not allowed(store, actor, op, int(project_id)):
        require_project(store, actor, str(project["slug"]), op)  # raises PermissionDenied with its hint
    return row


def visible(store: Store, actor: Actor, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows `actor` may read: store-wide ones for operators, project ones where it reads usage."""
    readable = readable_project_ids(store, actor)
    out = []
    for row in rows:
        pid = row.get("project_id")
        if pid is None:
            if actor.is_operator:
                out.append(row)
        elif readable is None or int(pid) in readable:
            out.append(row)
    return out
