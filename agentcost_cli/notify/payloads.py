"""Webhook payload bodies and their JSON Schemas (WH-15).

A generic webhook receives the envelope ``{"type", "timestamp", "data"}`` (built by
:func:`agentcost_cli.notify.webhook_send.make_payload`); :func:`webhook_data` makes its
``data`` from a :class:`Notice`. The schemas (JSON Schema draft 2020-12) live in
``notify/schemas/<event type>.json`` and ``notify/schemas/envelope.json``; docs/webhooks.md
documents them with one example each.

Money, percentages and scores are always exact decimal strings (``"81.20"``), never JSON
numbers. The schemas require every key the alerting service produces and allow extra keys, so
receivers keep working when a key is added.

This module does not validate at run time (no JSON Schema library is a dependency); the test
suite validates the documented examples and the schemas against each other.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from .notice import EVENT_TYPES, Notice

SCHEMA_DIR = Path(__file__).parent / "schemas"
ENVELOPE = "envelope"
# Keys webhook_data() adds to notice.data; no event type's data may use them.
PRESENTATION_KEYS = ("title", "summary", "severity", "link")


def webhook_data(notice: Notice) -> dict[str, Any]:
    """The webhook payload's ``data`` for `notice`.

    It is a copy of ``notice.data`` (the event type's machine-readable fields, see its schema)
    plus four keys so a receiver can show the alert without formatting it itself:

    - ``title``: the headline (str)
    - ``summary``: one or two sentences, complete on their own (str)
    - ``severity``: ``"info"``, ``"warning"`` or ``"critical"``
    - ``link``: where to look in agentcost (str), or ``None`` when the daemon has no public URL

    Raises:
        ValueError: ``notice.data`` already holds one of those four keys (a bug in the producer:
            the presentation keys would silently overwrite it).
    """
    clash = sorted(set(PRESENTATION_KEYS) & notice.data.keys())
    if clash:
        raise ValueError(f"notice data of {notice.type} must not use the reserved keys {', '.join(clash)}")
    return {
        **notice.data,
        "title": notice.title,
        "summary": notice.summary,
        "severity": notice.severity,
        "link": notice.link,
    }


def schema_names() -> tuple[str, ...]:
    """Every schema shipped: the event types, then ``"envelope"``."""
    return (*EVENT_TYPES, ENVELOPE)


def schema_for(event_type: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of `event_type`'s ``data``, or of the envelope for
    ``"envelope"``. Returns a fresh copy each call, so callers may modify it.

    Raises:
        KeyError: no schema for `event_type`.
    """
    schema: dict[str, Any] = json.loads(_schema_text(event_type))
    return schema


@cache
def _schema_text(event_type: str) -> str:
    if event_type not in schema_names():
        raise KeyError(f"no webhook schema for event type {event_type!r}")
    return (SCHEMA_DIR / f"{event_type}.json").read_text(encoding="utf-8")
