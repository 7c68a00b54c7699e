"""Notification channels: where alerts go (email addresses, signed webhooks, Slack, Discord,
ntfy topics, SMS numbers).

A channel's target and secrets are sealed with the server key (WH-19): a Slack or Discord
URL carries its own credential, and a webhook's signing secret is shown once, at creation
or rotation. Lists show `target_hint`, a redacted form. Targets are checked here for form
(scheme, a literal private address); the full check (DNS, then the address) runs before
every delivery, since a name can change what it points to (WH-14).
"""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson

from ..errors import Conflict, InvalidInput
from ..notify import webhook_signing
from ..notify.email_message import check_address
from ..notify.http_post import redact_url
from ..notify.targets import UnsafeTargetError
from ..notify.targets import check_address as check_ip
from ..store.base import Store
from ..timeutil import format_utc, parse_utc
from . import audit, clock
from .actor import Actor
from .auth_config import auth_config
from .notify_config import notify_config
from .ownership import check, owner_project_id, visible
from .permissions import Op

KINDS = ("email", "webhook", "slack", "discord", "ntfy", "twilio")
URL_KINDS = frozenset({"webhook", "slack", "discord", "ntfy"})
MAX_EMAIL_RECIPIENTS = 1000
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")  # E.164


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidInput(f"invalid channel name {name!r}",
                           hint="use 1-63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit")
    return name


def _check_url(url: str, kind: str, allow_private: bool) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidInput(f"a {kind} channel needs an https:// URL")
    if parts.scheme == "http" and not allow_private:
        raise InvalidInput(f"a {kind} channel needs an https:// URL",
                           hint="http:// is allowed only with notify.allow_private_targets, for local development")
    if parts.username or parts.password:
        raise InvalidInput("put no user name or password in the URL")
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        address = None
    if address is not None:
        try:
            check_ip(address, allow_private=allow_private)
        except UnsafeTargetError as exc:
            raise InvalidInput(exc.message, hint=exc.hint) from None
    if kind == "ntfy" and not parts.path.strip("/"):
        raise InvalidInput("an ntfy channel's URL names its topic, e.g. https://ntfy.sh/my-alerts")
    return url.strip()


def normalise_target(kind: str, target: str, *, allow_private: bool) -> tuple[str, str]:
    """The target to store and its redacted hint.

    Raises:
        InvalidInput: a target that this kind of channel cannot use.
    """
    if kind not in KINDS:
        raise InvalidInput(f"unknown channel kind {kind!r}", hint=f"choose from {', '.join(KINDS)}")
    if kind == "email":
        addresses = [a.strip() for a in target.split(",") if a.strip()]
        if not addresses:
            raise InvalidInput("an email channel needs at least one address")
        if len(addresses) > MAX_EMAIL_RECIPIENTS:
            raise InvalidInput(f"an email channel takes at most {MAX_EMAIL_RECIPIENTS} addresses")
        for address in addresses:
            check_address("recipient", address)
        joined = ", ".join(dict.fromkeys(addresses))
        return joined, joined
    if kind == "twilio":
        number = target.replace(" ", "")
        if not _PHONE.match(number):
            raise InvalidInput(f"{target!r} is not a phone number in E.164 form", hint="e.g. +14155550123")
        return number, number[:3] + "•" * (len(number) - 7) + number[-4:]
    url = _check_url(target, kind, allow_private)
    return url, redact_url(url)


def public_channel(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": row["name"], "kind": row["kind"], "target": row["target_hint"], "project": row.get("project"),
        "status": row["status"], "disabled_reason": row["disabled_reason"], "created_utc": row["created_utc"],
        "last_success_utc": row["last_success_utc"], "failing_since_utc": row["failing_since_utc"],
    }


def add_channel(store: Store, actor: Actor, *, name: str, kind: str, target: str, project: str | None = None,
                token: str | None = None) -> dict[str, Any]:
    """Create a channel. A webhook channel gets a new `whsec_` secret, returned once as `secret`.
    `token` is an ntfy access token (optional)."""
    check_name(name)
    project_id = owner_project_id(store, actor, project)
    config = notify_config(store)
    stored, hint = normalise_target(kind, target, allow_private=config.allow_private_targets)
    box = auth_config(store).box
    secret: str | None = None
    if kind == "webhook":
        secret = webhook_signing.new_secret()
    elif kind == "ntfy" and token:
        secret = token.strip()
    elif token:
        raise InvalidInput(f"a {kind} channel takes no token")
    if store.find_channel(name) is not None:
        raise Conflict(f"a channel named {name!r} exists")
    now = clock.now_text()
    with store.transaction():
        store.insert_channel({
            "name": name, "kind": kind, "target_sealed": box.seal(stored), "target_hint": hint,
            "secret_sealed": box.seal(secret) if secret else None, "project_id": project_id,
            "created_by_user_id": actor.user_id, "created_utc": now, "status": "active",
        })
        audit.record(store, actor, "channel.create", target=name, project_id=project_id,
                     detail={"kind": kind, "target": hint})
    row = store.find_channel(name)
    assert row is not None
    out = public_channel({**row, "project": project})
    if kind == "webhook":
        out["secret"] = secret
    return out


def list_channels(store: Store, actor: Actor) -> list[dict[str, Any]]:
    return [public_channel(r) for r in visible(store, actor, store.list_channels())]


def get_channel(store: Store, actor: Actor, name: str, op: Op = Op.USAGE_READ) -> dict[str, Any]:
    """The channel's row (sealed fields included: for services, not for showing)."""
    return check(store, actor, store.find_channel(name), f"channel named {name!r}", op)


def remove_channel(store: Store, actor: Actor, name: str) -> None:
    row = get_channel(store, actor, name, Op.BUDGETS_MANAGE)
    with store.transaction():
        store.delete_channel(int(row["id"]))
        audit.record(store, actor, "channel.delete", target=name, project_id=row["project_id"])


def set_enabled(store: Store, actor: Actor, name: str, enabled: bool) -> dict[str, Any]:
    """Re-enable a disabled channel (its failure streak starts afresh), or disable one by hand."""
    row = get_channel(store, actor, name, Op.BUDGETS_MANAGE)
    fields: dict[str, Any] = (
        {"status": "active", "disabled_reason": None, "disabled_utc": None, "failing_since_utc": None}
        if enabled else {"status": "disabled", "disabled_reason": "disabled by hand", "disabled_utc": clock.now_text()}
    )
    with store.transaction():
        store.update_channel(int(row["id"]), fields)
        audit.record(store, actor, "channel.enable" if enabled else "channel.disable", target=name,
                     project_id=row["project_id"])
    return public_channel({**row, **fields, "project": _slug(store, row)})


def rotate_secret(store: Store, actor: Actor, name: str, *, overlap: timedelta | None = None) -> dict[str, Any]:
    """A new signing secret for a webhook channel. For `overlap` (default 24 h) deliveries are
    signed with both, so receivers can switch without dropping one (WH-05)."""
    row = get_channel(store, actor, name, Op.BUDGETS_MANAGE)
    if row["kind"] != "webhook":
        raise InvalidInput(f"channel {name!r} is a {row['kind']} channel: only webhooks have signing secrets")
    overlap = notify_config(store).secret_overlap if overlap is None else overlap
    if overlap < timedelta(0) or overlap > timedelta(days=7):
        raise InvalidInput("the overlap must be between 0 and 7 days")
    secret = webhook_signing.new_secret()
    until = format_utc(clock.now() + overlap)
    with store.transaction():
        store.update_channel(int(row["id"]), {
            "secret_sealed": auth_config(store).box.seal(secret),
            "previous_secret_sealed": row["secret_sealed"] if overlap else None,
            "previous_secret_until_utc": until if overlap else None,
        })
        audit.record(store, actor, "channel.rotate_secret", target=name, project_id=row["project_id"],
                     detail={"overlap_hours": overlap.total_seconds() / 3600})
    return {"name": name, "secret": secret, "previous_valid_until_utc": until if overlap else None}


def _slug(store: Store, row: dict[str, Any]) -> str | None:
    if row.get("project_id") is None:
        return None
    project = store.get_project_by_id(int(row["project_id"]))
    return str(project["slug"]) if project else None


# -- for delivery ---------------------------------------------------------------------------

def unsealed_target(store: Store, row: dict[str, Any]) -> str:
    return auth_config(store).box.open(row["target_sealed"])


def signing_secrets(store: Store, row: dict[str, Any]) -> list[str]:
    """The secrets a delivery is signed with now: the current one, and the previous one while
    its overlap lasts."""
    box = auth_config(store).box
    secrets = [box.open(row["secret_sealed"])] if row.get("secret_sealed") else []
    until = row.get("previous_secret_until_utc")
    if row.get("previous_secret_sealed") and until and clock.now() < parse_utc(until):
        secrets.append(box.open(row["previous_secret_sealed"]))
    return secrets


def channel_ids(store: Store, names: list[str], *, project_id: int | None) -> list[str]:
    """Check that every named channel exists and may serve an object of `project_id`: a
    project's budgets and rules notify its own channels or store-wide ones; store-wide
    objects notify store-wide channels only. Returns the names, deduplicated."""
    out: list[str] = []
    for name in names:
        row = store.find_channel(name)
        if row is None:
            raise InvalidInput(f"no channel named {name!r}", hint="see `agentcost channels list`")
        if row["project_id"] is not None and row["project_id"] != project_id:
            raise InvalidInput(f"channel {name!r} belongs to another project")
        if name not in out:
            out.append(name)
    return out


def encode_names(names: list[str]) -> str:
    return orjson.dumps(names).decode()
