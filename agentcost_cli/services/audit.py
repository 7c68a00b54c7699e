"""The audit trail: every security-relevant action, success or failure, append-only.

Records are written in the same transaction as the change they describe, so a change
never commits without its record. Failures (a wrong password, a refused permission)
are written on their own.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..store.accounts import AuditQuery
from ..store.base import Store
from . import authcache, clock
from .actor import Actor
from .permissions import Op, readable_project_ids, require_project

OK = "ok"
DENIED = "denied"
FAILED = "failed"


def record(store: Store, actor: Actor, action: str, *, target: str | None = None, project_id: int | None = None,
           outcome: str = OK, detail: dict[str, Any] | None = None, actor_label: str | None = None,
           actor_user_id: int | None = None) -> None:
    """Append one record. `detail` must hold nothing secret (it is shown to project admins).
    The project's slug is kept too, so records outlive a deleted project legibly.
    Every change worth auditing may change who may do what, so cached credentials are forgotten."""
    authcache.invalidate()
    project = store.get_project_by_id(project_id) if project_id is not None else None
    store.append_audit({
        "ts_utc": clock.now_text(),
        "actor": actor_label or actor.label,
        "actor_user_id": actor_user_id if actor_user_id is not None else actor.user_id,
        "action": action,
        "target": target,
        "project_id": project_id,
        "project_slug": project["slug"] if project else None,
        "source_addr": actor.source,
        "outcome": outcome,
        "detail_json": orjson.dumps(detail).decode() if detail else None,
    })


def list_records(store: Store, actor: Actor, *, project: str | None = None, since: str | None = None,
                 until: str | None = None, action: str | None = None, limit: int = 1000,
                 before_id: int | None = None) -> list[dict[str, Any]]:
    """Newest first. Operators see every record; project admins their projects' records;
    everyone their own actions."""
    base = AuditQuery(since=since, until=until, action_prefix=action, limit=limit, before_id=before_id)
    if project is not None:
        row = require_project(store, actor, project, Op.AUDIT_VIEW)
        rows = store.list_audit(_with(base, project_ids=(int(row["id"]),)))
    elif actor.is_operator:
        rows = store.list_audit(base)
    else:
        admin_of = readable_project_ids(store, actor, Op.AUDIT_VIEW) or set()
        rows = store.list_audit(_with(base, project_ids=tuple(sorted(admin_of)))) if admin_of else []
        if actor.user_id is not None:
            own = store.list_audit(_with(base, actor_user_id=actor.user_id))
            seen = {r["id"] for r in rows}
            rows = sorted([*rows, *(r for r in own if r["id"] not in seen)], key=lambda r: -int(r["id"]))[:limit]
    for row in rows:
        detail = row.pop("detail_json")
        row["detail"] = orjson.loads(detail) if detail else None
    return rows


def _with(query: AuditQuery, **changes: Any) -> AuditQuery:
    from dataclasses import replace

    return replace(query, **changes)
