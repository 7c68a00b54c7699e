"""The outbox: messages are rows first and deliveries second, so a crash or an outage
never loses one. `services.dispatch` delivers them; this module queues account emails and
lets people read the queue, the attempts, and retry what failed.

A message's variables are sealed with the server key: a reset link is a credential,
and the store must hold no usable token in clear.

Who sees what: operators see every message; a project's admins see the deliveries to their
project's channels (`deliveries`, `retry` with a channel), never account emails.
"""

from __future__ import annotations

import secrets
from datetime import UTC
from typing import Any

import orjson

from ..errors import InvalidInput, NotFound
from ..notify import templates
from ..store.alerts import OutboxQuery
from ..store.base import Store
from ..timeutil import format_utc, parse_time_arg
from . import alerting, audit, clock
from .actor import Actor
from .auth_config import auth_config
from .ownership import check
from .permissions import Op, require

CHAT_KINDS = ("webhook", "slack", "discord", "ntfy", "twilio")
MAX_RETRY = 10_000


def enqueue(store: Store, *, template: str, recipient: str, variables: dict[str, Any], idempotency_key: str) -> int:
    """Queue one email. The same `idempotency_key` never queues twice."""
    subject, _ = templates.render(template, variables)  # fail now, not at delivery, on a template error
    sealed = auth_config(store).box.seal(orjson.dumps(variables).decode())
    now = clock.now_text()
    return store.insert_outbox({
        "created_utc": now,
        "channel": "email",
        "recipient": recipient,
        "template": template,
        "subject": subject,
        "payload_sealed": sealed,
        "idempotency_key": idempotency_key,
        "status": "pending",
        "next_attempt_utc": now,
        "message_uid": "msg_" + secrets.token_urlsafe(18),
    })


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row.get(k) for k in ("id", "created_utc", "channel", "recipient", "template", "subject", "status",
                                    "attempts", "next_attempt_utc", "sent_utc", "last_error", "provider",
                                    "provider_message_id", "message_uid", "alert_id", "channel_name")}


def _attempt(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("attempt_no", "started_utc", "provider", "outcome", "status_code", "latency_ms",
                                "response_excerpt", "error")}


def list_messages(store: Store, actor: Actor, *, status: str | None = None, limit: int = 100,
                  channel: str | None = None, since: str | None = None,
                  before_id: int | None = None) -> list[dict[str, Any]]:
    require(store, actor, Op.STORE_ADMIN)
    rows = store.query_outbox(OutboxQuery(status=status, channel=channel, since=_since(since), before_id=before_id,
                                          limit=limit))
    return [_public(r) for r in rows]


def show_message(store: Store, actor: Actor, message_id: int) -> dict[str, Any]:
    """One message with its rendered body (which may hold a live link: operators only) and its attempts."""
    require(store, actor, Op.STORE_ADMIN)
    row = store.get_outbox(message_id)
    if row is None:
        raise NotFound(f"no message {message_id} in the outbox")
    plain = auth_config(store).box.open(row["payload_sealed"])
    if row["template"] == "alert":
        notice = alerting.notice_from_json(plain)
        body = notice.summary + "".join(f"\n{label}: {value}" for label, value in notice.fields) + "\n"
    else:
        _, body = templates.render(row["template"], orjson.loads(plain))
    channel = store.get_channel(int(row["channel_id"])) if row.get("channel_id") is not None else None
    return {**_public({**row, "channel_name": channel["name"] if channel else None}), "body": body,
            "attempt_log": [_attempt(a) for a in store.list_attempts(message_id)]}


def _channel_scope(store: Store, actor: Actor, channel: str | None) -> int | None:
    """The channel id a non-operator must name; operators may leave it out (every channel)."""
    if channel:
        row = check(store, actor, store.find_channel(channel), f"channel named {channel!r}", Op.BUDGETS_MANAGE)
        return int(row["id"])
    require(store, actor, Op.STORE_ADMIN)
    return None


def _since(text: str | None) -> str | None:
    """`since` as canonical UTC text. The store compares `created_utc` as text, so an RFC 3339
    time in another form ("...T10:00:00Z", "+02:00", the API's documented example) or "24h"
    matched the wrong rows (often none): normalise it first, as the CLI does."""
    if not text:
        return None
    return format_utc(parse_time_arg(text, UTC, now=clock.now()))


def deliveries(store: Store, actor: Actor, *, channel: str | None = None, failed: bool = False,
               since: str | None = None, limit: int = 100, before_id: int | None = None) -> list[dict[str, Any]]:
    """Webhook and chat deliveries, newest first, each with its attempts (WH-13)."""
    channel_id = _channel_scope(store, actor, channel)
    rows = store.query_outbox(OutboxQuery(status="failed" if failed else None, channel_id=channel_id,
                                          since=_since(since),
                                          before_id=before_id, limit=limit * 4 if channel_id is None else limit))
    out = []
    for row in rows:
        if row["channel"] not in CHAT_KINDS:
            continue
        out.append({**_public(row), "attempt_log": [_attempt(a) for a in store.list_attempts(int(row["id"]))]})
        if len(out) >= limit:
            break
    return out


def retry(store: Store, actor: Actor, *, ids: list[int] | None = None, all_failed: bool = False,
          since: str | None = None, channel: str | None = None) -> dict[str, Any]:
    """Send failed messages again: the ones named, or every failed one since a time. Each keeps
    its idempotency key and `webhook-id`, so a receiver that got it once can tell (WH-13)."""
    if bool(ids) == all_failed:
        raise InvalidInput("name message ids, or ask for --all-failed (with --since)")
    channel_id = _channel_scope(store, actor, channel)
    if ids:
        chosen = []
        for message_id in ids:
            row = store.get_outbox(message_id)
            if row is None or (channel_id is not None and row.get("channel_id") != channel_id):
                raise NotFound(f"no message {message_id} in the outbox")
            chosen.append(message_id)
    else:
        if not since:
            raise InvalidInput("--all-failed needs --since, so an old backlog is not resent by accident",
                               hint="e.g. --since 2026-11-26 or --since 24h")
        rows = store.query_outbox(OutboxQuery(status="failed", channel_id=channel_id, since=_since(since),
                                              limit=MAX_RETRY))
        chosen = [int(r["id"]) for r in rows]
    count = store.requeue_outbox(chosen, now_utc=clock.now_text()) if chosen else 0
    audit.record(store, actor, "outbox.retry", target=",".join(map(str, chosen[:20])) or None,
                 detail={"count": count, "since": since, "channel": channel})
    return {"requeued": count, "ids": chosen, "at_utc": format_utc(clock.now())}
