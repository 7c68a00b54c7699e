"""Pure parts of email delivery: message validation, the throttle, Retry-After, configuration."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from agentcost_cli.errors import ConfigError, InvalidInput
from agentcost_cli.notify.email_config import build_email_sender
from agentcost_cli.notify.email_message import EmailMessage
from agentcost_cli.notify.email_send import (
    ResendSender,
    SendGridSender,
    SmtpSender,
    TokenBucket,
    parse_retry_after,
)


def msg(**kw: object) -> EmailMessage:
    fields: dict[str, object] = {"to": ("ops@example.com",), "sender": "alerts@agentcost.dev", "subject": "Hi",
                                 "text": "body", "idempotency_key": "alert-1/ops@example.com"}
    fields.update(kw)
    return EmailMessage(**fields)  # type: ignore[arg-type]


# --- message validation ----------------------------------------------------------------------------

def test_a_valid_message_is_frozen_and_normalised() -> None:
    m = msg(to="Ops Team <ops@example.com>", reply_to="help@example.com", headers={"List-Unsubscribe": "<x>"})
    assert m.to == ("Ops Team <ops@example.com>",)
    with pytest.raises(AttributeError):
        m.subject = "changed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        m.headers["Bcc"] = "x@example.com"  # type: ignore[index]


@pytest.mark.parametrize("field_values", [
    {"subject": "Hi\r\nBcc: victim@example.com"},
    {"subject": "Hi\nBcc: victim@example.com"},
    {"to": ("ops@example.com\r\nBcc: victim@example.com",)},
    {"sender": "alerts@agentcost.dev\nBcc: victim@example.com"},
    {"reply_to": "help@example.com\r\nX-Evil: 1"},
    {"headers": {"X-Tag": "a\r\nBcc: victim@example.com"}},
    {"headers": {"X-Tag\r\nBcc": "victim@example.com"}},
    {"headers": {"Bcc": "victim@example.com"}},
    {"headers": {"message-id": "<forged@example.com>"}},
    {"idempotency_key": "k\r\nX-Evil: 1"},
])
def test_header_injection_is_refused(field_values: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        msg(**field_values)


@pytest.mark.parametrize("address", ["not-an-address", "a@b", "a@@b.com", "ops@example.com, other@example.com",
                                     "ops@example.com; other@example.com", "<>", "", "Ops <ops@>",
                                     "ops@exa mple.com"])
def test_bad_addresses_are_refused(address: str) -> None:
    with pytest.raises(InvalidInput):
        msg(to=(address,))


@pytest.mark.parametrize("field_values", [
    {"to": ()}, {"text": "  "}, {"subject": ""}, {"idempotency_key": ""}, {"idempotency_key": "k" * 257},
    {"idempotency_key": "clé"},
])
def test_other_invalid_messages(field_values: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        msg(**field_values)


def test_a_256_char_key_is_accepted() -> None:
    assert len(msg(idempotency_key="k" * 256).idempotency_key) == 256


# --- throttle ----------------------------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_spaces_requests_and_refills() -> None:
    clock = Clock()
    bucket = TokenBucket(2.0, clock=clock)
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.5, 1.0]
    clock.now += 10
    assert bucket.reserve() == 0.0  # refilled, but never above the burst
    assert bucket.reserve() == 0.5


def test_token_bucket_burst_and_pause() -> None:
    clock = Clock()
    bucket = TokenBucket(1.0, burst=3, clock=clock)
    assert [bucket.reserve() for _ in range(4)] == [0.0, 0.0, 0.0, 1.0]
    clock.now += 100
    bucket.pause(3.0)
    assert bucket.reserve() == 3.0
    clock.now += 3.0
    assert bucket.reserve() == 0.0


def test_token_bucket_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0)


@pytest.mark.parametrize(("value", "expected"), [("3", 3.0), ("0", 0.0), (" 2.5 ", 2.5), ("-4", 0.0),
                                                 ("999999", 86400.0), ("soon", None), ("", None), (None, None),
                                                 ("nan", None)])
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after(formatdate(now + 120, usegmt=True), now=now) == pytest.approx(120.0)


# --- configuration ------------------------------------------------------------------------------------

FROM = {"AGENTCOST_EMAIL_FROM": "agentcost <alerts@agentcost.dev>"}


def test_no_provider_is_a_clear_config_error() -> None:
    with pytest.raises(ConfigError, match="no email provider configured"):
        build_email_sender(FROM)
    with pytest.raises(ConfigError, match="no email provider configured"):
        build_email_sender({**FROM, "RESEND_API_KEY": "  "})


def test_chain_order_and_from_address() -> None:
    setup = build_email_sender({**FROM, "RESEND_API_KEY": "re_k", "SENDGRID_API_KEY": "SG.k",
                                "AGENTCOST_SMTP_HOST": "localhost", "AGENTCOST_SMTP_TLS": "plain",
                                "AGENTCOST_RESEND_BASE_URL": "http://127.0.0.1:9/"})
    kinds = [type(s) for s in setup.sender.senders]
    assert kinds == [ResendSender, SendGridSender, SmtpSender]
    assert setup.from_address == "agentcost <alerts@agentcost.dev>"
    resend = setup.sender.senders[0]
    assert isinstance(resend, ResendSender)
    assert resend.base_url == "http://127.0.0.1:9"
    assert resend.throttle.bucket is not None and resend.throttle.bucket.rate == 2.0


def test_rate_is_configurable() -> None:
    setup = build_email_sender({**FROM, "RESEND_API_KEY": "re_k", "AGENTCOST_RESEND_RATE": "0.5"})
    resend = setup.sender.senders[0]
    assert isinstance(resend, ResendSender) and resend.throttle.bucket is not None
    assert resend.throttle.bucket.rate == 0.5
    with pytest.raises(ConfigError, match="AGENTCOST_RESEND_RATE"):
        build_email_sender({**FROM, "RESEND_API_KEY": "re_k", "AGENTCOST_RESEND_RATE": "0"})


def test_from_address_is_required_and_validated() -> None:
    with pytest.raises(ConfigError, match="AGENTCOST_EMAIL_FROM"):
        build_email_sender({"RESEND_API_KEY": "re_k"})
    with pytest.raises(ConfigError, match="AGENTCOST_EMAIL_FROM"):
        build_email_sender({"RESEND_API_KEY": "re_k", "AGENTCOST_EMAIL_FROM": "a@b.dev\r\nBcc: x@y.dev"})


def test_smtp_settings_password_file_and_secrets_hidden() -> None:
    reads: list[str] = []

    def read_file(path: str) -> str:
        reads.append(path)
        return "s3cret-smtp-pw\n"

    setup = build_email_sender({**FROM, "AGENTCOST_SMTP_HOST": "smtp.example.com", "AGENTCOST_SMTP_PORT": "465",
                                "AGENTCOST_SMTP_TLS": "tls", "AGENTCOST_SMTP_USER": "bot",
                                "AGENTCOST_SMTP_PASSWORD_FILE": "/run/secrets/smtp", "RESEND_API_KEY": "re_hidden99"},
                               read_file=read_file)
    assert reads == ["/run/secrets/smtp"]
    smtp = setup.sender.senders[1]
    assert isinstance(smtp, SmtpSender)
    assert (smtp.host, smtp.port, smtp.tls, smtp.username) == ("smtp.example.com", 465, "tls", "bot")
    text = repr(setup)
    assert "s3cret-smtp-pw" not in text and "re_hidden99" not in text
    assert "SmtpSender" in text


@pytest.mark.parametrize(("extra", "match"), [
    ({"AGENTCOST_SMTP_TLS": "plain"}, "refusing plain"),
    ({"AGENTCOST_SMTP_TLS": "ssl3"}, "AGENTCOST_SMTP_TLS"),
    ({"AGENTCOST_SMTP_PORT": "99999"}, "AGENTCOST_SMTP_PORT"),
    ({"AGENTCOST_SMTP_USER": "bot"}, "no password"),
    ({"AGENTCOST_SMTP_ALLOW_INSECURE": "maybe"}, "AGENTCOST_SMTP_ALLOW_INSECURE"),
])
def test_bad_smtp_settings(extra: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build_email_sender({**FROM, "AGENTCOST_SMTP_HOST": "smtp.example.com", **extra})


def test_plain_remote_smtp_allowed_with_explicit_flag() -> None:
    setup = build_email_sender({**FROM, "AGENTCOST_SMTP_HOST": "relay.internal", "AGENTCOST_SMTP_TLS": "plain",
                                "AGENTCOST_SMTP_ALLOW_INSECURE": "true"})
    smtp = setup.sender.senders[0]
    assert isinstance(smtp, SmtpSender) and (smtp.tls, smtp.port) == ("plain", 25)


def test_unreadable_password_file() -> None:
    def read_file(path: str) -> str:
        raise FileNotFoundError(2, "No such file or directory")

    with pytest.raises(ConfigError, match="PASSWORD_FILE"):
        build_email_sender({**FROM, "AGENTCOST_SMTP_HOST": "localhost", "AGENTCOST_SMTP_PASSWORD_FILE": "/x"},
                           read_file=read_file)
