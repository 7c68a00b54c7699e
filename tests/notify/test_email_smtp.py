"""SMTP transport against a real aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

import email
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from agentcost_cli.errors import ConfigError
from agentcost_cli.notify.email_message import EmailMessage
from agentcost_cli.notify.email_send import FallbackSender, SmtpSender, message_id_for

from .email_fakes import SmtpHandler, free_port, self_signed


def msg(key: str = "alert-9/ops@example.com", **kw: object) -> EmailMessage:
    fields: dict[str, object] = {"to": ("ops@example.com",), "sender": "alerts@agentcost.dev",
                                 "subject": "Budget crossed", "text": "Spent $120 of $100.", "idempotency_key": key}
    fields.update(kw)
    return EmailMessage(**fields)  # type: ignore[arg-type]


@pytest.fixture
def smtp_server() -> Iterator[tuple[SmtpHandler, int]]:
    handler = SmtpHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def test_plain_localhost_delivers_with_a_message_id_from_the_key(smtp_server: tuple[SmtpHandler, int]) -> None:
    handler, port = smtp_server
    sender = SmtpSender("127.0.0.1", port, tls="plain", timeout=5)
    result = sender.send(msg(html="<p>Spent</p>", headers={"X-Agentcost-Alert": "9"}))
    again = sender.send(msg())
    assert (result.status, result.provider) == ("sent", "smtp")
    assert result.message_id == message_id_for(msg()) == again.message_id
    [first, second] = handler.messages
    assert first.mail_from == "alerts@agentcost.dev" and first.rcpt_tos == ["ops@example.com"]
    parsed = email.message_from_bytes(first.data)
    assert parsed["Message-ID"] == result.message_id
    assert email.message_from_bytes(second.data)["Message-ID"] == result.message_id
    assert parsed["X-Agentcost-Alert"] == "9"
    assert [p.get_content_type() for p in parsed.walk()][1:] == ["text/plain", "text/html"]


def test_message_id_differs_per_key() -> None:
    assert message_id_for(msg("a")) != message_id_for(msg("b"))
    assert message_id_for(msg("a")).endswith("@agentcost.dev>")


def test_starttls_required_but_not_offered_is_refused(smtp_server: tuple[SmtpHandler, int]) -> None:
    handler, port = smtp_server
    result = SmtpSender("127.0.0.1", port, tls="starttls", timeout=5).send(msg())
    assert result.status == "failed" and result.not_sent
    assert "STARTTLS" in result.detail and "refusing" in result.detail
    assert handler.messages == []


def test_starttls_delivers_over_tls(tmp_path: Path) -> None:
    server_ctx, client_ctx = self_signed(tmp_path)
    handler = SmtpHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, tls_context=server_ctx, require_starttls=True)
    controller.start()
    try:
        result = SmtpSender("127.0.0.1", port, tls="starttls", ssl_context=client_ctx, timeout=5).send(msg())
        untrusted = SmtpSender("127.0.0.1", port, tls="starttls", timeout=5).send(msg())
    finally:
        controller.stop()
    assert result.status == "sent"
    assert len(handler.messages) == 1  # the untrusted-certificate attempt did not deliver
    assert untrusted.status == "retry" and untrusted.not_sent


def test_plain_to_a_remote_host_is_refused_unless_flagged() -> None:
    with pytest.raises(ConfigError, match="refusing plain"):
        SmtpSender("mail.example.com", 25, tls="plain")
    assert SmtpSender("mail.example.com", 25, tls="plain", allow_insecure=True).tls == "plain"
    assert SmtpSender("localhost", 25, tls="plain").port == 25


@pytest.mark.parametrize(("reply", "expected"), [("451 4.3.0 Try again later", "retry"),
                                                 ("450 4.2.1 Mailbox busy", "retry"),
                                                 ("550 5.1.1 No such user", "failed"),
                                                 ("554 5.7.1 Rejected", "failed")])
def test_smtp_4xx_is_retry_and_5xx_is_failed(smtp_server: tuple[SmtpHandler, int], reply: str, expected: str) -> None:
    handler, port = smtp_server
    handler.rcpt_reply = reply
    result = SmtpSender("127.0.0.1", port, tls="plain", timeout=5).send(msg())
    assert result.status == expected
    assert result.not_sent
    assert reply[:3] in result.detail
    assert handler.messages == []


def test_connection_refused_is_retry_and_falls_back(smtp_server: tuple[SmtpHandler, int]) -> None:
    handler, port = smtp_server
    dead = SmtpSender("127.0.0.1", free_port(), tls="plain", timeout=5)
    result = dead.send(msg())
    assert (result.status, result.not_sent) == ("retry", True)
    chained = FallbackSender([dead, SmtpSender("127.0.0.1", port, tls="plain", timeout=5)]).send(msg())
    assert chained.status == "sent"
    assert len(handler.messages) == 1


def test_password_absent_from_repr_and_results() -> None:
    sender = SmtpSender("127.0.0.1", free_port(), tls="plain", username="bot", password="hunter2-SMTP-pass")
    result = sender.send(msg())
    assert "hunter2-SMTP-pass" not in repr(sender)
    assert "hunter2-SMTP-pass" not in repr(result)
    assert "password=***" in repr(sender)
