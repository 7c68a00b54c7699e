"""Shared fixtures for the chat-channel tests: notices, secret-bearing URLs and a leak check.

The local HTTP server itself is conftest's :class:`Receiver` (real sockets on 127.0.0.1); it
stands in for Slack, Discord, ntfy and Twilio through scripted :class:`Reply` objects.
"""

from __future__ import annotations

from typing import TypedDict

from agentcost_cli.notify.notice import Notice, Severity
from agentcost_cli.notify.webhook_send import Attempt

from .conftest import Receiver

SECRET = "SECRETTOKEN123"


class DevFlags(TypedDict):
    allow_private: bool
    allow_insecure: bool


# Tests talk to 127.0.0.1 over http, so they pass both local development flags.
DEV: DevFlags = {"allow_private": True, "allow_insecure": True}


def make_notice(
    *,
    title: str = "Budget 'team-a' at 80%",
    summary: str = "Team A has spent $81.20 of its $100.00 monthly budget.",
    severity: Severity = "warning",
    fields: tuple[tuple[str, str], ...] = (("Spent", "$81.20"), ("Limit", "$100.00")),
    link: str | None = "https://agentcost.example.com/budgets/team-a",
) -> Notice:
    return Notice(
        type="budget.threshold_crossed",
        title=title,
        summary=summary,
        severity=severity,
        occurred_utc="2026-11-20T12:00:00.000000Z",
        fields=fields,
        data={"budget": "team-a"},
        link=link,
    )


def slack_url(receiver: Receiver) -> str:
    return receiver.url(f"/services/T000/B000/{SECRET}")


def discord_url(receiver: Receiver, query: str = "") -> str:
    return receiver.url(f"/api/webhooks/123456/{SECRET}{query}")


def leaks(attempt: Attempt, *secrets: str) -> list[str]:
    """Return where any secret shows up in what an Attempt would log or store."""
    texts = {"url": attempt.url, "error": attempt.error or "", "repr": repr(attempt), "str": str(attempt)}
    return [f"{name} contains {secret!r}" for name, text in texts.items() for secret in secrets if secret in text]
