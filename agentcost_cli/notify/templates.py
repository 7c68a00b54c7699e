"""Message templates. Each `templates/<name>.txt.j2` starts with a `Subject:` line, a blank
line, then the plain-text body. Variables are whatever the service passes.

Every template also has an HTML companion, `templates/<name>.html.j2`, built on the shared
layout `_base.html.j2` (inline CSS, no external images or fonts, no JavaScript, 600 px wide,
`color-scheme: light dark`). :func:`render_email` renders both parts (EM-06: an email always
has a plain-text part). HTML is autoescaped, plain text is not, and a missing variable raises
(`StrictUndefined`) so the error shows when a message is queued, not when it is delivered.

Files whose names start with ``_`` are layouts and partials, not templates.

The ``alert`` template renders any :class:`~agentcost_cli.notify.notice.Notice`; build its
variables with :func:`alert_variables`.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

from .notice import Notice

TEMPLATE_DIR = Path(__file__).parent / "templates"
PRODUCT = "agentcost"


@dataclass(frozen=True)
class RenderedEmail:
    """Both parts of one email: `subject` (one line), `text` (plain) and `html`."""

    subject: str
    text: str
    html: str


def _oneline(value: Any) -> str:
    """Collapse all whitespace (line breaks included) to single spaces: for subjects and headings."""
    return " ".join(str(value).split())


def _bar_percent(value: Any) -> int:
    """A percent (number or decimal string) clamped to 0..100, for a progress bar's width."""
    try:
        pct = Decimal(str(value))
    except InvalidOperation:
        return 0
    if not pct.is_finite():
        return 0
    return int(min(max(pct, Decimal(0)), Decimal(100)).to_integral_value())


def _get(obj: Any, key: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def mute_target(notice: Any) -> str:
    """The `agentcost alerts mute` target that silences alerts like `notice`.

    ``budget:NAME`` for budget alerts, ``rule:NAME`` for rules, ``channel:NAME`` for a disabled
    channel, else ``kind:<first part of the type>`` (``kind:anomaly``, ``kind:price``, ...).
    Accepts a :class:`Notice` or the mapping :func:`alert_variables` makes of one.
    """
    event_type = str(_get(notice, "type", ""))
    data = _get(notice, "data") or {}
    kind = event_type.split(".", 1)[0]
    name_key = {"budget": "budget", "rule": "rule", "channel": "channel"}.get(kind)
    if name_key and isinstance(data, Mapping) and data.get(name_key):
        return f"{kind}:{data[name_key]}"
    return f"kind:{kind}" if kind else "all"


@cache
def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        undefined=jinja2.StrictUndefined,  # a missing variable is a bug, not an empty string in a mail
        keep_trailing_newline=True,
        # Plain text (`.txt.j2`) is never escaped; HTML (`.html.j2`) always is.
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default_for_string=False,
                                            default=False),
    )
    env.filters["oneline"] = _oneline
    env.filters["bar_percent"] = _bar_percent
    env.filters["shquote"] = shlex.quote
    env.globals["mute_target"] = mute_target
    return env


def names() -> list[str]:
    return sorted(p.name.removesuffix(".txt.j2") for p in TEMPLATE_DIR.glob("*.txt.j2") if not p.name.startswith("_"))


def render(name: str, variables: dict[str, Any]) -> tuple[str, str]:
    """(subject, body) of template `name`."""
    text = _environment().get_template(f"{name}.txt.j2").render(**variables)
    head, _, body = text.partition("\n\n")
    if not head.startswith("Subject: "):
        raise ValueError(f"template {name} must start with a 'Subject: ' line")
    return head.removeprefix("Subject: ").strip(), body


def render_email(name: str, variables: dict[str, Any]) -> RenderedEmail:
    """Render template `name` as an email with a plain-text and an HTML part.

    The subject comes from the text template's `Subject:` line; the HTML template receives the
    same variables plus `email_subject` (for its `<title>`).

    Raises:
        jinja2.UndefinedError: a variable the template uses is missing.
        jinja2.TemplateNotFound: no such template, or it has no HTML companion.
        ValueError: the text template does not start with a `Subject:` line.
    """
    subject, text = render(name, variables)
    html = _environment().get_template(f"{name}.html.j2").render(**{**variables, "email_subject": subject})
    return RenderedEmail(subject=subject, text=text, html=html)


def alert_variables(notice: Notice, *, product: str = PRODUCT) -> dict[str, Any]:
    """The variables of the ``alert`` template for `notice`, as plain JSON-able values (the
    outbox stores them as JSON): ``{"notice": {type, title, summary, severity, fields, link,
    occurred_utc, data}, "product": product}``."""
    return {
        "notice": {
            "type": notice.type,
            "title": notice.title,
            "summary": notice.summary,
            "severity": notice.severity,
            "fields": [[label, value] for label, value in notice.fields],
            "link": notice.link,
            "occurred_utc": notice.occurred_utc,
            "data": dict(notice.data),
        },
        "product": product,
    }
