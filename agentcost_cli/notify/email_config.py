"""Build the email sender chain from configuration values.

`build_email_sender(values)` is pure: it takes a mapping (the environment, or settings flattened
to the same names) and returns the chain Resend → SendGrid → SMTP with whichever are configured.
Nothing configured is a `ConfigError`, never a sender that silently drops mail.

Names read (all optional except that at least one provider and the from-address are needed):

    RESEND_API_KEY, AGENTCOST_RESEND_BASE_URL, AGENTCOST_RESEND_RATE (req/s, default 2)
    SENDGRID_API_KEY, AGENTCOST_SENDGRID_BASE_URL, AGENTCOST_SENDGRID_RATE (default 10)
    AGENTCOST_SMTP_HOST, AGENTCOST_SMTP_PORT, AGENTCOST_SMTP_USER, AGENTCOST_SMTP_PASSWORD_FILE,
    AGENTCOST_SMTP_TLS (starttls | tls | plain), AGENTCOST_SMTP_ALLOW_INSECURE (1/true),
    AGENTCOST_SMTP_RATE (default 5)
    AGENTCOST_EMAIL_FROM, AGENTCOST_EMAIL_TIMEOUT (seconds, default 15)

The SMTP password is read from a file (never from an environment value, which leaks into
process listings and crash reports); `read_file` is injectable for tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from ..errors import ConfigError, InvalidInput
from .email_message import check_address
from .email_send import (
    EmailSender,
    FallbackSender,
    ResendSender,
    Secret,
    SendGridSender,
    SmtpSender,
    TlsMode,
    TokenBucket,
)

DEFAULT_RATES = {"resend": 2.0, "sendgrid": 10.0, "smtp": 5.0}


@dataclass(frozen=True)
class EmailSetup:
    sender: FallbackSender
    from_address: str


def _read_text(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def _get(values: Mapping[str, str], name: str) -> str:
    return (values.get(name) or "").strip()


def _positive(values: Mapping[str, str], name: str, default: float) -> float:
    raw = _get(values, name)
    if not raw:
        return default
    try:
        number = float(raw)
    except ValueError:
        number = -1.0
    if not number > 0:
        raise ConfigError(f"{name} must be a positive number, not {raw!r}")
    return number


def _flag(values: Mapping[str, str], name: str) -> bool:
    raw = _get(values, name).lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def build_email_sender(values: Mapping[str, str], *, read_file: Callable[[str], str] = _read_text,
                       clock: Callable[[], float] | None = None) -> EmailSetup:
    """The configured chain and from-address.

    Raises:
        ConfigError: no provider configured, no/invalid from-address, or a bad SMTP/rate value.
    """
    timeout = _positive(values, "AGENTCOST_EMAIL_TIMEOUT", 15.0)

    def bucket(provider: str) -> TokenBucket:
        rate = _positive(values, f"AGENTCOST_{provider.upper()}_RATE", DEFAULT_RATES[provider])
        return TokenBucket(rate) if clock is None else TokenBucket(rate, clock=clock)

    senders: list[EmailSender] = []
    if resend_key := _get(values, "RESEND_API_KEY"):
        senders.append(ResendSender(Secret(resend_key), timeout=timeout, bucket=bucket("resend"),
                                    base_url=_get(values, "AGENTCOST_RESEND_BASE_URL") or "https://api.resend.com"))
    if sendgrid_key := _get(values, "SENDGRID_API_KEY"):
        senders.append(SendGridSender(Secret(sendgrid_key), timeout=timeout, bucket=bucket("sendgrid"),
                                      base_url=_get(values, "AGENTCOST_SENDGRID_BASE_URL")
                                      or "https://api.sendgrid.com"))
    if host := _get(values, "AGENTCOST_SMTP_HOST"):
        senders.append(_smtp(values, host, timeout=timeout, bucket=bucket("smtp"), read_file=read_file))
    if not senders:
        raise ConfigError(
            "no email provider configured: emails cannot be sent",
            hint="set RESEND_API_KEY, SENDGRID_API_KEY or AGENTCOST_SMTP_HOST",
        )
    from_address = _get(values, "AGENTCOST_EMAIL_FROM")
    if not from_address:
        raise ConfigError("no from-address configured for email (AGENTCOST_EMAIL_FROM)",
                          hint="set AGENTCOST_EMAIL_FROM")
    try:
        check_address("sender", from_address)
    except InvalidInput as exc:
        raise ConfigError(f"AGENTCOST_EMAIL_FROM: {exc.message}") from None
    return EmailSetup(FallbackSender(senders), from_address)


def _smtp(values: Mapping[str, str], host: str, *, timeout: float, bucket: TokenBucket,
          read_file: Callable[[str], str]) -> SmtpSender:
    tls = _get(values, "AGENTCOST_SMTP_TLS").lower() or "starttls"
    if tls not in ("starttls", "tls", "plain"):
        raise ConfigError(f"AGENTCOST_SMTP_TLS must be starttls, tls or plain, not {tls!r}")
    port_text = _get(values, "AGENTCOST_SMTP_PORT")
    port: int | None = None
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ConfigError(f"AGENTCOST_SMTP_PORT must be a port number, not {port_text!r}")
        port = int(port_text)
    user = _get(values, "AGENTCOST_SMTP_USER") or None
    password: Secret | None = None
    if password_file := _get(values, "AGENTCOST_SMTP_PASSWORD_FILE"):
        try:
            password = Secret(read_file(password_file).strip())
        except OSError as exc:
            raise ConfigError(f"cannot read AGENTCOST_SMTP_PASSWORD_FILE: {exc.strerror or exc}") from None
    if user and not password:
        raise ConfigError("AGENTCOST_SMTP_USER is set but no password",
                          hint="put the password in a file and set AGENTCOST_SMTP_PASSWORD_FILE")
    return SmtpSender(host, port, tls=cast(TlsMode, tls), username=user, password=password,
                      allow_insecure=_flag(values, "AGENTCOST_SMTP_ALLOW_INSECURE"), timeout=timeout, bucket=bucket)
