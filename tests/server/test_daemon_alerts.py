"""The daemon's scheduler end to end, on real `agentcost daemon` processes: spend over HTTP
becomes a signed budget webhook within seconds, once per threshold; a delivery in backoff
survives kill -9 (WH-12); several daemons on one store run each job slot once; `agentcost
daemon jobs` reports the runs, failures included."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentcost_cli.timeutil import format_utc, parse_utc

from ..notify.conftest import Receiver, Reply
from ..pg import pg_schema, require_pg
from .conftest import free_port, seed_team, start_daemon

pytestmark = pytest.mark.subprocess

REDIS_URL = os.environ.get("AGENTCOST_TEST_REDIS_URL")  # read at import: the autouse fixture clears AGENTCOST_*
PRIVATE = {"AGENTCOST_ALLOW_PRIVATE_TARGETS": "1"}  # the receiver is on 127.0.0.1


class TimedReceiver(Receiver):
    """The notify tests' receiver, also noting when (time.monotonic) each request arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived: list[float] = []

    def _next_reply(self) -> Reply:
        self.arrived.append(time.monotonic())  # called right after the request is recorded
        return super()._next_reply()


@pytest.fixture
def receiver() -> Iterator[TimedReceiver]:
    r = TimedReceiver()
    r.thread.start()
    yield r
    r.stop.set()
    r.server.shutdown()
    r.server.server_close()


def wait_for(what: str, check: Callable[[], Any], timeout: float = 20.0, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def setup_alerting(db: Any, url: str, *, thresholds: str) -> tuple[dict[str, str], str]:
    """Team and keys (seed_team), a webhook channel `hook` to `url`, and a $1 monthly budget on
    project `web` alerting it. Returns the keys and the channel's signing secret."""
    from agentcost_cli.services import budgets, channels
    from agentcost_cli.services.actor import LOCAL
    from agentcost_cli.store import open_store

    keys = seed_team(db)
    store = open_store(db)
    try:
        secret = channels.add_channel(store, LOCAL, name="hook", kind="webhook", target=url)["secret"]
        budgets.create_budget(store, LOCAL, name="web-budget", amount="1", project="web", thresholds_text=thresholds,
                              channel_names=["hook"], forecast=False)
    finally:
        store.close()
    return keys, secret


def spend(url: str, key: str, tag: str, input_tokens: int) -> None:
    """One event on project `web` now: gpt-4o input at $2.50 per million tokens."""
    event = {"id": tag, "timestamp": format_utc(datetime.now(UTC)), "provider": "openai", "model": "gpt-4o",
             "input_tokens": input_tokens, "output_tokens": 0}
    answer = httpx.post(f"{url}/v1/events", json={"events": [event]}, headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["successes"] == [{"id": tag, "status": "created"}]


def verified(secret: str, request: Any) -> dict[str, Any]:
    """The payload, after the reference verifier (standardwebhooks) accepted the signature."""
    from standardwebhooks.webhooks import Webhook

    headers = {k: request.headers[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    payload: dict[str, Any] = Webhook(secret).verify(request.body, headers)
    return payload


def sqlite_rows(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def sqlite_exec(db: Path, sql: str, params: tuple[Any, ...] = ()) -> None:
    conn = sqlite3.connect(db, isolation_level=None, timeout=10)
    try:
        conn.execute(sql, params)
    finally:
        conn.close()


def pending(db: Path) -> list[dict[str, Any]]:
    return sqlite_rows(db, "SELECT id FROM outbox WHERE status = 'pending'")


def store_pending(url: str) -> bool:
    from agentcost_cli.store import open_store
    from agentcost_cli.store.alerts import OutboxQuery

    store = open_store(url)
    try:
        return bool(store.query_outbox(OutboxQuery(status="pending", limit=1)))
    finally:
        store.close()


def eventually(check: Callable[[], Any], within: float) -> bool:
    """Whether `check` comes true within `within` seconds (for asserting that something does not)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return bool(check())


def job_runs(db: Path) -> dict[str, dict[str, Any]]:
    return {r["job"]: r for r in sqlite_rows(db, "SELECT * FROM job_runs")}


def logged_runs(*logs: Path) -> list[dict[str, Any]]:
    """The `run_job` log lines (JSON, with job, slot and status) of the daemons' logs."""
    out = []
    for log in logs:
        for line in log.read_text().splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                if "slot" in record and "job" in record and "status" in record:
                    out.append(record)
    return out


def cli(db: Any, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agentcost_cli", "--db", str(db), *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=60)


# -- 1. end to end ----------------------------------------------------------------------------

@pytest.mark.slow
def test_spend_over_http_becomes_one_signed_webhook_per_threshold(tmp_path: Path, receiver: TimedReceiver,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTCOST_ALLOW_PRIVATE_TARGETS", "1")  # add_channel runs in this process
    db = tmp_path / "d.db"
    keys, secret = setup_alerting(db, receiver.url(), thresholds="50,100")
    daemon = start_daemon(tmp_path, db, env=PRIVATE)
    try:
        spend(daemon.url, keys["ingest"], "e1", 240_000)  # $0.60: past 50%
        wait_for("the 50% webhook", lambda: len(receiver.requests) >= 1)
        first = verified(secret, receiver.requests[0])
        assert (first["type"], first["data"]["threshold"], first["data"]["budget"]) == (
            "budget.threshold_crossed", 50, "web-budget")
        spend(daemon.url, keys["ingest"], "e2", 200_000)  # $1.10: past 100%
        wait_for("the 100% webhook", lambda: len(receiver.requests) >= 2)
        second = verified(secret, receiver.requests[1])
        assert (second["type"], second["data"]["threshold"]) == ("budget.threshold_crossed", 100)
        assert second["data"]["spent_usd"].startswith("1.1")
        assert receiver.requests[0].headers["webhook-id"] != receiver.requests[1].headers["webhook-id"]
        # More spend and more evaluations (each batch nudges one, at most one per 5 s), no repeat.
        before = job_runs(db)["alerts.evaluate.nudge"]["runs"]
        spend(daemon.url, keys["ingest"], "more", 100_000)
        wait_for("a nudged evaluation, finished", lambda: job_runs(db)["alerts.evaluate.nudge"]["runs"] > before
                 and job_runs(db)["alerts.evaluate.nudge"]["lease_owner"] is None)
        # Whatever that evaluation queued (it commits with its alert) is sent within a second or
        # so; once nothing is pending, the receiver has seen all there is.
        wait_for("nothing left to send", lambda: not pending(db))
        runs = job_runs(db)
        assert runs["alerts.evaluate"]["last_status"] == "ok" and runs["alerts.evaluate.nudge"]["last_status"] == "ok"
        assert runs["alerts.evaluate"]["runs"] + runs["alerts.evaluate.nudge"]["runs"] >= 4  # start + 3 batches
        assert len(receiver.requests) == 2, [r.body for r in receiver.requests]
        alerts = sqlite_rows(db, "SELECT dedupe_key FROM alerts WHERE dedupe_key LIKE 'budget:%'")
        assert sorted(a["dedupe_key"].rsplit(":", 1)[1] for a in alerts) == ["100", "50"]
        assert {r["status"] for r in sqlite_rows(db, "SELECT status FROM outbox")} == {"sent"}
    finally:
        daemon.stop()


# -- 2. WH-12: a delivery in backoff survives kill -9 -----------------------------------------

@pytest.mark.slow
def test_a_delivery_in_backoff_survives_kill_9(tmp_path: Path, receiver: TimedReceiver,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The receiver answers 500 to attempt 1; the message waits ~5 s (WH-08) for attempt 2.
    The daemon is killed in that wait: the attempt is recorded and the lease released (checked
    before the kill), so nothing is claimed and the 5-minute lease plays no part. (A kill
    mid-send would leave the lease, and the retry would wait for it.) The restarted daemon
    makes attempt 2 on time with the same webhook-id; 200 ends it as sent, once."""
    monkeypatch.setenv("AGENTCOST_ALLOW_PRIVATE_TARGETS", "1")
    db = tmp_path / "d.db"
    keys, secret = setup_alerting(db, receiver.url(), thresholds="100")
    receiver.script = [Reply(status=500, body=b"try later")]
    daemon = start_daemon(tmp_path, db, env=PRIVATE)
    try:
        spend(daemon.url, keys["ingest"], "big", 500_000)  # $1.25
        wait_for("attempt 1", lambda: receiver.arrived)
        backoff = wait_for("attempt 1 recorded, lease released", lambda: [
            m for m in sqlite_rows(db, "SELECT * FROM outbox")
            if m["status"] == "pending" and m["attempts"] == 1 and m["lease_owner"] is None])
        killed_at = time.monotonic()
        daemon.stop(signal.SIGKILL)
        assert killed_at - receiver.arrived[0] < 4.0, "the kill must land in the backoff, before attempt 2"
        assert len(receiver.requests) == 1
        (message,) = backoff
        due = parse_utc(message["next_attempt_utc"])
        (attempt,) = sqlite_rows(db, "SELECT * FROM delivery_attempts")
        assert attempt["status_code"] == 500
        assert timedelta(seconds=4.5) <= due - parse_utc(attempt["started_utc"]) <= timedelta(seconds=6)  # WH-08
        daemon = start_daemon(tmp_path, db, env=PRIVATE)
        restarted = time.monotonic()
        wait_for("attempt 2", lambda: len(receiver.arrived) >= 2)
        assert receiver.arrived[1] - receiver.arrived[0] >= 4.5  # not before its time (5 s, -10% jitter)
        assert receiver.arrived[1] - restarted < 12  # the dispatch at start or 5 s later (slack for a loaded CI)
        first, second = receiver.requests
        assert first.headers["webhook-id"] == second.headers["webhook-id"]  # one message, one idempotency key
        assert first.body == second.body
        assert verified(secret, second)["data"]["threshold"] == 100
        wait_for("the message sent", lambda: sqlite_rows(db, "SELECT status FROM outbox") == [{"status": "sent"}])
        assert not eventually(lambda: len(receiver.requests) > 2, within=2.5)  # nothing after the 200
        attempts = sqlite_rows(db, "SELECT attempt_no, status_code FROM delivery_attempts ORDER BY attempt_no")
        assert attempts == [{"attempt_no": 1, "status_code": 500}, {"attempt_no": 2, "status_code": 200}]
    finally:
        daemon.stop()


# -- 3. several daemons, one store: each slot once -------------------------------------------

def test_two_schedulers_on_one_store_run_each_slot_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two JobSchedulers (two daemons' worth) on one SQLite file, a job every second: over a
    few seconds each slot runs once, and `runs` in job_runs is the number of distinct slots."""
    from agentcost_cli.server import scheduler as scheduler_module
    from agentcost_cli.server.scheduler import JobScheduler
    from agentcost_cli.services.jobs import JobSpec, run_job
    from agentcost_cli.store import open_store

    db = tmp_path / "shared.db"
    open_store(db).close()
    done: list[dict[str, Any]] = []
    tried: list[str] = []  # the owners that fired, whether they ran the slot or skipped it
    lock = threading.Lock()

    def recording_run_job(*args: Any, **kwargs: Any) -> dict[str, Any] | None:
        result = run_job(*args, **kwargs)
        with lock:
            tried.append(kwargs["owner"])
            if result is not None:
                done.append(result)
        return result

    monkeypatch.setattr(scheduler_module, "run_job", recording_run_job)
    spec = JobSpec("t.tick", "every second", lambda store: {}, every=timedelta(seconds=1))
    local = threading.local()

    def stores() -> Any:  # one connection per scheduler thread, as the daemon's store pool does
        if not hasattr(local, "store"):
            local.store = open_store(db)
        return local.store

    pair = [JobScheduler([spec], stores), JobScheduler([spec], stores)]
    assert pair[0].owner != pair[1].owner
    for one in pair:
        one.start()
    try:
        wait_for("six slots run", lambda: len({d["slot"] for d in done}) >= 6, timeout=30)
    finally:
        for one in pair:
            one.shutdown()
    slots = [d["slot"] for d in done]
    assert len(slots) == len(set(slots)), sorted(slots)  # no slot twice
    row = job_runs(db)["t.tick"]
    assert row["runs"] == len(set(slots)) and row["last_status"] == "ok"
    # both schedulers fired (most slots twice): the lease, not luck, ran each once
    assert set(tried) == {pair[0].owner, pair[1].owner} and len(tried) > len(slots)


@pytest.mark.slow
def test_two_daemons_on_one_postgres_store_alert_once(tmp_path: Path, receiver: TimedReceiver,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    require_pg()
    if not REDIS_URL:
        pytest.skip("a daemon on PostgreSQL needs shared rate limits: set AGENTCOST_TEST_REDIS_URL (CI does)")
    env = {"AGENTCOST_KEY_FILE": str(tmp_path / "server.key"), "AGENTCOST_RATE_LIMIT_STORAGE": REDIS_URL, **PRIVATE}
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # the setup opens the store in this process
    with pg_schema() as url:
        first = start_daemon(tmp_path, url, env=env)  # type: ignore[arg-type]
        second = start_daemon(tmp_path, url, env=env)  # type: ignore[arg-type]
        try:
            keys, secret = setup_alerting(url, receiver.url(), thresholds="100")
            # spend through both daemons: each nudges its own evaluation, both dispatch
            spend(first.url, keys["ingest"], "a", 300_000)  # $0.75
            spend(second.url, keys["ingest"], "b", 300_000)  # $1.50
            wait_for("the webhook", lambda: receiver.requests)
            spend(first.url, keys["ingest"], "c", 10_000)
            spend(second.url, keys["ingest"], "d", 10_000)
            after = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            wait_for("an evaluation and a dispatch after the last batch", lambda: _jobs_after(url, after))
        finally:
            first.stop()
            second.stop()
        listed = _jobs_after("", "", url_runs=url)  # after both stopped: every run is logged and counted
        assert len(receiver.requests) == 1
        payload = verified(secret, receiver.requests[0])
        assert (payload["type"], payload["data"]["threshold"]) == ("budget.threshold_crossed", 100)
        runs = logged_runs(first.log, second.log)
        for job in ("alerts.evaluate", "outbox.dispatch"):
            slots = [r["slot"] for r in runs if r["job"] == job]
            assert slots and len(slots) == len(set(slots)), (job, sorted(slots))  # no slot ran twice
            assert listed[job] == len(slots)  # job_runs counted each run once
        assert {r["status"] for r in runs} == {"ok"}


def _jobs_after(url: str, after: str, *, url_runs: str | None = None) -> dict[str, int] | None:
    """job -> runs from the store, once an evaluation (nudged or scheduled, by either daemon)
    started after `after` and a dispatcher run started after that evaluation (with `url_runs`:
    the counts now, unconditionally)."""
    from agentcost_cli.store import open_store

    store = open_store(url_runs or url)
    try:
        rows = {r["job"]: r for r in store.list_jobs()}
    finally:
        store.close()
    if url_runs:
        return {job: int(row["runs"]) for job, row in rows.items()}
    evaluated = [r["last_start_utc"] for job, r in rows.items()
                 if job.startswith("alerts.evaluate") and r["last_start_utc"] and r["last_start_utc"] > after
                 and r["lease_owner"] is None]
    if not evaluated or store_pending(url):
        return None
    return {job: int(row["runs"]) for job, row in rows.items()}


# -- 4. `agentcost daemon jobs` ---------------------------------------------------------------

def test_daemon_jobs_lists_the_runs_and_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agentcost_cli.services.jobs import job_specs, run_job
    from agentcost_cli.store import open_store

    db = tmp_path / "d.db"
    daemon = start_daemon(tmp_path, db)
    try:
        wait_for("the evaluation at start", lambda: "alerts.evaluate" in {
            j for j, r in job_runs(db).items() if r["last_status"]})
        answer = cli(db, "daemon", "jobs", "--json")
        assert answer.returncode == 0, answer.stderr
        document = json.loads(answer.stdout)
        rows = {r["job"]: r for r in (document["jobs"] if isinstance(document, dict) else document)}
        assert list(rows) == [s.name for s in job_specs()]  # every job, in order
        now = format_utc(datetime.now(UTC))
        for job, row in rows.items():
            assert row["next_run_utc"] > now, (job, row)
            if job == "alerts.evaluate":  # dispatch runs only when something is due; the rest hourly or daily
                assert (row["last_status"], row["last_error"]) == ("ok", None) and row["runs"] >= 1, row
        # pricing.refresh from a closed port: recorded as an error, with the reason
        closed = free_port()
        monkeypatch.setenv("AGENTCOST_PRICING_URL", f"http://127.0.0.1:{closed}/prices.json")
        store = open_store(db)
        try:
            spec = next(s for s in job_specs() if s.name == "pricing.refresh")
            result = run_job(store, spec, owner="test")
        finally:
            store.close()
        monkeypatch.delenv("AGENTCOST_PRICING_URL")
        assert result is not None and result["status"] == "error" and result["error"], result
        answer = cli(db, "daemon", "jobs", "--json")
        document = json.loads(answer.stdout)
        rows = {r["job"]: r for r in (document["jobs"] if isinstance(document, dict) else document)}
        assert rows["pricing.refresh"]["last_status"] == "error"
        assert rows["pricing.refresh"]["last_error"] == result["error"]
        assert rows["pricing.refresh"]["next_run_utc"] > now
        # the daemon's scheduler kept going: a message queued now is picked up (with no email
        # provider it waits, and says so)
        sqlite_exec(db, "INSERT INTO outbox (created_utc, channel, recipient, template, subject, payload_sealed,"
                        " idempotency_key, status) VALUES (?, 'email', 'a@example.com', 'alert', 's', 'x', 'k1',"
                        " 'pending')", (format_utc(datetime.now(UTC)),))
        # (job_runs counts a run when it starts: wait for what the run wrote, not for the count)
        wait_for("the dispatcher's run", lambda: sqlite_rows(db, "SELECT last_error FROM outbox")[0]["last_error"])
        assert sqlite_rows(db, "SELECT attempts, last_error FROM outbox") == [
            {"attempts": 0, "last_error": "waiting: no email provider is configured"}]
        assert job_runs(db)["outbox.dispatch"]["runs"] >= 1
        assert daemon.process.poll() is None and httpx.get(f"{daemon.url}/healthz").status_code == 200
        table = cli(db, "daemon", "jobs")
        assert table.returncode == 0 and "pricing.refresh" in table.stdout and "error" in table.stdout
    finally:
        daemon.stop()
