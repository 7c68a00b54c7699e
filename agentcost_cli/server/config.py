"""The daemon's configuration, resolved once at start from the settings (flags > env >
config file > defaults) so that every request sees the same values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..auth.oidc import OidcSettings

DEFAULT_LIMITS = {
    # per API key: requests, and events (a batch costs its size), so one key cannot flood the store
    "key_requests": "1200/minute",
    "key_events": "120000/minute",
    # per signed-in user and per source address on the management API
    "user_requests": "600/minute",
    "ip_requests": "1200/minute",
    # sign-in, registration and password reset: per source address (accounts are throttled apart)
    "auth_ip": "30/minute",
}


@dataclass(frozen=True)
class ServerConfig:
    store_path: str
    synchronous: str = "FULL"
    public_url: str = "http://127.0.0.1:8787"
    tls: bool = False
    max_body_bytes: int = 1_048_576
    max_batch_events: int = 1000
    rate_limit_storage: str = "memory://"
    limits: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    cors_origins: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    require_https: bool = False
    open_registration: bool = False
    workers: int = 1
    ingest_workers: int = 0  # processes that prepare large event batches (server/ingest_pool.py)
    docs: bool = True
    sso: OidcSettings | None = None  # single sign-on (`sso.*` settings); None: off
    # The scheduled jobs (server/scheduler.py). Off by default so in-process apps in tests run
    # none; `agentcost daemon` reads scheduler.enabled (on by default).
    scheduler: bool = False
    pricing_refresh: str = "02:00"
    scheduled_imports: bool = False

    @property
    def local_store(self) -> bool:
        """An embedded SQLite file (not a database server reached over the network)."""
        return "://" not in self.store_path

    @classmethod
    def from_settings(cls, overrides: dict[str, Any] | None = None, *, tls: bool = False,
                      workers: int = 1) -> ServerConfig:
        from ..auth.oidc import OidcSettings
        from ..settings import Settings

        conf = Settings.load(overrides or {})
        limits = dict(DEFAULT_LIMITS)
        for part in str(conf["server.rate_limits"]).split(","):
            name, _, value = part.strip().partition("=")
            if name:
                limits[name.strip()] = value.strip()
        from ..store import store_location

        return cls(
            store_path=store_location(conf["store.path"]),  # a postgresql:// URL stays one
            synchronous=conf["store.synchronous"],
            public_url=conf["server.public_url"],
            tls=tls,
            max_body_bytes=conf["server.max_body_bytes"],
            max_batch_events=conf["server.max_batch_events"],
            rate_limit_storage=conf["server.rate_limit_storage"],
            limits=limits,
            cors_origins=_list(conf["server.cors_origins"]),
            trusted_proxies=_list(conf["server.trusted_proxies"]),
            require_https=conf["server.require_https"],
            open_registration=conf["server.open_registration"],
            workers=workers,
            ingest_workers=1 if conf["server.ingest_worker"] else 0,  # ServerConfig's own default (tests): 0
            sso=OidcSettings.from_settings(conf),
            scheduler=conf["scheduler.enabled"],
            pricing_refresh=conf["scheduler.pricing_refresh"],
            scheduled_imports=bool(conf["scheduler.import_paths"]),
        )


def _list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in str(text).split(",") if part.strip())
