"""Anomaly alerts: each project's spend today against its own last 28 days (robust z-score,
see alerts/anomaly.py). Days are the store's rollup days (its configured zone), read from
the daily rollup, so a scan costs one small query however many events there are.

Fires at most once per project and day (`anomaly:<project id>:<day>`). Today's spend is
the spend so far, so a spike is caught within the hour rather than the next morning.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ..alerts import anomaly
from ..models import format_usd
from ..notify.notice import Notice
from ..store.base import AggregateQuery, EventFilter, Store
from ..timeutil import format_utc, resolve_zone
from . import alerting, clock
from .notify_config import notify_config

DAYS = anomaly.DEFAULT_BASELINE_DAYS


def _usd(nanos: int | Decimal) -> str:
    return f"${Decimal(nanos) / Decimal(10**9):,.2f}"


def daily_spend(store: Store, first: date, last: date) -> dict[str, dict[str, int]]:
    """{project slug: {YYYY-MM-DD: nanos}} for the days first..last (inclusive)."""
    rows = store.aggregate(AggregateQuery(
        filter=EventFilter(since=first.isoformat(), until=(last + timedelta(days=1)).isoformat()),
        dimensions=("project",), time_grain="day"))
    out: dict[str, dict[str, int]] = {}
    for row in rows:
        slug = str(row.keys[0])
        day = str(row.bucket)[:10]
        out.setdefault(slug, {})[day] = out.get(slug, {}).get(day, 0) + int(row.sums.get("cost_nanos") or 0)
    return out


def scan_anomalies(store: Store, *, now: datetime | None = None) -> dict[str, Any]:
    """Test every project's spend today; fire for the spikes. Returns what was found."""
    sensitivity = notify_config(store).anomaly_sensitivity
    if str(sensitivity).strip().lower() == "off":
        return {"checked": 0, "fired": [], "skipped": "anomaly alerts are off"}
    anomaly.resolve_sensitivity(sensitivity)  # a bad setting is an error, not silence
    now = now or clock.now()
    zone = resolve_zone(store.rollup_zone)
    today = now.astimezone(zone).date()
    first = today - timedelta(days=DAYS)
    spend = daily_spend(store, first, today)
    projects = {str(p["slug"]): p for p in store.list_projects()}
    fired: list[dict[str, Any]] = []
    checked = 0
    for slug, days in sorted(spend.items()):
        project = projects.get(slug)
        if project is None:
            continue
        checked += 1
        history = [days.get((first + timedelta(days=i)).isoformat(), 0) for i in range(DAYS)]
        result = anomaly.detect(history, days.get(today.isoformat(), 0), sensitivity=sensitivity)
        if not result.is_anomaly:
            continue
        z = result.z.quantize(Decimal("0.01")) if result.z is not None else None
        median = result.median_nanos or Decimal(0)
        notice = Notice(
            type="anomaly.detected", title=f"Unusual spend in project '{slug}' today",
            summary=f"Project '{slug}' has spent {_usd(result.today_nanos)} today ({today.isoformat()}), against a "
                    f"typical {_usd(median)} a day over the last {result.history_days} days.",
            severity="warning", occurred_utc=format_utc(now),
            fields=(("Project", slug), ("Today", _usd(result.today_nanos)), ("Typical day", _usd(median)),
                    ("Robust z-score", str(z) if z is not None else "n/a (flat history)"),
                    ("Threshold", str(result.threshold))),
            data={"project": slug, "day": today.isoformat(), "spent_usd": format_usd(result.today_nanos),
                  "baseline_median_usd": format(median / Decimal(10**9), "f"),
                  "z_score": str(z) if z is not None else None, "threshold": str(result.threshold),
                  "history_days": result.history_days})
        alert_id = alerting.fire(store, dedupe_key=f"anomaly:{project['id']}:{today.isoformat()}", notice=notice,
                                 channel_names=_channels_for(store, int(project["id"])),
                                 project_id=int(project["id"]), source=f"project:{slug}")
        if alert_id is not None:
            fired.append({"id": alert_id, "project": slug, "day": today.isoformat(), "z": str(z)})
    return {"checked": checked, "fired": fired}


def _channels_for(store: Store, project_id: int) -> list[str]:
    """Anomalies go to the channels of the project's budgets and rules (the people who said
    they watch its spend), else to the operators' channels."""
    import orjson

    names: list[str] = []
    for row in [*store.list_budgets(), *store.list_rules()]:
        if row["project_id"] == project_id:
            names += orjson.loads(row["channels_json"])
    return list(dict.fromkeys(names)) or list(notify_config(store).operator_channels)


__all__ = ["daily_spend", "scan_anomalies"]
