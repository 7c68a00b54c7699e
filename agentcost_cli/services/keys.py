"""Project API keys: shown once, stored as SHA-256 with a display prefix and the last four.

Members create and revoke their own keys, up to their own reach (ingest, read); admins
(and keys with the admin scope) manage every key of the project, any scope. Rotation
issues a successor with the same name and scopes and lets the old key live on for an
overlap window, so deployments can switch without downtime.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..auth import apikeys
from ..errors import Conflict, InvalidInput, NotFound, PermissionDenied
from ..store.base import Store
from ..timeutil import format_utc, parse_utc
from . import audit, clock
from .actor import Actor
from .permissions import SCOPES, Op, Role, Scope, allowed, can_see, require_project, role_of

DEFAULT_OVERLAP = timedelta(hours=24)
MAX_OVERLAP = timedelta(days=30)
# The scopes a member may give their own keys: what their role can do itself.
_MEMBER_SCOPES = frozenset({Scope.INGEST, Scope.READ})


def parse_scopes(values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            if part not in SCOPES:
                raise InvalidInput(f"unknown scope {part!r}", hint=f"choose from {', '.join(SCOPES)}")
            if part not in out:
                out.append(part)
    if not out:
        raise InvalidInput("a key needs at least one scope", hint=f"choose from {', '.join(SCOPES)}")
    return tuple(sorted(out, key=SCOPES.index))


def public_key(row: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """A key as listed: never the secret, which is not stored (KEY-02)."""
    now = now or clock.now()
    if row["revoked_utc"]:
        state = "revoked"
    elif row["expires_utc"] and now >= parse_utc(row["expires_utc"]):
        state = "expired"
    else:
        state = "active"
    return {
        "id": row["id"], "project": row["project"], "name": row["name"],
        "display": f"{row['prefix']}…{row['last_four']}", "scopes": str(row["scopes"]).split(","),
        "state": state, "created_utc": row["created_utc"], "expires_utc": row["expires_utc"],
        "revoked_utc": row["revoked_utc"], "last_used_utc": row["last_used_utc"],
        "created_by_user_id": row["created_by_user_id"], "replaced_by": row["replaced_by"],
    }


def list_keys(store: Store, actor: Actor, project: str | None = None, *,
              include_revoked: bool = False) -> list[dict[str, Any]]:
    if project is not None:
        pid = int(require_project(store, actor, project, Op.KEYS_VIEW)["id"])
        rows = store.list_api_keys([pid])
    else:
        ids = None if actor.is_operator else [
            int(p["id"]) for p in store.list_projects()
            if can_see(store, actor, int(p["id"])) and allowed(store, actor, Op.KEYS_VIEW, int(p["id"]))]
        rows = store.list_api_keys(ids)
    now = clock.now()
    keys = [public_key(r, now) for r in rows]
    return keys if include_revoked else [k for k in keys if k["state"] != "revoked"]


def _may_manage(store: Store, actor: Actor, project_id: int, owner_id: int | None) -> bool:
    """Admins manage any key of the project; members their own."""
    if allowed(store, actor, Op.KEYS_MANAGE, project_id):
        return True
    return (allowed(store, actor, Op.KEYS_MANAGE_OWN, project_id) and actor.user_id is not None
            and owner_id == actor.user_id)


def create_key(store: Store, actor: Actor, project: str, *, name: str, scopes: tuple[str, ...],
               expires: datetime | None = None, env: str = "live") -> tuple[dict[str, Any], str]:
    """Create a key. Returns (its listing, the key itself): the key is shown this once."""
    row = store.get_project(project)
    if row is None or not can_see(store, actor, int(row["id"])):
        raise NotFound(f"no project named {project!r}")
    pid = int(row["id"])
    if not allowed(store, actor, Op.KEYS_MANAGE, pid):
        require_project(store, actor, project, Op.KEYS_MANAGE_OWN)
        beyond = set(scopes) - _MEMBER_SCOPES
        if beyond:
            raise PermissionDenied(f"a {role_of(store, actor, pid) or Role.MEMBER} cannot create keys with scope "
                                   f"{', '.join(sorted(beyond))}", hint="ask a project admin")
    if not name.strip():
        raise InvalidInput("give the key a name (what uses it)")
    if env not in apikeys.ENVIRONMENTS:
        raise InvalidInput(f"unknown key environment {env!r}", hint=f"choose {' or '.join(apikeys.ENVIRONMENTS)}")
    now = clock.now()
    if expires is not None and expires <= now:
        raise InvalidInput("the expiry must be in the future")
    key = apikeys.generate_key(env)
    with store.transaction():
        key_id = store.insert_api_key({
            "project_id": pid, "name": name.strip(), "key_hash": apikeys.hash_key(key),
            "prefix": apikeys.display_prefix(key), "last_four": apikeys.last_four(key), "scopes": ",".join(scopes),
            "created_by_user_id": actor.user_id, "created_utc": format_utc(now),
            "expires_utc": format_utc(expires) if expires else None,
        })
        audit.record(store, actor, "key.create", target=apikeys.display_prefix(key), project_id=pid,
                     detail={"name": name.strip(), "scopes": list(scopes), "expires_utc": format_utc(expires)
                             if expires else None})
    stored = store.get_api_key(key_id)
    assert stored is not None
    return public_key(stored, now), key


def _find(store: Store, actor: Actor, ref: str) -> dict[str, Any]:
    """A key by id or display prefix, when the actor may see its project."""
    def visible(row: dict[str, Any]) -> bool:
        project_id = int(row["project_id"])
        return can_see(store, actor, project_id) and (
            allowed(store, actor, Op.KEYS_VIEW, project_id)
            or (actor.user_id is not None and row["created_by_user_id"] == actor.user_id))

    text = ref.strip().split("…")[0]
    prefix = text[:12]
    if text.isdigit():
        found = store.get_api_key(int(text))
        matches = [found] if found is not None else []
    else:  # a display prefix, or the key itself: only the keys the actor may see count
        matches = [k for k in store.list_api_keys(None) if prefix and str(k["prefix"]).startswith(prefix)]
    matches = [k for k in matches if visible(k)]
    if not matches:
        raise NotFound(f"no key {ref!r}")
    if len(matches) > 1:
        raise InvalidInput(f"{ref!r} matches {len(matches)} keys", hint="use the key id from `agentcost keys list`")
    return matches[0]


def revoke_key(store: Store, actor: Actor, ref: str) -> dict[str, Any]:
    """Revoke at once: the next request with the key fails (KEY-04)."""
    row = _find(store, actor, ref)
    if not _may_manage(store, actor, int(row["project_id"]), row["created_by_user_id"]):
        raise PermissionDenied(f"{actor.label} may not revoke key {row['prefix']}…", hint="ask a project admin")
    now = clock.now_text()
    with store.transaction():
        if row["revoked_utc"] is None:
            store.update_api_key(int(row["id"]), {"revoked_utc": now})
        audit.record(store, actor, "key.revoke", target=str(row["prefix"]), project_id=int(row["project_id"]))
    updated = store.get_api_key(int(row["id"]))
    assert updated is not None
    return public_key(updated)


def rotate_key(store: Store, actor: Actor, ref: str, *,
               overlap: timedelta = DEFAULT_OVERLAP) -> tuple[dict[str, Any], str]:
    """Issue a successor (same project, name, scopes, expiry) and let the old key work for `overlap` more."""
    row = _find(store, actor, ref)
    pid = int(row["project_id"])
    if not _may_manage(store, actor, pid, row["created_by_user_id"]):
        raise PermissionDenied(f"{actor.label} may not rotate key {row['prefix']}…", hint="ask a project admin")
    if row["revoked_utc"] is not None:
        raise InvalidInput(f"key {row['prefix']}… is revoked; create a new one instead")
    if row["replaced_by"] is not None:
        successor = store.get_api_key(int(row["replaced_by"]))
        raise Conflict(f"key {row['prefix']}… was already rotated",
                       hint=f"rotate its successor{' ' + str(successor['prefix']) + '…' if successor else ''}")
    if overlap < timedelta(0) or overlap > MAX_OVERLAP:
        raise InvalidInput("the overlap must be between 0 and 30 days")
    now = clock.now()
    old_end = now + overlap
    if row["expires_utc"] is not None:
        old_end = min(old_end, parse_utc(row["expires_utc"]))
    key = apikeys.generate_key(str(row["prefix"]).split("_")[1])
    with store.transaction():
        new_id = store.insert_api_key({
            "project_id": pid, "name": row["name"], "key_hash": apikeys.hash_key(key),
            "prefix": apikeys.display_prefix(key), "last_four": apikeys.last_four(key), "scopes": row["scopes"],
            "created_by_user_id": actor.user_id if actor.user_id is not None else row["created_by_user_id"],
            "created_utc": format_utc(now), "expires_utc": row["expires_utc"],
        })
        store.update_api_key(int(row["id"]), {"expires_utc": format_utc(old_end), "replaced_by": new_id})
        audit.record(store, actor, "key.rotate", target=str(row["prefix"]), project_id=pid,
                     detail={"new": apikeys.display_prefix(key), "old_expires_utc": format_utc(old_end)})
    stored = store.get_api_key(new_id)
    assert stored is not None
    listing = public_key(stored, now)
    listing["replaces"] = {"id": row["id"], "display": f"{row['prefix']}…{row['last_four']}",
                           "expires_utc": format_utc(old_end)}
    return listing, key
