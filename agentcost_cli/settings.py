"""Resolved configuration: flags > AGENTCOST_* environment > config.toml > defaults.

Settings are resolved at call time (never at import) and remember where each
value came from, so `agentcost config show --json` can say so.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import paths
from .errors import ConfigError

GENAI_PRICES_URL = (
    "https://raw.githubusercontent.com/pydantic/genai-prices/refs/heads/main/prices/new_data/v2/data.json"
)


def _positive_int(value: Any) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError("must be a positive integer")
    return number


def _non_negative_int(value: Any) -> int:
    number = int(value)
    if number < 0:
        raise ValueError("must be 0 or a positive integer")
    return number


def _at_least(minimum: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        number = int(value)
        if number < minimum:
            raise ValueError(f"must be at least {minimum}")
        return number

    return parse


def _positive_float(value: Any) -> float:
    number = float(value)
    if number <= 0:
        raise ValueError("must be a positive number")
    return number


def _choice(*allowed: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = str(value).upper()
        if text not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return text

    return parse


def _text(value: Any) -> str:
    if not isinstance(value, str | int | float):
        raise ValueError("must be a string")
    return str(value)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("must be true or false")


def _port(value: Any) -> int:
    number = int(value)
    if not 0 < number < 65536:
        raise ValueError("must be a port number (1-65535)")
    return number


def _url(value: Any) -> str:
    text = _text(value).rstrip("/")
    if not text.startswith(("http://", "https://")) or text.endswith("://"):
        raise ValueError("must be an http:// or https:// URL")
    return text


def _issuer(value: Any) -> str:
    """An OpenID Connect issuer: empty (single sign-on off), https://..., or http:// on loopback (tests,
    a provider on the same machine). Kept exactly as given: it must equal the ID tokens' `iss`."""
    text = _text(value).strip()
    if not text:
        return ""
    from urllib.parse import urlsplit

    parts = urlsplit(text)
    loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if not parts.hostname or parts.scheme not in ("https", "http") or (parts.scheme == "http" and not loopback):
        raise ValueError("must be an https:// URL (http:// only on loopback)")
    if parts.query or parts.fragment:
        raise ValueError("must have no query or fragment")
    return text


def _scopes(value: Any) -> str:
    """Space-separated scopes; empty: the provider's usual ones. (That an OpenID Connect provider
    gets `openid` is checked with the provider, in auth/oidc.py.)"""
    return " ".join(_text(value).split())


def _sso_provider(value: Any) -> str:
    text = _text(value).strip().lower()
    if text not in ("oidc", "github"):
        raise ValueError("must be oidc or github")
    return text


@dataclass(frozen=True)
class SettingSpec:
    key: str
    env: str
    parse: Callable[[Any], Any]
    default: Callable[[], Any]
    help: str


SPECS: tuple[SettingSpec, ...] = (
    SettingSpec(
        "store.path", "AGENTCOST_DB", _text, lambda: str(paths.default_db_path()),
        "The SQLite store file.",
    ),
    SettingSpec(
        "store.synchronous", "AGENTCOST_SQLITE_SYNCHRONOUS", _choice("FULL", "NORMAL"), lambda: "FULL",
        "SQLite durability: FULL survives power loss; NORMAL (WAL) may lose the last commits on power loss.",
    ),
    SettingSpec(
        "report.timezone", "AGENTCOST_TIMEZONE", _text, lambda: "local",
        "Time zone that reports bucket days in: an IANA name, 'UTC' or 'local'.",
    ),
    SettingSpec(
        "ingest.project", "AGENTCOST_PROJECT", _text, lambda: "default",
        "Project for events that do not name one.",
    ),
    SettingSpec(
        "ingest.batch_size", "AGENTCOST_BATCH_SIZE", _positive_int, lambda: 20000,
        "Events per ingest transaction.",
    ),
    SettingSpec(
        "ingest.workers", "AGENTCOST_WORKERS", _non_negative_int, lambda: 0,
        "Worker processes that parse large inputs; 0 picks one per CPU, 1 or more fixes the number.",
    ),
    SettingSpec(
        "pricing.url", "AGENTCOST_PRICING_URL", _text, lambda: GENAI_PRICES_URL,
        "Where `agentcost pricing update` fetches prices (genai-prices v2 JSON or LiteLLM JSON).",
    ),
    SettingSpec(
        "pricing.timeout", "AGENTCOST_PRICING_TIMEOUT", _positive_float, lambda: 20.0,
        "Seconds to wait for the pricing source.",
    ),
    SettingSpec(
        "import.claude_code_path", "AGENTCOST_CLAUDE_CODE_PATH", _text, lambda: "",
        "Claude Code projects folder(s), comma-separated; empty means CLAUDE_CONFIG_DIR or ~/.claude.",
    ),
    SettingSpec(
        "import.codex_path", "AGENTCOST_CODEX_PATH", _text, lambda: "",
        "Codex sessions folder; empty means $CODEX_HOME/sessions or ~/.codex/sessions.",
    ),
    SettingSpec(
        "server.public_url", "AGENTCOST_PUBLIC_URL", _url, lambda: "http://127.0.0.1:8787",
        "Base URL for links in account emails (never taken from a request's Host header).",
    ),
    SettingSpec(
        "server.host", "AGENTCOST_HOST", _text, lambda: "127.0.0.1",
        "Address `agentcost daemon` listens on (0.0.0.0: every interface).",
    ),
    SettingSpec(
        "server.port", "AGENTCOST_PORT", _port, lambda: 8787,
        "Port `agentcost daemon` listens on.",
    ),
    SettingSpec(
        "server.max_body_bytes", "AGENTCOST_MAX_BODY_BYTES", _positive_int, lambda: 1_048_576,
        "Largest request body the ingestion API accepts (413 beyond).",
    ),
    SettingSpec(
        "server.max_batch_events", "AGENTCOST_MAX_BATCH_EVENTS", _positive_int, lambda: 1000,
        "Most events in one POST /v1/events (413 beyond).",
    ),
    SettingSpec(
        "server.ingest_worker", "AGENTCOST_INGEST_WORKER", _bool, lambda: True,
        "Validate and price large POST /v1/events batches (16+ events) in a helper process, so they "
        "do not share the daemon's one core for Python (embedded SQLite stores only).",
    ),
    SettingSpec(
        "server.rate_limit_storage", "AGENTCOST_RATE_LIMIT_STORAGE", _text, lambda: "memory://",
        "Where rate-limit counters live: memory:// (one daemon) or redis://host:6379 (several daemons).",
    ),
    SettingSpec(
        "server.rate_limits", "AGENTCOST_RATE_LIMITS", _text, lambda: "",
        "Overrides of the default limits, e.g. key_events=60000/minute,auth_ip=10/minute.",
    ),
    SettingSpec(
        "server.cors_origins", "AGENTCOST_CORS_ORIGINS", _text, lambda: "",
        "Origins allowed to call the API from a browser, comma-separated; empty: CORS off.",
    ),
    SettingSpec(
        "server.trusted_proxies", "AGENTCOST_TRUSTED_PROXIES", _text, lambda: "",
        "Proxy addresses or networks whose X-Forwarded-For/-Proto are believed, comma-separated.",
    ),
    SettingSpec(
        "server.require_https", "AGENTCOST_REQUIRE_HTTPS", _bool, lambda: False,
        "Refuse plain HTTP except from loopback or a trusted proxy that received HTTPS.",
    ),
    SettingSpec(
        "server.open_registration", "AGENTCOST_OPEN_REGISTRATION", _bool, lambda: False,
        "Let anyone create an account with POST /v1/auth/register.",
    ),
    SettingSpec(
        "server.log_file", "AGENTCOST_LOG_FILE", _text, lambda: "",
        "Also write the daemon's JSON logs to this file, rotated daily; empty: stderr only.",
    ),
    SettingSpec(
        "server.log_retention_days", "AGENTCOST_LOG_RETENTION_DAYS", _positive_int, lambda: 14,
        "Rotated log files to keep.",
    ),
    SettingSpec(
        "remote.server", "AGENTCOST_SERVER", _text, lambda: "",
        "The daemon `agentcost login` and remote mode talk to (default: the profile's, else http://127.0.0.1:8787).",
    ),
    SettingSpec(
        "remote.profile", "AGENTCOST_PROFILE", _text, lambda: "",
        "The login profile to use when --profile is not given (default: the default profile).",
    ),
    SettingSpec(
        "auth.key_file", "AGENTCOST_KEY_FILE", _text, lambda: "",
        "The server key (signs sessions, seals MFA secrets); empty means <store file>.key, created 0600. "
        "Daemons that share a store must share this file.",
    ),
    SettingSpec(
        "auth.breach_check_url", "AGENTCOST_BREACH_CHECK_URL", _text, lambda: "",
        "Refuse passwords known from data breaches (Have I Been Pwned range API, k-anonymity: only 5 "
        "hex digits of a hash are sent); e.g. https://api.pwnedpasswords.com/range/. Empty: off.",
    ),
    SettingSpec(
        "auth.session_idle_days", "AGENTCOST_SESSION_IDLE_DAYS", _positive_int, lambda: 7,
        "A login session ends after this many days without use.",
    ),
    SettingSpec(
        "auth.session_max_days", "AGENTCOST_SESSION_MAX_DAYS", _positive_int, lambda: 30,
        "A login session ends this many days after the login, however much it is used.",
    ),
    SettingSpec(
        "sso.provider", "AGENTCOST_SSO_PROVIDER", _sso_provider, lambda: "oidc",
        "Single sign-on: the kind of provider: oidc (any OpenID Connect provider, at sso.issuer) or github "
        "(GitHub's OAuth device flow; sso.issuer defaults to https://github.com).",
    ),
    SettingSpec(
        "sso.issuer", "AGENTCOST_SSO_ISSUER", _issuer, lambda: "",
        "Single sign-on: the OpenID Connect issuer URL (its /.well-known/openid-configuration is read), or "
        "GitHub's web address (GitHub Enterprise Server: https://github.example.com); empty: single sign-on "
        "off (with sso.provider oidc).",
    ),
    SettingSpec(
        "sso.client_id", "AGENTCOST_SSO_CLIENT_ID", _text, lambda: "",
        "Single sign-on: the daemon's OAuth client id at the provider (device flow enabled).",
    ),
    SettingSpec(
        "sso.client_secret_file", "AGENTCOST_SSO_CLIENT_SECRET_FILE", _text, lambda: "",
        "Single sign-on: a file holding the client secret (first line); empty: a public client. The secret "
        "itself is never a setting.",
    ),
    SettingSpec(
        "sso.scopes", "AGENTCOST_SSO_SCOPES", _scopes, lambda: "",
        "Single sign-on: the scopes asked for; empty: 'openid email profile' (oidc: openid is required, email "
        "gives the address a first sign-in is linked by), 'read:user user:email' (github).",
    ),
    SettingSpec(
        "sso.api_url", "AGENTCOST_SSO_API_URL", _issuer, lambda: "",
        "Single sign-on with github: the REST API the user and their verified email are read from; empty: "
        "https://api.github.com for https://github.com, else <sso.issuer>/api/v3 (GitHub Enterprise Server).",
    ),
    SettingSpec(
        "notify.email_from", "AGENTCOST_EMAIL_FROM", _text, lambda: "",
        "From-address of every email (alerts, verification, resets). Providers: RESEND_API_KEY, then "
        "SENDGRID_API_KEY as fallback, then AGENTCOST_SMTP_HOST (see the README's Alerts section).",
    ),
    SettingSpec(
        "notify.smtp_host", "AGENTCOST_SMTP_HOST", _text, lambda: "",
        "SMTP server for email, the third choice after Resend and SendGrid; empty: no SMTP.",
    ),
    SettingSpec(
        "notify.smtp_port", "AGENTCOST_SMTP_PORT", _text, lambda: "",
        "SMTP port; empty: 587 with STARTTLS, 465 with TLS, 25 plain.",
    ),
    SettingSpec(
        "notify.smtp_tls", "AGENTCOST_SMTP_TLS", _text, lambda: "starttls",
        "SMTP encryption: starttls, tls, or plain (plain only to localhost).",
    ),
    SettingSpec(
        "notify.smtp_user", "AGENTCOST_SMTP_USER", _text, lambda: "",
        "SMTP user name; its password is read from notify.smtp_password_file.",
    ),
    SettingSpec(
        "notify.smtp_password_file", "AGENTCOST_SMTP_PASSWORD_FILE", _text, lambda: "",
        "File holding the SMTP password (never put the password itself in the environment).",
    ),
    SettingSpec(
        "notify.allow_private_targets", "AGENTCOST_ALLOW_PRIVATE_TARGETS", _bool, lambda: False,
        "Development only: let webhook, Slack, Discord and ntfy channels use http:// and loopback or "
        "private addresses (refused by default, checked after DNS resolution).",
    ),
    SettingSpec(
        "notify.webhook_timeout", "AGENTCOST_WEBHOOK_TIMEOUT", _positive_float, lambda: 15.0,
        "Seconds one webhook or chat delivery attempt may take (5-30).",
    ),
    SettingSpec(
        "notify.disable_after_days", "AGENTCOST_DISABLE_AFTER_DAYS", _positive_float, lambda: 5.0,
        "Days of nothing but failed deliveries after which a channel is disabled and its owner told.",
    ),
    SettingSpec(
        "notify.operator_channels", "AGENTCOST_OPERATOR_CHANNELS", _text, lambda: "",
        "Channels (comma-separated names) that get operator notices: price changes, disabled channels, "
        "exhausted email quota. Empty: email the server admins, when email is configured.",
    ),
    SettingSpec(
        "alerts.anomaly_sensitivity", "AGENTCOST_ANOMALY_SENSITIVITY", _text, lambda: "medium",
        "Anomaly alerts: low, medium or high (robust z-score above 5, 3.5 or 2.5), or a number; off: none.",
    ),
    SettingSpec(
        "alerts.price_change_percent", "AGENTCOST_PRICE_CHANGE_PERCENT", _positive_float, lambda: 20.0,
        "Price-change alerts: the smallest change, in percent, of a price of a model used in the last 30 days.",
    ),
    SettingSpec(
        "retention.events_days", "AGENTCOST_RETENTION_EVENTS_DAYS", _non_negative_int, lambda: 0,
        "Days raw events are kept (a project's own retention wins); 0: forever. Purged daily by the daemon.",
    ),
    SettingSpec(
        "retention.deliveries_days", "AGENTCOST_RETENTION_DELIVERIES_DAYS", _positive_int, lambda: 90,
        "Days finished outbox messages (sent, dead) and their delivery attempts are kept.",
    ),
    SettingSpec(
        "retention.alerts_days", "AGENTCOST_RETENTION_ALERTS_DAYS", _at_least(400), lambda: 400,
        "Days fired alerts are kept (at least 400: an alert's record is what stops it firing twice).",
    ),
    SettingSpec(
        "scheduler.enabled", "AGENTCOST_SCHEDULER", _bool, lambda: True,
        "Run the scheduled jobs (outbox dispatch, alert evaluation, pricing refresh, purge) inside "
        "`agentcost daemon`.",
    ),
    SettingSpec(
        "scheduler.pricing_refresh", "AGENTCOST_PRICING_REFRESH", _text, lambda: "02:00",
        "Local time of the daily pricing refresh (HH:MM, with up to 10 minutes of jitter); off: never.",
    ),
    SettingSpec(
        "scheduler.import_paths", "AGENTCOST_SCHEDULED_IMPORTS", _text, lambda: "",
        "Agent logs the daemon imports every 10 minutes: claude-code and/or codex, comma-separated "
        "(their folders come from import.claude_code_path and import.codex_path).",
    ),
)

SPEC_BY_KEY = {spec.key: spec for spec in SPECS}


@dataclass(frozen=True)
class ResolvedValue:
    value: Any
    source: str  # "flag", "env", "config", "default"
    origin: str | None = None  # env var name or config file path


class Settings:
    """Resolved settings; read values with `settings["store.path"]` or attributes below."""

    def __init__(self, values: Mapping[str, ResolvedValue]) -> None:
        self._values = dict(values)

    def __getitem__(self, key: str) -> Any:
        return self._values[key].value

    def resolved(self) -> dict[str, ResolvedValue]:
        return dict(self._values)

    @property
    def db_path(self) -> Path:
        return Path(self["store.path"]).expanduser()

    @classmethod
    def load(
        cls,
        flags: Mapping[str, Any] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        config_path: Path | None = None,
    ) -> Settings:
        environ = os.environ if environ is None else environ
        config_path = config_path or paths.config_file()
        file_values = read_config_file(config_path)
        values: dict[str, ResolvedValue] = {}
        for spec in SPECS:
            flag_value = (flags or {}).get(spec.key)
            if flag_value is not None:
                values[spec.key] = ResolvedValue(_parse(spec, flag_value, "option"), "flag")
            elif environ.get(spec.env):
                values[spec.key] = ResolvedValue(
                    _parse(spec, environ[spec.env], spec.env), "env", spec.env
                )
            elif spec.key in file_values:
                values[spec.key] = ResolvedValue(
                    _parse(spec, file_values[spec.key], str(config_path)), "config", str(config_path)
                )
            else:
                values[spec.key] = ResolvedValue(spec.default(), "default")
        return cls(values)


def _parse(spec: SettingSpec, raw: Any, where: str) -> Any:
    try:
        return spec.parse(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{spec.key} = {raw!r} from {where}: {exc}") from None


def read_config_file(path: Path) -> dict[str, Any]:
    """Read config.toml into dotted keys; unknown keys are an error so typos do not go unnoticed."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    flat: dict[str, Any] = {}
    for section, body in data.items():
        if not isinstance(body, dict):
            raise ConfigError(f"{path}: top-level key {section!r} must be a [section]")
        for name, value in body.items():
            key = f"{section}.{name}"
            if key not in SPEC_BY_KEY:
                raise ConfigError(
                    f"{path}: unknown setting {key!r}", hint="run `agentcost config show` to list settings"
                )
            flat[key] = value
    return flat


def write_config_value(path: Path, key: str, value: Any | None) -> None:
    """Set (or with None, remove) one key, validating it first; writes atomically."""
    import tomli_w

    spec = SPEC_BY_KEY.get(key)
    if spec is None:
        raise ConfigError(f"unknown setting {key!r}", hint="run `agentcost config show` to list settings")
    current = read_config_file(path)
    if value is None:
        current.pop(key, None)
    else:
        current[key] = _parse(spec, value, "argument")
    nested: dict[str, dict[str, Any]] = {}
    for dotted, item in sorted(current.items()):
        section, name = dotted.split(".", 1)
        nested.setdefault(section, {})[name] = item
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(tomli_w.dumps(nested), encoding="utf-8")
    tmp.replace(path)
