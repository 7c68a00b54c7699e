"""The outbox dispatcher: lease due messages, make one attempt each, record it, and decide
what comes next (sent, a retry on the WH-08 schedule, dead, or unknown).

Guarantees:
- A message is a row before it is a request; an attempt is recorded after it is made. A
  dispatcher killed mid-send holds a lease that expires (LEASE), and the message is tried
  again with the same idempotency key (Resend's `Idempotency-Key`, the webhook's
  `webhook-id`, the SMTP Message-ID), so a receiver can drop the copy. None is lost.
- Two dispatchers (two daemons on one store) never hold one message: `claim_outbox` leases
  it to one, and `record_attempt`/`finish_outbox` refuse a caller whose lease was taken.
- Email goes to Resend first. SendGrid (then SMTP) is tried only when Resend certainly did
  not send: at once after a refusal (bad key, exhausted quota), or after MAX_PRIMARY_FAILURES
  answers of 429/5xx or failed connections. After an ambiguous outcome (timeout after the
  request was written) the message stays with that provider, so a retry reuses its key and
  never mails twice through another (EM-04).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from ..errors import AgentcostError, ConfigError
from ..notify import retry, templates
from ..notify.email_message import EmailMessage
from ..notify.email_send import SendResult
from ..notify.notice import Notice
from ..notify.webhook_send import Attempt, Outcome
from ..store.base import Store
from ..timeutil import format_utc, parse_utc
from . import alerting, channels, clock
from .auth_config import auth_config
from .notify_config import NotifyConfig, notify_config

LEASE = timedelta(minutes=5)  # longer than any one attempt (30 s HTTP timeout, SMTP's own)
MAX_PRIMARY_FAILURES = 3
EMAIL_CONFIG_RECHECK = timedelta(minutes=1)
MAX_EXCERPT = 500
_OUTCOME = {Outcome.DELIVERED: "delivered", Outcome.RETRY: "retry", Outcome.DISABLE: "disabled",
            Outcome.TERMINAL: "failed", Outcome.BLOCKED: "blocked"}


def dispatcher_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class DispatchReport:
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    unknown: int = 0
    lost_leases: int = 0
    waiting: int = 0  # emails held until an email provider is configured
    disabled_channels: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Result:
    """What one message's attempt (or attempts, for an email chain) came to."""

    status: str  # sent | retry | dead | unknown
    retry_after: float | None = None
    error: str | None = None
    provider: str | None = None
    provider_message_id: str | None = None
    disable_channel: str | None = None  # a reason: the destination is gone


def dispatch_once(store: Store, *, owner: str | None = None, limit: int = 50) -> DispatchReport:
    """Deliver what is due now, once each. Safe to run from cron and from several daemons."""
    owner = owner or dispatcher_id()
    config = notify_config(store)
    report = DispatchReport()
    now = clock.now()
    due = store.next_outbox_due()
    if due is None or (due and due > format_utc(now)):
        return report  # a read, not a write: an idle dispatcher never takes the store's write lock
    claimed = store.claim_outbox(owner=owner, now_utc=format_utc(now), lease_until_utc=format_utc(now + LEASE),
                                 limit=limit)
    report.claimed = len(claimed)
    for message in claimed:
        _dispatch(store, config, message, owner, report)
    return report


def _dispatch(store: Store, config: NotifyConfig, message: dict[str, Any], owner: str, report: DispatchReport) -> None:
    attempt_no = int(message["attempts"] or 0)
    channel = store.get_channel(int(message["channel_id"])) if message.get("channel_id") is not None else None
    if message.get("channel_id") is not None and (channel is None or channel["status"] != "active"):
        why = "channel removed" if channel is None else f"channel disabled ({channel['disabled_reason']})"
        _finish(store, message, owner, _Result("dead", error=why), attempt_no, report)
        return
    if message["channel"] == "email" and not config.email_configured():
        # No provider yet: the email waits (no attempt spent, nothing dead) and is looked at
        # again a minute later, until one is configured; `outbox list` says why it waits.
        store.finish_outbox(int(message["id"]), owner=owner, fields={
            "next_attempt_utc": format_utc(clock.now() + EMAIL_CONFIG_RECHECK),
            "last_error": "waiting: no email provider is configured"})
        report.waiting += 1
        _warn_unconfigured()
        return
    if message["channel"] == "email":
        result, attempt_no = _email(store, config, message, owner, attempt_no)
    else:
        assert channel is not None
        attempt_no += 1
        try:
            attempt = _chat(store, config, message, channel)
        except AgentcostError as exc:
            # Nothing was sent (missing Twilio settings, a payload over the size limit...). Raised
            # out of the loop, it left this message and the rest of the batch leased, and the
            # next pass after LEASE hit it again: record it like a failed attempt instead. A
            # setup problem may be fixed (retry on schedule); anything else will not.
            retryable = isinstance(exc, ConfigError)
            if not _record(store, message, owner, attempt_no, provider=message["channel"],
                           outcome="retry" if retryable else "failed", error=exc.message):
                report.lost_leases += 1
                return
            _finish(store, message, owner, _Result("retry" if retryable else "dead", error=exc.message),
                    attempt_no, report)
            return
        result = _from_attempt(attempt)
        if not _record(store, message, owner, attempt_no, provider=message["channel"],
                       outcome=_OUTCOME[attempt.outcome], status_code=attempt.status_code,
                       latency_ms=attempt.latency_ms, excerpt=attempt.response_body, error=attempt.error):
            report.lost_leases += 1
            return
        _channel_health(store, config, channel, result, report)
    _finish(store, message, owner, result, attempt_no, report)


_last_warning = 0.0


def _warn_unconfigured() -> None:
    global _last_warning
    if time.monotonic() - _last_warning >= 3600 or not _last_warning:
        _last_warning = time.monotonic()
        logging.getLogger("agentcost.notify").warning(
            "emails are waiting in the outbox: no email provider is configured (set RESEND_API_KEY, "
            "SENDGRID_API_KEY or AGENTCOST_SMTP_HOST, and AGENTCOST_EMAIL_FROM)")


def _from_attempt(attempt: Attempt) -> _Result:
    if attempt.outcome is Outcome.DELIVERED:
        return _Result("sent", provider_message_id=(attempt.response_body or None)
                       if attempt.response_body.startswith("SM") else None)
    if attempt.outcome is Outcome.RETRY:
        return _Result("retry", retry_after=attempt.retry_after_seconds, error=_describe(attempt))
    if attempt.outcome is Outcome.DISABLE:
        why = _describe(attempt)
        return _Result("dead", error=why, disable_channel=f"the destination is gone ({why})")
    return _Result("dead", error=_describe(attempt))


def _describe(attempt: Attempt) -> str:
    if attempt.error:
        return attempt.error
    body = " ".join(attempt.response_body.split())[:120]
    return f"HTTP {attempt.status_code}" + (f": {body}" if body else "")


def _record(store: Store, message: dict[str, Any], owner: str, attempt_no: int, *, provider: str, outcome: str,
            status_code: int | None = None, latency_ms: int | None = None, excerpt: str | None = None,
            error: str | None = None) -> bool:
    return store.record_attempt({
        "outbox_id": message["id"], "attempt_no": attempt_no, "started_utc": clock.now_text(),
        "provider": provider, "outcome": outcome, "status_code": status_code, "latency_ms": latency_ms,
        "response_excerpt": (excerpt or "")[:MAX_EXCERPT] or None, "error": (error or "")[:MAX_EXCERPT] or None,
    }, owner=owner)


def _finish(store: Store, message: dict[str, Any], owner: str, result: _Result, attempt_no: int,
            report: DispatchReport) -> None:
    now = clock.now()
    fields: dict[str, Any] = {"last_error": result.error, "provider": result.provider or message.get("provider")}
    if message.get("first_attempt_utc") is None and attempt_no:
        fields["first_attempt_utc"] = format_utc(now)
    status = result.status
    if status == "retry":
        due = retry.next_attempt(max(attempt_no, 1), now, result.retry_after)
        if due is None:
            status = "dead"
            fields["last_error"] = f"gave up after {attempt_no} attempts: {result.error}"
        else:
            fields["next_attempt_utc"] = format_utc(due)
    if status == "sent":
        fields.update(sent_utc=format_utc(now), provider_message_id=result.provider_message_id, last_error=None)
    fields["status"] = "pending" if status == "retry" else status
    if not store.finish_outbox(int(message["id"]), owner=owner, fields=fields):
        report.lost_leases += 1
        return
    counter = {"sent": "sent", "retry": "retrying", "dead": "dead", "unknown": "unknown"}[status]
    setattr(report, counter, getattr(report, counter) + 1)


# -- webhooks and chat -------------------------------------------------------------------------

def _notice(store: Store, message: dict[str, Any]) -> Notice:
    return alerting.notice_from_json(auth_config(store).box.open(message["payload_sealed"]))


def _chat(store: Store, config: NotifyConfig, message: dict[str, Any], channel: dict[str, Any]) -> Attempt:
    from ..notify import chat_send, payloads, webhook_send

    notice = _notice(store, message)
    target = channels.unsealed_target(store, channel)
    options: dict[str, Any] = {"msg_id": message["message_uid"] or f"msg_{message['id']}",
                               "timeout": config.webhook_timeout, "allow_insecure": config.allow_private_targets,
                               "allow_private": config.allow_private_targets,
                               # stamp attempts (webhook-timestamp, Retry-After dates) on the services'
                               # clock, like every other time here: wall time ignored a frozen test clock
                               "now": clock.now}
    kind = channel["kind"]
    if kind == "webhook":
        payload = webhook_send.make_payload(notice.type, payloads.webhook_data(notice),
                                            timestamp=parse_utc(notice.occurred_utc))
        return webhook_send.deliver(target, payload, secrets=channels.signing_secrets(store, channel), **options)
    if kind == "slack":
        return chat_send.send_slack(target, notice, **options)
    if kind == "discord":
        return chat_send.send_discord(target, notice, **options)
    if kind == "ntfy":
        server, _, topic = target.rstrip("/").rpartition("/")
        token = channels.signing_secrets(store, channel)
        return chat_send.send_ntfy(server, topic, notice, token=token[0] if token else None, **options)
    if kind == "twilio":
        sid, auth, sender = (os.environ.get(n, "") for n in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM"))
        if not (sid and auth and sender):
            raise ConfigError("SMS channels need TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM")
        return chat_send.send_twilio(sid, auth, sender, target, notice, base_url=config.twilio_base_url, **options)
    raise ConfigError(f"unknown channel kind {kind!r}")


def _channel_health(store: Store, config: NotifyConfig, channel: dict[str, Any], result: _Result,
                    report: DispatchReport) -> None:
    """Track the channel's failure streak; disable it when the destination is gone (410, a
    deleted Slack channel) or after `disable_after` of nothing but failures (WH-10, WH-11)."""
    now = clock.now()
    if result.status == "sent":
        store.update_channel(int(channel["id"]), {"last_success_utc": format_utc(now), "failing_since_utc": None})
        return
    since = channel["failing_since_utc"] or format_utc(now)
    fields: dict[str, Any] = {"failing_since_utc": since, "last_failure_utc": format_utc(now)}
    reason = result.disable_channel
    if reason is None and now - parse_utc(since) >= config.disable_after:
        days = config.disable_after.total_seconds() / 86400
        reason = f"every delivery failed for {days:g} days"
    if reason:
        fields.update(status="disabled", disabled_reason=reason, disabled_utc=format_utc(now))
    store.update_channel(int(channel["id"]), fields)
    if reason:
        report.disabled_channels.append(channel["name"])
        _tell_owner(store, config, {**channel, **fields})


def _tell_owner(store: Store, config: NotifyConfig, channel: dict[str, Any]) -> None:
    """Tell the operators (and the channel's creator, by email) that a channel stopped."""
    from .operators import notify_operators

    notice = Notice(
        type="channel.disabled", title=f"Channel '{channel['name']}' was disabled",
        summary=f"Alerts to the {channel['kind']} channel '{channel['name']}' ({channel['target_hint']}) stopped: "
                f"{channel['disabled_reason']}. Fix the destination, then run "
                f"`agentcost channels enable {channel['name']}`.",
        severity="critical", occurred_utc=clock.now_text(),
        fields=(("Channel", channel["name"]), ("Kind", channel["kind"]), ("Target", channel["target_hint"]),
                ("Reason", str(channel["disabled_reason"]))),
        data={"channel": channel["name"], "kind": channel["kind"], "reason": channel["disabled_reason"],
              "disabled_at": parse_utc(channel["disabled_utc"]).isoformat()})
    creator = store.get_user(int(channel["created_by_user_id"])) if channel.get("created_by_user_id") else None
    notify_operators(store, notice, dedupe_key=f"channel:{channel['id']}:disabled:{channel['disabled_utc']}",
                     project_id=channel["project_id"], exclude=channel["name"],
                     extra_emails=[creator["email"]] if creator else [])


# -- email -------------------------------------------------------------------------------------

def _email_message(store: Store, config: NotifyConfig, message: dict[str, Any]) -> EmailMessage:
    variables = orjson.loads(auth_config(store).box.open(message["payload_sealed"]))
    if message["template"] == "alert":
        variables = templates.alert_variables(alerting.notice_from_json(orjson.dumps(variables).decode()))
    rendered = templates.render_email(message["template"], variables)
    return EmailMessage(to=tuple(a.strip() for a in message["recipient"].split(",") if a.strip()),
                        sender=config.email().from_address, subject=rendered.subject, text=rendered.text,
                        html=rendered.html, idempotency_key=message["idempotency_key"][:256])


def _email(store: Store, config: NotifyConfig, message: dict[str, Any], owner: str,
           attempt_no: int) -> tuple[_Result, int]:
    try:
        email = _email_message(store, config, message)
        senders = list(config.email().sender.senders)
    except AgentcostError as exc:
        attempt_no += 1
        _record(store, message, owner, attempt_no, provider="email", outcome="retry", error=exc.message)
        return _Result("retry", error=exc.message), attempt_no
    pinned = message.get("provider")
    names = [s.name for s in senders]
    start = names.index(pinned) if pinned in names else 0
    if pinned in names:
        # A pin means this provider may already have the message (an answer lost after the
        # request was written). Its later refusals (5xx, even 401) do not undo that: falling
        # back would mail a second copy through another provider (EM-04). Stay with it.
        senders = senders[:start + 1]
    past = store.list_attempts(int(message["id"]))
    last: _Result | None = None
    for index in range(start, len(senders)):
        sender = senders[index]
        attempt_no += 1
        result = sender.send(email)
        outcome = _email_outcome(result)
        _record(store, message, owner, attempt_no, provider=sender.name, outcome=outcome, error=result.detail,
                excerpt=result.message_id)
        last = _email_result(result, outcome)
        if outcome in ("delivered", "accepted", "unknown") or not result.not_sent:
            return last, attempt_no  # sent, or possibly sent: stay with this provider
        if outcome == "refused":
            refusals = sum(1 for a in past if a["provider"] == sender.name and a["outcome"] == "refused") + 1
            if refusals < MAX_PRIMARY_FAILURES and index + 1 < len(senders):
                return last, attempt_no  # retry this provider on schedule before falling back
    assert last is not None
    return last, attempt_no


def _email_outcome(result: SendResult) -> str:
    if result.status == "sent":
        return "accepted" if result.provider == "sendgrid" else "delivered"
    if result.status == "retry":
        return "refused" if result.not_sent else "retry"
    return "failed" if result.not_sent else "unknown"


def _email_result(result: SendResult, outcome: str) -> _Result:
    if outcome in ("delivered", "accepted"):
        return _Result("sent", provider=result.provider, provider_message_id=result.message_id)
    if outcome == "unknown":
        return _Result("unknown", provider=result.provider, error=result.detail)
    if outcome == "failed":
        return _Result("dead", provider=None, error=f"{result.provider}: {result.detail}")
    # retry after an ambiguous answer pins the provider; after a refusal it does not
    return _Result("retry", retry_after=result.retry_after, error=f"{result.provider}: {result.detail}",
                   provider=result.provider if outcome == "retry" else None)


def next_due(store: Store) -> datetime | None:
    """When the dispatcher next has work (None: nothing pending)."""
    due = store.next_outbox_due()
    if due is None:
        return None
    return clock.now() if due == "" else parse_utc(due)
