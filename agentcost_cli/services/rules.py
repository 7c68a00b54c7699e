"""Custom alert rules (`cost > 50 and provider == "openai" per day`): stored as their
canonical text, compiled on every evaluation. Parse errors name the column."""

from __future__ import annotations

import re
from typing import Any

import orjson

from ..alerts.rule_query import tag_filters
from ..alerts.rules import compile_rule
from ..errors import Conflict, InvalidInput
from ..store.base import Store
from . import audit, channels, clock
from .actor import Actor
from .ownership import check, owner_project_id, visible
from .permissions import Op

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def check_expression(expression: str) -> str:
    """The rule's canonical text. Raises RuleSyntaxError (an InvalidInput) with the column."""
    rule = compile_rule(expression)
    tag_filters(rule)
    return rule.to_text()


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {"name": row["name"], "expression": row["expression"], "project": row.get("project"),
            "channels": orjson.loads(row["channels_json"]), "enabled": bool(row["enabled"]),
            "created_utc": row["created_utc"], "updated_utc": row["updated_utc"]}


def create_rule(store: Store, actor: Actor, *, name: str, expression: str, project: str | None = None,
                channel_names: list[str] | None = None) -> dict[str, Any]:
    if not _NAME.match(name):
        raise InvalidInput(f"invalid rule name {name!r}", hint="1-63 letters, digits, '.', '_' or '-'")
    text = check_expression(expression)
    project_id = owner_project_id(store, actor, project)
    names = channels.channel_ids(store, channel_names or [], project_id=project_id)
    if store.find_rule(name) is not None:
        raise Conflict(f"a rule named {name!r} exists")
    now = clock.now_text()
    with store.transaction():
        store.insert_rule({"name": name, "expression": text, "project_id": project_id,
                           "channels_json": channels.encode_names(names), "enabled": 1,
                           "created_by_user_id": actor.user_id, "created_utc": now, "updated_utc": now})
        audit.record(store, actor, "rule.create", target=name, project_id=project_id, detail={"expression": text})
    return _public({**_find(store, actor, name, Op.USAGE_READ)})


def _find(store: Store, actor: Actor, name: str, op: Op) -> dict[str, Any]:
    row = check(store, actor, store.find_rule(name), f"rule named {name!r}", op)
    # find_rule has no `project` (only list_rules joins it): without this, create and update
    # answered "project": null for a project's rule, unlike list_rules and budgets.
    if row.get("project") is None and row.get("project_id") is not None:
        project = store.get_project_by_id(int(row["project_id"]))
        row = {**row, "project": project["slug"] if project else None}
    return row


def list_rules(store: Store, actor: Actor) -> list[dict[str, Any]]:
    return [_public(r) for r in visible(store, actor, store.list_rules())]


def update_rule(store: Store, actor: Actor, name: str, *, expression: str | None = None,
                channel_names: list[str] | None = None, enabled: bool | None = None) -> dict[str, Any]:
    row = _find(store, actor, name, Op.BUDGETS_MANAGE)
    fields: dict[str, Any] = {}
    if expression is not None:
        fields["expression"] = check_expression(expression)
    if channel_names is not None:
        fields["channels_json"] = channels.encode_names(
            channels.channel_ids(store, channel_names, project_id=row["project_id"]))
    if enabled is not None:
        fields["enabled"] = int(enabled)
    if not fields:
        raise InvalidInput("nothing to change", hint="give --expression, --channel, --enable or --disable")
    fields["updated_utc"] = clock.now_text()
    with store.transaction():
        store.update_rule(int(row["id"]), fields)
        audit.record(store, actor, "rule.update", target=name, project_id=row["project_id"],
                     detail={k: v for k, v in fields.items() if k != "updated_utc"})
    return _public(_find(store, actor, name, Op.USAGE_READ))


def delete_rule(store: Store, actor: Actor, name: str) -> None:
    row = _find(store, actor, name, Op.BUDGETS_MANAGE)
    with store.transaction():
        store.delete_rule(int(row["id"]))
        audit.record(store, actor, "rule.delete", target=name, project_id=row["project_id"])
