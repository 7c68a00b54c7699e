"""The outbox: messages are rows first and deliveries second, so a crash or an outage
never loses one (the dispatcher arrives with the notifications work; until then
`agentcost outbox list|show` is how an operator reads what would be sent).

A message's variables are sealed with the server key: a reset link is a credential,
and the store must hold no usable token in clear.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..errors import NotFound
from ..notify import templates
from ..store.base import Store
from . import clock
from .actor import Actor
from .auth_config import auth_config
from .permissions import Op, require


def enqueue(store: Store, *, template: str, recipient: str, variables: dict[str, Any], idempotency_key: str) -> int:
    """Queue one email. The same `idempotency_key` never queues twice."""
    subject, _ = templates.render(template, variables)  # fail now, not at delivery, on a template error
    sealed = auth_config(store).box.seal(orjson.dumps(variables).decode())
    return store.insert_outbox({
        "created_utc": clock.now_text(),
        "channel": "email",
        "recipient": recipient,
        "template": template,
        "subject": subject,
        "payload_sealed": sealed,
        "idempotency_key": idempotency_key,
        "status": "pending",
    })


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "created_utc", "channel", "recipient", "template", "subject", "status",
                                "attempts", "next_attempt_utc", "sent_utc", "last_error")}


def list_messages(store: Store, actor: Actor, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    require(store, actor, Op.STORE_ADMIN)
    return [_public(r) for r in store.list_outbox(status=status, limit=limit)]


def show_message(store: Store, actor: Actor, message_id: int) -> dict[str, Any]:
    """One message with its rendered body (which may hold a live link: operators only)."""
    require(store, actor, Op.STORE_ADMIN)
    row = store.get_outbox(message_id)
    if row is None:
        raise NotFound(f"no message {message_id} in the outbox")
    variables = orjson.loads(auth_config(store).box.open(row["payload_sealed"]))
    _, body = templates.render(row["template"], variables)
    return {**_public(row), "body": body}
