"""What an alert says, independent of the channel that carries it.

Every channel formats a :class:`Notice` its own way: a signed JSON envelope for generic
webhooks (``type`` and ``data``), blocks for Slack, embeds for Discord, a title and body for
ntfy, a short text for SMS, and templated HTML and plain text for email.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["info", "warning", "critical"]

# The event types a notice can carry (WH-15: dot-delimited [a-zA-Z0-9_]). Each has a JSON
# schema for its `data` in notify/schemas/ and a section in docs/webhooks.md.
EVENT_TYPES = (
    "budget.threshold_crossed",
    "budget.forecast_exceeded",
    "budget.recovered",
    "rule.triggered",
    "anomaly.detected",
    "price.changed",
    "channel.disabled",
    "test.message",
)


@dataclass(frozen=True)
class Notice:
    """One alert, ready to format.

    Attributes:
        type: one of EVENT_TYPES.
        title: a headline of at most ~100 characters ("Budget 'team-a' at 80%").
        summary: one or two sentences in plain text, complete on its own (SMS, push, Slack's
            fallback `text`).
        severity: info, warning or critical; channels map it to colours or priorities, and
            always say it in words too (colour is never the only signal).
        fields: labelled facts shown as a list or table, in order (("Spent", "$81.20"), ...).
        data: the machine-readable body, sent as the webhook payload's `data`.
        occurred_utc: when it fired, canonical UTC text.
        link: where to look, when the daemon has a public URL.
    """

    type: str
    title: str
    summary: str
    severity: Severity
    occurred_utc: str
    fields: tuple[tuple[str, str], ...] = ()
    data: dict[str, Any] = field(default_factory=dict)
    link: str | None = None
