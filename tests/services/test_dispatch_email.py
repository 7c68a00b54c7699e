"""Email through the real dispatcher (EM-01, EM-04..EM-07): a real SQLite store, the frozen
services clock, and real local stand-ins for Resend and SendGrid (HTTP) and SMTP (aiosmtpd)."""

from __future__ import annotations

import email
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from agentcost_cli.services import channels, clock, dispatch
from agentcost_cli.services.actor import LOCAL
from agentcost_cli.services.notify_config import use_notify_config
from agentcost_cli.store import open_store
from agentcost_cli.store.base import Store
from tests.notify.email_fakes import ApiReply, FakeApi, SmtpHandler, free_port
from tests.services.test_dispatch import advance_to_due, fire, make_config, messages, only_message

FROM = "alerts@example.com"


@pytest.fixture
def t0() -> Iterator[datetime]:
    at = datetime.now(UTC).replace(microsecond=0)
    with clock.frozen(at):
        yield at


@pytest.fixture
def store(tmp_path: Path, t0: datetime) -> Iterator[Store]:
    s = open_store(tmp_path / "dispatch.db")
    use_notify_config(s, make_config())
    yield s
    s.close()


@pytest.fixture
def resend() -> Iterator[FakeApi]:
    with FakeApi() as api:
        yield api


@pytest.fixture
def sendgrid() -> Iterator[FakeApi]:
    with FakeApi() as api:
        api.default = ApiReply(status=202, body=None, headers={"X-Message-Id": "sg-msg-1"})
        yield api


@pytest.fixture
def smtp() -> Iterator[tuple[SmtpHandler, int]]:
    handler = SmtpHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def configure(store: Store, *, resend: FakeApi | None = None, sendgrid: FakeApi | None = None,
              smtp_port: int | None = None, timeout: float = 2.0) -> None:
    values = {"AGENTCOST_EMAIL_FROM": FROM, "AGENTCOST_EMAIL_TIMEOUT": str(timeout),
              "AGENTCOST_RESEND_RATE": "1000", "AGENTCOST_SENDGRID_RATE": "1000", "AGENTCOST_SMTP_RATE": "1000"}
    if resend is not None:
        values |= {"RESEND_API_KEY": "re_test_key", "AGENTCOST_RESEND_BASE_URL": resend.base_url}
    if sendgrid is not None:
        values |= {"SENDGRID_API_KEY": "SG.test_key", "AGENTCOST_SENDGRID_BASE_URL": sendgrid.base_url}
    if smtp_port is not None:
        values |= {"AGENTCOST_SMTP_HOST": "127.0.0.1", "AGENTCOST_SMTP_PORT": str(smtp_port),
                   "AGENTCOST_SMTP_TLS": "plain"}
    use_notify_config(store, make_config(email_values=values))


def mail_channel(store: Store, *addresses: str, name: str = "mail") -> None:
    channels.add_channel(store, LOCAL, name=name, kind="email", target=", ".join(addresses or ("ops@example.com",)))


def attempts(store: Store, row: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["provider"], a["outcome"]) for a in store.list_attempts(int(row["id"]))]


# -- EM-01: Resend's Idempotency-Key, the same on every retry -----------------------------------

def test_resend_gets_an_idempotency_key_reused_on_retry(store: Store, resend: FakeApi) -> None:
    configure(store, resend=resend)
    mail_channel(store)
    resend.script = [ApiReply(status=500, body={"name": "internal_server_error", "message": "boom"})]
    fire(store, "mail")
    row = only_message(store, "mail")

    assert dispatch.dispatch_once(store).retrying == 1
    advance_to_due(store, int(row["id"]))
    assert dispatch.dispatch_once(store).sent == 1

    first, second = resend.requests
    assert first.path == second.path == "/emails"
    assert first.headers["authorization"] == "Bearer re_test_key"
    key = first.headers["idempotency-key"]
    assert key and len(key) <= 256 and key == second.headers["idempotency-key"] == row["idempotency_key"]
    assert first.json["to"] == ["ops@example.com"] and first.json["from"] == FROM and first.json["text"]
    sent = only_message(store, "mail")
    assert sent["status"] == "sent" and sent["provider"] == "resend" and sent["provider_message_id"] == "msg_1"
    assert attempts(store, sent) == [("resend", "refused"), ("resend", "delivered")]


def test_two_alerts_to_one_address_get_different_keys(store: Store, resend: FakeApi) -> None:
    configure(store, resend=resend)
    mail_channel(store)
    fire(store, "mail", n=1)
    fire(store, "mail", n=2)
    assert dispatch.dispatch_once(store).sent == 2
    assert len({r.headers["idempotency-key"] for r in resend.requests}) == 2


# -- EM-04: SendGrid only when Resend certainly did not send ------------------------------------

def test_sendgrid_after_three_resend_500s(store: Store, resend: FakeApi, sendgrid: FakeApi) -> None:
    configure(store, resend=resend, sendgrid=sendgrid)
    mail_channel(store)
    resend.default = ApiReply(status=500, body={"name": "internal_server_error", "message": "down"})
    fire(store, "mail")
    row = only_message(store, "mail")

    for n in range(1, 3):
        assert dispatch.dispatch_once(store).retrying == 1
        assert (len(resend.requests), len(sendgrid.requests)) == (n, 0)
        advance_to_due(store, int(row["id"]))
    assert dispatch.dispatch_once(store).sent == 1

    assert len(resend.requests) == 3 and len(sendgrid.requests) == 1
    done = only_message(store, "mail")
    assert done["status"] == "sent" and done["provider"] == "sendgrid"
    assert attempts(store, done) == [("resend", "refused")] * 3 + [("sendgrid", "accepted")]
    assert dispatch.dispatch_once(store).claimed == 0 and len(sendgrid.requests) == 1


def test_a_terminal_resend_refusal_falls_back_at_once(store: Store, resend: FakeApi, sendgrid: FakeApi) -> None:
    configure(store, resend=resend, sendgrid=sendgrid)
    mail_channel(store)
    resend.default = ApiReply(status=401, body={"name": "missing_api_key", "message": "bad key"})
    fire(store, "mail")
    assert dispatch.dispatch_once(store).sent == 1
    assert (len(resend.requests), len(sendgrid.requests)) == (1, 1)
    assert attempts(store, only_message(store, "mail")) == [("resend", "failed"), ("sendgrid", "accepted")]


def test_an_ambiguous_resend_outcome_never_goes_to_sendgrid(store: Store, resend: FakeApi,
                                                            sendgrid: FakeApi) -> None:
    configure(store, resend=resend, sendgrid=sendgrid, timeout=0.3)
    mail_channel(store)
    resend.script = [ApiReply(hang=1.0),  # the request is written; the answer never comes in time
                     ApiReply(status=409, body={"name": "invalid_idempotent_request", "message": "conflict"})]
    fire(store, "mail")
    row = only_message(store, "mail")

    assert dispatch.dispatch_once(store).retrying == 1
    pinned = only_message(store, "mail")
    assert pinned["status"] == "pending" and pinned["provider"] == "resend"
    advance_to_due(store, int(row["id"]))
    assert dispatch.dispatch_once(store).unknown == 1

    assert len(resend.requests) == 2 and sendgrid.requests == []
    assert resend.requests[0].headers["idempotency-key"] == resend.requests[1].headers["idempotency-key"]
    final = only_message(store, "mail")
    assert final["status"] == "unknown" and "invalid_idempotent_request" in final["last_error"]
    assert attempts(store, final) == [("resend", "retry"), ("resend", "unknown")]
    assert dispatch.dispatch_once(store).claimed == 0 and sendgrid.requests == []


def test_refusals_after_an_ambiguous_outcome_do_not_fall_back(store: Store, resend: FakeApi,
                                                              sendgrid: FakeApi) -> None:
    """The first request may have been delivered: however Resend answers later, SendGrid
    would mail a second copy (EM-04)."""
    configure(store, resend=resend, sendgrid=sendgrid, timeout=0.3)
    mail_channel(store)
    resend.script = [ApiReply(hang=1.0)]
    resend.default = ApiReply(status=500, body={"name": "internal_server_error", "message": "down"})
    fire(store, "mail")
    row = only_message(store, "mail")
    dispatch.dispatch_once(store)
    for _ in range(dispatch.MAX_PRIMARY_FAILURES + 1):
        advance_to_due(store, int(row["id"]))
        dispatch.dispatch_once(store)
    assert len(resend.requests) == dispatch.MAX_PRIMARY_FAILURES + 2
    assert sendgrid.requests == []
    assert only_message(store, "mail")["provider"] == "resend"


# -- EM-05: SendGrid's 202 is "accepted", with its message id ----------------------------------

def test_sendgrid_202_is_accepted_with_its_message_id(store: Store, sendgrid: FakeApi) -> None:
    configure(store, sendgrid=sendgrid)
    mail_channel(store, "Ops Team <ops@example.com>")
    fire(store, "mail")
    assert dispatch.dispatch_once(store).sent == 1

    [request] = sendgrid.requests
    assert request.path == "/v3/mail/send" and request.headers["authorization"] == "Bearer SG.test_key"
    body = request.json
    assert body["personalizations"][0]["to"] == [{"email": "ops@example.com", "name": "Ops Team"}]
    assert body["from"] == {"email": FROM} and body["subject"]
    assert body["content"][0]["type"] == "text/plain" and body["content"][0]["value"].strip()
    row = only_message(store, "mail")
    assert row["status"] == "sent" and row["provider"] == "sendgrid" and row["provider_message_id"] == "sg-msg-1"
    assert attempts(store, row) == [("sendgrid", "accepted")]


# -- EM-06: recipient lists split under Resend's 50 -------------------------------------------

def test_120_recipients_make_three_resend_calls(store: Store, resend: FakeApi) -> None:
    configure(store, resend=resend)
    addresses = [f"user{i:03d}@example.com" for i in range(120)]
    mail_channel(store, *addresses)
    fire(store, "mail")
    assert len(messages(store, "mail")) == 3
    assert dispatch.dispatch_once(store).sent == 3

    sizes = sorted(len(r.json["to"]) for r in resend.requests)
    assert sizes == [20, 50, 50]
    assert sorted(a for r in resend.requests for a in r.json["to"]) == addresses
    assert len({r.headers["idempotency-key"] for r in resend.requests}) == 3


# -- EM-07: SMTP 4xx retries, 5xx is final ------------------------------------------------------

def test_smtp_451_is_retried_and_550_is_dead(store: Store, smtp: tuple[SmtpHandler, int]) -> None:
    handler, port = smtp
    configure(store, smtp_port=port)
    mail_channel(store)
    handler.rcpt_reply = "451 4.3.0 try again later"
    fire(store, "mail", n=1)
    row = only_message(store, "mail")

    assert dispatch.dispatch_once(store).retrying == 1
    assert only_message(store, "mail")["status"] == "pending" and handler.messages == []
    handler.rcpt_reply = None
    advance_to_due(store, int(row["id"]))
    assert dispatch.dispatch_once(store).sent == 1
    [delivered] = handler.messages
    assert delivered.rcpt_tos == ["ops@example.com"]
    assert email.message_from_bytes(delivered.data)["Message-ID"] == only_message(store, "mail")["provider_message_id"]

    handler.rcpt_reply = "550 5.1.1 no such user"
    fire(store, "mail", n=2)
    assert dispatch.dispatch_once(store).dead == 1
    dead = messages(store, "mail")[1]
    assert dead["status"] == "dead" and "550" in dead["last_error"]
    assert attempts(store, dead) == [("smtp", "failed")]


def test_without_a_provider_an_email_waits_and_spends_no_attempt(store: Store, t0: datetime,
                                                                  resend: FakeApi) -> None:
    """An account email queued before email is configured is neither dead nor silently dropped:
    it waits (looked at again each minute) and goes out once a provider is configured."""
    from agentcost_cli.services import outbox

    outbox.enqueue(store, template="verify_email", recipient="ana@example.com",
                   variables={"link": "https://costs.example.org/verify?t=x", "email": "ana@example.com",
                              "name": "Ana", "token": "x"},
                   idempotency_key="verify/1")
    report = dispatch.dispatch_once(store)
    assert (report.claimed, report.waiting, report.sent, report.dead) == (1, 1, 0, 0)
    [row] = store.query_outbox(outbox.OutboxQuery())
    assert (row["status"], row["attempts"]) == ("pending", 0)
    assert row["last_error"] == "waiting: no email provider is configured"
    assert store.list_attempts(int(row["id"])) == []
    assert dispatch.dispatch_once(store).claimed == 0  # not due again at once
    configure(store, resend=resend)
    clock.advance(dispatch.EMAIL_CONFIG_RECHECK)
    assert dispatch.dispatch_once(store).sent == 1
    assert [r.json["to"] for r in resend.requests] == [["ana@example.com"]]
