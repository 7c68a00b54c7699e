"""One outgoing email, validated so that no value can smuggle a header into it.

`EmailMessage` is frozen and checks itself on construction: a CR, LF or NUL in any header
value (subject, addresses, extra headers, idempotency key) raises `InvalidInput`, because a
value like ``"hi\\r\\nBcc: victim@example.com"`` would otherwise add a header on SMTP and on
providers that pass headers through. Addresses are a single ``local@domain`` mailbox, with an
optional display name (``"Ops <ops@example.com>"``); lists, groups and comments are refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from types import MappingProxyType

from ..errors import InvalidInput

MAX_IDEMPOTENCY_KEY = 256  # Resend's limit (EM-01)
MAX_SUBJECT = 998  # RFC 5322 line limit

_FORBIDDEN = re.compile(r"[\r\n\x00]")
_FIELD_NAME = re.compile(r"^[!-9;-~]+$")  # RFC 5322 ftext: printable ASCII except ':'
_ADDR_SPEC = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                        r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
# Headers that the transports write themselves; a caller setting one would override routing or dedupe.
RESERVED_HEADERS = frozenset({
    "from", "to", "cc", "bcc", "reply-to", "subject", "message-id", "date", "sender",
    "content-type", "content-transfer-encoding", "mime-version", "return-path",
})


def check_header_value(name: str, value: str) -> str:
    """Return `value` unchanged, or raise `InvalidInput` if it holds CR, LF or NUL."""
    if _FORBIDDEN.search(value):
        raise InvalidInput(f"email {name} must not contain line breaks or NUL characters")
    return value


def check_address(name: str, value: str) -> str:
    """Return `value` if it is one mailbox (`a@b.example` or `Name <a@b.example>`), else raise."""
    check_header_value(name, value)
    if "," in value or ";" in value:
        raise InvalidInput(f"email {name} must be a single address", hint="send one message per recipient list entry")
    display, addr = parseaddr(value)
    if not _ADDR_SPEC.match(addr) or len(addr) > 254:
        raise InvalidInput(f"email {name} is not a valid address: {value[:80]!r}")
    if not display and value.strip() != addr:
        raise InvalidInput(f"email {name} is not a valid address: {value[:80]!r}")
    return value


def address_only(value: str) -> str:
    """The bare `local@domain` of a checked address."""
    return parseaddr(value)[1]


def display_name(value: str) -> str:
    return parseaddr(value)[0]


@dataclass(frozen=True)
class EmailMessage:
    """An email ready for any transport.

    Args:
        to: one or more recipient addresses.
        sender: the From address (``from`` is a Python keyword).
        subject: one line.
        text: the plain-text body; every alert email has one (EM-06).
        idempotency_key: stable for every retry of this email, e.g. ``"<alert-id>/<recipient>"``
            (≤ 256 printable ASCII characters, EM-01). Resend dedupes on it, SendGrid carries it in
            `custom_args`, and SMTP derives the `Message-ID` from it.
        reply_to: optional Reply-To address.
        html: optional HTML alternative.
        headers: extra headers (e.g. ``List-Unsubscribe``); reserved names such as From or
            Message-ID are refused.

    Raises:
        InvalidInput: on a line break in any header value, a bad address or key, or a reserved header.
    """

    to: tuple[str, ...]
    sender: str
    subject: str
    text: str
    idempotency_key: str
    reply_to: str | None = None
    html: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        to = (self.to,) if isinstance(self.to, str) else tuple(self.to)
        object.__setattr__(self, "to", to)
        if not to:
            raise InvalidInput("an email needs at least one recipient")
        for address in to:
            check_address("recipient", address)
        check_address("sender", self.sender)
        if self.reply_to is not None:
            check_address("reply-to", self.reply_to)
        check_header_value("subject", self.subject)
        if not self.subject.strip() or len(self.subject) > MAX_SUBJECT:
            raise InvalidInput(f"email subject must be 1-{MAX_SUBJECT} characters")
        if not self.text.strip():
            raise InvalidInput("an email needs a plain-text body")
        key = self.idempotency_key
        if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isascii() or not key.isprintable():
            raise InvalidInput(f"email idempotency key must be 1-{MAX_IDEMPOTENCY_KEY} printable ASCII characters")
        headers: dict[str, str] = {}
        for name, value in dict(self.headers).items():
            if not _FIELD_NAME.match(name):
                raise InvalidInput(f"email header name {name[:40]!r} is not valid")
            if name.lower() in RESERVED_HEADERS:
                raise InvalidInput(f"email header {name} is set by the transport, not the caller")
            headers[name] = check_header_value(f"header {name}", value)
        object.__setattr__(self, "headers", MappingProxyType(headers))
