"""services/jobs.py: slots and next runs (daily jobs across Europe/Paris DST included), the
per-slot lease (`run_job` skips a slot another daemon ran or runs), and error recording."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agentcost_cli.errors import AgentcostError, InvalidInput
from agentcost_cli.services import clock
from agentcost_cli.services.actor import LOCAL
from agentcost_cli.services.jobs import JobSpec, job_specs, list_jobs, parse_daily, run_job

PARIS = ZoneInfo("Europe/Paris")


def _noop(store: Any) -> dict[str, Any]:
    return {"did": 1}


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


EVERY_MINUTE = JobSpec("t.minute", "test", _noop, every=timedelta(minutes=1))
DAILY_0230 = JobSpec("t.daily", "test", _noop, daily_at="02:30", jitter=timedelta(minutes=10))


# -- slots and next runs ----------------------------------------------------------------------

def test_an_interval_slot_is_the_interval_the_moment_falls_in() -> None:
    assert EVERY_MINUTE.slot(utc(2026, 5, 1, 10, 0, 0), "UTC") == EVERY_MINUTE.slot(utc(2026, 5, 1, 10, 0, 59), "UTC")
    assert EVERY_MINUTE.slot(utc(2026, 5, 1, 10, 0, 59), "UTC") != EVERY_MINUTE.slot(utc(2026, 5, 1, 10, 1), "UTC")
    # the zone plays no part in an interval's slot
    assert EVERY_MINUTE.slot(utc(2026, 5, 1, 10, 0, 1), "Europe/Paris") == EVERY_MINUTE.slot(
        utc(2026, 5, 1, 10, 0, 1), "UTC")
    assert EVERY_MINUTE.slot(utc(2026, 5, 1, 10, 0, 1), "UTC") == str(int(utc(2026, 5, 1, 10).timestamp()))


def test_an_interval_job_next_runs_at_the_next_boundary() -> None:
    assert EVERY_MINUTE.next_run(utc(2026, 5, 1, 10, 0, 30), "UTC") == utc(2026, 5, 1, 10, 1)
    assert EVERY_MINUTE.next_run(utc(2026, 5, 1, 10, 1), "UTC") == utc(2026, 5, 1, 10, 2)  # strictly after
    five = JobSpec("t.five", "test", _noop, every=timedelta(seconds=5))
    assert five.next_run(utc(2026, 5, 1, 10, 0, 4), "UTC") == utc(2026, 5, 1, 10, 0, 5)


def test_a_daily_slot_is_the_local_day_of_its_scheduled_time() -> None:
    # 02:30 Paris is 00:30 UTC in summer: a run at 00:35 UTC on May 2 is May 2's run...
    assert DAILY_0230.slot(utc(2026, 5, 2, 0, 35), "Europe/Paris") == "2026-05-02"
    # ...so is 23:59 local, and 00:30 local on May 3 (22:30 UTC May 2), before May 3's 02:30
    assert DAILY_0230.slot(utc(2026, 5, 2, 21, 59), "Europe/Paris") == "2026-05-02"
    assert DAILY_0230.slot(utc(2026, 5, 2, 22, 30), "Europe/Paris") == "2026-05-02"
    # in UTC the same instant is another day's time
    assert DAILY_0230.slot(utc(2026, 5, 2, 2, 29), "UTC") == "2026-05-01"


def test_a_daily_run_jittered_past_midnight_keeps_its_day() -> None:
    """23:55 with up to 10 minutes of jitter fires as late as 00:05 the next day. That run is
    the previous day's, or the next day's run (at 23:55) would find its slot taken."""
    late = JobSpec("t.late", "test", _noop, daily_at="23:55", jitter=timedelta(minutes=10))
    first = late.slot(utc(2026, 5, 3, 0, 4), "UTC")
    second = late.slot(utc(2026, 5, 3, 23, 57), "UTC")
    assert (first, second) == ("2026-05-02", "2026-05-03")


def test_daily_slot_before_the_time_is_the_previous_day() -> None:
    assert DAILY_0230.slot(utc(2026, 5, 3, 0, 29), "Europe/Paris") == "2026-05-02"  # 02:29 local
    assert DAILY_0230.slot(utc(2026, 5, 3, 0, 30), "Europe/Paris") == "2026-05-03"  # 02:30 local


def test_daily_next_run_in_winter_and_summer() -> None:
    # CET (UTC+1) and CEST (UTC+2)
    assert DAILY_0230.next_run(utc(2026, 1, 10, 12), "Europe/Paris") == utc(2026, 1, 11, 1, 30)
    assert DAILY_0230.next_run(utc(2026, 7, 10, 0, 0), "Europe/Paris") == utc(2026, 7, 10, 0, 30)  # later today
    assert DAILY_0230.next_run(utc(2026, 7, 10, 0, 30), "Europe/Paris") == utc(2026, 7, 11, 0, 30)  # strictly after
    assert DAILY_0230.next_run(utc(2026, 7, 10, 12), "UTC") == utc(2026, 7, 11, 2, 30)
    assert DAILY_0230.next_run(utc(2026, 7, 10, 12), "UTC").tzinfo is not None


def test_daily_next_run_across_the_spring_forward_gap() -> None:
    """Paris skips 02:00-03:00 on 2026-03-29. 02:30 does not exist that day; like APScheduler's
    CronTrigger (which fires the job) it is taken with the winter offset: 01:30 UTC (03:30 CEST)."""
    from apscheduler.triggers.cron import CronTrigger

    before = utc(2026, 3, 28, 12)
    ours = DAILY_0230.next_run(before, "Europe/Paris")
    assert ours == utc(2026, 3, 29, 1, 30)
    theirs = CronTrigger(hour=2, minute=30, timezone="Europe/Paris").get_next_fire_time(None, before)
    assert theirs is not None and theirs.astimezone(UTC) == ours  # a time in the gap never compares equal
    # the day after, back to summer time: 00:30 UTC, 23 hours later
    assert DAILY_0230.next_run(ours, "Europe/Paris") == utc(2026, 3, 30, 0, 30)
    # the run in the gap belongs to March 29
    assert DAILY_0230.slot(ours, "Europe/Paris") == "2026-03-29"


def test_daily_next_run_across_the_fall_back_overlap() -> None:
    """02:00-03:00 happens twice on 2026-10-25 in Paris. The first 02:00 (CEST, 00:00 UTC) is the
    run; APScheduler fires again at the second (CET, 01:00 UTC), which is the same slot."""
    two = JobSpec("t.two", "test", _noop, daily_at="02:00")
    first = two.next_run(utc(2026, 10, 24, 12), "Europe/Paris")
    assert first == utc(2026, 10, 25, 0, 0)
    # after that run, the next is the next day's (CET): 25 hours later
    assert two.next_run(first + timedelta(seconds=1), "Europe/Paris") == utc(2026, 10, 26, 1, 0)
    assert two.slot(utc(2026, 10, 25, 0, 0), "Europe/Paris") == two.slot(utc(2026, 10, 25, 1, 0), "Europe/Paris")
    assert two.slot(utc(2026, 10, 25, 1, 0), "Europe/Paris") == "2026-10-25"


def test_the_second_fall_back_firing_is_skipped(store: Any) -> None:
    two = JobSpec("t.two", "test", _noop, daily_at="02:00")
    assert run_job(store, two, owner="a", zone="Europe/Paris", now=utc(2026, 10, 25, 0, 0)) is not None
    assert run_job(store, two, owner="a", zone="Europe/Paris", now=utc(2026, 10, 25, 1, 0)) is None
    assert run_job(store, two, owner="a", zone="Europe/Paris", now=utc(2026, 10, 26, 1, 0)) is not None


@pytest.mark.parametrize("text", ["2", "24:00", "12:60", "-1:00", "ab:cd", "1:2:3", "", "noon"])
def test_parse_daily_refuses_what_is_not_a_time_of_day(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_daily(text)
    assert "not a time of day" in caught.value.message and caught.value.hint


@pytest.mark.parametrize(("text", "expected"), [("02:00", (2, 0)), (" 23:59 ", (23, 59)), ("0:5", (0, 5))])
def test_parse_daily_accepts_hh_mm(text: str, expected: tuple[int, int]) -> None:
    assert parse_daily(text) == expected


def test_job_specs_follow_the_settings() -> None:
    names = [s.name for s in job_specs()]
    assert names == ["outbox.dispatch", "alerts.evaluate", "anomalies.scan", "retention.purge", "pricing.refresh"]
    assert "pricing.refresh" not in [s.name for s in job_specs(pricing_at="off")]
    assert [s.name for s in job_specs(imports=True)][-1] == "imports.agents"
    assert next(s for s in job_specs(pricing_at="04:15") if s.name == "pricing.refresh").daily_at == "04:15"
    with pytest.raises(InvalidInput):
        job_specs(pricing_at="25:00")


# -- run_job --------------------------------------------------------------------------------

def test_run_job_runs_a_slot_once_whoever_asks(store: Any) -> None:
    calls: list[int] = []

    def count(_: Any) -> dict[str, Any]:
        calls.append(1)
        return {"n": len(calls)}

    spec = JobSpec("t.count", "test", count, every=timedelta(minutes=1))
    at = utc(2026, 5, 1, 10, 0, 5)
    done = run_job(store, spec, owner="daemon-a", now=at)
    assert done is not None and done["status"] == "ok" and done["n"] == 1 and done["slot"] == spec.slot(at, "UTC")
    assert run_job(store, spec, owner="daemon-b", now=at + timedelta(seconds=30)) is None  # same slot, other daemon
    assert run_job(store, spec, owner="daemon-a", now=at + timedelta(seconds=40)) is None  # same slot, same daemon
    assert calls == [1]
    assert run_job(store, spec, owner="daemon-b", now=at + timedelta(minutes=1)) is not None  # the next slot
    (row,) = store.list_jobs()
    assert (row["job"], row["runs"], row["last_owner"], row["last_status"]) == ("t.count", 2, "daemon-b", "ok")
    assert row["lease_owner"] is None  # finished runs release the lease


def test_run_job_skips_while_another_daemon_holds_the_lease(store: Any) -> None:
    """A slot being run elsewhere (lease not expired) is skipped, even a different slot; an
    expired lease (a daemon killed mid-run) is taken over."""
    spec = JobSpec("t.lease", "test", _noop, every=timedelta(minutes=1), lease=timedelta(minutes=10))
    at = utc(2026, 5, 1, 10, 0, 5)
    earlier = spec.slot(at - timedelta(minutes=1), "UTC")  # a crashed daemon's run of the minute before
    assert store.claim_job("t.lease", slot=earlier, owner="crashed", now_utc="2026-05-01T10:00:00Z",
                           lease_until_utc="2026-05-01T10:10:00Z")
    assert run_job(store, spec, owner="daemon-a", now=at) is None
    assert run_job(store, spec, owner="daemon-a", now=at + timedelta(minutes=5)) is None
    late = run_job(store, spec, owner="daemon-a", now=at + timedelta(minutes=10))
    assert late is not None and late["status"] == "ok"


def test_a_failing_job_is_recorded_not_raised(store: Any) -> None:
    def broken(_: Any) -> dict[str, Any]:
        raise RuntimeError("disk on fire")

    def refused(_: Any) -> dict[str, Any]:
        raise AgentcostError("the price source answered 503")

    at = utc(2026, 5, 1, 10, 0, 5)
    with clock.frozen(at + timedelta(seconds=2)):
        result = run_job(store, JobSpec("t.broken", "test", broken, every=timedelta(minutes=1)), owner="a", now=at)
        other = run_job(store, JobSpec("t.refused", "test", refused, every=timedelta(minutes=1)), owner="a", now=at)
    assert result is not None and result["status"] == "error" and result["error"] == "RuntimeError: disk on fire"
    assert other is not None and other["error"] == "the price source answered 503"
    rows = {r["job"]: r for r in store.list_jobs()}
    assert rows["t.broken"]["last_status"] == "error"
    assert rows["t.broken"]["last_error"] == "RuntimeError: disk on fire"
    assert rows["t.broken"]["last_end_utc"].startswith("2026-05-01T10:00:07")  # the end, from the clock
    assert rows["t.refused"]["last_error"] == "the price source answered 503"
    assert rows["t.broken"]["lease_owner"] is None  # a failed run releases its lease too
    # the next slot runs again (and a success clears the error)
    fixed = run_job(store, JobSpec("t.broken", "test", _noop, every=timedelta(minutes=1)), owner="a",
                    now=at + timedelta(minutes=1))
    assert fixed is not None and fixed["status"] == "ok"
    row = next(r for r in store.list_jobs() if r["job"] == "t.broken")
    assert (row["last_status"], row["last_error"], row["runs"]) == ("ok", None, 2)


def test_list_jobs_shows_every_job_with_its_last_and_next_run(store: Any) -> None:
    specs = [EVERY_MINUTE, DAILY_0230]
    at = utc(2026, 5, 1, 10, 0, 5)
    run_job(store, EVERY_MINUTE, owner="a", now=at)
    with clock.frozen(at + timedelta(seconds=10)):
        rows = list_jobs(store, LOCAL, specs=specs, zone="Europe/Paris")
    assert [r["job"] for r in rows] == ["t.minute", "t.daily"]
    minute, daily = rows
    assert (minute["last_status"], minute["runs"], minute["schedule"]) == ("ok", 1, "every 1 min")
    assert minute["next_run_utc"].startswith("2026-05-01T10:01:00")
    assert (daily["last_status"], daily["runs"], daily["last_start_utc"]) == (None, 0, None)
    assert daily["schedule"] == "daily at 02:30 Europe/Paris"
    assert daily["next_run_utc"].startswith("2026-05-02T00:30:00")


def test_a_late_timer_never_runs_a_slot_another_daemon_moved_past(store: Any) -> None:
    """Daemon B's timer for 10:00 fires late, after daemon A has run 10:01: B must not run 10:00."""
    calls: list[int] = []

    def count(_: Any) -> dict[str, Any]:
        calls.append(1)
        return {}

    spec = JobSpec("t.late", "test", count, every=timedelta(minutes=1))
    at = utc(2026, 5, 1, 10, 1, 2)
    assert run_job(store, spec, owner="daemon-a", now=at) is not None
    assert run_job(store, spec, owner="daemon-b", now=at, slot=spec.slot(at - timedelta(minutes=1), "UTC")) is None
    assert calls == [1]
