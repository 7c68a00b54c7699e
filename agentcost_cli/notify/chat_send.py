"""Send one alert attempt to Slack, Discord, ntfy or Twilio SMS and classify the answer (WH-16..WH-19).

Like :func:`agentcost_cli.notify.webhook_send.deliver`, each ``send_*`` makes exactly one HTTP
attempt and returns an :class:`Attempt`; the caller (the outbox) decides about retries from
:attr:`Attempt.outcome` and :attr:`Attempt.retry_after_seconds`. Targets are checked with
:func:`validate_target` on every attempt and the request goes to the checked IP (DNS rebinding).

Chat services differ from generic webhooks in what a 4xx means: a bad payload or a refused
channel will not get better by retrying, so 4xx is TERMINAL (429 excepted), and answers that mean
"this destination is gone" (Slack 404/410 ``channel_not_found``/``no_service``/
``channel_is_archived``, Discord 404) DISABLE it.

WH-19: Slack and Discord URLs carry their credential in the path, and ntfy/Twilio take tokens.
So :attr:`Attempt.url` holds :func:`redact_url`'s form and every error text is scrubbed of the
URL's path, query and tokens before it is recorded.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Unpack
from urllib.parse import quote, urlencode

import httpx
import orjson

from agentcost_cli.errors import InvalidInput
from agentcost_cli.notify import chat_format
from agentcost_cli.notify.http_post import (
    Attempt,
    Outcome,
    Reply,
    SendOptions,
    Verdict,
    header_retry_after,
    json_field,
    post_checked,
    redact_url,
    url_secrets,
)
from agentcost_cli.notify.notice import Notice

TWILIO_BASE_URL = "https://api.twilio.com"
_TWILIO_READ_BYTES = 16 * 1024  # a message resource is ~2 KB and `sid` is near its end
# Slack error bodies that mean the webhook or its channel is gone for good. The first three are
# the documented 404/410 answers; invalid_token and team_disabled mean the webhook was revoked.
SLACK_DISABLE_CODES = frozenset(
    {"channel_not_found", "no_service", "channel_is_archived", "invalid_token", "team_disabled"}
)


def chat_outcome(status: int, *, delivered: bool, disable: bool = False) -> Outcome:
    """Shared chat rules: 429 retries, other 4xx are terminal, 5xx (and unexpected 3xx) retry."""
    if delivered:
        return Outcome.DELIVERED
    if status == 429:
        return Outcome.RETRY
    if disable:
        return Outcome.DISABLE
    if 400 <= status <= 499:
        return Outcome.TERMINAL
    return Outcome.RETRY


def _verdict(reply: Reply, now: datetime, *, delivered: bool, disable: bool = False) -> Verdict:
    retry_after = header_retry_after(reply.headers, now) if reply.status in (429, 503) else None
    return chat_outcome(reply.status, delivered=delivered, disable=disable), retry_after, None


def _judge_slack(reply: Reply, now: datetime) -> Verdict:
    code = reply.body.decode("utf-8", errors="replace").strip()
    gone = reply.status in (404, 410) or (400 <= reply.status <= 499 and code in SLACK_DISABLE_CODES)
    return _verdict(reply, now, delivered=reply.status == 200, disable=gone)


def _judge_discord(reply: Reply, now: datetime) -> Verdict:
    outcome, retry_after, _ = _verdict(reply, now, delivered=reply.status in (200, 204), disable=reply.status == 404)
    value = json_field(reply.body, "retry_after") if reply.status == 429 else None
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        retry_after = float(value)  # the JSON float is more precise than the header's whole seconds
    return outcome, retry_after, None


def _judge_simple(reply: Reply, now: datetime) -> Verdict:
    return _verdict(reply, now, delivered=200 <= reply.status <= 299)


def _judge_twilio(reply: Reply, now: datetime) -> Verdict:
    outcome, retry_after, _ = _judge_simple(reply, now)
    if outcome is not Outcome.DELIVERED:
        return outcome, retry_after, None
    sid = json_field(reply.body, "sid")  # keep only the id: the resource echoes the text and numbers
    return outcome, None, sid if isinstance(sid, str) else ""


def send_slack(url: str, notice: Notice, **options: Unpack[SendOptions]) -> Attempt:
    """Post ``notice`` to a Slack incoming webhook; 200 ``ok`` is delivered (WH-16, WH-17)."""
    payload = orjson.dumps(chat_format.slack_payload(notice))
    return post_checked(url, payload, "application/json", _judge_slack, **options)


def discord_url(url: str) -> str:
    """Add ``wait=true`` (keeping ``thread_id`` and other parameters) so Discord reports failures."""
    return str(httpx.URL(url).copy_merge_params({"wait": "true"}))


def send_discord(url: str, notice: Notice, **options: Unpack[SendOptions]) -> Attempt:
    """Post ``notice`` to a Discord webhook with ``?wait=true``; 200/204 is delivered (WH-17, WH-18)."""
    try:
        target = discord_url(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise InvalidInput(f"Discord webhook URL is invalid: {redact_url(url)}") from exc
    payload = orjson.dumps(chat_format.discord_payload(notice))
    return post_checked(
        target,
        payload,
        "application/json",
        _judge_discord,
        secrets=url_secrets(url),
        shown_url=redact_url(url),
        **options,
    )


def send_ntfy(
    server_url: str, topic: str, notice: Notice, *, token: str | None = None, **options: Unpack[SendOptions]
) -> Attempt:
    """Publish ``notice`` as JSON to an ntfy server root; ``token`` goes in a Bearer header."""
    if not topic:
        raise InvalidInput("ntfy topic must not be empty")
    headers = {"authorization": f"Bearer {token}"} if token else {}
    payload = orjson.dumps(chat_format.ntfy_payload(notice, topic))
    return post_checked(
        server_url,
        payload,
        "application/json",
        _judge_simple,
        headers=headers,
        secrets=[topic, token or ""],
        **options,
    )


def send_twilio(
    account_sid: str,
    auth_token: str,
    from_number: str,
    to_number: str,
    notice: Notice,
    *,
    base_url: str = TWILIO_BASE_URL,
    **options: Unpack[SendOptions],
) -> Attempt:
    """Send ``notice`` as an SMS through Twilio's Messages API; 201 is delivered.

    ``from_number`` may be a Messaging Service SID (``MG…``), sent as ``MessagingServiceSid``.
    On success :attr:`Attempt.response_body` holds the message ``sid`` (the provider's id) and
    nothing else: the returned resource echoes the text and both phone numbers.
    """
    if not (account_sid and auth_token and from_number and to_number):
        raise InvalidInput("Twilio account SID, auth token, sender and recipient are all required")
    url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{quote(account_sid, safe='')}/Messages.json"
    sender = "MessagingServiceSid" if from_number.startswith("MG") else "From"
    form = urlencode({"To": to_number, sender: from_number, "Body": chat_format.sms_text(notice)}).encode()
    basic = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
    return post_checked(
        url,
        form,
        "application/x-www-form-urlencoded",
        _judge_twilio,
        headers={"authorization": f"Basic {basic}"},
        secrets=[auth_token, basic],
        read_limit=_TWILIO_READ_BYTES,
        **options,
    )
