"""The one permission check. Every service function names the operation it performs
and calls `require` (store-wide operations) or `require_project` (one project).

Roles rank viewer < member < admin < owner: viewers read, members also ingest and
manage their own keys, admins also manage keys, budgets and members, owners also
rename, delete and transfer the project. API keys act on their one project within
their scopes. Server admins and the local owner may do everything.

A project the actor may not even see answers "not found", never "forbidden", so
that probing slugs reveals nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from ..errors import AuthError, NotFound, PermissionDenied
from ..store.base import Store
from ..timeutil import parse_utc
from . import clock
from .actor import Actor


class Role(StrEnum):
    VIEWER = "viewer"
    MEMBER = "member"
    ADMIN = "admin"
    OWNER = "owner"


RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}
ROLES = tuple(Role)


class Scope(StrEnum):
    INGEST = "ingest"
    READ = "read"
    ADMIN = "admin"


SCOPES = tuple(Scope)


class Op(StrEnum):
    # one project
    PROJECT_VIEW = "project.view"
    PROJECT_RENAME = "project.rename"
    PROJECT_DELETE = "project.delete"
    PROJECT_TRANSFER = "project.transfer"
    MEMBERS_VIEW = "members.view"
    MEMBERS_MANAGE = "members.manage"
    USAGE_READ = "usage.read"
    USAGE_EXPORT = "usage.export"
    EVENTS_INGEST = "events.ingest"
    KEYS_VIEW = "keys.view"
    KEYS_MANAGE_OWN = "keys.manage_own"
    KEYS_MANAGE = "keys.manage"
    BUDGETS_MANAGE = "budgets.manage"
    AUDIT_VIEW = "audit.view"
    # store-wide
    PROJECT_CREATE = "project.create"
    USERS_MANAGE = "users.manage"
    PRICING_VIEW = "pricing.view"
    PRICING_MANAGE = "pricing.manage"
    STORE_ADMIN = "store.admin"  # audit of everything, the outbox, database maintenance


@dataclass(frozen=True)
class Rule:
    role: Role | None  # the least project role allowed; None: no project role suffices
    scopes: frozenset[Scope] = frozenset()  # key scopes allowed (on the key's own project)
    any_user: bool = False  # store-wide: every signed-in user


def _rule(role: Role | None, *scopes: Scope, any_user: bool = False) -> Rule:
    return Rule(role, frozenset(scopes), any_user)


RULES: dict[Op, Rule] = {
    Op.PROJECT_VIEW: _rule(Role.VIEWER, Scope.READ, Scope.ADMIN),
    Op.PROJECT_RENAME: _rule(Role.ADMIN),
    Op.PROJECT_DELETE: _rule(Role.OWNER),
    Op.PROJECT_TRANSFER: _rule(Role.OWNER),
    Op.MEMBERS_VIEW: _rule(Role.VIEWER, Scope.ADMIN),
    Op.MEMBERS_MANAGE: _rule(Role.ADMIN),
    Op.USAGE_READ: _rule(Role.VIEWER, Scope.READ, Scope.ADMIN),
    Op.USAGE_EXPORT: _rule(Role.VIEWER, Scope.READ, Scope.ADMIN),
    Op.EVENTS_INGEST: _rule(Role.MEMBER, Scope.INGEST, Scope.ADMIN),
    Op.KEYS_VIEW: _rule(Role.MEMBER, Scope.ADMIN),
    Op.KEYS_MANAGE_OWN: _rule(Role.MEMBER),
    Op.KEYS_MANAGE: _rule(Role.ADMIN, Scope.ADMIN),
    Op.BUDGETS_MANAGE: _rule(Role.ADMIN, Scope.ADMIN),
    Op.AUDIT_VIEW: _rule(Role.ADMIN, Scope.ADMIN),
    Op.PROJECT_CREATE: _rule(None, any_user=True),
    Op.USERS_MANAGE: _rule(None),
    Op.PRICING_VIEW: _rule(None, Scope.READ, Scope.ADMIN, any_user=True),
    Op.PRICING_MANAGE: _rule(None),
    Op.STORE_ADMIN: _rule(None),
}

PROJECT_OPS = frozenset(op for op, rule in RULES.items() if rule.role is not None)


def role_of(store: Store, actor: Actor, project_id: int) -> Role | None:
    if actor.kind != "user" or actor.user_id is None:
        return None
    role = store.memberships(actor.user_id).get(project_id)
    return Role(role) if role else None


def allowed(store: Store, actor: Actor, op: Op, project_id: int | None = None) -> bool:
    """Whether `actor` may perform `op` (on `project_id`, for project operations)."""
    if actor.is_operator:
        return True
    rule = RULES[op]
    if op in PROJECT_OPS:
        if project_id is None:
            return False
        if actor.kind == "key":
            return project_id == actor.key_project_id and bool(rule.scopes & actor.scopes)
        role = role_of(store, actor, project_id)
        return role is not None and rule.role is not None and RANK[role] >= RANK[rule.role]
    if actor.kind == "key":
        return bool(rule.scopes & actor.scopes)
    return rule.any_user


def require(store: Store | None, actor: Actor, op: Op) -> None:
    """Raise PermissionDenied unless `actor` may perform the store-wide `op` (which needs no
    store to decide: so a caller can check before it creates or replaces one)."""
    if op in PROJECT_OPS:
        raise ValueError(f"{op} is a project operation: use require_project")
    if not (actor.is_operator or allowed(store, actor, op)):  # type: ignore[arg-type]
        raise PermissionDenied(f"{actor.label} may not {op.value.replace('.', ' ')}")


def require_project(store: Store, actor: Actor, slug: str, op: Op) -> dict[str, Any]:
    """The project named `slug`, when `actor` may perform `op` on it.

    Raises:
        NotFound: no such project, or the actor may not see it.
        PermissionDenied: the actor sees the project but its role or scopes do not allow `op`.
    """
    project = store.get_project(slug)
    if project is None or not can_see(store, actor, int(project["id"])):
        raise NotFound(f"no project named {slug!r}")
    if not allowed(store, actor, op, int(project["id"])):
        raise PermissionDenied(f"{actor.label} may not {op.value.replace('.', ' ')} in project {slug!r}",
                               hint=_hint(op))
    return project


def can_see(store: Store, actor: Actor, project_id: int) -> bool:
    """Whether the project exists for `actor` at all: members, the key's own project, operators.
    (Seeing is less than PROJECT_VIEW: an ingest-only key sees its project, and is refused, not
    misled, when it asks for more.)"""
    if actor.is_operator:
        return True
    if actor.kind == "key":
        return project_id == actor.key_project_id
    return role_of(store, actor, project_id) is not None


def readable_project_ids(store: Store, actor: Actor, op: Op = Op.USAGE_READ) -> set[int] | None:
    """The projects whose usage `actor` may read (or export); None: all of them."""
    if actor.is_operator:
        return None
    if actor.kind == "key":
        pid = actor.key_project_id
        return {pid} if pid is not None and allowed(store, actor, op, pid) else set()
    if actor.user_id is None:
        return set()
    rule = RULES[op]
    assert rule.role is not None
    return {pid for pid, role in store.memberships(actor.user_id).items() if RANK[Role(role)] >= RANK[rule.role]}


def scope_projects(store: Store, actor: Actor, projects: tuple[str, ...], op: Op) -> tuple[str, ...] | None:
    """The project filter `actor` may apply for a read `op` (USAGE_READ, USAGE_EXPORT): `projects`
    as given when each is allowed (empty: no filter, for operators only), else every project the
    actor may read; None when that is none at all (the answer is then empty, not an error).

    Raises:
        NotFound: a named project does not exist or the actor cannot see it.
        PermissionDenied: the actor sees a named project but may not `op` there.
    """
    if actor.is_operator:
        return projects
    if projects:
        for slug in projects:
            require_project(store, actor, slug, op)
        return projects
    if actor.kind == "key":  # a key has one project: reading nothing there is a refusal, not an empty answer
        own = store.get_project_by_id(actor.key_project_id) if actor.key_project_id is not None else None
        if own is None:
            raise NotFound("the key's project no longer exists")
        require_project(store, actor, str(own["slug"]), op)
        return (str(own["slug"]),)
    readable = readable_project_ids(store, actor, op) or set()
    slugs = tuple(str(p["slug"]) for p in store.list_projects() if int(p["id"]) in readable)
    return slugs or None


RECENT_AUTH = timedelta(minutes=5)


def require_recent_auth(actor: Actor) -> None:
    """Email and MFA changes need a password check in the last 5 minutes (AU-09). The local
    owner proved who they are by opening the store."""
    if actor.kind == "local":
        return
    stamp = actor.authenticated_utc
    if stamp is None or clock.now() - parse_utc(stamp) > RECENT_AUTH:
        raise AuthError("this change needs a fresh sign-in", hint="sign in again, then retry within 5 minutes")


def _hint(op: Op) -> str | None:
    rule = RULES[op]
    if rule.role is None:
        return None
    return f"this needs the {rule.role.value} role or higher" + (
        f", or a key with scope {' or '.join(sorted(rule.scopes))}" if rule.scopes else "")
