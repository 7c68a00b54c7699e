"""What delivery needs besides a store: the email providers, the target policy and the
channel limits, from the settings. Resolved once per store, like `auth_config`.

Email provider keys (RESEND_API_KEY, SENDGRID_API_KEY) are read from the environment only:
they are secrets, and `agentcost config show` prints settings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..store.base import Store

if TYPE_CHECKING:
    from ..notify.email_config import EmailSetup

_ATTR = "_agentcost_notify_config"

# Settings that build_email_sender reads under their environment names.
_EMAIL_SETTINGS = {
    "notify.email_from": "AGENTCOST_EMAIL_FROM",
    "notify.smtp_host": "AGENTCOST_SMTP_HOST",
    "notify.smtp_port": "AGENTCOST_SMTP_PORT",
    "notify.smtp_tls": "AGENTCOST_SMTP_TLS",
    "notify.smtp_user": "AGENTCOST_SMTP_USER",
    "notify.smtp_password_file": "AGENTCOST_SMTP_PASSWORD_FILE",
}


@dataclass
class NotifyConfig:
    email_values: Mapping[str, str] = field(default_factory=dict)
    allow_private_targets: bool = False
    webhook_timeout: float = 15.0
    disable_after: timedelta = timedelta(days=5)
    secret_overlap: timedelta = timedelta(hours=24)
    operator_channels: tuple[str, ...] = ()
    public_url: str = ""
    anomaly_sensitivity: str = "medium"
    price_change_percent: float = 20.0
    twilio_base_url: str = "https://api.twilio.com"
    _email: EmailSetup | None = None

    def email(self) -> EmailSetup:
        """The email chain, built on first use (so a store with no email configured works
        until something must be mailed).

        Raises:
            ConfigError: no provider or no from-address configured.
        """
        if self._email is None:
            from ..notify.email_config import build_email_sender

            self._email = build_email_sender(self.email_values)
        return self._email

    def email_configured(self) -> bool:
        try:
            self.email()
        except ConfigError:
            return False
        return True


def notify_config(store: Store) -> NotifyConfig:
    """The store's NotifyConfig, from the settings (flags > env > config file > defaults)."""
    found = getattr(store, _ATTR, None)
    if isinstance(found, NotifyConfig):
        return found
    config = load_notify_config()
    use_notify_config(store, config)
    return config


def load_notify_config() -> NotifyConfig:
    from ..settings import Settings

    conf = Settings.load()
    values = dict(os.environ)
    for key, env in _EMAIL_SETTINGS.items():
        if conf[key] and not values.get(env):
            values[env] = str(conf[key])
    return NotifyConfig(
        email_values=values,
        allow_private_targets=conf["notify.allow_private_targets"],
        webhook_timeout=conf["notify.webhook_timeout"],
        disable_after=timedelta(days=conf["notify.disable_after_days"]),
        operator_channels=tuple(n.strip() for n in conf["notify.operator_channels"].split(",") if n.strip()),
        public_url=conf["server.public_url"],
        anomaly_sensitivity=conf["alerts.anomaly_sensitivity"],
        price_change_percent=conf["alerts.price_change_percent"],
        twilio_base_url=os.environ.get("AGENTCOST_TWILIO_BASE_URL", "https://api.twilio.com"),
    )


def use_notify_config(store: Store, config: NotifyConfig) -> None:
    setattr(store, _ATTR, config)
