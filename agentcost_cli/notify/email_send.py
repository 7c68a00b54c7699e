"""Email transports: Resend, SendGrid and SMTP behind one `send(message) -> SendResult`, a
fallback chain over them, and a client-side token-bucket throttle.

Outcomes (`SendResult.status`):
    - ``sent``: the provider accepted the message (`message_id` holds its id when it gave one).
      For SendGrid a 202 means accepted for delivery, not delivered (EM-05).
    - ``retry``: try again later with the same idempotency key; `retry_after` is the provider's
      wait in seconds when it gave one.
    - ``failed``: permanent; retrying will not help (bad address, bad key, quota exhausted, or an
      unknown outcome that must not be re-sent blindly, such as Resend's 409
      ``invalid_idempotent_request``).

`SendResult.not_sent` is True only when the message certainly did not go out: the connection
failed before any request was written (refused, DNS failure, connect timeout) or the provider
gave an explicit error answer. After a request was written and the answer was lost (read
timeout, reset), the mail may have been delivered, and `not_sent` is False.

The fallback rule (EM-04): `FallbackSender` moves to the next provider only when
`not_sent` is True. After an ambiguous outcome it answers ``retry`` and pins the message to that
same provider, so the retry reuses its idempotency key instead of mailing twice through another.

Secrets (API keys, SMTP password) are held in `Secret`, which never shows its value in
`repr`/`str`; every `detail` is scrubbed of them and cut short.

httpx and smtplib are imported inside the functions that use them (cheap CLI startup).
"""

from __future__ import annotations

import hashlib
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ..errors import ConfigError
from ..timeutil import seconds_until_http_date
from .email_message import EmailMessage, address_only, display_name

if TYPE_CHECKING:
    import ssl

    import httpx

Status = Literal["sent", "retry", "failed"]
MAX_RETRY_AFTER = 24 * 3600.0
MAX_DETAIL = 200
RESEND_MAX_TO = 50  # EM-06
SENDGRID_MAX_RECIPIENTS = 1000
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class Secret:
    """A string that never shows itself in repr, str or f-strings."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class SendResult:
    status: Status
    provider: str
    message_id: str | None = None
    retry_after: float | None = None
    detail: str = ""
    not_sent: bool = False  # True only when the message certainly did not go out


class EmailSender(Protocol):
    """What every transport and the fallback chain implement.

    Returns:
        A `SendResult`; transports do not raise on delivery problems.
    """

    name: str

    def send(self, message: EmailMessage) -> SendResult: ...


def _scrub(text: str, secrets: Sequence[Secret]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret.reveal(), "***")
    text = " ".join(text.split())
    return text[:MAX_DETAIL]


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), capped at 24 h; None if absent/bad."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        moment = datetime.fromtimestamp(time.time() if now is None else now, UTC)
        until = seconds_until_http_date(value, moment)
        if until is None:
            return None
        seconds = until
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


class TokenBucket:
    """Client-side throttle (EM-03): `rate` requests per second with bursts of `burst`.

    Pure apart from the injected clock: `reserve()` takes a token and returns how long the caller
    must wait before using it (0 when one was available). `pause(seconds)` holds every later
    reservation back, e.g. after a 429 with Retry-After.
    """

    def __init__(self, rate: float, *, burst: int = 1, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()
        self._paused_until = self._updated
        self._lock = threading.Lock()

    def reserve(self) -> float:
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1.0
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
            return max(wait, self._paused_until - now)

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)


class _Throttled:
    def __init__(self, bucket: TokenBucket | None, sleep: Callable[[float], None]) -> None:
        self.bucket = bucket
        self._sleep = sleep

    def wait_turn(self) -> None:
        if self.bucket is not None:
            wait = self.bucket.reserve()
            if wait > 0:
                self._sleep(wait)

    def back_off(self, retry_after: float | None) -> None:
        if self.bucket is not None and retry_after:
            self.bucket.pause(retry_after)


# --- HTTP providers -------------------------------------------------------------------------------

def _http_failure(provider: str, exc: Exception, secrets: Sequence[Secret]) -> SendResult:
    """Classify an httpx transport error. Connect-phase errors cannot have sent anything."""
    import httpx

    kind = type(exc).__name__
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout | httpx.UnsupportedProtocol):
        return SendResult("retry", provider, detail=_scrub(f"could not connect ({kind}): {exc}", secrets),
                          not_sent=True)
    return SendResult("retry", provider, detail=_scrub(f"no answer after sending ({kind}); may have been delivered",
                                                       secrets))


def _error_name(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        return str(body.get("name") or body.get("type") or "")
    return ""


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:100]
    if isinstance(body, dict):
        if "message" in body:
            return str(body["message"])
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("message", ""))
    return ""


class _HttpTransport(ABC):
    name = "http"
    max_recipients = 50

    def __init__(self, api_key: str | Secret, *, base_url: str, timeout: float, bucket: TokenBucket | None,
                 sleep: Callable[[float], None]) -> None:
        self._key = api_key if isinstance(api_key, Secret) else Secret(api_key)
        if not self._key:
            raise ConfigError(f"{self.name}: API key is empty")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.throttle = _Throttled(bucket, sleep)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, api_key=***)"

    def _post(self, path: str, *, body: Mapping[str, Any], headers: Mapping[str, str]) -> httpx.Response:
        import httpx

        with httpx.Client(timeout=self.timeout, follow_redirects=False) as client:
            return client.post(f"{self.base_url}{path}", json=body,
                               headers={"Authorization": f"Bearer {self._key.reveal()}", **headers})

    def _rate_limit(self, response: httpx.Response) -> float | None:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if retry_after is None and response.headers.get("ratelimit-remaining") == "0":
            retry_after = parse_retry_after(response.headers.get("ratelimit-reset"))
        self.throttle.back_off(retry_after)
        return retry_after

    def send(self, message: EmailMessage) -> SendResult:
        if len(message.to) > self.max_recipients:
            return SendResult("failed", self.name, not_sent=True,
                              detail=f"{len(message.to)} recipients; {self.name} takes at most {self.max_recipients}")
        self.throttle.wait_turn()
        try:
            response = self._request(message)
        except Exception as exc:  # httpx.HTTPError and friends: classified, never raised with a secret
            import httpx

            if not isinstance(exc, httpx.HTTPError):
                raise
            return _http_failure(self.name, exc, [self._key])
        return self._classify(response)

    @abstractmethod
    def _request(self, message: EmailMessage) -> httpx.Response:
        """Send `message` to the provider's API (one HTTP request)."""

    @abstractmethod
    def _classify(self, response: httpx.Response) -> SendResult:
        """What the provider's answer means: sent, retry (with its wait) or failed."""

    def _detail(self, response: httpx.Response) -> str:
        return _scrub(f"HTTP {response.status_code} {_error_name(response)}: {_error_text(response)}", [self._key])


class ResendSender(_HttpTransport):
    """Resend (EM-01/02): `POST {base}/emails` with `Idempotency-Key` = the message's key."""

    name = "resend"
    max_recipients = RESEND_MAX_TO

    def __init__(self, api_key: str | Secret, *, base_url: str = "https://api.resend.com", timeout: float = 15.0,
                 bucket: TokenBucket | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(api_key, base_url=base_url, timeout=timeout, bucket=bucket, sleep=sleep)

    def _request(self, message: EmailMessage) -> httpx.Response:
        body: dict[str, Any] = {"from": message.sender, "to": list(message.to), "subject": message.subject,
                                "text": message.text}
        if message.html is not None:
            body["html"] = message.html
        if message.reply_to is not None:
            body["reply_to"] = message.reply_to
        if message.headers:
            body["headers"] = dict(message.headers)
        return self._post("/emails", body=body, headers={"Idempotency-Key": message.idempotency_key})

    def _classify(self, response: httpx.Response) -> SendResult:
        code, name = response.status_code, _error_name(response)
        if code == 200:
            try:
                message_id = response.json().get("id")
            except (ValueError, AttributeError):
                message_id = None
            return SendResult("sent", self.name, message_id=message_id and str(message_id), detail="HTTP 200")
        detail = self._detail(response)
        if code == 409 and name == "concurrent_idempotent_requests":
            # an earlier attempt with this key is still in flight: it may yet send
            return SendResult("retry", self.name, retry_after=self._rate_limit(response), detail=detail)
        if code == 409:
            # invalid_idempotent_request and any other conflict: outcome unknown, never re-send blindly
            return SendResult("failed", self.name, detail=detail)
        if code == 429 and name in {"daily_quota_exceeded", "monthly_quota_exceeded"}:
            return SendResult("failed", self.name, detail=detail, not_sent=True)
        if code == 429 or code >= 500:
            return SendResult("retry", self.name, retry_after=self._rate_limit(response), detail=detail, not_sent=True)
        return SendResult("failed", self.name, detail=detail, not_sent=True)


class SendGridSender(_HttpTransport):
    """SendGrid (EM-05): `POST {base}/v3/mail/send`; 202 means accepted, with `X-Message-Id`.

    SendGrid has no idempotency header. The key travels in `custom_args.idempotency_key` (visible
    in its event webhooks), but SendGrid does not dedupe on it: if a request reaches SendGrid and
    the answer is lost, a retry can deliver the mail twice.
    """

    name = "sendgrid"
    max_recipients = SENDGRID_MAX_RECIPIENTS

    def __init__(self, api_key: str | Secret, *, base_url: str = "https://api.sendgrid.com", timeout: float = 15.0,
                 bucket: TokenBucket | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(api_key, base_url=base_url, timeout=timeout, bucket=bucket, sleep=sleep)

    @staticmethod
    def _address(value: str) -> dict[str, str]:
        out = {"email": address_only(value)}
        if display_name(value):
            out["name"] = display_name(value)
        return out

    def _request(self, message: EmailMessage) -> httpx.Response:
        content = [{"type": "text/plain", "value": message.text}]  # text/plain must come first
        if message.html is not None:
            content.append({"type": "text/html", "value": message.html})
        body: dict[str, Any] = {
            "personalizations": [{"to": [self._address(a) for a in message.to]}],
            "from": self._address(message.sender),
            "subject": message.subject,
            "content": content,
            "custom_args": {"idempotency_key": message.idempotency_key},
        }
        if message.reply_to is not None:
            body["reply_to"] = self._address(message.reply_to)
        if message.headers:
            body["headers"] = dict(message.headers)
        return self._post("/v3/mail/send", body=body, headers={})

    def _classify(self, response: httpx.Response) -> SendResult:
        code = response.status_code
        if code in (200, 202):
            return SendResult("sent", self.name, message_id=response.headers.get("x-message-id"),
                              detail=f"HTTP {code} accepted")
        detail = self._detail(response)
        if code == 429 or code >= 500:
            return SendResult("retry", self.name, retry_after=self._rate_limit(response), detail=detail, not_sent=True)
        return SendResult("failed", self.name, detail=detail, not_sent=True)


# --- SMTP -----------------------------------------------------------------------------------------

TlsMode = Literal["starttls", "tls", "plain"]


def message_id_for(message: EmailMessage) -> str:
    """A `Message-ID` derived from the idempotency key: every retry carries the same one."""
    digest = hashlib.sha256(message.idempotency_key.encode()).hexdigest()[:40]
    domain = address_only(message.sender).rpartition("@")[2]
    return f"<{digest}@{domain}>"


def build_mime(message: EmailMessage) -> Any:
    """The stdlib `email.message.EmailMessage` for SMTP (text part first, optional HTML alternative)."""
    from email.message import EmailMessage as MimeMessage
    from email.utils import formatdate

    mime = MimeMessage()
    mime["From"] = message.sender
    mime["To"] = ", ".join(message.to)
    mime["Subject"] = message.subject
    mime["Date"] = formatdate(usegmt=True)
    mime["Message-ID"] = message_id_for(message)
    if message.reply_to is not None:
        mime["Reply-To"] = message.reply_to
    for name, value in message.headers.items():
        mime[name] = value
    mime.set_content(message.text)
    if message.html is not None:
        mime.add_alternative(message.html, subtype="html")
    return mime


class SmtpSender:
    """SMTP over stdlib smtplib (EM-07).

    Args:
        tls: ``starttls`` (default; refuses to continue if the server does not offer it), ``tls``
            (implicit TLS, usually port 465) or ``plain`` (no encryption: allowed only for
            localhost unless `allow_insecure` is set).
        username/password: optional AUTH (only over TLS, or on plain localhost/with `allow_insecure`).

    Raises:
        ConfigError: plain SMTP to a non-local host without `allow_insecure`, or a user without a password.
    """

    name = "smtp"

    def __init__(self, host: str, port: int | None = None, *, tls: TlsMode = "starttls", username: str | None = None,
                 password: str | Secret | None = None, allow_insecure: bool = False, timeout: float = 30.0,
                 ssl_context: ssl.SSLContext | None = None, bucket: TokenBucket | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if tls not in ("starttls", "tls", "plain"):
            raise ConfigError(f"smtp: unknown TLS mode {tls!r}", hint="use starttls, tls or plain")
        if tls == "plain" and host.lower() not in LOCAL_HOSTS and not allow_insecure:
            raise ConfigError(f"smtp: refusing plain (unencrypted) SMTP to {host}",
                              hint="use starttls or tls, or set the explicit allow-insecure flag for a dev relay")
        if username and not password:
            raise ConfigError("smtp: a username needs a password")
        self.host = host
        self.port = port if port is not None else {"starttls": 587, "tls": 465, "plain": 25}[tls]
        self.tls: TlsMode = tls
        self.username = username
        self._password = password if isinstance(password, Secret) or password is None else Secret(password)
        self.timeout = timeout
        self._ssl_context = ssl_context
        self.throttle = _Throttled(bucket, sleep)

    def __repr__(self) -> str:
        return (f"SmtpSender(host={self.host!r}, port={self.port}, tls={self.tls!r}, username={self.username!r}, "
                f"password={'***' if self._password else None})")

    def _context(self) -> ssl.SSLContext:
        import ssl

        return self._ssl_context or ssl.create_default_context()

    def _secrets(self) -> list[Secret]:
        return [self._password] if self._password else []

    def send(self, message: EmailMessage) -> SendResult:
        import smtplib

        self.throttle.wait_turn()
        mime = build_mime(message)
        phase = "connect"
        try:
            if self.tls == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                                      context=self._context())
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                phase = "handshake"
                smtp.ehlo()
                if self.tls == "starttls":
                    if not smtp.has_extn("starttls"):
                        return SendResult("failed", self.name, not_sent=True,
                                          detail="server does not offer STARTTLS; refusing to send in clear")
                    smtp.starttls(context=self._context())
                    smtp.ehlo()
                if self.username and self._password:
                    smtp.login(self.username, self._password.reveal())
                phase = "send"
                refused = smtp.send_message(mime, from_addr=address_only(message.sender),
                                            to_addrs=[address_only(a) for a in message.to])
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            return self._reply(min(codes) if all(400 <= c < 500 for c in codes) else max(codes), "recipients refused")
        except smtplib.SMTPResponseException as exc:
            text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
            return self._reply(exc.smtp_code, text)
        except smtplib.SMTPNotSupportedError as exc:  # e.g. AUTH not offered: a setup problem, not transient
            return SendResult("failed", self.name, not_sent=True,
                              detail=_scrub(f"{type(exc).__name__}: {exc}", self._secrets()))
        except OSError as exc:  # SMTPException is an OSError too (server disconnected, ...)
            # connection refused, DNS failure, TLS errors: nothing sent. Once MAIL/DATA started, a lost
            # connection or a timeout may follow a delivered message: retry the same server (same Message-ID).
            not_sent = phase != "send"
            what = "could not connect" if phase == "connect" else f"connection lost during {phase}"
            return SendResult("retry", self.name, not_sent=not_sent,
                              detail=_scrub(f"{what} ({type(exc).__name__}): {exc}", self._secrets()))
        if refused:
            codes = [code for code, _ in refused.values()]
            return SendResult("sent", self.name, message_id=mime["Message-ID"],
                              detail=f"accepted; {len(refused)} recipient(s) refused with {sorted(set(codes))}")
        return SendResult("sent", self.name, message_id=mime["Message-ID"], detail="accepted")

    def _reply(self, code: int, text: str) -> SendResult:
        detail = _scrub(f"SMTP {code} {text}", self._secrets())
        if 400 <= code < 500:
            return SendResult("retry", self.name, detail=detail, not_sent=True)
        return SendResult("failed", self.name, detail=detail, not_sent=True)


# --- fallback chain -------------------------------------------------------------------------------

class FallbackSender:
    """Try providers in order (EM-04).

    The next provider is tried only when the previous result has `not_sent` True (connection failed
    before any request was written, or an explicit error answer). After an ambiguous outcome (a
    timeout or reset once the request was written) the result is ``retry`` for that same provider,
    and the message's idempotency key is pinned to it in memory so the next `send` of the same
    message goes there first, reusing the key rather than mailing twice through another provider.
    The pin is dropped when that provider gives a definite answer. (The outbox will persist
    `SendResult.provider` for the same purpose across restarts.)
    """

    name = "fallback"

    def __init__(self, senders: Sequence[EmailSender]) -> None:
        if not senders:
            raise ConfigError("no email provider configured")
        self.senders = list(senders)
        self._pinned: dict[str, int] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FallbackSender({self.senders!r})"

    def send(self, message: EmailMessage) -> SendResult:
        with self._lock:
            start = self._pinned.get(message.idempotency_key, 0)
        results: list[SendResult] = []
        for index in range(start, len(self.senders)):
            result = self.senders[index].send(message)
            results.append(result)
            if result.status == "sent" or not result.not_sent:
                with self._lock:
                    if result.status == "sent" or result.status == "failed":
                        self._pinned.pop(message.idempotency_key, None)
                    else:
                        self._pinned[message.idempotency_key] = index
                return result
            with self._lock:
                self._pinned.pop(message.idempotency_key, None)
        last = results[-1]
        if len(results) > 1:
            tried = "; ".join(f"{r.provider}: {r.detail}" for r in results)
            # any provider that asked to retry makes the whole chain retryable
            status: Status = "retry" if any(r.status == "retry" for r in results) else "failed"
            retry_after = min((r.retry_after for r in results if r.retry_after is not None), default=None)
            return SendResult(status, last.provider, retry_after=retry_after, detail=tried[:MAX_DETAIL * 2],
                              not_sent=True)
        return last
