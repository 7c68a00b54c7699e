"""`agentcost alerts test`: send a test message through channels now and say what happened.

A test goes through the outbox like any alert (so it exercises the same signing, limits and
target checks) and is dispatched at once. An email channel with no provider configured is
an error here, before anything is queued: never a test that "passes" by sending nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from ..errors import InvalidInput
from ..notify.notice import Notice
from ..store.alerts import OutboxQuery
from ..store.base import Store
from . import alerting, clock, dispatch
from .actor import Actor
from .auth_config import auth_config
from .channels import get_channel
from .notify_config import notify_config
from .ownership import visible
from .permissions import Op


def test_channels(store: Store, actor: Actor, names: list[str]) -> list[dict[str, Any]]:
    """Queue and dispatch one `test.message` per channel (every active channel the actor
    manages when `names` is empty). Returns each channel's outcome."""
    if names:
        rows = [get_channel(store, actor, name, Op.BUDGETS_MANAGE) for name in dict.fromkeys(names)]
    else:
        rows = [r for r in visible(store, actor, store.list_channels()) if r["status"] == "active"]
        if not rows:
            raise InvalidInput("there are no channels to test", hint="add one with `agentcost channels add`")
    for row in rows:
        if row["status"] != "active":
            raise InvalidInput(f"channel {row['name']!r} is disabled ({row['disabled_reason']})",
                               hint=f"enable it with `agentcost channels enable {row['name']}`")
        if row["kind"] == "email":
            notify_config(store).email()  # ConfigError names what to set
    run = uuid.uuid4().hex[:12]
    notice = Notice(type="test.message", title="Test message from agentcost",
                    summary=f"This is a test of your agentcost alert channel, requested by {actor.label}.",
                    severity="info", occurred_utc=clock.now_text(), fields=(("Requested by", actor.label),),
                    data={"message": "test", "requested_by": actor.label})
    sealed = auth_config(store).box.seal(alerting.notice_to_json(notice))
    with store.transaction():
        for row in rows:
            alerting.enqueue_notice(store, notice, row, sealed=sealed, key=f"test/{run}/{row['id']}")
    for _ in range(3):  # other due messages may go first; a few passes reach ours
        if not dispatch.dispatch_once(store, limit=100).claimed:
            break
    out = []
    for row in rows:
        messages = [m for m in store.query_outbox(OutboxQuery(channel_id=int(row["id"]), limit=50))
                    if str(m["idempotency_key"]).startswith(f"test/{run}/")]
        for message in messages:
            attempts = store.list_attempts(int(message["id"]))
            last = attempts[-1] if attempts else None
            out.append({"channel": row["name"], "kind": row["kind"], "message_id": message["id"],
                        "status": message["status"], "outcome": last["outcome"] if last else None,
                        "status_code": last["status_code"] if last else None,
                        "latency_ms": last["latency_ms"] if last else None,
                        "error": message["last_error"]})
    return out
