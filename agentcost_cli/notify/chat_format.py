"""Format a :class:`Notice` for Slack, Discord, ntfy and SMS (WH-16, WH-18): pure functions, no I/O.

Each service rejects a message that breaks its size limits (Slack ``invalid_payload``, Discord
``50035 Invalid Form Body``), and a rejected alert is a lost alert. So every builder truncates
with "…" to fit instead of failing. Every channel says the severity in words, not only in colour.

User data (project and budget names) must not be able to ping people or forge links: Slack
text is escaped with Slack's three rules (``&``, ``<``, ``>``) and marked ``verbatim``; Discord
messages set ``allowed_mentions`` to parse nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agentcost_cli.notify.notice import Notice, Severity

ELLIPSIS = "…"

SLACK_FALLBACK_MAX = 3000  # Slack allows 40,000 for `text`; the fallback only needs a notification's worth
SLACK_SECTION_MAX = 3000
SLACK_HEADER_MAX = 150
SLACK_FIELD_MAX = 2000
SLACK_FIELDS_PER_SECTION = 10
SLACK_BLOCKS_MAX = 50

DISCORD_CONTENT_MAX = 2000
DISCORD_TITLE_MAX = 256
DISCORD_DESCRIPTION_MAX = 4096
DISCORD_FIELDS_MAX = 25
DISCORD_FIELD_NAME_MAX = 256
DISCORD_FIELD_VALUE_MAX = 1024
DISCORD_FOOTER_MAX = 2048
DISCORD_EMBED_TOTAL_MAX = 6000
DISCORD_COLOURS: dict[Severity, int] = {"critical": 0xD32F2F, "warning": 0xF9A825, "info": 0x1976D2}

NTFY_MESSAGE_MAX_BYTES = 4096
NTFY_TITLE_MAX = 250
NTFY_PRIORITY: dict[Severity, int] = {"critical": 5, "warning": 4, "info": 3}
# The severity word comes first; ntfy renders a tag that names an emoji as that emoji.
NTFY_TAGS: dict[Severity, list[str]] = {
    "critical": ["critical", "rotating_light"],
    "warning": ["warning"],
    "info": ["info", "information_source"],
}

SMS_MAX = 1600  # Twilio's limit for one Body (it splits into segments itself)


def truncate(text: str, limit: int) -> str:
    """Return ``text`` cut to at most ``limit`` characters, ending in "…" when cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)] + ELLIPSIS if limit > 0 else ""


def truncate_bytes(text: str, limit: int) -> str:
    """Return ``text`` whose UTF-8 form is at most ``limit`` bytes, cut on a character boundary."""
    raw = text.encode()
    if len(raw) <= limit:
        return text
    room = limit - len(ELLIPSIS.encode())
    return raw[: max(room, 0)].decode("utf-8", errors="ignore") + ELLIPSIS


def severity_word(severity: Severity) -> str:
    return severity.upper()


def _is_web_link(link: str | None) -> bool:
    return bool(link) and str(link).lower().startswith(("https://", "http://"))


# --- Slack ------------------------------------------------------------------------------


def slack_escape(text: str) -> str:
    """Escape the three characters Slack treats as control characters in message text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_text(raw: str, limit: int) -> str:
    """Escape, then truncate without cutting an ``&amp;``-style entity in half."""
    text = slack_escape(raw)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&", max(len(cut) - 4, 0))
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + ELLIPSIS


def _mrkdwn(text: str) -> dict[str, Any]:
    # verbatim: Slack must not auto-link URLs or channel names found in user data.
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def slack_payload(notice: Notice) -> dict[str, Any]:
    """Build an incoming-webhook body: a ``text`` fallback (notifications) plus Block Kit ``blocks``."""
    word = severity_word(notice.severity)
    fallback = _slack_text(f"[{word}] {notice.title}: {notice.summary}", SLACK_FALLBACK_MAX)
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": truncate(notice.title or notice.type, SLACK_HEADER_MAX)},
        },
        {"type": "section", "text": _mrkdwn(_slack_text(f"*{word}*: {notice.summary}", SLACK_SECTION_MAX))},
    ]
    tail: list[dict[str, Any]] = []
    if _is_web_link(notice.link):
        url = slack_escape(str(notice.link)).replace("|", "%7C")
        if len(url) < SLACK_SECTION_MAX - 20:
            tail.append({"type": "section", "text": _mrkdwn(f"<{url}|View details>")})
    tail.append({"type": "context", "elements": [_mrkdwn(_slack_text(f"{notice.type} · {notice.occurred_utc}", 2000))]})
    room = SLACK_BLOCKS_MAX - len(blocks) - len(tail)
    fields = [_mrkdwn(_slack_text(f"*{name}*\n{value}", SLACK_FIELD_MAX)) for name, value in notice.fields][
        : room * SLACK_FIELDS_PER_SECTION
    ]
    for start in range(0, len(fields), SLACK_FIELDS_PER_SECTION):
        blocks.append({"type": "section", "fields": fields[start : start + SLACK_FIELDS_PER_SECTION]})
    return {"text": fallback, "blocks": blocks + tail}


# --- Discord ----------------------------------------------------------------------------


def embed_chars(embed: dict[str, Any]) -> int:
    """Count what Discord counts towards the 6000-character total of a message's embeds."""
    total = len(embed.get("title", "")) + len(embed.get("description", ""))
    total += len(embed.get("footer", {}).get("text", "")) + len(embed.get("author", {}).get("name", ""))
    return total + sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))


def discord_payload(notice: Notice) -> dict[str, Any]:
    """Build an Execute Webhook body: a short ``content`` line plus one embed, all within limits."""
    word = severity_word(notice.severity)
    footer = truncate(f"{word} · {notice.type}", DISCORD_FOOTER_MAX)
    title = truncate(notice.title, DISCORD_TITLE_MAX)
    fields: list[dict[str, Any]] = [
        {
            "name": truncate(name, DISCORD_FIELD_NAME_MAX) or "-",
            "value": truncate(value, DISCORD_FIELD_VALUE_MAX) or "-",
            "inline": True,
        }
        for name, value in notice.fields[:DISCORD_FIELDS_MAX]
    ]
    # Share the 6000-character budget: title and footer first, then fields, then the description.
    budget = DISCORD_EMBED_TOTAL_MAX - len(title) - len(footer)
    kept: list[dict[str, Any]] = []
    for field in fields:
        cost = len(field["name"]) + len(field["value"])
        if cost > budget - 200:  # always leave the description some room
            break
        kept.append(field)
        budget -= cost
    embed: dict[str, Any] = {
        "title": title,
        "description": truncate(notice.summary, min(DISCORD_DESCRIPTION_MAX, budget)),
        "color": DISCORD_COLOURS.get(notice.severity, DISCORD_COLOURS["info"]),
        "footer": {"text": footer},
    }
    if kept:
        embed["fields"] = kept
    if _is_web_link(notice.link):
        embed["url"] = notice.link
    try:  # an unparseable timestamp would make Discord refuse the whole message
        embed["timestamp"] = datetime.fromisoformat(notice.occurred_utc).isoformat()
    except ValueError:
        pass
    return {
        "content": truncate(f"**{word}**: {notice.title}", DISCORD_CONTENT_MAX),
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    }


# --- ntfy and SMS -----------------------------------------------------------------------


def _plain_lines(notice: Notice) -> list[str]:
    return [notice.summary, *(f"{name}: {value}" for name, value in notice.fields)]


def ntfy_payload(notice: Notice, topic: str) -> dict[str, Any]:
    """Build a JSON publish body for ntfy (posted to the server root, topic in the body)."""
    body: dict[str, Any] = {
        "topic": topic,
        "title": truncate(f"{severity_word(notice.severity)}: {notice.title}", NTFY_TITLE_MAX),
        "message": truncate_bytes("\n".join(_plain_lines(notice)), NTFY_MESSAGE_MAX_BYTES),
        "priority": NTFY_PRIORITY.get(notice.severity, 3),
        "tags": list(NTFY_TAGS.get(notice.severity, [notice.severity])),
    }
    if _is_web_link(notice.link):
        body["click"] = notice.link
    return body


def sms_text(notice: Notice) -> str:
    """Render a plain SMS of at most 1600 characters; a link, when present, survives truncation."""
    head = "\n".join([f"{severity_word(notice.severity)}: {notice.title}", *_plain_lines(notice)])
    link = str(notice.link) if notice.link else ""
    if not link or len(link) > SMS_MAX // 2:
        return truncate(f"{head}\n{link}".rstrip("\n"), SMS_MAX)
    return f"{truncate(head, SMS_MAX - len(link) - 1)}\n{link}"
