"""The daemon's scheduled jobs on APScheduler (3.x, a background thread pool).

APScheduler only decides *when* this process tries a job; whether the slot is still to
run is decided in the store (`services.jobs.run_job` takes the slot's lease), so several
daemons (or `--workers N` processes) on one store run each slot once. Timers are staggered
by a random offset so the daemons do not all wake at the same instant.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from ..services.dispatch import dispatcher_id
from ..services.jobs import JobSpec, parse_daily, run_job
from ..store.base import Store

log = logging.getLogger("agentcost.scheduler")
NUDGE_SECONDS = 5


class JobScheduler:
    def __init__(self, specs: list[JobSpec], stores: Callable[[], Store], *, zone: str = "UTC") -> None:
        from apscheduler.schedulers.background import BackgroundScheduler

        self.specs = {spec.name: spec for spec in specs}
        self.stores = stores
        self.zone = zone
        self.owner = dispatcher_id()
        # APScheduler logs every run at INFO ("Running job...", "executed successfully"): twice a
        # second with dispatch. Our own line per run (services/jobs.py) says what matters.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        self.scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1,
                                                                           "misfire_grace_time": 300})
        self._nudge_due = -float(NUDGE_SECONDS)  # when the pending nudged run starts (time.monotonic)
        self._nudges = 0

    def start(self) -> None:
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        for spec in self.specs.values():
            if spec.every is not None:
                seconds = spec.every.total_seconds()
                trigger: Any = IntervalTrigger(seconds=seconds, jitter=min(seconds / 10, 30))
            else:
                assert spec.daily_at is not None
                hour, minute = parse_daily(spec.daily_at)
                trigger = CronTrigger(hour=hour, minute=minute, timezone=self.zone,
                                      jitter=int(spec.jitter.total_seconds()) or None)
            self.scheduler.add_job(self._run, trigger, args=[spec.name], id=spec.name, name=spec.description)
        self.scheduler.start()
        # A first dispatch and evaluation soon after start: what was due while the daemon was
        # down (a message in backoff, kill -9 included) goes out on time, not a full interval late.
        for name in ("outbox.dispatch", "alerts.evaluate"):
            if name in self.specs:
                self.scheduler.modify_job(name, next_run_time=datetime.now(UTC))
        log.info("scheduler started: %s", ", ".join(self.specs))

    def _run(self, name: str, nudged: str | None = None) -> None:
        # A small random delay spreads daemons that share a store over the slot.
        threading.Event().wait(random.uniform(0, 0.2))
        spec = self.specs[name]
        if nudged is not None:
            # Fixed: nudged runs used the job's own row with slots "nudge-<5 s bucket>". The row
            # keeps only the last slot, so a nudge between two daemons' timers let the second
            # daemon run the minute's slot again; and a nudge slot computed at run time could
            # equal the previous nudge's bucket (skipped, its batch unevaluated for a minute).
            # Now: a row of their own ("<job>.nudge") and a slot fixed when nudged, unique to
            # this daemon (its batches are what it must evaluate).
            spec = replace(spec, name=f"{name}.nudge")
        run_job(self.stores(), spec, owner=self.owner, zone=self.zone, slot=nudged)

    def nudge(self, name: str) -> None:
        """Run `name` once soon (evaluation after an ingested batch); cheap to call often."""
        now = time.monotonic()
        # Fixed: a batch within NUDGE_SECONDS of the last nudge was dropped (its spend waited for
        # the next minute's run). Now a batch is covered by the nudged run still to start, or
        # schedules one: at most one per NUDGE_SECONDS, none lost.
        if now < self._nudge_due:  # the hot ingestion path pays one comparison
            return
        if name in self.specs and self.scheduler.running:
            due = max(now + 1, self._nudge_due + NUDGE_SECONDS)
            self._nudge_due = due
            self._nudges += 1
            # Slots must sort in time order (Store.claim_job): nanoseconds first, then who.
            slot = f"{time.time_ns():020d}:{self.owner}"
            self.scheduler.add_job(self._run, args=[name, slot], id=f"{name}.nudge",
                                   replace_existing=True,
                                   next_run_time=datetime.now(UTC) + timedelta(seconds=due - now))

    def next_runs(self) -> dict[str, str | None]:
        from ..timeutil import format_utc

        return {job.id: format_utc(job.next_run_time) if job.next_run_time else None
                for job in self.scheduler.get_jobs()}

    def shutdown(self) -> None:
        self.scheduler.shutdown(wait=True)
