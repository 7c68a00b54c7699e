"""One webhook attempt against a real HTTP receiver on 127.0.0.1 (WH-01, 03, 04, 06, 07, 09, 10, 14, 15)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import orjson
import pytest
from standardwebhooks import Webhook

from agentcost_cli.errors import InvalidInput
from agentcost_cli.notify import http_post, webhook_send
from agentcost_cli.notify.retry import next_attempt
from agentcost_cli.notify.webhook_send import (
    MAX_PAYLOAD_BYTES,
    Outcome,
    deliver,
    encode_payload,
    make_payload,
)
from agentcost_cli.notify.webhook_signing import new_secret

from .conftest import Receiver, Reply

DEV = {"allow_private": True, "allow_insecure": True}
DATA = {"budget": {"name": "Équipe ☕", "limit_usd": "100.00", "tags": ["ü", {"deep": [1, 2, {"x": "✓"}]}]}}


def payload() -> dict[str, object]:
    return make_payload("budget.threshold_crossed", DATA, timestamp=datetime(2026, 11, 20, 12, tzinfo=UTC))


def ticking_clock(start: datetime | None = None, step: float = 1.0) -> Callable[[], datetime]:
    """A clock near real time (the reference verifier allows ±5 min) advancing `step` s per call."""
    base = start or datetime.now(UTC)
    counter = itertools.count()
    return lambda: base + timedelta(seconds=step * next(counter))


def test_delivered_request_verifies_with_reference_library_on_raw_bytes(receiver: Receiver) -> None:
    secret = new_secret()
    attempt = deliver(receiver.url(), payload(), msg_id="msg_abc", secrets=[secret], **DEV)
    assert attempt.outcome is Outcome.DELIVERED and attempt.delivered
    assert attempt.status_code == 200
    [req] = receiver.requests
    Webhook(secret).verify(req.body, req.headers)  # WH-01 + WH-03: raises if the bytes differ
    assert orjson.loads(req.body) == {
        "type": "budget.threshold_crossed",
        "timestamp": "2026-11-20T12:00:00+00:00",
        "data": DATA,
    }
    assert "Équipe ☕".encode() in req.body  # sent as UTF-8, not \u-escaped
    assert req.headers["content-type"] == "application/json"
    assert req.headers["webhook-id"] == "msg_abc"
    assert req.headers["webhook-timestamp"] == str(attempt.webhook_timestamp)
    assert attempt.response_body == "ok"
    assert attempt.latency_ms >= 0 and attempt.address == "127.0.0.1"


def test_rotation_overlap_each_secret_verifies_the_sent_request(receiver: Receiver) -> None:
    old, new = new_secret(), new_secret()
    deliver(receiver.url(), payload(), msg_id="msg_rot", secrets=[old, new], **DEV)
    [req] = receiver.requests
    Webhook(old).verify(req.body, req.headers)
    Webhook(new).verify(req.body, req.headers)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.DELIVERED),
        (204, Outcome.DELIVERED),
        (299, Outcome.DELIVERED),
        (301, Outcome.RETRY),
        (304, Outcome.RETRY),
        (400, Outcome.RETRY),
        (404, Outcome.RETRY),
        (410, Outcome.DISABLE),
        (429, Outcome.RETRY),
        (500, Outcome.RETRY),
        (503, Outcome.RETRY),
    ],
)
def test_status_classification(receiver: Receiver, status: int, outcome: Outcome) -> None:
    body = b"" if status in (204, 304) else b"nope"
    receiver.default = Reply(status=status, body=body)
    attempt = deliver(receiver.url(), payload(), msg_id="msg_s", secrets=[new_secret()], **DEV)
    assert (attempt.outcome, attempt.status_code) == (outcome, status)
    assert len(receiver.requests) == 1


def test_redirect_is_not_followed(receiver: Receiver) -> None:
    receiver.script = [Reply(status=301, headers={"location": receiver.url("/elsewhere")})]
    attempt = deliver(receiver.url(), payload(), msg_id="msg_r", secrets=[new_secret()], **DEV)
    assert attempt.outcome is Outcome.RETRY and attempt.status_code == 301
    assert [r.path for r in receiver.requests] == ["/hook"]


def test_redirect_not_followed_even_with_a_following_client(receiver: Receiver) -> None:
    receiver.script = [Reply(status=302, headers={"location": receiver.url("/elsewhere")})]
    with httpx.Client(follow_redirects=True) as client:
        attempt = deliver(receiver.url(), payload(), msg_id="msg_r2", secrets=[new_secret()], client=client, **DEV)
    assert attempt.status_code == 302
    assert [r.path for r in receiver.requests] == ["/hook"]


def test_410_disables_the_endpoint(receiver: Receiver) -> None:
    receiver.default = Reply(status=410, body=b"gone")
    attempt = deliver(receiver.url(), payload(), msg_id="msg_g", secrets=[new_secret()], **DEV)
    assert attempt.outcome is Outcome.DISABLE
    assert attempt.response_body == "gone"


def test_429_retry_after_seconds_pushes_next_attempt(receiver: Receiver) -> None:
    receiver.default = Reply(status=429, headers={"Retry-After": "120"})
    now = datetime.now(UTC)
    attempt = deliver(receiver.url(), payload(), msg_id="msg_429", secrets=[new_secret()], now=lambda: now, **DEV)
    assert attempt.retry_after_seconds == 120.0
    when = next_attempt(1, now, attempt.retry_after_seconds)
    assert when is not None and when - now >= timedelta(seconds=120)


def test_503_retry_after_http_date(receiver: Receiver) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    later = format_datetime(now + timedelta(minutes=10), usegmt=True)
    receiver.default = Reply(status=503, headers={"Retry-After": later})
    attempt = deliver(receiver.url(), payload(), msg_id="msg_503", secrets=[new_secret()], now=lambda: now, **DEV)
    assert attempt.outcome is Outcome.RETRY
    assert attempt.retry_after_seconds == 600.0


def test_retry_after_ignored_on_other_statuses(receiver: Receiver) -> None:
    receiver.default = Reply(status=500, headers={"Retry-After": "120"})
    attempt = deliver(receiver.url(), payload(), msg_id="msg_500", secrets=[new_secret()], **DEV)
    assert attempt.retry_after_seconds is None


def test_id_stable_and_timestamp_fresh_across_retries(receiver: Receiver) -> None:
    """WH-04: force 2 failures, capture 3 attempts: same id, increasing timestamps, all verify."""
    secret = new_secret()
    receiver.script = [Reply(status=500), Reply(status=503)]
    clock = ticking_clock(step=5.0)
    outcomes = [
        deliver(receiver.url(), payload(), msg_id="msg_retry", secrets=[secret], now=clock, **DEV).outcome
        for _ in range(3)
    ]
    assert outcomes == [Outcome.RETRY, Outcome.RETRY, Outcome.DELIVERED]
    assert [r.headers["webhook-id"] for r in receiver.requests] == ["msg_retry"] * 3
    stamps = [int(r.headers["webhook-timestamp"]) for r in receiver.requests]
    assert stamps == sorted(set(stamps)) and len(stamps) == 3
    assert len({r.body for r in receiver.requests}) == 1
    for r in receiver.requests:
        Webhook(secret).verify(r.body, r.headers)


def test_response_body_truncated_to_1kb(receiver: Receiver) -> None:
    receiver.default = Reply(status=500, body=b"x" * 5000)
    attempt = deliver(receiver.url(), payload(), msg_id="msg_big", secrets=[new_secret()], **DEV)
    assert attempt.response_body == "x" * 1024


def test_timeout_is_a_retryable_failure(receiver: Receiver, short_timeouts: None) -> None:
    receiver.default = Reply(sleep=3.0)
    t0 = time.monotonic()
    attempt = deliver(receiver.url(), payload(), msg_id="msg_slow", secrets=[new_secret()], timeout=0.3, **DEV)
    elapsed = time.monotonic() - t0
    assert attempt.outcome is Outcome.RETRY and attempt.status_code is None
    assert attempt.error is not None and "timed out" in attempt.error
    assert 0.25 <= elapsed < 2.0
    assert 250 <= attempt.latency_ms < 2000


@pytest.mark.slow
def test_five_second_timeout_against_six_second_sleep(receiver: Receiver) -> None:
    receiver.default = Reply(sleep=6.0)
    t0 = time.monotonic()
    attempt = deliver(receiver.url(), payload(), msg_id="msg_5s", secrets=[new_secret()], timeout=5.0, **DEV)
    assert attempt.outcome is Outcome.RETRY and "timed out" in (attempt.error or "")
    assert 4.9 <= time.monotonic() - t0 < 5.9


def test_connection_refused_is_a_retryable_failure(receiver: Receiver) -> None:
    url = receiver.url()
    receiver.server.server_close()  # nothing listens on the port any more
    attempt = deliver(url, payload(), msg_id="msg_down", secrets=[new_secret()], **DEV)
    assert attempt.outcome is Outcome.RETRY and attempt.status_code is None
    assert attempt.error is not None and "Connect" in attempt.error


@pytest.mark.parametrize("timeout", [4.9, 30.1, 0.5])
def test_timeout_must_be_within_5_to_30_seconds(receiver: Receiver, timeout: float) -> None:
    with pytest.raises(InvalidInput, match="between 5 and 30"):
        deliver(receiver.url(), payload(), msg_id="m", secrets=[new_secret()], timeout=timeout, **DEV)
    assert receiver.requests == []


def test_local_receiver_needs_both_dev_flags(receiver: Receiver) -> None:
    secret = [new_secret()]
    insecure_only = deliver(receiver.url(), payload(), msg_id="m1", secrets=secret, allow_insecure=True)
    assert insecure_only.outcome is Outcome.BLOCKED and "127.0.0.1" in (insecure_only.error or "")
    private_only = deliver(receiver.url(), payload(), msg_id="m2", secrets=secret, allow_private=True)
    assert private_only.outcome is Outcome.BLOCKED and "https" in (private_only.error or "")
    assert receiver.requests == []
    assert deliver(receiver.url(), payload(), msg_id="m3", secrets=secret, **DEV).delivered


def test_connects_to_the_checked_address_not_a_second_lookup(receiver: Receiver) -> None:
    """DNS-rebinding defence: the name is resolved once, and the request goes to that IP with the real Host."""
    calls: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"]

    url = receiver.url(host="receiver.invalid")  # .invalid never resolves via real DNS
    attempt = deliver(url, payload(), msg_id="m_pin", secrets=[new_secret()], resolver=resolver, **DEV)
    assert attempt.delivered, attempt.error
    assert calls == ["receiver.invalid"]
    assert receiver.requests[0].headers["host"] == f"receiver.invalid:{receiver.port}"


def test_blocked_after_resolution_sends_nothing(receiver: Receiver) -> None:
    attempt = deliver(
        "https://hooks.example.com/x",
        payload(),
        msg_id="m_meta",
        secrets=[new_secret()],
        resolver=lambda host, port: ["169.254.169.254"],
    )
    assert attempt.outcome is Outcome.BLOCKED and "169.254.169.254" in (attempt.error or "")


def test_unresolvable_host_is_retried_not_blocked() -> None:
    def fails(host: str, port: int) -> list[str]:
        raise OSError("temporary failure in name resolution")

    attempt = deliver("https://hooks.example.com/", payload(), msg_id="m_dns", secrets=[new_secret()], resolver=fails)
    assert attempt.outcome is Outcome.RETRY and "cannot resolve" in (attempt.error or "")


# --- WH-15 payload envelope -------------------------------------------------------------


@pytest.mark.parametrize("event_type", ["budget.threshold_crossed", "a.b_c", "ping", "A1.b2.C_3"])
def test_valid_event_types(event_type: str) -> None:
    body = encode_payload(make_payload(event_type, {}, timestamp=datetime(2026, 1, 1, tzinfo=UTC)))
    assert orjson.loads(body)["type"] == event_type


@pytest.mark.parametrize("event_type", ["", "budget.", ".x", "a..b", "a-b", "a b", "ünï.code", "a/b"])
def test_invalid_event_types(event_type: str) -> None:
    with pytest.raises(InvalidInput, match="event type"):
        encode_payload(make_payload(event_type, {}, timestamp=datetime(2026, 1, 1, tzinfo=UTC)))


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "a.b", "data": {}},
        {"type": "a.b", "timestamp": "2026-01-01T00:00:00+00:00", "data": {}, "extra": 1},
        {"type": "a.b", "timestamp": "yesterday", "data": {}},
        {"type": "a.b", "timestamp": "2026-01-01T00:00:00", "data": {}},  # naive
        {"type": "a.b", "timestamp": "2026-01-01T00:00:00+00:00", "data": [1]},
        {"type": "a.b", "timestamp": "2026-01-01T00:00:00+00:00", "data": {"x": object()}},
    ],
)
def test_invalid_envelopes(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        encode_payload(bad)


def test_payload_size_limit(receiver: Receiver) -> None:
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    overhead = len(encode_payload(make_payload("a.b", {"s": ""}, timestamp=stamp)))
    just_under = make_payload("a.b", {"s": "x" * (MAX_PAYLOAD_BYTES - 1 - overhead)}, timestamp=stamp)
    assert len(encode_payload(just_under)) == MAX_PAYLOAD_BYTES - 1
    at_limit = make_payload("a.b", {"s": "x" * (MAX_PAYLOAD_BYTES - overhead)}, timestamp=stamp)
    with pytest.raises(InvalidInput, match="limit"):
        encode_payload(at_limit)
    with pytest.raises(InvalidInput):
        deliver(receiver.url(), at_limit, msg_id="m_big", secrets=[new_secret()], **DEV)
    assert receiver.requests == []


def test_make_payload_refuses_naive_timestamp() -> None:
    with pytest.raises(InvalidInput):
        make_payload("a.b", {}, timestamp=datetime(2026, 1, 1))


def test_bad_secret_fails_before_sending(receiver: Receiver) -> None:
    with pytest.raises(InvalidInput):
        deliver(receiver.url(), payload(), msg_id="m", secrets=["not-a-secret"], **DEV)
    assert receiver.requests == []


def test_short_timeout_hook_is_private() -> None:
    assert http_post._min_timeout == webhook_send.MIN_TIMEOUT == 5.0
