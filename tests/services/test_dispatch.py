"""The outbox dispatcher end to end: the real `dispatch_once` on a real SQLite store, against
real local HTTP receivers, with the services' frozen clock standing in for the wait between
passes (WH-01..WH-19 for webhooks and chat; the email requirements are in test_dispatch_email.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from agentcost_cli.errors import ConfigError
from agentcost_cli.notify import http_post
from agentcost_cli.notify import retry as retry_schedule
from agentcost_cli.notify.notice import Notice
from agentcost_cli.services import alert_tests, alerting, channels, clock, dispatch, outbox
from agentcost_cli.services.actor import LOCAL
from agentcost_cli.services.notify_config import NotifyConfig, use_notify_config
from agentcost_cli.store import open_store
from agentcost_cli.store.base import Store
from agentcost_cli.timeutil import parse_utc
from tests.notify.conftest import Receiver, Reply

SLACK_TOKEN = "SlackPathSecretXyZ123"
DISCORD_TOKEN = "DiscordPathSecretAbC987"


# -- fixtures ------------------------------------------------------------------------------------

@pytest.fixture
def t0() -> Iterator[datetime]:
    """A frozen clock at the real time (the standardwebhooks verifier checks the timestamp
    against the wall clock, within 5 minutes)."""
    at = datetime.now(UTC).replace(microsecond=0)
    with clock.frozen(at):
        yield at


@pytest.fixture(autouse=True)
def short_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_post, "_min_timeout", 0.05)


def make_config(**overrides: Any) -> NotifyConfig:
    values: dict[str, Any] = {"allow_private_targets": True, "webhook_timeout": 2.0}
    values.update(overrides)
    return NotifyConfig(**values)


@pytest.fixture
def store(tmp_path: Path, t0: datetime) -> Iterator[Store]:
    s = open_store(tmp_path / "dispatch.db")
    use_notify_config(s, make_config())
    yield s
    s.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.stop.set()
    r.server.shutdown()
    r.server.server_close()


# -- helpers -------------------------------------------------------------------------------------

def notice(n: int = 1, **data: Any) -> Notice:
    return Notice(type="test.message", title=f"Test {n}", summary=f"A test notice number {n}.",
                  severity="warning", occurred_utc=clock.now_text(),
                  data={"message": f"test {n}", "requested_by": "tests", **data})


def fire(store: Store, *names: str, n: int = 1, **data: Any) -> int:
    alert_id = alerting.fire(store, dedupe_key=f"test:{n}:{','.join(names)}", notice=notice(n, **data),
                             channel_names=list(names))
    assert alert_id is not None
    return alert_id


def messages(store: Store, channel: str | None = None) -> list[dict[str, Any]]:
    """Outbox rows, oldest first (optionally those of one channel)."""
    rows = [r for r in store.query_outbox(outbox.OutboxQuery(limit=1000))
            if channel is None or r["channel_name"] == channel]
    return sorted(rows, key=lambda r: int(r["id"]))


def only_message(store: Store, channel: str) -> dict[str, Any]:
    [row] = messages(store, channel)
    return row


def webhook(store: Store, receiver: Receiver, name: str = "hook", path: str = "/hook") -> str:
    """Add a webhook channel to the receiver; returns its signing secret."""
    secret = channels.add_channel(store, LOCAL, name=name, kind="webhook", target=receiver.url(path))["secret"]
    assert isinstance(secret, str) and secret.startswith("whsec_")
    return secret


def verify(secret: str, body: bytes, headers: dict[str, str]) -> Any:
    return Webhook(secret).verify(body, headers)


def hmac_ok(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    """Check a signature without the reference library's 5-minute window (for attempts made
    hours into the frozen clock's future)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    want = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return f"v1,{want}" in headers["webhook-signature"].split(" ")


def drain(store: Store, *, passes: int = 1) -> dispatch.DispatchReport:
    report = dispatch.DispatchReport()
    for _ in range(passes):
        one = dispatch.dispatch_once(store)
        for name in ("claimed", "sent", "retrying", "dead", "unknown", "lost_leases"):
            setattr(report, name, getattr(report, name) + getattr(one, name))
        report.disabled_channels += one.disabled_channels
    return report


def advance_to_due(store: Store, message_id: int) -> timedelta:
    """Move the frozen clock to the message's next attempt; returns how far it moved."""
    row = store.get_outbox(message_id)
    assert row is not None and row["status"] == "pending"
    gap = parse_utc(row["next_attempt_utc"]) - clock.now()
    if gap > timedelta(0):
        clock.advance(gap)
    return max(gap, timedelta(0))


# -- WH-01 / WH-03: signed bytes verify with the reference library -------------------------------

def test_webhook_delivery_verifies_with_the_reference_library(store: Store, receiver: Receiver) -> None:
    secret = webhook(store, receiver)
    data: dict[str, Any] = {"note": "Dépenses: 120 € — 予算を超過 ✓",
                            "nested": {"list": [1, {"ü": "ß"}], "emoji": "🔥"}}
    fire(store, "hook", **data)

    report = dispatch.dispatch_once(store)

    assert (report.claimed, report.sent) == (1, 1)
    [request] = receiver.requests
    assert b"\\u" not in request.body and "予算".encode() in request.body  # raw UTF-8 on the wire
    parsed = verify(secret, request.body, request.headers)
    assert parsed["type"] == "test.message"
    assert parsed["data"]["note"] == data["note"] and parsed["data"]["nested"] == data["nested"]
    with pytest.raises(WebhookVerificationError):  # the verification can fail: one changed byte
        verify(secret, request.body.replace("予算".encode(), "予定".encode()), request.headers)
    row = only_message(store, "hook")
    assert row["status"] == "sent" and row["sent_utc"] is not None
    assert request.headers["webhook-id"] == row["message_uid"]
    assert request.headers["webhook-timestamp"] == str(int(clock.now().timestamp()))


# -- WH-04 / WH-08: the retry schedule, one webhook-id, fresh timestamps, then dead --------------

def test_always_500_retries_on_the_schedule_then_dies(store: Store, receiver: Receiver, t0: datetime) -> None:
    secret = webhook(store, receiver)
    receiver.default = Reply(status=500, body=b"boom")
    fire(store, "hook")
    message_id = int(only_message(store, "hook")["id"])

    offsets: list[timedelta] = []
    for attempt in range(1, retry_schedule.MAX_ATTEMPTS + 1):
        offsets.append(advance_to_due(store, message_id) if attempt > 1 else timedelta(0))
        report = dispatch.dispatch_once(store)
        assert report.claimed == 1, f"attempt {attempt} was not due"
        assert dispatch.dispatch_once(store).claimed == 0  # nothing more until the next slot
    assert dispatch.dispatch_once(store).claimed == 0

    for n, (gap, scheduled) in enumerate(zip(offsets, retry_schedule.SCHEDULE, strict=True), start=1):
        low, high = scheduled * (1 - retry_schedule.JITTER), scheduled * (1 + retry_schedule.JITTER)
        assert low <= gap <= high, f"attempt {n} came {gap} after the previous one; schedule says {scheduled}"
    assert len(receiver.requests) == retry_schedule.MAX_ATTEMPTS
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert ids == {only_message(store, "hook")["message_uid"]}
    stamps = [int(r.headers["webhook-timestamp"]) for r in receiver.requests]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps), stamps  # refreshed every attempt
    elapsed = [timedelta(seconds=s - stamps[0]) for s in stamps]
    assert abs(elapsed[-1] - sum(offsets, timedelta(0))) <= timedelta(seconds=1)  # stamped on the clock
    assert all(hmac_ok(secret, r.body, r.headers) for r in receiver.requests)

    row = only_message(store, "hook")
    assert row["status"] == "dead" and row["attempts"] == retry_schedule.MAX_ATTEMPTS
    assert "gave up after 8 attempts" in row["last_error"]
    attempts = store.list_attempts(message_id)
    assert [a["attempt_no"] for a in attempts] == list(range(1, 9))
    assert {a["status_code"] for a in attempts} == {500}
    assert all(a["latency_ms"] is not None and a["latency_ms"] >= 0 for a in attempts)
    assert {a["outcome"] for a in attempts} == {"retry"} and attempts[0]["response_excerpt"] == "boom"


# -- WH-09: Retry-After ----------------------------------------------------------------------

def test_429_retry_after_pushes_the_next_attempt_back(store: Store, receiver: Receiver, t0: datetime) -> None:
    webhook(store, receiver)
    receiver.script = [Reply(status=429, headers={"Retry-After": "120"}, body=b"slow down")]
    fire(store, "hook")

    assert dispatch.dispatch_once(store).retrying == 1

    row = only_message(store, "hook")
    assert row["status"] == "pending"
    assert parse_utc(row["next_attempt_utc"]) - t0 >= timedelta(seconds=120)  # the schedule alone says ~5 s
    clock.advance(timedelta(seconds=119))
    assert dispatch.dispatch_once(store).claimed == 0
    clock.advance(parse_utc(row["next_attempt_utc"]) - clock.now())
    assert dispatch.dispatch_once(store).sent == 1
    assert [a["status_code"] for a in store.list_attempts(int(row["id"]))] == [429, 200]


# -- WH-10: 410 Gone disables the channel at once ---------------------------------------------

def test_410_disables_the_channel_and_tells_the_operators(store: Store, receiver: Receiver) -> None:
    use_notify_config(store, make_config(operator_channels=("ops",)))
    webhook(store, receiver, "hook", "/hook")
    webhook(store, receiver, "ops", "/ops")
    receiver.script = [Reply(status=410, body=b"gone")]
    fire(store, "hook", n=1)

    report = dispatch.dispatch_once(store)

    assert report.dead == 1 and report.disabled_channels == ["hook"]
    row = only_message(store, "hook")
    assert row["status"] == "dead" and row["attempts"] == 1 and "HTTP 410" in row["last_error"]
    assert [a["outcome"] for a in store.list_attempts(int(row["id"]))] == ["disabled"]
    channel = store.find_channel("hook")
    assert channel is not None and channel["status"] == "disabled" and "410" in channel["disabled_reason"]
    # the operators' channel got one channel.disabled notice, queued now and delivered next pass
    [notice_row] = messages(store, "ops")
    assert notice_row["status"] == "pending" and notice_row["subject"] == "Channel 'hook' was disabled"
    assert dispatch.dispatch_once(store).sent == 1
    [ops_request] = [r for r in receiver.requests if r.path == "/ops"]
    body = orjson.loads(ops_request.body)
    assert body["type"] == "channel.disabled" and body["data"]["channel"] == "hook"

    # a later alert skips the channel: nothing is queued, nothing is sent, and the alert says so
    alert_id = fire(store, "hook", n=2)
    assert len(messages(store, "hook")) == 1
    alert = store.get_alert(alert_id)
    assert alert is not None and orjson.loads(alert["data_json"])["skipped_channels"] == ["hook"]
    drain(store, passes=2)
    assert [r.path for r in receiver.requests] == ["/hook", "/ops"]


def test_a_message_queued_before_the_channel_was_disabled_is_not_sent(store: Store, receiver: Receiver) -> None:
    webhook(store, receiver)
    fire(store, "hook", n=1)
    fire(store, "hook", n=2)
    receiver.script = [Reply(status=410)]
    report = dispatch.dispatch_once(store)
    assert report.claimed == 2 and report.dead == 2
    assert len(receiver.requests) == 1
    second = messages(store, "hook")[1]
    assert second["status"] == "dead" and "channel disabled" in second["last_error"]
    assert store.list_attempts(int(second["id"])) == []


# -- WH-11: failing for disable_after disables, once; a success resets the streak --------------

def test_failing_for_disable_after_disables_and_a_success_resets_the_streak(store: Store, receiver: Receiver,
                                                                             t0: datetime) -> None:
    from tests.accounts.conftest import make_user

    make_user(store, "admin@example.com", admin=True)
    resend = _resend_stub()
    try:
        use_notify_config(store, make_config(disable_after=timedelta(days=5), email_values={
            "RESEND_API_KEY": "re_test", "AGENTCOST_RESEND_BASE_URL": resend.base_url,
            "AGENTCOST_EMAIL_FROM": "alerts@example.com", "AGENTCOST_RESEND_RATE": "1000"}))
        webhook(store, receiver)
        receiver.default = Reply(status=500)

        def day(n: int) -> dispatch.DispatchReport:
            """Fire a fresh alert on day n and run every pass that is due now."""
            clock.advance(t0 + timedelta(days=n) - clock.now())
            fire(store, "hook", n=n)
            return drain(store, passes=2)

        for n in range(3):  # days 0-2 fail
            assert day(n).disabled_channels == []
        receiver.default = Reply(status=200)
        assert day(3).sent >= 4  # a day of successes in between (the backlog goes out too)
        receiver.default = Reply(status=500)
        channel = store.find_channel("hook")
        assert channel is not None and channel["failing_since_utc"] is None and channel["status"] == "active"
        for n in range(4, 9):  # days 4-8 fail: 4 days and a bit of failing, still under 5
            assert day(n).disabled_channels == [], f"disabled on day {n}, 5 days after the first failure"
        assert store.find_channel("hook")["status"] == "active"  # type: ignore[index]
        report = day(9)  # 5 days of nothing but failures since day 4
        channel = store.find_channel("hook")
        assert channel is not None and channel["status"] == "disabled"
        assert report.disabled_channels == ["hook"]
        assert "every delivery failed for 5 days" in channel["disabled_reason"]

        # exactly one notice: an email to the admin (no operator channels are set)
        emails = [m for m in messages(store) if m["channel"] == "email"]
        assert [(m["recipient"], m["subject"]) for m in emails] == [
            ("admin@example.com", "Channel 'hook' was disabled")]
        drain(store, passes=3)
        assert len(resend.requests) == 1 and resend.requests[0].json["to"] == ["admin@example.com"]
        assert [m["status"] for m in messages(store) if m["channel"] == "email"] == ["sent"]
    finally:
        resend.__exit__()


def _resend_stub() -> Any:
    from tests.notify.email_fakes import FakeApi

    return FakeApi().__enter__()


# -- WH-05: rotation signs with both secrets for the overlap, then the new one only -------------

def test_rotated_secret_signs_with_both_then_only_the_new(store: Store, receiver: Receiver) -> None:
    old = webhook(store, receiver)
    rotated = channels.rotate_secret(store, LOCAL, "hook")
    new = rotated["secret"]
    assert new != old and rotated["previous_valid_until_utc"] is not None
    fire(store, "hook", n=1)
    assert dispatch.dispatch_once(store).sent == 1
    [during] = receiver.requests
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    verify(old, during.body, during.headers)  # each secret verifies on its own
    verify(new, during.body, during.headers)
    with pytest.raises(WebhookVerificationError):
        verify(webhook_signing_new(), during.body, during.headers)

    clock.advance(timedelta(hours=24, seconds=1))
    fire(store, "hook", n=2)
    assert dispatch.dispatch_once(store).sent == 1
    after = receiver.requests[1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert hmac_ok(new, after.body, after.headers)
    assert not hmac_ok(old, after.body, after.headers)


def webhook_signing_new() -> str:
    from agentcost_cli.notify.webhook_signing import new_secret

    return new_secret()


# -- WH-13: list attempts, resend by id and all failed since a time ---------------------------

def _kill(store: Store, receiver: Receiver, message_id: int) -> None:
    """Fail a message 8 times on the schedule until it is dead."""
    receiver.default = Reply(status=500, body=b"down")
    while store.get_outbox(message_id)["status"] == "pending":  # type: ignore[index]
        advance_to_due(store, message_id)
        dispatch.dispatch_once(store)


def test_deliveries_list_attempts_and_retry_resends_with_the_same_webhook_id(store: Store, receiver: Receiver,
                                                                           t0: datetime) -> None:
    webhook(store, receiver)
    fire(store, "hook", n=1)
    message = only_message(store, "hook")
    _kill(store, receiver, int(message["id"]))

    [listed] = outbox.deliveries(store, LOCAL, channel="hook")
    assert listed["status"] == "dead" and listed["channel_name"] == "hook"
    log = listed["attempt_log"]
    assert len(log) == 8 and {a["status_code"] for a in log} == {500} and log[0]["response_excerpt"] == "down"
    assert all(isinstance(a["latency_ms"], int) for a in log)
    assert outbox.deliveries(store, LOCAL, failed=True)[0]["id"] == message["id"]
    shown = outbox.show_message(store, LOCAL, int(message["id"]))
    assert shown["status"] == "dead" and len(shown["attempt_log"]) == 8 and "test notice number 1" in shown["body"]

    receiver.default = Reply(status=200)
    answer = outbox.retry(store, LOCAL, ids=[int(message["id"])])
    assert answer["requeued"] == 1
    assert dispatch.dispatch_once(store).sent == 1
    assert len(receiver.requests) == 9
    assert {r.headers["webhook-id"] for r in receiver.requests} == {message["message_uid"]}
    attempts = store.list_attempts(int(message["id"]))
    assert [a["attempt_no"] for a in attempts][-1] == 9 and attempts[-1]["status_code"] == 200
    assert only_message(store, "hook")["status"] == "sent"
    # a sent message is not sent again
    assert outbox.retry(store, LOCAL, ids=[int(message["id"])])["requeued"] == 0


def test_retry_all_failed_since_a_time(store: Store, receiver: Receiver, t0: datetime) -> None:
    webhook(store, receiver)
    fire(store, "hook", n=1)  # created at t0: before the cut-off
    old = only_message(store, "hook")
    clock.advance(timedelta(minutes=1))
    fire(store, "hook", n=2)  # created at t0 + 1 min, exactly at the cut-off
    new = messages(store, "hook")[1]
    receiver.default = Reply(status=410)
    drain(store)  # both die (the first disables the channel; the second finds it disabled)
    channels.set_enabled(store, LOCAL, "hook", True)
    assert {m["status"] for m in messages(store, "hook")} == {"dead"}

    cutoff = (t0 + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")  # RFC 3339, as the API documents
    receiver.default = Reply(status=200)
    answer = outbox.retry(store, LOCAL, all_failed=True, since=cutoff)
    assert answer["ids"] == [int(new["id"])] and answer["requeued"] == 1
    assert dispatch.dispatch_once(store).sent == 1
    assert receiver.requests[-1].headers["webhook-id"] == new["message_uid"]
    assert store.get_outbox(int(old["id"]))["status"] == "dead"  # type: ignore[index]
    with pytest.raises(Exception, match="--since"):
        outbox.retry(store, LOCAL, all_failed=True)


# -- WH-14: a target that resolves to a private address is refused ---------------------------

def test_a_name_resolving_to_loopback_is_blocked(store: Store, receiver: Receiver) -> None:
    use_notify_config(store, make_config(allow_private_targets=False))
    # accepted at creation (https, a name, not an address); "localhost" resolves to 127.0.0.1
    channels.add_channel(store, LOCAL, name="sneaky", kind="webhook", target=f"https://localhost:{receiver.port}/h")
    fire(store, "sneaky")

    report = dispatch.dispatch_once(store)

    assert report.dead == 1 and receiver.requests == []
    row = only_message(store, "sneaky")
    assert row["status"] == "dead"
    [attempt] = store.list_attempts(int(row["id"]))
    assert attempt["outcome"] == "blocked" and attempt["status_code"] is None


def test_a_literal_private_target_is_checked_again_at_delivery(store: Store, receiver: Receiver) -> None:
    webhook(store, receiver)  # added while private targets were allowed
    use_notify_config(store, make_config(allow_private_targets=False))
    fire(store, "hook")
    assert dispatch.dispatch_once(store).dead == 1
    assert receiver.requests == []
    assert store.list_attempts(int(only_message(store, "hook")["id"]))[0]["outcome"] == "blocked"


# -- Slack and Discord through the dispatcher -------------------------------------------------

def test_slack_delivery_and_channel_not_found_disables(store: Store, receiver: Receiver) -> None:
    channels.add_channel(store, LOCAL, name="slack", kind="slack",
                         target=receiver.url(f"/services/T000/B000/{SLACK_TOKEN}"))
    fire(store, "slack", n=1)
    assert dispatch.dispatch_once(store).sent == 1
    [request] = receiver.requests
    assert request.path == f"/services/T000/B000/{SLACK_TOKEN}"
    body = orjson.loads(request.body)
    assert body["text"].strip() and isinstance(body["blocks"], list) and body["blocks"]
    assert "Test 1" in request.body.decode()

    receiver.script = [Reply(status=404, body=b"channel_not_found")]
    fire(store, "slack", n=2)
    report = dispatch.dispatch_once(store)
    assert report.dead == 1 and report.disabled_channels == ["slack"]
    channel = store.find_channel("slack")
    assert channel is not None and channel["status"] == "disabled"
    assert "channel_not_found" in channel["disabled_reason"]


def test_discord_delivery_uses_wait_true(store: Store, receiver: Receiver) -> None:
    channels.add_channel(store, LOCAL, name="discord", kind="discord",
                         target=receiver.url(f"/api/webhooks/123456/{DISCORD_TOKEN}"))
    receiver.default = Reply(status=200, body=b'{"id": "1"}')
    fire(store, "discord")
    assert dispatch.dispatch_once(store).sent == 1
    [request] = receiver.requests
    assert request.path == f"/api/webhooks/123456/{DISCORD_TOKEN}?wait=true"
    body = orjson.loads(request.body)
    assert body["embeds"] and "Test 1" in body["embeds"][0]["title"]
    assert only_message(store, "discord")["status"] == "sent"


# -- WH-19: no secret in logs or in the stored attempts ---------------------------------------

def test_no_url_token_or_signing_secret_is_logged_or_stored(store: Store, receiver: Receiver,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    from tests.notify.email_fakes import free_port

    caplog.set_level(logging.DEBUG)
    secret = webhook(store, receiver)
    channels.add_channel(store, LOCAL, name="slack", kind="slack",
                         target=receiver.url(f"/services/T000/B000/{SLACK_TOKEN}"))
    channels.add_channel(store, LOCAL, name="slack-down", kind="slack",
                         target=f"http://127.0.0.1:{free_port()}/services/T000/B000/{SLACK_TOKEN}")
    channels.add_channel(store, LOCAL, name="discord", kind="discord",
                         target=receiver.url(f"/api/webhooks/1/{DISCORD_TOKEN}"))
    receiver.script = [Reply(status=500, body=b"oops"), Reply(status=500, body=b"oops")]
    fire(store, "hook", "slack", "slack-down", "discord", n=1)
    report = dispatch.dispatch_once(store)
    clock.advance(timedelta(minutes=1))
    report2 = dispatch.dispatch_once(store)
    assert report.claimed == 4 and report2.claimed >= 2
    assert len(receiver.requests) >= 4  # the run did reach the receiver (the check below is not vacuous)

    stored = [orjson.dumps(row).decode() for m in messages(store) for row in (m, *store.list_attempts(int(m["id"])))]
    stored += [orjson.dumps(c).decode() for c in store.list_channels()]
    stored += [orjson.dumps(outbox.deliveries(store, LOCAL)).decode(), repr(report), repr(report2)]
    logged = caplog.text + "".join(repr(r.args) for r in caplog.records)
    for text, where in [(logged, "log"), ("\n".join(stored), "store")]:
        for needle in (SLACK_TOKEN, DISCORD_TOKEN, secret, secret.removeprefix("whsec_")):
            assert needle not in text, f"{needle[:8]}… found in the {where}"


# -- leases: two dispatchers, one store file ----------------------------------------------------

def test_two_dispatchers_on_one_file_send_each_message_once(store: Store, receiver: Receiver,
                                                            tmp_path: Path) -> None:
    webhook(store, receiver)
    for n in range(50):
        fire(store, "hook", n=n)
    other = open_store(tmp_path / "dispatch.db")
    use_notify_config(other, make_config())
    receiver.default = Reply(status=200, sleep=0.005)  # let the two interleave
    start = threading.Barrier(2)
    claimed: dict[str, int] = {}
    errors: list[BaseException] = []

    def run(name: str, s: Store) -> None:
        try:
            start.wait()
            total = 0
            while (got := dispatch.dispatch_once(s, owner=name, limit=5).claimed):
                total += got
            claimed[name] = total
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(name, s)) for name, s in (("A", store), ("B", other))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        other.close()
    assert not errors, errors
    assert claimed["A"] + claimed["B"] == 50 and claimed["A"] > 0 and claimed["B"] > 0, claimed
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert len(ids) == 50 and len(set(ids)) == 50
    rows = messages(store, "hook")
    assert {r["status"] for r in rows} == {"sent"} and {r["attempts"] for r in rows} == {1}
    assert set(ids) == {r["message_uid"] for r in rows}


def test_a_dispatcher_that_dies_holding_a_lease_is_taken_over_after_it(store: Store, receiver: Receiver) -> None:
    from agentcost_cli.timeutil import format_utc

    webhook(store, receiver)
    fire(store, "hook")
    now = clock.now()
    [held] = store.claim_outbox(owner="A", now_utc=format_utc(now), lease_until_utc=format_utc(now + dispatch.LEASE),
                                limit=10)
    # A sends, then dies before recording anything. B runs while A's lease lasts: nothing for it.
    assert dispatch.dispatch_once(store, owner="B").claimed == 0
    clock.advance(dispatch.LEASE - timedelta(seconds=1))
    assert dispatch.dispatch_once(store, owner="B").claimed == 0
    assert receiver.requests == []

    clock.advance(timedelta(seconds=1))
    report = dispatch.dispatch_once(store, owner="B")
    assert (report.claimed, report.sent) == (1, 1)
    [request] = receiver.requests
    assert request.headers["webhook-id"] == held["message_uid"]  # the id A's copy carried: a receiver dedupes
    # A wakes up: its lease is gone, so it can neither record an attempt nor finish the message
    assert not store.record_attempt({"outbox_id": held["id"], "attempt_no": 1, "started_utc": clock.now_text(),
                                     "provider": "webhook", "outcome": "delivered"}, owner="A")
    assert not store.finish_outbox(int(held["id"]), owner="A", fields={"status": "dead"})
    row = only_message(store, "hook")
    assert row["status"] == "sent" and row["attempts"] == 1
    assert len(store.list_attempts(int(row["id"]))) == 1


# -- alert_tests.test_channels -------------------------------------------------------------------

def test_testing_an_email_channel_without_a_provider_names_what_to_set(store: Store) -> None:
    channels.add_channel(store, LOCAL, name="mail", kind="email", target="ops@example.com")
    with pytest.raises(ConfigError) as caught:
        alert_tests.test_channels(store, LOCAL, ["mail"])
    text = f"{caught.value.message} {caught.value.hint}"
    assert "RESEND_API_KEY" in text and "SENDGRID_API_KEY" in text and "AGENTCOST_SMTP_HOST" in text
    assert messages(store) == []  # nothing queued


def test_testing_a_webhook_channel_sends_and_reports(store: Store, receiver: Receiver) -> None:
    secret = webhook(store, receiver)
    [result] = alert_tests.test_channels(store, LOCAL, ["hook"])
    assert result["channel"] == "hook" and result["status"] == "sent"
    assert result["outcome"] == "delivered" and result["status_code"] == 200 and result["error"] is None
    [request] = receiver.requests
    assert verify(secret, request.body, request.headers)["type"] == "test.message"

    receiver.default = Reply(status=500, body=b"nope")
    [failed] = alert_tests.test_channels(store, LOCAL, [])
    assert failed["status"] == "pending" and failed["status_code"] == 500 and "HTTP 500" in failed["error"]


# -- one message's setup problem does not stop the others ----------------------------------------

def test_a_channel_that_cannot_be_sent_does_not_block_the_pass(store: Store, receiver: Receiver,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM"):
        monkeypatch.delenv(name, raising=False)
    channels.add_channel(store, LOCAL, name="sms", kind="twilio", target="+14155550123")
    webhook(store, receiver)
    fire(store, "sms", "hook")

    report = dispatch.dispatch_once(store)  # must not raise out of the pass

    assert report.claimed == 2 and report.sent == 1 and report.retrying == 1
    assert len(receiver.requests) == 1
    sms = only_message(store, "sms")
    assert sms["status"] == "pending" and "TWILIO_ACCOUNT_SID" in sms["last_error"]
    assert [a["outcome"] for a in store.list_attempts(int(sms["id"]))] == ["retry"]


def test_slack_invalid_payload_is_terminal(store: Store, receiver: Receiver) -> None:
    channels.add_channel(store, LOCAL, name="slack", kind="slack",
                         target=receiver.url(f"/services/T000/B000/{SLACK_TOKEN}"))
    receiver.default = Reply(status=400, body=b"invalid_payload")
    fire(store, "slack")
    assert dispatch.dispatch_once(store).dead == 1
    row = only_message(store, "slack")
    assert row["status"] == "dead" and "invalid_payload" in row["last_error"]
    assert store.find_channel("slack")["status"] == "active"  # type: ignore[index]
    assert dispatch.dispatch_once(store).claimed == 0 and len(receiver.requests) == 1
