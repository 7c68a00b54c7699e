"""Resend, SendGrid and the fallback chain against a real local HTTP server."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from agentcost_cli.notify.email_message import EmailMessage
from agentcost_cli.notify.email_send import (
    FallbackSender,
    ResendSender,
    SendGridSender,
    TokenBucket,
)

from .email_fakes import ApiReply, FakeApi, free_port

RESEND_KEY = "re_TopSecretKey123"
SENDGRID_KEY = "SG.TopSecretSendgrid456"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def resend_api() -> Iterator[FakeApi]:
    with FakeApi() as api:
        yield api


@pytest.fixture
def sendgrid_api() -> Iterator[FakeApi]:
    with FakeApi() as api:
        api.default = ApiReply(202, None, {"X-Message-Id": "sg-abc"})
        yield api


def msg(key: str = "alert-7/ops@example.com", **kw: object) -> EmailMessage:
    fields: dict[str, object] = {"to": ("ops@example.com",), "sender": "agentcost <alerts@agentcost.dev>",
                                 "subject": "Budget 80% reached", "text": "You have spent $80 of $100.",
                                 "idempotency_key": key}
    fields.update(kw)
    return EmailMessage(**fields)  # type: ignore[arg-type]


def resend(api: FakeApi | str, **kw: object) -> ResendSender:
    base = api if isinstance(api, str) else api.base_url
    return ResendSender(RESEND_KEY, base_url=base, timeout=kw.pop("timeout", 2.0), **kw)  # type: ignore[arg-type]


def sendgrid(api: FakeApi) -> SendGridSender:
    return SendGridSender(SENDGRID_KEY, base_url=api.base_url, timeout=2.0)


def test_resend_request_carries_bearer_idempotency_key_and_body(resend_api: FakeApi) -> None:
    resend_api.default = ApiReply(200, {"id": "4ef9a417-02e9"})
    result = resend(resend_api).send(msg(reply_to="help@example.com", html="<p>hi</p>", headers={"X-Tag": "a"}))
    assert (result.status, result.message_id, result.provider) == ("sent", "4ef9a417-02e9", "resend")
    [request] = resend_api.requests
    assert request.path == "/emails"
    assert request.headers["authorization"] == f"Bearer {RESEND_KEY}"
    assert request.headers["idempotency-key"] == "alert-7/ops@example.com"
    assert request.json == {"from": "agentcost <alerts@agentcost.dev>", "to": ["ops@example.com"],
                            "subject": "Budget 80% reached", "text": "You have spent $80 of $100.",
                            "html": "<p>hi</p>", "reply_to": "help@example.com", "headers": {"X-Tag": "a"}}


def test_resend_timeout_is_ambiguous_and_the_retry_reuses_the_key(resend_api: FakeApi) -> None:
    resend_api.script = [ApiReply(hang=3.0)]
    sender = resend(resend_api, timeout=0.3)
    first = sender.send(msg())
    assert first.status == "retry"
    assert first.not_sent is False  # the request was written: it may have been delivered
    second = sender.send(msg())
    assert second.status == "sent"
    keys = [r.headers["idempotency-key"] for r in resend_api.requests]
    assert keys == ["alert-7/ops@example.com"] * 2


@pytest.mark.parametrize(
    ("status", "body", "expected", "not_sent"),
    [
        (429, {"name": "rate_limit_exceeded", "message": "slow down"}, "retry", True),
        (500, {"name": "internal_server_error", "message": "oops"}, "retry", True),
        (503, None, "retry", True),
        (409, {"name": "concurrent_idempotent_requests", "message": "in flight"}, "retry", False),
        (409, {"name": "invalid_idempotent_request", "message": "payload differs"}, "failed", False),
        (429, {"name": "daily_quota_exceeded", "message": "quota"}, "failed", True),
        (429, {"name": "monthly_quota_exceeded", "message": "quota"}, "failed", True),
        (400, {"name": "validation_error", "message": "bad"}, "failed", True),
        (401, {"name": "missing_api_key", "message": "no key"}, "failed", True),
        (403, {"name": "invalid_api_key", "message": "bad key"}, "failed", True),
        (404, {"name": "not_found", "message": "?"}, "failed", True),
        (422, {"name": "validation_error", "message": "Invalid `to` field"}, "failed", True),
    ],
)
def test_resend_classification(resend_api: FakeApi, status: int, body: object, expected: str, not_sent: bool) -> None:
    resend_api.default = ApiReply(status, body)
    result = resend(resend_api).send(msg())
    assert (result.status, result.not_sent) == (expected, not_sent)
    assert str(status) in result.detail


def test_resend_429_retry_after_is_parsed_and_pauses_the_throttle(resend_api: FakeApi) -> None:
    clock = FakeClock()
    bucket = TokenBucket(100.0, clock=clock)
    resend_api.default = ApiReply(429, {"name": "rate_limit_exceeded"}, {"Retry-After": "3"})
    result = resend(resend_api, bucket=bucket, sleep=clock.sleep).send(msg())
    assert (result.status, result.retry_after) == ("retry", 3.0)
    assert bucket.reserve() >= 3.0


def test_resend_ratelimit_reset_used_when_no_retry_after(resend_api: FakeApi) -> None:
    resend_api.default = ApiReply(429, {"name": "rate_limit_exceeded"},
                                  {"ratelimit-remaining": "0", "ratelimit-reset": "2"})
    assert resend(resend_api).send(msg()).retry_after == 2.0


def test_resend_refuses_more_than_50_recipients_without_calling(resend_api: FakeApi) -> None:
    to = tuple(f"u{i}@example.com" for i in range(51))
    result = resend(resend_api).send(msg(to=to))
    assert result.status == "failed" and result.not_sent
    assert resend_api.requests == []


def test_throttle_spaces_20_sends_at_2_per_second(resend_api: FakeApi) -> None:
    clock = FakeClock()
    sender = resend(resend_api, bucket=TokenBucket(2.0, clock=clock), sleep=clock.sleep)
    start = clock.now
    for i in range(20):
        assert sender.send(msg(key=f"k{i}")).status == "sent"
    assert clock.now - start >= 9.5
    assert len(resend_api.requests) == 20


def test_sendgrid_body_schema_and_202_message_id(sendgrid_api: FakeApi) -> None:
    result = sendgrid(sendgrid_api).send(msg(html="<b>hi</b>", reply_to="Help <help@example.com>"))
    assert (result.status, result.message_id, result.provider) == ("sent", "sg-abc", "sendgrid")
    assert "accepted" in result.detail
    [request] = sendgrid_api.requests
    assert request.path == "/v3/mail/send"
    assert request.headers["authorization"] == f"Bearer {SENDGRID_KEY}"
    assert "idempotency-key" not in request.headers
    body = request.json
    assert body["personalizations"] == [{"to": [{"email": "ops@example.com"}]}]
    assert body["from"] == {"email": "alerts@agentcost.dev", "name": "agentcost"}
    assert body["reply_to"] == {"email": "help@example.com", "name": "Help"}
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert body["custom_args"] == {"idempotency_key": "alert-7/ops@example.com"}


@pytest.mark.parametrize(("status", "expected"), [(429, "retry"), (500, "retry"), (400, "failed"), (401, "failed"),
                                                  (413, "failed")])
def test_sendgrid_classification(sendgrid_api: FakeApi, status: int, expected: str) -> None:
    sendgrid_api.default = ApiReply(status, {"errors": [{"message": "nope"}]}, {"Retry-After": "7"})
    result = sendgrid(sendgrid_api).send(msg())
    assert result.status == expected
    assert result.retry_after == (7.0 if expected == "retry" else None)


def test_fallback_to_sendgrid_when_resend_connection_is_refused(sendgrid_api: FakeApi) -> None:
    chain = FallbackSender([resend(f"http://127.0.0.1:{free_port()}"), sendgrid(sendgrid_api)])
    result = chain.send(msg())
    assert (result.status, result.provider) == ("sent", "sendgrid")
    assert len(sendgrid_api.requests) == 1


def test_fallback_to_sendgrid_after_resend_500(resend_api: FakeApi, sendgrid_api: FakeApi) -> None:
    resend_api.default = ApiReply(500, {"name": "internal_server_error"})
    result = FallbackSender([resend(resend_api), sendgrid(sendgrid_api)]).send(msg())
    assert (result.status, result.provider) == ("sent", "sendgrid")
    assert (len(resend_api.requests), len(sendgrid_api.requests)) == (1, 1)


def test_no_fallback_after_a_timeout_and_the_retry_stays_on_resend(resend_api: FakeApi, sendgrid_api: FakeApi) -> None:
    resend_api.script = [ApiReply(hang=3.0)]
    chain = FallbackSender([resend(resend_api, timeout=0.3), sendgrid(sendgrid_api)])
    first = chain.send(msg())
    assert (first.status, first.provider, first.not_sent) == ("retry", "resend", False)
    assert sendgrid_api.requests == []
    second = chain.send(msg())
    assert (second.status, second.provider) == ("sent", "resend")
    assert sendgrid_api.requests == []


def test_no_fallback_after_invalid_idempotent_request(resend_api: FakeApi, sendgrid_api: FakeApi) -> None:
    resend_api.default = ApiReply(409, {"name": "invalid_idempotent_request"})
    result = FallbackSender([resend(resend_api), sendgrid(sendgrid_api)]).send(msg())
    assert (result.status, result.provider) == ("failed", "resend")
    assert sendgrid_api.requests == []


def test_fallback_reports_every_provider_when_all_fail(resend_api: FakeApi, sendgrid_api: FakeApi) -> None:
    resend_api.default = ApiReply(503, None, {"Retry-After": "30"})
    sendgrid_api.default = ApiReply(400, {"errors": [{"message": "bad from"}]})
    result = FallbackSender([resend(resend_api), sendgrid(sendgrid_api)]).send(msg())
    assert result.status == "retry"  # Resend may work later
    assert result.retry_after == 30.0
    assert "resend" in result.detail and "sendgrid" in result.detail


def test_secrets_never_in_repr_results_or_logs(resend_api: FakeApi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    resend_api.default = ApiReply(401, {"name": "invalid_api_key", "message": f"API key {RESEND_KEY} is invalid"})
    sender = resend(resend_api)
    result = sender.send(msg())
    refused = resend(f"http://127.0.0.1:{free_port()}").send(msg())
    chain = FallbackSender([sender])
    for text in (repr(sender), repr(chain), repr(result), repr(refused), caplog.text):
        assert RESEND_KEY not in text
    assert "***" in result.detail  # the echoed key was scrubbed, the rest kept
    assert resend_api.requests[0].headers["authorization"].endswith(RESEND_KEY)  # it was really sent
