"""The daemon's logs, request ids and Sentry: structured JSON lines, a request id on every line
and every answer, one access line per request, and secrets never written anywhere.

Wiring, outermost first (see `instrument`)::

    RequestContextMiddleware    # X-Request-ID, request_id bound for every log line, access log
      MetricsMiddleware         # Prometheus counts and latencies per route template
        <secure_app(...)>       # proxy headers, security headers, https-only
          <FastAPI app>         # ServerErrorMiddleware (500s), user middleware, routes

Both are wrapped around the app from the outside, like `security.secure_app`, because
Starlette's ServerErrorMiddleware is always the outermost layer of the app itself: anything
added with `app.add_middleware` would miss the 500s it produces, and the "unhandled error"
line it logs would have no request id.

Start uvicorn with `UVICORN_LOG_OPTIONS` (no logging config of its own, no access log of its
own) after `configure_logging`, and call `init_sentry` before building the app.
"""

from __future__ import annotations

import functools
import importlib
import json as jsonlib
import logging
import logging.handlers
import os
import re
import sys
import time
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from datetime import time as dtime
from decimal import Decimal
from enum import Enum
from pathlib import Path, PurePath
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson
import structlog
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.typing import EventDict

if TYPE_CHECKING:
    from .metrics import Metrics

__all__ = [
    "ACCESS_LOGGER",
    "REDACTED",
    "REQUEST_ID_HEADER",
    "UVICORN_LOG_OPTIONS",
    "RequestContextMiddleware",
    "before_breadcrumb",
    "before_send",
    "configure_logging",
    "init_sentry",
    "instrument",
    "redact",
    "redact_value",
    "route_template",
    "scrub",
]

REDACTED = "[redacted]"
REQUEST_ID_HEADER = "X-Request-ID"
ACCESS_LOGGER = "agentcost_cli.access"
# uvicorn must neither install its own logging config (it would replace our handlers on the
# `uvicorn*` loggers) nor write its own access line (RequestContextMiddleware writes ours).
UVICORN_LOG_OPTIONS: dict[str, Any] = {"log_config": None, "access_log": False}

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Redaction
# ---------------------------------------------------------------------------------------------

# The last word of a key that always holds a secret ("refresh_token", "X-Api-Key", "apiKey").
_SECRET_LAST_WORDS = frozenset({
    "password", "passwd", "pwd", "passphrase", "secret", "token", "authorization", "cookie", "cookies",
    "apikey", "credential", "credentials", "dsn", "otp", "totp",
})
# Words that make any key secret wherever they appear ("password_hash", "client_secret_value").
_SECRET_ANY_WORDS = frozenset({"password", "passwd", "passphrase", "secret"})
# `..._key` and `..._code` are secret ("api_key", "totp_code", "code") except for these prefixes.
_PUBLIC_KEY_PREFIXES = frozenset({
    "sort", "cache", "primary", "foreign", "partition", "public", "idempotency", "group", "route", "lookup",
    "dict", "map", "index", "rate", "limit",
})
_PUBLIC_CODE_PREFIXES = frozenset({
    "status", "exit", "error", "err", "http", "response", "return", "result", "reason", "problem", "country",
    "currency", "language", "lang", "region", "iso", "zip", "postal", "exception", "event", "source",
})
# Fields our own pipeline adds: never secret, skipped for speed. `actor` is Actor.label (`local`,
# `user:<email>`, `key:<display prefix>`); scrubbing would read `key:ac_live_3kTn` as a secret pair.
_TRUSTED_KEYS = frozenset({"timestamp", "level", "logger", "request_id", "duration_ms", "status", "actor"})

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")

# Names whose `name=value` / `"name": "value"` pairs are masked inside any text (URLs, reprs).
_TEXT_NAMES = (r"(?:[a-z0-9]+[_-])*(?:password|passwd|secret|token|api[_-]?key)"
               r"|key|code|pwd|cookie|authorization|sig|signature")
# Every alternative starts at a word start (lookbehind or \b), which keeps the scan linear.
_SCRUB = re.compile(
    # an agentcost API key, valid or truncated: keep the 12-character display prefix
    r"(?P<apikey>ac_(?:live|test)_[0-9A-Za-z]{4}[0-9A-Za-z_]{6,})"
    # credentials in a URL: scheme://user:password@host
    r"|(?<![A-Za-z0-9+.-])(?P<userinfo>[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)[^/\s@]+@"
    # token=..., code=... (query strings, form bodies) and 'password': '...' (reprs, JSON)
    r"|(?<![A-Za-z0-9_])(?P<kvname>(?P<q>[\"']?)(?i:" + _TEXT_NAMES + r")(?P=q)\s*[:=]\s*)"
    r"(?P<kvscheme>(?i:bearer|basic|token)\s+)?(?P<kvvalue>\"[^\"]*\"|'[^']*'|[^&#\s,;\"'}\])]+)"
    # an Authorization header value (Basic only when followed by something base64-like)
    r"|(?P<scheme>\b(?i:bearer))[ \t]+[^\s\"',;]+"
    r"|(?P<basic>\b(?i:basic))[ \t]+[A-Za-z0-9+/]{6,}={0,2}"
)


def _scrub_match(match: re.Match[str]) -> str:
    if match.group("apikey") is not None:
        return match.group("apikey")[:12] + "…"
    if match.group("userinfo") is not None:
        return match.group("userinfo") + REDACTED + "@"
    if match.group("kvname") is not None:
        value = match.group("kvvalue")
        quote = value[0] if value[:1] in ("'", '"') else ""
        scheme = (match.group("kvscheme") or "").rstrip()
        return match.group("kvname") + (f"{scheme} " if scheme else "") + quote + REDACTED + quote
    return (match.group("scheme") or match.group("basic")) + " " + REDACTED


def _may_hold_secret(text: str) -> bool:
    """A cheap test that rules out most strings (paths, addresses, plain messages) before the
    full scan: every pattern needs one of these."""
    if "=" in text or ":" in text or "ac_" in text:
        return True
    lowered = text.lower()
    return "bearer" in lowered or "basic" in lowered


def scrub(text: str) -> str:
    """`text` with API keys, bearer/basic credentials, URL passwords and `token=`-style values
    masked. API keys keep their 12-character display prefix (`ac_live_3kTn…`)."""
    if not _may_hold_secret(text):
        return text
    return _SCRUB.sub(_scrub_match, text)


@functools.lru_cache(maxsize=2048)
def is_secret_key(name: str) -> bool:
    """Whether a field called `name` holds a secret (case, `-`/`_` and camelCase insensitive)."""
    words = [w for w in _NON_WORD.split(_CAMEL.sub("_", name).lower()) if w]
    if not words:
        return False
    last = words[-1]
    if last in _SECRET_LAST_WORDS or any(w in _SECRET_ANY_WORDS for w in words):
        return True
    previous = words[-2] if len(words) > 1 else ""
    if last == "key":
        return previous not in _PUBLIC_KEY_PREFIXES
    if last == "code":
        return previous not in _PUBLIC_CODE_PREFIXES
    return False


_PLAIN = (bool, int, float, type(None), datetime, date, dtime, uuid.UUID, Decimal, Enum)


def redact_value(value: Any, _depth: int = 0) -> Any:
    """A copy of `value` with secrets masked: values of secret-named keys in mappings (at any
    depth) become "[redacted]", and every string is `scrub`bed. Other objects become their
    scrubbed `repr` (which is what the log renderers would show)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, _PLAIN):
        return value
    if _depth > 20:
        return "[too deep]"
    if isinstance(value, Mapping):
        return {k: (REDACTED if isinstance(k, str) and v is not None and is_secret_key(k)
                    else redact_value(v, _depth + 1))
                for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(v, _depth + 1) for v in value]
    if isinstance(value, bytes | bytearray):
        return scrub(bytes(value).decode("utf-8", "replace"))
    if isinstance(value, PurePath):
        return scrub(str(value))
    return scrub(repr(value))


def redact(logger: Any, method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: masks secrets in every field of the line (see `redact_value`).

    Runs last before the renderer, after exceptions are formatted, so tracebacks are scrubbed
    too. The `event` message is scrubbed but never masked whole.
    """
    out: dict[str, Any] = {}
    for key, value in event_dict.items():
        if key in _TRUSTED_KEYS:
            out[key] = value
        elif key != "event" and value is not None and is_secret_key(key):
            out[key] = REDACTED
        else:
            out[key] = redact_value(value)
    return out


# ---------------------------------------------------------------------------------------------
# Logging
# ---------------------------------------------------------------------------------------------

_HANDLER_MARK = "_agentcost_observability"
_ROUTED_LOGGERS = ("uvicorn", "uvicorn.error", "agentcost_cli")
_DROPPED_RECORD_FIELDS = ("color_message", "message", "asctime", "taskName")
_FIRST_KEYS = ("timestamp", "level", "logger", "event", "request_id")


_second: tuple[int, str] = (0, "1970-01-01T00:00:00")


def _iso_utc(created: float) -> str:
    """`2026-11-20T12:00:00.123456Z`; the part up to the second is reused within a second."""
    global _second
    whole = int(created)
    cached = _second
    if cached[0] != whole:
        cached = _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    micros = min(round((created - whole) * 1_000_000), 999_999)
    return f"{cached[1]}.{micros:06d}Z"


def _add_record_fields(logger: Any, method: str, event_dict: EventDict) -> EventDict:
    """timestamp (the record's own time, ISO-8601 UTC), level and logger name."""
    record: logging.LogRecord | None = event_dict.get("_record")
    event_dict["timestamp"] = _iso_utc(record.created if record is not None else time.time())
    event_dict["level"] = "warning" if method == "warn" else ("error" if method == "exception" else method)
    if record is not None:
        event_dict["logger"] = record.name
    if not event_dict.get("_from_structlog"):  # what uvicorn and other formatters leave on records
        for name in _DROPPED_RECORD_FIELDS:
            event_dict.pop(name, None)
    return event_dict


def _ordered(logger: Any, method: str, event_dict: EventDict) -> EventDict:
    first = {k: event_dict.pop(k) for k in _FIRST_KEYS if k in event_dict}
    return {**first, **event_dict}


def _dumps(obj: Any, **kwargs: Any) -> str:
    try:
        return orjson.dumps(obj, default=kwargs.get("default"), option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # an int beyond 64 bits, say: the standard library copes
        return jsonlib.dumps(obj, default=repr)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time (pytest and daemons swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, value: IO[str]) -> None:
        pass


class _PrivateTimedRotatingFileHandler(logging.handlers.TimedRotatingFileHandler):
    """Log files (and their rotations) are created 0600: they name users and projects."""

    def _open(self) -> Any:
        return open(self.baseFilename, self.mode, encoding=self.encoding, errors=self.errors,
                    opener=lambda path, flags: os.open(path, flags, 0o600))


def configure_logging(*, json: bool = True, level: str = "INFO", log_file: Path | None = None,
                      retention_days: int = 14) -> None:
    """Route structlog and the standard library's `logging` (uvicorn, agentcost_cli.*, libraries)
    through one formatter: JSON lines on stderr (`json=False`: readable lines for --debug), and
    also JSON lines in `log_file` rotated at midnight UTC, keeping `retention_days` old files.

    Idempotent: a second call replaces the handlers of the first.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    if retention_days < 1:
        raise ValueError("retention_days must be at least 1")

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        context_class=dict,
        cache_logger_on_first_use=False,
    )

    def formatter(renderer: Any) -> structlog.stdlib.ProcessorFormatter:
        return structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.contextvars.merge_contextvars, structlog.stdlib.ExtraAdder()],
            processors=[
                _add_record_fields,
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.StackInfoRenderer(),
                structlog.processors.format_exc_info,
                redact,
                _ordered,
                renderer,
            ],
        )

    json_renderer = structlog.processors.JSONRenderer(serializer=_dumps)
    if json:
        console_renderer: Any = json_renderer
    else:
        colors = sys.stderr.isatty() and not os.environ.get("NO_COLOR")
        console_renderer = structlog.dev.ConsoleRenderer(colors=colors,
                                                         exception_formatter=structlog.dev.plain_traceback)

    handlers: list[logging.Handler] = []
    stderr = _StderrHandler()
    stderr.setFormatter(formatter(console_renderer))
    handlers.append(stderr)
    if log_file is not None:
        log_file = Path(log_file)
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = _PrivateTimedRotatingFileHandler(log_file, when="midnight", backupCount=retention_days,
                                                        encoding="utf-8", utc=True)
        file_handler.setFormatter(formatter(json_renderer))  # files are for machines: always JSON
        handlers.append(file_handler)

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        setattr(handler, _HANDLER_MARK, True)
        root.addHandler(handler)
    root.setLevel(numeric)
    logging.captureWarnings(True)  # Python warnings become log lines too, not stray text on stderr

    for name in _ROUTED_LOGGERS:  # their records reach the root handlers (and only those)
        routed = logging.getLogger(name)
        routed.handlers = []
        routed.propagate = True
        routed.setLevel(logging.NOTSET)
        routed.disabled = False
    access = logging.getLogger("uvicorn.access")  # ours is better: request id, route, actor
    access.handlers = []
    access.propagate = False
    access.setLevel(logging.CRITICAL + 1)


# ---------------------------------------------------------------------------------------------
# Request context and the access log
# ---------------------------------------------------------------------------------------------

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_REQUEST_ID_HEADER_BYTES = REQUEST_ID_HEADER.lower().encode("latin-1")


def route_template(scope: Scope, root_path: str = "") -> str | None:
    """The matched route's template (`/v1/projects/{project}`) once the router has run, with the
    prefix of any Mount it sits under; None when nothing matched. `root_path` is the scope's
    root_path before routing (a Mount appends what it matched to it)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return None
    current = str(scope.get("root_path", ""))
    prefix = current[len(root_path):] if current.startswith(root_path) else ""
    if isinstance(route, Mount):  # a mounted app without routes of its own (static files)
        prefix = prefix.removesuffix(path)
        return f"{prefix}{path}/{{path}}"
    return f"{prefix}{path}" or "/"


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == _REQUEST_ID_HEADER_BYTES:
            text = value.decode("latin-1")
            return text if _REQUEST_ID.fullmatch(text) else None
    return None


class RequestContextMiddleware:
    """Pure ASGI. For every HTTP request:

    - the request id: the client's `X-Request-ID` when it is 1-128 of `[A-Za-z0-9._-]`, else a
      new uuid4 hex; bound with `structlog.contextvars` (so every log line of the request has
      `request_id`), stored in `scope["state"]["request_id"]` (`request.state.request_id`), and
      sent back in the `X-Request-ID` header of every answer;
    - one access line at INFO on the `agentcost_cli.access` logger: method, path (no query
      string), route template, status, duration_ms, client, bytes_sent, and `actor` when a route
      set `request.state.actor_label`. Never the query string, headers or bodies.

    When the app raises, the request id stays bound for the rest of the request's task so the
    server's own "Exception in ASGI application" line carries it too (uvicorn runs every request
    in a task of its own).
    """

    def __init__(self, app: ASGIApp, *, logger_name: str = ACCESS_LOGGER) -> None:
        self.app = app
        self.log = logging.getLogger(logger_name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        header_value = request_id.encode("latin-1")
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        method = str(scope.get("method", ""))
        path = str(scope.get("path", "")).partition("?")[0]
        root_path = str(scope.get("root_path", ""))
        status = 0
        sent = 0
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != _REQUEST_ID_HEADER_BYTES]
                headers.append((_REQUEST_ID_HEADER_BYTES, header_value))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        failed: BaseException | None = None
        try:
            await self.app(scope, receive, send_with_id)
        except BaseException as exc:
            failed = exc
            raise
        finally:
            if self.log.isEnabledFor(logging.INFO):
                fields: dict[str, Any] = {
                    "method": method,
                    "path": path,
                    "route": route_template(scope, root_path) or path,
                    "status": status or 500,
                    "duration_ms": round((time.perf_counter() - start) * 1000, 2),
                    "client": _client(scope),
                    "bytes_sent": sent,
                }
                actor = state.get("actor_label")
                if actor is not None:
                    fields["actor"] = str(actor)
                if failed is not None:
                    fields["error"] = type(failed).__name__
                self.log.info("request", extra=fields)
            if failed is None:
                structlog.contextvars.reset_contextvars(**tokens)


def _client(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


def instrument(app: ASGIApp, *, metrics: Metrics | None = None) -> ASGIApp:
    """`app` (the FastAPI app, or `secure_app(...)` around it) wrapped in request ids and the
    access log (outermost) and, when given, Prometheus metrics."""
    inner = app
    if metrics is not None:
        from .metrics import MetricsMiddleware

        inner = MetricsMiddleware(inner, metrics)
    return RequestContextMiddleware(inner)


# ---------------------------------------------------------------------------------------------
# Sentry
# ---------------------------------------------------------------------------------------------

_HTTP_BREADCRUMB_CATEGORIES = ("httplib", "httpx")


def _origin(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/[redacted]" if parts.scheme else REDACTED


def _structlog_fields(hint: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The event dict of a structlog line, when the Sentry event or breadcrumb came from one."""
    record = (hint or {}).get("log_record")
    msg = getattr(record, "msg", None)
    return msg if isinstance(msg, dict) else None


def before_send(event: dict[str, Any], hint: dict[str, Any] | None) -> dict[str, Any]:
    """Sentry `before_send`: the whole event through `redact_value` (request headers, query
    string, cookies, extra, breadcrumbs, exception messages, frame variables, ...), tagged with
    the request id when it happened during a request."""
    fields = _structlog_fields(hint)
    if fields is not None:  # a structlog line logged at ERROR: its message is a dict
        clean = redact_value(fields)
        event["logentry"] = {"message": str(clean.pop("event", "")), "params": []}
        event.setdefault("extra", {}).update(clean)
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    if request_id is not None:  # the same id as the log lines and the X-Request-ID header
        tags = event.setdefault("tags", {})
        if isinstance(tags, dict):
            tags.setdefault("request_id", request_id)
    breadcrumbs = event.get("breadcrumbs")
    if isinstance(breadcrumbs, dict) and isinstance(breadcrumbs.get("values"), list):
        breadcrumbs["values"] = [before_breadcrumb(crumb, None) for crumb in breadcrumbs["values"]]
    redacted: dict[str, Any] = redact_value(event)
    return redacted


def before_breadcrumb(crumb: dict[str, Any], hint: dict[str, Any] | None) -> dict[str, Any]:
    """Sentry `before_breadcrumb`: log breadcrumbs from structlog lines get their fields redacted
    (not the dict's repr), outgoing HTTP breadcrumbs keep only the URL's origin (webhook URLs
    are secrets), and everything goes through `redact_value`."""
    fields = _structlog_fields(hint)
    if fields is not None:
        clean = redact_value(fields)
        crumb["message"] = str(clean.pop("event", ""))
        crumb["data"] = {k: v for k, v in clean.items() if not str(k).startswith("_")}
    data = crumb.get("data")
    if (crumb.get("type") == "http" or crumb.get("category") in _HTTP_BREADCRUMB_CATEGORIES) \
            and isinstance(data, dict):
        if isinstance(data.get("url"), str):
            data["url"] = _origin(data["url"])
        data.pop("http.query", None)
        data.pop("http.fragment", None)
    redacted: dict[str, Any] = redact_value(crumb)
    return redacted


def init_sentry(dsn: str | None, *, environment: str | None = None, release: str | None = None) -> bool:
    """Report errors to Sentry when `dsn` (or `SENTRY_DSN`) is set and `sentry-sdk` is installed
    (`pip install 'agentcost[sentry]'`). No personal data, no request bodies, no frame
    variables, and every event and breadcrumb goes through the same redaction as the logs.
    Returns whether Sentry is on. Call it before building the app (its integrations patch
    Starlette)."""
    dsn = dsn or os.environ.get("SENTRY_DSN") or None
    if not dsn:
        return False
    try:
        sentry_sdk: Any = importlib.import_module("sentry_sdk")
    except ImportError:
        log.warning("SENTRY_DSN is set but sentry-sdk is not installed: errors are not reported to Sentry "
                    "(pip install 'agentcost[sentry]')")
        return False
    from agentcost_cli import __version__

    options: dict[str, Any] = {
        "dsn": dsn,
        "environment": environment or os.environ.get("SENTRY_ENVIRONMENT") or None,
        "release": release or f"agentcost@{__version__}",
        "send_default_pii": False,
        "max_request_body_size": "never",
        "include_local_variables": False,
        "before_send": before_send,
        "before_breadcrumb": before_breadcrumb,
    }
    sentry_sdk.init(**options)
    return True

