"""The daemon's scheduled jobs, independent of the scheduler that fires them.

Each job names its schedule (an interval, or a daily local time with jitter) and a `slot`:
the text naming one scheduled run (the minute, the hour, the day). `run_job` takes the
job's lease for that slot in the store first (`Store.claim_job`), so with several daemons
on one store each slot runs once, whichever daemon's timer fires first; the others skip.
Each run is logged (start, end, outcome, a short summary) and kept in `job_runs`, which
`agentcost daemon jobs` reads.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..errors import AgentcostError, InvalidInput
from ..store.base import Store
from ..timeutil import format_utc, parse_utc, resolve_zone
from . import clock
from .actor import Actor
from .permissions import Op, require

log = logging.getLogger("agentcost.jobs")


@dataclass(frozen=True)
class JobSpec:
    name: str
    description: str
    run: Callable[[Store], dict[str, Any]]
    every: timedelta | None = None  # an interval job
    daily_at: str | None = None  # "HH:MM" local time, with up to `jitter` added
    jitter: timedelta = timedelta(0)
    lease: timedelta = timedelta(minutes=10)  # longer than a run may take; a crashed run's lease expires
    # A cheap read that says whether there is anything to do. False skips the slot without
    # taking it: a job that wakes every second (dispatch) then writes, logs and counts only
    # the runs that did work, and never takes the store's write lock while idle.
    has_work: Callable[[Store, datetime], bool] | None = None

    def slot(self, now: datetime, zone: str) -> str:
        """The run `now` belongs to."""
        if self.every is not None:
            seconds = int(self.every.total_seconds())
            return f"{int(now.timestamp()) // seconds * seconds}"
        # The day of the scheduled time the run belongs to, not of `now`: a run jittered (or
        # late, within misfire grace) past midnight keeps its day, else the next day's run would
        # find "its" slot taken and be skipped. Fixed: it was `now`'s local date.
        local = now.astimezone(resolve_zone(zone))
        hour, minute = parse_daily(self.daily_at or "00:00")
        day = local.date() if (local.hour, local.minute) >= (hour, minute) else local.date() - timedelta(days=1)
        return day.isoformat()

    def next_run(self, after: datetime, zone: str) -> datetime:
        """When the next slot starts after `after` (without jitter)."""
        if self.every is not None:
            seconds = int(self.every.total_seconds())
            return datetime.fromtimestamp((int(after.timestamp()) // seconds + 1) * seconds, tz=after.tzinfo)
        assert self.daily_at is not None
        tz = resolve_zone(zone)
        hour, minute = parse_daily(self.daily_at)
        local = after.astimezone(tz)
        candidate = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if candidate <= local:
            candidate = (candidate + timedelta(days=1)).replace(hour=hour, minute=minute)
        return candidate.astimezone(after.tzinfo)


def parse_daily(text: str) -> tuple[int, int]:
    try:
        hour_text, minute_text = text.strip().split(":")
        hour, minute = int(hour_text), int(minute_text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a time of day", hint="give HH:MM, e.g. 02:00") from None
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise InvalidInput(f"{text!r} is not a time of day", hint="give HH:MM, e.g. 02:00")
    return hour, minute


def run_job(store: Store, spec: JobSpec, *, owner: str, zone: str = "UTC", now: datetime | None = None,
            slot: str | None = None) -> dict[str, Any] | None:
    """Run one slot of `spec` unless another daemon has (or is). Returns the run's summary,
    or None when skipped. Failures are logged and recorded, never raised: a scheduler
    thread must survive a bad run."""
    now = now or clock.now()
    if spec.has_work is not None and not spec.has_work(store, now):
        return None
    slot = slot or spec.slot(now, zone)
    if not store.claim_job(spec.name, slot=slot, owner=owner, now_utc=format_utc(now),
                           lease_until_utc=format_utc(now + spec.lease)):
        return None
    started = time.perf_counter()
    status, error, summary = "ok", None, {}
    try:
        summary = spec.run(store)
    except AgentcostError as exc:
        status, error = "error", exc.message
    except Exception as exc:
        status, error = "error", f"{type(exc).__name__}: {exc}"
        log.exception("job %s failed", spec.name)
    seconds = time.perf_counter() - started
    store.finish_job(spec.name, owner=owner, end_utc=clock.now_text(), status=status, error=error)
    log.info("job %s %s in %.3f s", spec.name, status, seconds,
             extra={"job": spec.name, "slot": slot, "status": status, "error": error, "seconds": round(seconds, 3),
                    "summary": summary})
    return {"job": spec.name, "slot": slot, "status": status, "error": error, "seconds": seconds, **summary}


# -- the jobs -------------------------------------------------------------------------------

def _dispatch(store: Store) -> dict[str, Any]:
    from .dispatch import dispatch_once

    report = dispatch_once(store, limit=100)
    return {"sent": report.sent, "claimed": report.claimed, "dead": report.dead}


def _due(store: Store, now: datetime) -> bool:
    due = store.next_outbox_due()
    return due is not None and (due == "" or due <= format_utc(now))


def _evaluate(store: Store) -> dict[str, Any]:
    from .alert_run import evaluate

    report = evaluate(store)
    return {"fired": len(report["fired"]), "errors": len(report["errors"])}


def _anomalies(store: Store) -> dict[str, Any]:
    from .anomalies import scan_anomalies

    report = scan_anomalies(store)
    return {"checked": report["checked"], "fired": len(report["fired"])}


def _pricing(store: Store) -> dict[str, Any]:
    from ..settings import Settings
    from .actor import LOCAL
    from .pricing import update_prices

    conf = Settings.load()
    result = update_prices(store, LOCAL.at("scheduler"), source=conf["pricing.url"], timeout=conf["pricing.timeout"])
    return {"status": result.status, "changes": len(result.changes)}


def _purge(store: Store) -> dict[str, Any]:
    from .retention import purge

    return purge(store)


def _imports(store: Store) -> dict[str, Any]:
    from .scheduled_imports import run_configured_imports

    return run_configured_imports(store)


def job_specs(*, pricing_at: str = "02:00", imports: bool = False) -> list[JobSpec]:
    """The daemon's jobs under the given settings."""
    specs = [
        JobSpec("outbox.dispatch", "deliver due alerts and emails", _dispatch, every=timedelta(seconds=1),
                lease=timedelta(minutes=5), has_work=_due),
        JobSpec("alerts.evaluate", "budgets, forecasts and alert rules", _evaluate, every=timedelta(minutes=1)),
        JobSpec("anomalies.scan", "daily spend against each project's baseline", _anomalies,
                every=timedelta(hours=1)),
        JobSpec("retention.purge", "delete what is past its retention", _purge, daily_at="03:30",
                jitter=timedelta(minutes=10), lease=timedelta(hours=1)),
    ]
    if pricing_at.strip().lower() != "off":
        parse_daily(pricing_at)
        specs.append(JobSpec("pricing.refresh", "fetch and validate new prices (conditional GET)", _pricing,
                             daily_at=pricing_at, jitter=timedelta(minutes=10), lease=timedelta(minutes=30)))
    if imports:
        specs.append(JobSpec("imports.agents", "import new Claude Code / Codex logs", _imports,
                             every=timedelta(minutes=10), lease=timedelta(minutes=30)))
    return specs


def jitter(spec: JobSpec) -> float:
    return random.uniform(0, spec.jitter.total_seconds()) if spec.jitter else 0.0


def list_jobs(store: Store, actor: Actor, *, specs: list[JobSpec] | None = None,
              zone: str | None = None) -> list[dict[str, Any]]:
    """Every job with its last run (from the store) and its next one."""
    require(store, actor, Op.STORE_ADMIN)
    if specs is None:
        from ..settings import Settings

        conf = Settings.load()
        specs = job_specs(pricing_at=conf["scheduler.pricing_refresh"], imports=bool(conf["scheduler.import_paths"]))
    zone = zone or store.rollup_zone
    rows = {r["job"]: r for r in store.list_jobs()}
    now = clock.now()
    out = []
    for spec in specs:
        row = rows.get(spec.name, {})
        last = parse_utc(row["last_start_utc"]) if row.get("last_start_utc") else None
        schedule = f"every {_span(spec.every)}" if spec.every else f"daily at {spec.daily_at} {zone}"
        if spec.has_work is not None:
            schedule += ", when due"
        out.append({
            "job": spec.name, "description": spec.description, "schedule": schedule,
            "last_start_utc": row.get("last_start_utc"), "last_end_utc": row.get("last_end_utc"),
            "last_status": row.get("last_status"), "last_error": row.get("last_error"),
            "last_owner": row.get("last_owner"), "runs": row.get("runs", 0),
            "next_run_utc": format_utc(spec.next_run(max(last, now) if last else now, zone)),
        })
    return out


def _span(delta: timedelta | None) -> str:
    assert delta is not None
    seconds = int(delta.total_seconds())
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"
