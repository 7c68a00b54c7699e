"""The alerting commands as a user runs them: budgets, rules, channels, alerts, deliveries,
`outbox dispatch` and `daemon jobs`, on a real SQLite store, delivering to a real local
receiver. Output contracts: data on stdout, messages on stderr, stable --json/--csv, exit
codes (5: over budget; 2: bad input or a needed --yes), secrets never echoed."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from ..notify.conftest import Receiver, Reply
from .conftest import GOOD_JSONL, Outcome

Run = Callable[..., Outcome]


@pytest.fixture
def db(tmp_path: Path, run_cli: Run, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store with two gpt-4o events in project `web` (their cost is what budgets measure)."""
    path = tmp_path / "alerts.db"
    monkeypatch.setenv("AGENTCOST_DB", str(path))
    monkeypatch.setenv("AGENTCOST_ALLOW_PRIVATE_TARGETS", "1")
    events = tmp_path / "events.jsonl"
    # Times in the current month, so a monthly budget counts them.
    from agentcost_cli.services import clock

    now = clock.now().strftime("%Y-%m-%dT%H:00:00Z")
    events.write_text(GOOD_JSONL.replace("2026-11-20T10:00:00Z", now).replace("2026-11-20T12:00:00Z", now))
    assert run_cli("ingest", str(events), "--project", "web", "-q").code == 0
    return path


def _spent(run_cli: Run) -> Decimal:
    report = run_cli("report", "--by", "project", "--since", "30d", "--json").json()
    return Decimal(report["totals"]["cost_usd"])


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.thread.start()
    yield server
    server.stop.set()
    server.server.shutdown()
    server.server.server_close()


def test_budget_lifecycle_and_exit_code_5(db: Path, run_cli: Run) -> None:
    spent = _spent(run_cli)
    assert spent > 0
    amount = (spent / 2).quantize(Decimal("0.000001"))
    made = run_cli("budgets", "create", "web-month", "--project", "web", "--amount", str(amount), "--json")
    assert made.code == 0, made.stderr
    row = made.json()
    assert Decimal(row["spent_usd"]) == spent and row["state"] == "exceeded"
    listed = run_cli("budgets", "list", "--csv")
    records = list(csv.DictReader(io.StringIO(listed.stdout)))
    assert [r["name"] for r in records] == ["web-month"] and Decimal(records[0]["amount_usd"]) == amount
    status = run_cli("budgets", "status", "web-month")
    assert status.code == 5 and "over budget: web-month" in status.stderr
    assert run_cli("budgets", "update", "web-month", "--amount", str(spent * 4), "-q").code == 0
    assert run_cli("budgets", "status", "web-month", "--json").code == 0  # no longer exceeded
    refused = run_cli("budgets", "delete", "web-month")  # not a terminal: --yes is required
    assert refused.code == 2 and "--yes" in refused.stderr
    assert run_cli("budgets", "delete", "web-month", "--yes", "-q").code == 0
    assert run_cli("budgets", "list", "--json").json() == {"budgets": []}


@pytest.mark.parametrize("args, message", [
    (("--amount", "-5"), "amount"),
    (("--amount", "5", "--period", "fortnight"), "period"),
    (("--amount", "5", "--zone", "Mars/Olympus"), "time zone"),
    (("--amount", "5", "--scope", "tag", "--value", "team"), "NAME=VALUE"),
    (("--amount", "5", "--channel", "nope"), "no channel named 'nope'"),
])
def test_bad_budget_input_is_a_clear_usage_error(db: Path, run_cli: Run, args: tuple[str, ...], message: str) -> None:
    result = run_cli("budgets", "create", "b", "--project", "web", *args)
    assert result.code == 2 and message in result.stderr and result.stdout == ""


def test_rule_syntax_error_names_the_column(db: Path, run_cli: Run) -> None:
    result = run_cli("alerts", "rules", "create", "r", "cost >> 5 per day")
    assert result.code == 2 and "column 7" in result.stderr
    good = run_cli("alerts", "rules", "create", "r", "COST > $1 and provider == 'openai' per day", "--json")
    assert good.code == 0, good.stderr
    assert good.json()["expression"] == "cost > 1 and provider == \"openai\" per day"


def test_webhook_channel_secret_once_and_delivery(db: Path, run_cli: Run, receiver: Receiver) -> None:
    url = receiver.url("/hook")
    added = run_cli("channels", "add", "hook", "--kind", "webhook", "--target", url)
    assert added.code == 0, added.stderr
    secret = added.stdout.strip()
    assert secret.startswith("whsec_") and secret not in added.stderr
    listing = run_cli("channels", "list", "--json").json()["channels"]
    assert [c["name"] for c in listing] == ["hook"] and "secret" not in listing[0]
    assert secret not in run_cli("channels", "list", "--json").stdout
    spent = _spent(run_cli)
    assert run_cli("budgets", "create", "tight", "--project", "web", "--amount", str(spent / 4),
                   "--channel", "hook", "-q").code == 0
    fired = run_cli("alerts", "run", "--json")
    assert fired.code == 0, fired.stderr
    assert [f["kind"] for f in fired.json()["fired"]] == ["budget.threshold_crossed"] * 3
    sent = run_cli("outbox", "dispatch", "--json")
    assert sent.code == 0 and sent.json()["sent"] == 1  # only the highest threshold is delivered
    [request] = receiver.requests
    from standardwebhooks.webhooks import Webhook

    payload = Webhook(secret).verify(request.body, dict(request.headers))
    assert payload["type"] == "budget.threshold_crossed" and payload["data"]["threshold"] == 100
    deliveries = run_cli("webhooks", "deliveries", "--json").json()["deliveries"]
    assert deliveries[0]["status"] == "sent" and deliveries[0]["attempt_log"][0]["status_code"] == 200
    # Running again fires nothing new and sends nothing.
    assert run_cli("alerts", "run", "--json").json()["fired"] == []
    assert run_cli("outbox", "dispatch", "--json").json()["claimed"] == 0
    alerts = run_cli("alerts", "list", "--json").json()["alerts"]
    assert sorted((a["data"]["threshold"], a["muted"]) for a in alerts) == [(50, True), (80, True), (100, False)]


def test_alerts_test_without_an_email_provider_is_an_error(db: Path, run_cli: Run) -> None:
    assert run_cli("channels", "add", "mail", "--kind", "email", "--target", "ops@example.com", "-q").code == 0
    result = run_cli("alerts", "test", "--channel", "mail")
    assert result.code == 2
    assert "no email provider configured" in result.stderr and "RESEND_API_KEY" in result.stderr


def test_alerts_test_reports_a_failing_channel(db: Path, run_cli: Run, receiver: Receiver) -> None:
    receiver.default = Reply(status=500)
    run_cli("channels", "add", "hook", "--kind", "webhook", "--target", receiver.url("/x"), "-q")
    result = run_cli("alerts", "test", "--channel", "hook", "--json")
    assert result.code == 1
    [row] = result.json()["results"]
    assert row["status"] == "pending" and row["status_code"] == 500  # retried later on the schedule


def test_mute_records_but_does_not_send(db: Path, run_cli: Run, receiver: Receiver) -> None:
    run_cli("channels", "add", "hook", "--kind", "webhook", "--target", receiver.url("/m"), "-q")
    spent = _spent(run_cli)
    run_cli("budgets", "create", "b", "--project", "web", "--amount", str(spent * 2), "--channel", "hook", "-q")
    assert run_cli("alerts", "mute", "budget:b", "--for", "2h", "-q").code == 0
    assert [m["target"] for m in run_cli("alerts", "mutes", "--json").json()["mutes"]] == ["budget:b"]
    assert len(run_cli("alerts", "run", "--json").json()["fired"]) == 1  # 50%: recorded, muted
    assert run_cli("outbox", "dispatch", "--json").json()["claimed"] == 0
    assert receiver.requests == []
    assert run_cli("alerts", "unmute", "budget:b", "-q").code == 0
    assert run_cli("alerts", "mutes", "--json").json() == {"mutes": []}


def test_daemon_jobs_lists_every_job_locally(db: Path, run_cli: Run) -> None:
    result = run_cli("daemon", "jobs", "--json")
    assert result.code == 0, result.stderr
    jobs = {j["job"]: j for j in result.json()["jobs"]}
    assert {"outbox.dispatch", "alerts.evaluate", "anomalies.scan", "retention.purge", "pricing.refresh"} <= set(jobs)
    assert all(j["last_start_utc"] is None and j["runs"] == 0 for j in jobs.values())


def test_ingest_evaluates_budgets_on_the_local_store(db: Path, run_cli: Run, tmp_path: Path) -> None:
    spent = _spent(run_cli)
    run_cli("budgets", "create", "b", "--project", "web", "--amount", str(spent * Decimal("1.5")), "-q")
    more = tmp_path / "more.jsonl"
    from agentcost_cli.services import clock

    now = clock.now().strftime("%Y-%m-%dT%H:00:00Z")
    more.write_text(GOOD_JSONL.replace("t-1", "t-9").replace("t-3", "t-8")
                    .replace("2026-11-20T10:00:00Z", now).replace("2026-11-20T12:00:00Z", now))
    result = run_cli("ingest", str(more), "--project", "web")
    assert result.code == 0 and "alert(s) fired" in result.stderr
    assert [a["data"]["threshold"] for a in run_cli("alerts", "list", "--json").json()["alerts"]] == [100, 80, 50]
