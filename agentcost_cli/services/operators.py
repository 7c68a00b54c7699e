"""Notices for the people who run agentcost: price changes, disabled channels.

They go to the channels named in `notify.operator_channels`; with none named, by email to
every active server admin, when email is configured. A notice is an alert like any other
(recorded once under its dedupe key, mutable with `kind:...`).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..notify.notice import Notice
from ..store.base import Store
from . import alerting
from .auth_config import auth_config
from .notify_config import notify_config


def operator_emails(store: Store) -> list[str]:
    return [str(u["email"]) for u in store.list_users() if u.get("is_admin") and u.get("status") == "active"]


def notify_operators(store: Store, notice: Notice, *, dedupe_key: str, project_id: int | None = None,
                     exclude: str | None = None, extra_emails: Iterable[str] = ()) -> int | None:
    """Fire `notice` to the operators. Returns the alert id (None: it fired before)."""
    config = notify_config(store)
    names = [n for n in config.operator_channels if n != exclude]
    emails = list(dict.fromkeys(extra_emails))
    if not names:
        emails = list(dict.fromkeys([*emails, *operator_emails(store)]))
    alert_id = alerting.fire(store, dedupe_key=dedupe_key, notice=notice, channel_names=names,
                             project_id=project_id, source="operators")
    if alert_id is None or not emails or not config.email_configured():
        return alert_id
    alert = store.get_alert(alert_id)
    if alert is None or alert["muted"]:
        return alert_id
    sealed = auth_config(store).box.seal(alerting.notice_to_json(notice))
    with store.transaction():
        for address in emails:
            alerting.enqueue_notice(store, notice, {"kind": "email", "name": address, "id": None}, sealed=sealed,
                                    key=f"alert/{alert_id}/email/{address}"[:256], alert_id=alert_id)
    return alert_id
