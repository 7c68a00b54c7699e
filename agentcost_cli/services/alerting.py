"""Firing alerts: record once, then queue one delivery per channel.

`fire` inserts the alert under its dedupe key and, in the same transaction, its outbox
messages. The key names what fired and when (a budget's threshold in one period, a rule
in one window, a project's anomaly on one day), so evaluating again, after a restart or
on another daemon, finds the key taken and notifies nobody twice. A crash between the
alert and its messages cannot happen: they commit together.

Mutes ("budget:NAME", "rule:NAME", "channel:NAME", "project:SLUG", "kind:anomaly", "all")
still record the alert, marked muted, and send nothing.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import orjson

from ..errors import AgentcostError, InvalidInput, NotFound
from ..notify.notice import Notice
from ..store.base import Store
from ..timeutil import format_utc
from . import audit, clock
from .actor import Actor
from .auth_config import auth_config
from .ownership import check
from .permissions import Op, readable_project_ids

MAX_MUTE = timedelta(days=365)
EMAIL_BATCH = 50


def notice_to_json(notice: Notice) -> str:
    return orjson.dumps(dataclasses.asdict(notice)).decode()


def notice_from_json(text: str) -> Notice:
    raw = orjson.loads(text)
    raw["fields"] = tuple(tuple(pair) for pair in raw.get("fields") or ())
    return Notice(**raw)


def _mute_targets(notice: Notice, source: str | None, project_slug: str | None) -> set[str]:
    targets = {"all", "kind:" + notice.type.split(".", 1)[0], "kind:" + notice.type}
    if source:
        targets.add(source)
    if project_slug:
        targets.add("project:" + project_slug)
    return targets


def fire(store: Store, *, dedupe_key: str, notice: Notice, channel_names: Iterable[str],
         project_id: int | None = None, source: str | None = None, silent: bool = False) -> int | None:
    """Record the alert and queue its deliveries. Returns the alert's id, or None when it had
    fired before. Channels that are missing or disabled are skipped (and named in the alert);
    a muted channel gets nothing. `silent` records the alert as muted (a lower threshold
    passed in the same evaluation as a higher one, which says it all)."""
    now = clock.now_text()
    active = {m["target"] for m in store.list_mutes(now)}
    project = store.get_project_by_id(project_id) if project_id is not None else None
    muted = silent or bool(active & _mute_targets(notice, source, project["slug"] if project else None))
    box = auth_config(store).box
    with store.transaction():
        if store.alert_exists(dedupe_key):
            return None
        skipped: list[str] = []
        rows: list[dict[str, Any]] = []
        for name in dict.fromkeys(channel_names):
            channel = store.find_channel(name)
            if channel is None or channel["status"] != "active":
                skipped.append(name)
            elif "channel:" + name not in active:
                rows.append(channel)
        alert_id = store.insert_alert({
            "dedupe_key": dedupe_key, "kind": notice.type, "source": source, "project_id": project_id,
            "created_utc": now, "severity": notice.severity, "summary": notice.summary,
            "data_json": orjson.dumps({**notice.data, "skipped_channels": skipped} if skipped
                                      else notice.data).decode(),
            "muted": int(muted),
        })
        if alert_id is None:
            return None
        if not muted:
            sealed = box.seal(notice_to_json(notice))
            for channel in rows:
                enqueue_notice(store, notice, channel, sealed=sealed, key=f"alert/{alert_id}/{channel['id']}",
                               alert_id=alert_id)
    return alert_id


def enqueue_notice(store: Store, notice: Notice, channel: dict[str, Any], *, sealed: str, key: str,
                   alert_id: int | None = None) -> None:
    """Queue `notice` for `channel`. The same `key` never queues twice. An email channel's
    addresses go in groups of EMAIL_BATCH (Resend's limit per call, EM-06), one message each."""
    now = clock.now_text()
    if channel["kind"] == "email" and channel.get("target_sealed"):
        addresses = [a.strip() for a in auth_config(store).box.open(channel["target_sealed"]).split(",")]
        groups = [", ".join(addresses[i:i + EMAIL_BATCH]) for i in range(0, len(addresses), EMAIL_BATCH)]
        keys = [f"{key}/{n}" for n in range(len(groups))]
    else:
        groups, keys = [str(channel["name"])], [key]
    for recipient, message_key in zip(groups, keys, strict=True):
        store.insert_outbox({
            "created_utc": now, "channel": channel["kind"], "recipient": recipient, "template": "alert",
            "subject": notice.title[:200], "payload_sealed": sealed, "idempotency_key": message_key,
            "status": "pending", "next_attempt_utc": now, "alert_id": alert_id, "channel_id": channel["id"],
            "message_uid": "msg_" + secrets.token_urlsafe(18),
        })


# -- reading and muting -----------------------------------------------------------------------

def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "created_utc": row["created_utc"], "kind": row["kind"], "severity": row["severity"],
        "source": row["source"], "project": row.get("project"), "summary": row["summary"],
        "muted": bool(row["muted"]), "data": orjson.loads(row["data_json"]),
    }


def list_alerts(store: Store, actor: Actor, *, since: str | None = None, kind: str | None = None,
                project: str | None = None, limit: int = 100, before_id: int | None = None) -> list[dict[str, Any]]:
    """Fired alerts, newest first: store-wide ones for operators, project ones for readers."""
    readable = readable_project_ids(store, actor)
    ids: tuple[int, ...] | None = None if readable is None else tuple(sorted(readable))
    if project:
        found = store.get_project(project)
        if found is None or (readable is not None and int(found["id"]) not in readable):
            raise NotFound(f"no project named {project!r}")
        ids = (int(found["id"]),)
    rows = store.list_alerts(since=since, kind_prefix=kind, project_ids=ids, before_id=before_id,
                             limit=max(1, min(limit, 1000)))
    return [_public(r) for r in rows]


def _mute_owner(store: Store, actor: Actor, target: str) -> int | None:
    """Who may mute `target`: a project's admins for its own objects, operators for the rest."""
    kind, _, name = target.partition(":")
    finders = {"budget": store.find_budget, "rule": store.find_rule, "channel": store.find_channel}
    if kind in finders and name:
        row = check(store, actor, finders[kind](name), f"{kind} named {name!r}", Op.BUDGETS_MANAGE)
        return None if row["project_id"] is None else int(row["project_id"])
    if kind == "project" and name:
        from .permissions import require_project

        return int(require_project(store, actor, name, Op.BUDGETS_MANAGE)["id"])
    if target == "all" or (kind == "kind" and name):
        check(store, actor, {"project_id": None}, "such target", Op.STORE_ADMIN)
        return None
    raise InvalidInput(f"cannot mute {target!r}",
                       hint="mute budget:NAME, rule:NAME, channel:NAME, project:SLUG, kind:KIND or all")


def mute(store: Store, actor: Actor, target: str, *, duration: timedelta, reason: str | None = None) -> dict[str, Any]:
    if duration <= timedelta(0) or duration > MAX_MUTE:
        raise InvalidInput("a mute lasts between a minute and a year")
    project_id = _mute_owner(store, actor, target)
    until = format_utc(clock.now() + duration)
    with store.transaction():
        store.set_mute({"target": target, "until_utc": until, "reason": reason,
                        "created_by_user_id": actor.user_id, "created_utc": clock.now_text()})
        audit.record(store, actor, "alert.mute", target=target, project_id=project_id,
                     detail={"until_utc": until, "reason": reason})
    return {"target": target, "until_utc": until, "reason": reason}


def unmute(store: Store, actor: Actor, target: str) -> bool:
    project_id = _mute_owner(store, actor, target)
    with store.transaction():
        removed = store.delete_mute(target)
        audit.record(store, actor, "alert.unmute", target=target, project_id=project_id)
    return removed


def list_mutes(store: Store, actor: Actor) -> list[dict[str, Any]]:
    out = []
    for row in store.list_mutes(clock.now_text()):
        try:
            _mute_owner(store, actor, row["target"])
        except AgentcostError:  # listed only to those who could change it
            continue
        out.append({"target": row["target"], "until_utc": row["until_utc"], "reason": row["reason"]})
    return out
