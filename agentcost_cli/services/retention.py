"""The daily retention purge (GD-05): raw events past their project's retention (or
`retention.events_days`), finished deliveries and their attempts, old alerts, old login
failures. The audit log is append-only by design (its triggers refuse deletes) and is
kept; the rollups of purged events go with them, so reports never count what is gone."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..settings import Settings
from ..store.base import Store
from ..timeutil import format_utc
from . import clock

LOGIN_FAILURE_DAYS = 30


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def purge(store: Store, conf: Settings | None = None, *, now: datetime | None = None) -> dict[str, Any]:
    conf = conf or Settings.load()
    now = now or clock.now()
    removed: dict[str, Any] = {"events": {}}
    default_days = int(conf["retention.events_days"])
    for project in store.list_projects():
        days = int(project["retention_days"] or default_days)
        if days > 0:
            count = store.purge_events(int(project["id"]), format_utc(_hour(now - timedelta(days=days))))
            if count:
                removed["events"][project["slug"]] = count
    removed["deliveries"] = store.purge_outbox(format_utc(now - timedelta(days=int(conf["retention.deliveries_days"]))))
    removed["alerts"] = store.purge_alerts(format_utc(now - timedelta(days=int(conf["retention.alerts_days"]))))
    removed["login_failures"] = store.prune_login_failures(format_utc(now - timedelta(days=LOGIN_FAILURE_DAYS)))
    return removed
