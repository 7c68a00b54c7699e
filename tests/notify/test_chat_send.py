"""Slack, Discord, ntfy and Twilio attempts against real HTTP servers on 127.0.0.1 (WH-16..WH-19)."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

from agentcost_cli.notify import chat_format as cf
from agentcost_cli.notify.chat_send import redact_url, send_discord, send_ntfy, send_slack, send_twilio
from agentcost_cli.notify.retry import next_attempt
from agentcost_cli.notify.webhook_send import Attempt, Outcome

from .chat_receiver import DEV, SECRET, discord_url, leaks, make_notice, slack_url
from .conftest import Receiver, Reply

ACCOUNT = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "TWILIOAUTHTOKEN987"
NTFY_TOKEN = "tk_NTFYTOKEN456"


def twilio(receiver: Receiver, msg_id: str = "") -> Attempt:
    to, sender = "+15551234567", "+15005550006"
    return send_twilio(ACCOUNT, AUTH_TOKEN, sender, to, make_notice(), base_url=receiver.url(""), msg_id=msg_id, **DEV)


# --- Slack ------------------------------------------------------------------------------


def test_slack_delivered_sends_text_and_blocks(receiver: Receiver) -> None:
    attempt = send_slack(slack_url(receiver), make_notice(), msg_id="msg_1", **DEV)
    assert attempt.outcome is Outcome.DELIVERED and attempt.status_code == 200
    assert attempt.response_body == "ok" and attempt.msg_id == "msg_1" and attempt.address == "127.0.0.1"
    [req] = receiver.requests
    assert req.path == f"/services/T000/B000/{SECRET}"
    assert req.headers["content-type"] == "application/json"
    body = orjson.loads(req.body)
    assert body == cf.slack_payload(make_notice())
    assert body["text"].strip() and body["blocks"]
    assert attempt.webhook_timestamp == int(attempt.attempted_at.timestamp())


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (400, b"invalid_payload", Outcome.TERMINAL),
        (400, b"no_text", Outcome.TERMINAL),
        (403, b"action_prohibited", Outcome.TERMINAL),
        (403, b"posting_to_general_channel_denied", Outcome.TERMINAL),
        (403, b"invalid_token", Outcome.DISABLE),
        (404, b"channel_not_found", Outcome.DISABLE),
        (404, b"no_service", Outcome.DISABLE),
        (410, b"channel_is_archived", Outcome.DISABLE),
        (500, b"rollup_error", Outcome.RETRY),
        (502, b"", Outcome.RETRY),
        (201, b"", Outcome.RETRY),  # Slack's success is exactly 200
    ],
)
def test_slack_status_classification(receiver: Receiver, status: int, body: bytes, outcome: Outcome) -> None:
    receiver.default = Reply(status=status, body=body)
    attempt = send_slack(slack_url(receiver), make_notice(), **DEV)
    assert (attempt.outcome, attempt.status_code, attempt.response_body) == (outcome, status, body.decode())
    assert attempt.retry_after_seconds is None


def test_slack_429_retry_after_sets_the_next_attempt(receiver: Receiver) -> None:
    receiver.default = Reply(status=429, headers={"Retry-After": "30"}, body=b"rate_limited")
    now = datetime.now(UTC)
    attempt = send_slack(slack_url(receiver), make_notice(), now=lambda: now, **DEV)
    assert attempt.outcome is Outcome.RETRY and attempt.retry_after_seconds == 30.0
    when = next_attempt(1, now, attempt.retry_after_seconds)
    assert when is not None and when - now >= timedelta(seconds=30)


# --- Discord ----------------------------------------------------------------------------


def test_discord_waits_and_keeps_thread_id_with_long_description(receiver: Receiver) -> None:
    receiver.default = Reply(status=200, body=b'{"id": "1"}')
    url = discord_url(receiver, "?thread_id=42")
    attempt = send_discord(url, make_notice(summary="x" * 5000), **DEV)
    assert attempt.outcome is Outcome.DELIVERED
    [req] = receiver.requests
    split = urlsplit(req.path)
    assert split.path == f"/api/webhooks/123456/{SECRET}"
    assert parse_qs(split.query) == {"thread_id": ["42"], "wait": ["true"]}
    body = orjson.loads(req.body)
    [embed] = body["embeds"]
    assert len(embed["description"]) == cf.DISCORD_DESCRIPTION_MAX
    assert cf.embed_chars(embed) <= cf.DISCORD_EMBED_TOTAL_MAX and len(body["content"]) <= cf.DISCORD_CONTENT_MAX
    assert not leaks(attempt, SECRET)


def test_discord_wait_false_is_overridden(receiver: Receiver) -> None:
    send_discord(discord_url(receiver, "?wait=false"), make_notice(), **DEV)
    assert parse_qs(urlsplit(receiver.requests[0].path).query) == {"wait": ["true"]}


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.DELIVERED),
        (204, Outcome.DELIVERED),
        (400, Outcome.TERMINAL),
        (401, Outcome.TERMINAL),
        (403, Outcome.TERMINAL),
        (404, Outcome.DISABLE),
        (410, Outcome.TERMINAL),
        (500, Outcome.RETRY),
        (503, Outcome.RETRY),
    ],
)
def test_discord_status_classification(receiver: Receiver, status: int, outcome: Outcome) -> None:
    receiver.default = Reply(status=status, body=b"" if status == 204 else b'{"message": "x", "code": 0}')
    attempt = send_discord(discord_url(receiver), make_notice(), **DEV)
    assert (attempt.outcome, attempt.status_code) == (outcome, status)


def test_discord_429_uses_the_json_retry_after_float(receiver: Receiver) -> None:
    body = orjson.dumps({"message": "You are being rate limited.", "retry_after": 1.5, "global": False})
    receiver.default = Reply(status=429, headers={"Retry-After": "2"}, body=body)
    attempt = send_discord(discord_url(receiver), make_notice(), **DEV)
    assert attempt.outcome is Outcome.RETRY and attempt.retry_after_seconds == 1.5


def test_discord_429_falls_back_to_the_header(receiver: Receiver) -> None:
    receiver.default = Reply(status=429, headers={"Retry-After": "2.25"}, body=b"not json")
    attempt = send_discord(discord_url(receiver), make_notice(), **DEV)
    assert attempt.retry_after_seconds == 2.25


# --- ntfy -------------------------------------------------------------------------------


def test_ntfy_posts_json_to_the_root_with_bearer_token(receiver: Receiver) -> None:
    receiver.default = Reply(status=200, body=b'{"id":"abc"}')
    attempt = send_ntfy(receiver.url("/"), "alerts-x", make_notice(severity="critical"), token=NTFY_TOKEN, **DEV)
    assert attempt.outcome is Outcome.DELIVERED
    [req] = receiver.requests
    assert req.path == "/" and req.headers["authorization"] == f"Bearer {NTFY_TOKEN}"
    body = orjson.loads(req.body)
    assert body["topic"] == "alerts-x" and body["priority"] == 5 and "critical" in body["tags"]
    assert body["click"] == "https://agentcost.example.com/budgets/team-a"
    assert body["title"].startswith("CRITICAL: ")
    assert not leaks(attempt, NTFY_TOKEN)


def test_ntfy_without_token_sends_no_authorization(receiver: Receiver) -> None:
    send_ntfy(receiver.url("/"), "alerts-x", make_notice(severity="info"), **DEV)
    [req] = receiver.requests
    assert "authorization" not in req.headers and orjson.loads(req.body)["priority"] == 3


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, Outcome.DELIVERED), (400, Outcome.TERMINAL), (401, Outcome.TERMINAL), (403, Outcome.TERMINAL),
     (404, Outcome.TERMINAL), (413, Outcome.TERMINAL), (500, Outcome.RETRY), (507, Outcome.RETRY)],
)  # fmt: skip
def test_ntfy_status_classification(receiver: Receiver, status: int, outcome: Outcome) -> None:
    receiver.default = Reply(status=status, body=b'{"code": 1}')
    assert send_ntfy(receiver.url("/"), "t-1", make_notice(), **DEV).outcome is outcome


def test_ntfy_429_retry_after(receiver: Receiver) -> None:
    receiver.default = Reply(status=429, headers={"Retry-After": "7"})
    attempt = send_ntfy(receiver.url("/"), "t-1", make_notice(), **DEV)
    assert (attempt.outcome, attempt.retry_after_seconds) == (Outcome.RETRY, 7.0)


# --- Twilio -----------------------------------------------------------------------------


def test_twilio_sends_form_with_basic_auth_and_records_the_sid(receiver: Receiver) -> None:
    # The sid sits after more than 1 KB of resource, as in Twilio's real (alphabetical) JSON.
    resource = {"account_sid": ACCOUNT, "body": "y" * 1500, "sid": "SM0123456789abcdef0123456789abcdef"}
    receiver.default = Reply(status=201, body=orjson.dumps(resource))
    attempt = twilio(receiver, msg_id="msg_sms")
    assert attempt.outcome is Outcome.DELIVERED and attempt.status_code == 201
    assert attempt.response_body == "SM0123456789abcdef0123456789abcdef" and attempt.msg_id == "msg_sms"
    [req] = receiver.requests
    assert req.path == f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"
    scheme, _, encoded = req.headers["authorization"].partition(" ")
    assert scheme == "Basic" and base64.b64decode(encoded).decode() == f"{ACCOUNT}:{AUTH_TOKEN}"
    form = parse_qs(req.body.decode(), strict_parsing=True)
    assert form == {"To": ["+15551234567"], "From": ["+15005550006"], "Body": [cf.sms_text(make_notice())]}
    assert not leaks(attempt, AUTH_TOKEN)


def test_twilio_messaging_service_sid_replaces_from(receiver: Receiver) -> None:
    receiver.default = Reply(status=201, body=b'{"sid": "SM1"}')
    send_twilio(ACCOUNT, AUTH_TOKEN, "MG0001", "+15551234567", make_notice(), base_url=receiver.url(""), **DEV)
    form = parse_qs(receiver.requests[0].body.decode())
    assert form["MessagingServiceSid"] == ["MG0001"] and "From" not in form


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(400, Outcome.TERMINAL), (401, Outcome.TERMINAL), (403, Outcome.TERMINAL), (404, Outcome.TERMINAL),
     (500, Outcome.RETRY), (503, Outcome.RETRY)],
)  # fmt: skip
def test_twilio_status_classification(receiver: Receiver, status: int, outcome: Outcome) -> None:
    error = b'{"code": 21211, "message": "Invalid To number", "status": %d}' % status
    receiver.default = Reply(status=status, body=error)
    attempt = twilio(receiver)
    assert (attempt.outcome, attempt.status_code, attempt.response_body) == (outcome, status, error.decode())


def test_twilio_429_retry_after(receiver: Receiver) -> None:
    receiver.default = Reply(status=429, headers={"Retry-After": "3"}, body=b"{}")
    attempt = twilio(receiver)
    assert (attempt.outcome, attempt.retry_after_seconds) == (Outcome.RETRY, 3.0)


# --- shared behaviour -------------------------------------------------------------------


def test_hang_times_out_as_retry(receiver: Receiver, short_timeouts: None) -> None:
    receiver.default = Reply(sleep=3.0)
    t0 = time.monotonic()
    attempt = send_slack(slack_url(receiver), make_notice(), timeout=0.3, **DEV)
    assert attempt.outcome is Outcome.RETRY and attempt.status_code is None
    assert "timed out" in (attempt.error or "") and time.monotonic() - t0 < 2.0
    assert not leaks(attempt, SECRET)


def test_loopback_is_blocked_without_the_dev_flags_and_the_error_hides_the_token(receiver: Receiver) -> None:
    results = [
        send_slack(slack_url(receiver), make_notice()),
        send_discord(discord_url(receiver), make_notice(), allow_insecure=True),
        send_ntfy(receiver.url("/"), "t-1", make_notice(), token=NTFY_TOKEN, allow_insecure=True),
        send_twilio(ACCOUNT, AUTH_TOKEN, "+1", "+2", make_notice(), base_url=receiver.url(""), allow_insecure=True),
    ]
    assert [a.outcome for a in results] == [Outcome.BLOCKED] * 4
    assert "https" in (results[0].error or "") and "127.0.0.1" in (results[1].error or "")
    assert receiver.requests == []
    for attempt in results:
        assert not leaks(attempt, SECRET, NTFY_TOKEN, AUTH_TOKEN)


def test_connection_refused_is_retry_and_hides_the_token(receiver: Receiver) -> None:
    import socket

    # A port bound but not listening refuses connections, and stays ours for the test (closing
    # a server instead let another test's server take the port under xdist).
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        url = slack_url(receiver).replace(f":{receiver.port}/", f":{held.getsockname()[1]}/")
        attempt = send_slack(url, make_notice(), **DEV)
    assert attempt.outcome is Outcome.RETRY and "Connect" in (attempt.error or "")
    assert not leaks(attempt, SECRET)


def test_connects_to_the_checked_address_with_the_real_host_header(receiver: Receiver) -> None:
    calls: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"]

    url = receiver.url(f"/services/T000/B000/{SECRET}", host="hooks.slack.invalid")
    attempt = send_slack(url, make_notice(), resolver=resolver, **DEV)
    assert attempt.delivered, attempt.error
    assert calls == ["hooks.slack.invalid"]
    assert receiver.requests[0].headers["host"] == f"hooks.slack.invalid:{receiver.port}"
    assert attempt.url == f"http://hooks.slack.invalid:{receiver.port}/…N123"


def test_attempt_url_is_redacted_for_every_channel(receiver: Receiver) -> None:
    attempts = [
        send_slack(slack_url(receiver), make_notice(), **DEV),
        send_discord(discord_url(receiver), make_notice(), **DEV),
    ]
    for attempt in attempts:
        assert attempt.url == f"http://127.0.0.1:{receiver.port}/…N123"
        assert not leaks(attempt, SECRET)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.slack.com/services/T000/B000/SECRETTOKEN123", "https://hooks.slack.com/…N123"),
        ("https://discord.com/api/webhooks/1/SECRETTOKEN123?thread_id=9", "https://discord.com/…id=9"),
        ("https://user:pw@ntfy.example:8443/", "https://ntfy.example:8443/"),
        ("https://ntfy.sh", "https://ntfy.sh/"),
        ("https://h.example/shortpath", "https://h.example/…"),
        ("https://[::1]:99/abc", "https://[::1]:99/…"),
        ("https://[bad/x", "<invalid URL>"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
