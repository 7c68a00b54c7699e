"""Chat payload builders stay within each service's limits and say the severity in words (WH-16, WH-18)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from agentcost_cli.notify import chat_format as cf

from .chat_receiver import make_notice

INJECTION = "<!channel> & <https://evil.example|click> @everyone"


def _mrkdwn_texts(payload: dict[str, Any]) -> list[str]:
    texts = [payload["text"]]
    for block in payload["blocks"]:
        if block.get("text", {}).get("type") == "mrkdwn":
            texts.append(block["text"]["text"])
        texts += [f["text"] for f in block.get("fields", [])]
        texts += [e["text"] for e in block.get("elements", [])]
    return texts


def test_slack_payload_has_fallback_text_and_blocks_with_severity_in_words() -> None:
    payload = cf.slack_payload(make_notice(severity="critical"))
    assert payload["text"].startswith("[CRITICAL] Budget 'team-a' at 80%")
    header, summary, fields, link, context = payload["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": "Budget 'team-a' at 80%"}}
    assert summary["text"]["text"].startswith("*CRITICAL*: Team A has spent")
    assert [f["text"] for f in fields["fields"]] == ["*Spent*\n$81.20", "*Limit*\n$100.00"]
    assert link["text"]["text"] == "<https://agentcost.example.com/budgets/team-a|View details>"
    assert context["type"] == "context" and "budget.threshold_crossed" in context["elements"][0]["text"]


def test_slack_escapes_user_data_so_it_cannot_mention_or_link() -> None:
    notice = make_notice(title=INJECTION, summary=INJECTION, fields=((INJECTION, INJECTION),), link=None)
    payload = cf.slack_payload(notice)
    texts = _mrkdwn_texts(payload)
    assert len(texts) == 4
    for text in texts[:-1]:  # the context line carries no user data
        assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in text
        assert "<!" not in text and "<https://evil" not in text
    mrkdwn_objects = [b["text"] for b in payload["blocks"] if b.get("text", {}).get("type") == "mrkdwn"]
    assert mrkdwn_objects and all(t["verbatim"] is True for t in mrkdwn_objects)


def test_slack_link_with_control_characters_is_escaped() -> None:
    payload = cf.slack_payload(make_notice(link="https://x.example/a?b=1&c=<2>|d"))
    link_text = payload["blocks"][3]["text"]["text"]
    assert link_text == "<https://x.example/a?b=1&amp;c=&lt;2&gt;%7Cd|View details>"


def test_slack_non_web_link_is_left_out() -> None:
    payload = cf.slack_payload(make_notice(link="javascript:alert(1)"))
    assert "javascript" not in str(payload)


def test_slack_limits_are_respected_for_huge_input() -> None:
    big = make_notice(
        title="T" * 500,
        summary="&" * 50_000,  # escapes to 5x the length
        fields=tuple((f"name{i}" * 50, "v&" * 3000) for i in range(600)),
    )
    payload = cf.slack_payload(big)
    assert 0 < len(payload["text"]) <= cf.SLACK_FALLBACK_MAX and payload["text"].endswith("…")
    blocks = payload["blocks"]
    assert len(blocks) <= cf.SLACK_BLOCKS_MAX
    assert len(blocks[0]["text"]["text"]) == cf.SLACK_HEADER_MAX
    sections = [b for b in blocks if b["type"] == "section"]
    assert sum(len(b.get("fields", [])) for b in sections) > 400  # many kept, none over the limits
    for block in sections:
        if "text" in block:
            assert len(block["text"]["text"]) <= cf.SLACK_SECTION_MAX
        assert len(block.get("fields", [])) <= cf.SLACK_FIELDS_PER_SECTION
        assert all(len(f["text"]) <= cf.SLACK_FIELD_MAX for f in block.get("fields", []))
    for text in _mrkdwn_texts(payload):  # truncation never leaves half an entity such as "&am…"
        assert not re.search(r"&[a-z]{0,3}…$", text), text[-10:]


@pytest.mark.parametrize("tail", ["", "x", "xx", "xxx", "xxxx"])
def test_slack_truncation_never_splits_an_entity(tail: str) -> None:
    text = cf._slack_text(tail + "&" * 100, 20)
    assert len(text) <= 20 and text.endswith("…")
    assert re.fullmatch(r"x*(&amp;)*…", text), text


def test_discord_5000_char_description_fits_every_limit() -> None:
    payload = cf.discord_payload(make_notice(summary="d" * 5000))
    [embed] = payload["embeds"]
    assert len(embed["description"]) == cf.DISCORD_DESCRIPTION_MAX and embed["description"].endswith("…")
    assert cf.embed_chars(embed) <= cf.DISCORD_EMBED_TOTAL_MAX
    assert payload["content"] == "**WARNING**: Budget 'team-a' at 80%"
    assert payload["allowed_mentions"] == {"parse": []}
    assert embed["footer"]["text"] == "WARNING · budget.threshold_crossed"
    assert embed["color"] == cf.DISCORD_COLOURS["warning"]
    assert embed["url"] == "https://agentcost.example.com/budgets/team-a"
    assert embed["timestamp"] == "2026-11-20T12:00:00+00:00"
    assert embed["fields"][0] == {"name": "Spent", "value": "$81.20", "inline": True}


def test_discord_worst_case_stays_under_6000_total() -> None:
    notice = make_notice(title="t" * 1000, summary="s" * 9000, fields=tuple(("n" * 400, "v" * 2000) for _ in range(40)))
    payload = cf.discord_payload(notice)
    assert len(payload["embeds"]) <= 10 and len(payload["content"]) <= cf.DISCORD_CONTENT_MAX
    [embed] = payload["embeds"]
    assert cf.embed_chars(embed) <= cf.DISCORD_EMBED_TOTAL_MAX
    assert len(embed["title"]) == cf.DISCORD_TITLE_MAX
    assert len(embed["description"]) >= 200
    assert 0 < len(embed["fields"]) <= cf.DISCORD_FIELDS_MAX
    assert all(len(f["name"]) <= 256 and len(f["value"]) <= 1024 for f in embed["fields"])
    assert len(embed["footer"]["text"]) <= cf.DISCORD_FOOTER_MAX


def test_discord_caps_fields_at_25_and_fills_empty_values() -> None:
    embed = cf.discord_payload(make_notice(fields=tuple((f"k{i}", "") for i in range(30))))["embeds"][0]
    assert len(embed["fields"]) == 25 and embed["fields"][0]["value"] == "-"


def test_discord_content_is_capped() -> None:
    assert len(cf.discord_payload(make_notice(title="x" * 3000))["content"]) == cf.DISCORD_CONTENT_MAX


def test_discord_bad_timestamp_and_link_are_left_out() -> None:
    notice = make_notice(link="ftp://files.example")
    notice = type(notice)(**{**notice.__dict__, "occurred_utc": "not a time"})
    embed = cf.discord_payload(notice)["embeds"][0]
    assert "timestamp" not in embed and "url" not in embed


@pytest.mark.parametrize(
    ("severity", "priority", "word"), [("critical", 5, "critical"), ("warning", 4, "warning"), ("info", 3, "info")]
)
def test_ntfy_priority_and_severity_tag(severity: Any, priority: int, word: str) -> None:
    body = cf.ntfy_payload(make_notice(severity=severity), "alerts-abc")
    assert body["priority"] == priority and body["tags"][0] == word
    assert body["topic"] == "alerts-abc"
    assert body["title"] == f"{word.upper()}: Budget 'team-a' at 80%"
    assert body["message"] == "Team A has spent $81.20 of its $100.00 monthly budget.\nSpent: $81.20\nLimit: $100.00"
    assert body["click"] == "https://agentcost.example.com/budgets/team-a"


def test_ntfy_message_truncated_to_4096_bytes_on_a_character_boundary() -> None:
    body = cf.ntfy_payload(make_notice(summary="☕" * 3000, link=None), "t")
    raw = body["message"].encode()
    assert 4090 <= len(raw) <= cf.NTFY_MESSAGE_MAX_BYTES and body["message"].endswith("…")
    assert "click" not in body


def test_sms_text_has_severity_fields_and_link() -> None:
    text = cf.sms_text(make_notice(severity="critical"))
    assert text == (
        "CRITICAL: Budget 'team-a' at 80%\nTeam A has spent $81.20 of its $100.00 monthly budget.\n"
        "Spent: $81.20\nLimit: $100.00\nhttps://agentcost.example.com/budgets/team-a"
    )


def test_sms_truncation_keeps_the_link() -> None:
    text = cf.sms_text(make_notice(summary="s" * 5000))
    assert len(text) == cf.SMS_MAX
    assert text.endswith("…\nhttps://agentcost.example.com/budgets/team-a")
    assert len(cf.sms_text(make_notice(summary="s" * 5000, link=None))) == cf.SMS_MAX


def test_truncate_helpers() -> None:
    assert cf.truncate("abcdef", 6) == "abcdef"
    assert cf.truncate("abcdefg", 6) == "abcde…"
    assert cf.truncate("abc", 0) == ""
    assert cf.truncate_bytes("é" * 10, 8) == "éé…"  # 2+2 bytes + 3-byte ellipsis; no half character
