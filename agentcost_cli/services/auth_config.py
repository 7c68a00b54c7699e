"""What the account services need besides a store and an actor: the server key and
the settings that shape links and session lifetimes. Resolved once per store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..store.base import Store

if TYPE_CHECKING:
    from ..auth.secretbox import SecretBox

_ATTR = "_agentcost_auth_config"


@dataclass
class AuthConfig:
    public_url: str
    key_file: Path
    session_idle: timedelta
    session_max: timedelta
    breach_check_url: str = ""

    @cached_property
    def _master(self) -> bytes:
        from ..auth.secretbox import load_or_create_master_key

        return load_or_create_master_key(self.key_file)

    @cached_property
    def jwt_key(self) -> bytes:
        from ..auth.secretbox import derive_key

        return derive_key(self._master, "jwt")

    @cached_property
    def sso_ticket_key(self) -> bytes:
        """Signs the short-lived ticket that carries a verified single sign-on to its second factor."""
        from ..auth.secretbox import derive_key

        return derive_key(self._master, "sso-mfa-ticket")

    @cached_property
    def box(self) -> SecretBox:
        from ..auth.secretbox import SecretBox, derive_key

        return SecretBox(derive_key(self._master, "sealed-secrets"))


def auth_config(store: Store) -> AuthConfig:
    """The store's AuthConfig, from the settings (flags > env > config file > defaults)."""
    found = getattr(store, _ATTR, None)
    if isinstance(found, AuthConfig):
        return found
    from ..settings import Settings

    conf = Settings.load()
    if conf["auth.key_file"]:
        key_file = Path(conf["auth.key_file"]).expanduser()
    elif "://" in store.location:
        raise ConfigError("set auth.key_file (AGENTCOST_KEY_FILE): a server store has no file to keep its key beside")
    else:
        key_file = Path(store.location + ".key")
    config = AuthConfig(
        public_url=conf["server.public_url"],
        key_file=key_file,
        session_idle=timedelta(days=conf["auth.session_idle_days"]),
        session_max=timedelta(days=conf["auth.session_max_days"]),
        breach_check_url=conf["auth.breach_check_url"],
    )
    use_auth_config(store, config)
    return config


def use_auth_config(store: Store, config: AuthConfig) -> None:
    """Fix the config for this store (the daemon passes its own; tests pass theirs)."""
    setattr(store, _ATTR, config)
