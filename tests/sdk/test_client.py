"""AgentCost against a real local HTTP server: batching, timers, retries, splitting, errors."""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

import pytest

from agentcost_cli.sdk import (
    AgentCost,
    AuthenticationError,
    ClientClosedError,
    ConfigurationError,
    DeliveryError,
    EventsRejectedError,
    QueueFullError,
)

from .conftest import API_KEY, FakeDaemon, Received, Reply, problem


def event(n: int = 0, **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini-2024-07-18", "provider": "openai", "input_tokens": 100 + n,
            "output_tokens": 10, "timestamp": "2026-11-20T10:00:00Z", **extra}


class Errors:
    """An on_error callback that keeps what it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[Exception, list[dict[str, Any]]]] = []

    def __call__(self, error: Exception, events: list[dict[str, Any]]) -> None:
        self.calls.append((error, events))


# -- configuration ------------------------------------------------------------------


def test_missing_key_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="AGENTCOST_API_KEY"):
        AgentCost()
    with pytest.raises(ConfigurationError):
        AgentCost(api_key="  ")


def test_key_and_url_from_the_environment(monkeypatch: pytest.MonkeyPatch, fake_daemon: FakeDaemon) -> None:
    monkeypatch.setenv("AGENTCOST_API_KEY", API_KEY)
    monkeypatch.setenv("AGENTCOST_URL", fake_daemon.base_url + "/")
    with AgentCost() as ac:
        ac.record(event())
        assert ac.flush(timeout=5).created == 1
    request = fake_daemon.requests[0]
    assert request.path == "/v1/events"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["content-type"] == "application/json"


@pytest.mark.parametrize("kwargs", [{"batch_size": 0}, {"flush_interval": 0}, {"max_retries": 0},
                                    {"max_queue": -1}, {"timeout": 0}, {"base_url": "ftp://x"}])
def test_bad_settings_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        AgentCost(api_key=API_KEY, **kwargs)


def test_the_key_is_never_shown(make_client: Any, fake_daemon: FakeDaemon,
                                caplog: pytest.LogCaptureFixture) -> None:
    fake_daemon.push(Reply(401, problem(401, "Not authenticated", "the key is revoked")))
    caplog.set_level(logging.DEBUG)
    ac = make_client()
    assert API_KEY not in repr(ac)
    assert API_KEY[:12] in repr(ac)
    ac.record(event())
    ac.flush(timeout=5)
    ac.close()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "agentcost" in text
    assert API_KEY not in text
    assert API_KEY[12:] not in text


# -- batching and timers ----------------------------------------------------------------


def test_250_records_make_3_requests_of_at_most_100(make_client: Any, fake_daemon: FakeDaemon) -> None:
    ac = make_client()
    ids = [ac.record(event(i)) for i in range(250)]
    result = ac.flush(timeout=10)
    assert (result.created, result.duplicate, result.rejected, result.failed, result.pending) == (250, 0, 0, 0, 0)
    assert result.ok
    sizes = [len(r.ids) for r in fake_daemon.requests]
    assert len(sizes) == 3
    assert max(sizes) <= 100
    assert sorted(sizes) == [50, 100, 100]
    assert fake_daemon.sent_ids() == ids  # every id once, in order
    assert len(set(ids)) == 250
    assert all(i.startswith("sdk_") for i in ids)


def test_flush_on_interval_without_calling_flush(make_client: Any, fake_daemon: FakeDaemon) -> None:
    ac = make_client(flush_interval=0.2)
    start = time.monotonic()
    ids = [ac.record(event(i)) for i in range(3)]
    requests = fake_daemon.wait_for(1, timeout=3)
    assert requests and requests[0].ids == ids
    assert requests[0].at - start >= 0.15  # the timer, not an immediate send
    # A later event starts its own timer.
    later = ac.record(event(9))
    assert fake_daemon.wait_for(2, timeout=3)[1].ids == [later]


def test_a_full_batch_is_sent_without_waiting_for_the_timer(make_client: Any, fake_daemon: FakeDaemon) -> None:
    ac = make_client(batch_size=10, flush_interval=30)
    for i in range(10):
        ac.record(event(i))
    assert len(fake_daemon.wait_for(1, timeout=3)[0].ids) == 10


def test_user_ids_are_kept_and_a_resend_is_a_duplicate(make_client: Any, fake_daemon: FakeDaemon) -> None:
    ac = make_client()
    assert ac.record(event(id="req-1")) == "req-1"
    assert ac.flush(timeout=5).created == 1
    ac.record(event(id="req-1"))
    result = ac.flush(timeout=5)
    assert (result.created, result.duplicate) == (0, 1)


def test_flush_with_nothing_queued_returns_at_once(make_client: Any, fake_daemon: FakeDaemon) -> None:
    ac = make_client()
    result = ac.flush(timeout=10)  # generous: a loaded CI machine must not turn this into a timeout
    assert result.ok and result.sent == 0, result
    assert fake_daemon.requests == []


# -- retries: the same ids every time --------------------------------------------------------


def test_429_waits_retry_after_and_resends_identical_ids(make_client: Any, fake_daemon: FakeDaemon) -> None:
    fake_daemon.push(Reply(429, problem(429, "Too many requests", "slow down"),
                           {"Retry-After": "1", "RateLimit": '"ingest";r=0;t=1'}))
    ac = make_client(backoff_base=0.0)
    ids = [ac.record(event(i)) for i in range(5)]
    result = ac.flush(timeout=10)
    first, second = fake_daemon.requests
    assert second.at - first.at >= 1.0
    assert first.ids == second.ids == ids
    assert first.raw == second.raw  # byte-identical
    assert (result.created, result.failed) == (5, 0)


def test_429_with_only_a_ratelimit_header_waits_its_t(make_client: Any, fake_daemon: FakeDaemon) -> None:
    fake_daemon.push(Reply(429, problem(429, "Too many requests", "slow down"),
                           {"RateLimit": '"ingest";r=0;t=1'}))
    ac = make_client(backoff_base=0.0)
    ac.record(event())
    assert ac.flush(timeout=10).created == 1
    first, second = fake_daemon.requests
    assert second.at - first.at >= 1.0
    assert first.ids == second.ids


def test_503_then_200(make_client: Any, fake_daemon: FakeDaemon) -> None:
    fake_daemon.push(Reply(503, problem(503, "Service unavailable", "store busy")),
                     Reply(503, problem(503, "Service unavailable", "store busy"), {"Retry-After": "0"}))
    ac = make_client()
    ids = [ac.record(event(i)) for i in range(3)]
    result = ac.flush(timeout=10)
    assert [r.ids for r in fake_daemon.requests] == [ids, ids, ids]
    assert (result.created, result.failed) == (3, 0)


def test_a_duplicate_answer_after_a_lost_reply_is_not_double_counted(make_client: Any,
                                                                      fake_daemon: FakeDaemon) -> None:
    # The first attempt is stored, but its answer is a 502 (a proxy lost it): the retry is a duplicate.
    def store_then_fail(request: Received) -> Reply:
        fake_daemon.answer(request)
        return Reply(502, problem(502, "Bad gateway", "upstream reset"))

    fake_daemon.push(store_then_fail)
    ac = make_client()
    ids = [ac.record(event(i)) for i in range(4)]
    result = ac.flush(timeout=10)
    assert (result.created, result.duplicate) == (0, 4)
    assert sorted(fake_daemon.stored) == sorted(ids)


def test_connection_refused_then_the_server_comes_up(make_client: Any) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    retrying = threading.Event()

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "retrying" in record.getMessage():
                retrying.set()

    watch = Watch()
    logger = logging.getLogger("agentcost_cli.sdk")
    logger.addHandler(watch)
    late = None
    try:
        ac = make_client(base_url=f"http://127.0.0.1:{port}", max_retries=30, backoff_base=0.05, backoff_cap=0.2)
        ids = [ac.record(event(i)) for i in range(3)]
        ac.flush(timeout=0)  # ask for a send now, without waiting
        assert retrying.wait(5), "the client never retried"
        late = FakeDaemon(port=port).start()
        result = ac.flush(timeout=10)
        assert (result.created, result.failed) == (3, 0)
        assert late.sent_ids() == ids
    finally:
        logger.removeHandler(watch)
        if late is not None:
            late.stop()


def test_retries_are_bounded_and_reported(make_client: Any, fake_daemon: FakeDaemon) -> None:
    for _ in range(3):
        fake_daemon.push(Reply(500, problem(500, "Internal error", "boom")))
    errors = Errors()
    ac = make_client(max_retries=3, on_error=errors)
    ids = [ac.record(event(i)) for i in range(2)]
    result = ac.flush(timeout=10)
    assert len(fake_daemon.requests) == 3  # max_retries attempts in all
    assert all(r.ids == ids for r in fake_daemon.requests)
    assert (result.created, result.failed) == (0, 2)
    assert [e.id for e in result.errors] == ids
    (error, events), = errors.calls
    assert isinstance(error, DeliveryError)
    assert "3 attempt" in str(error)
    assert [e["id"] for e in events] == ids


# -- answers that are not retried -------------------------------------------------------------


def test_413_splits_the_batch_in_halves(make_client: Any, fake_daemon: FakeDaemon) -> None:
    fake_daemon.push(Reply(413, problem(413, "Payload too large", "more than 60 events")))
    ac = make_client()
    ids = [ac.record(event(i)) for i in range(100)]
    result = ac.flush(timeout=10)
    assert [len(r.ids) for r in fake_daemon.requests] == [100, 50, 50]
    assert fake_daemon.requests[1].ids + fake_daemon.requests[2].ids == ids
    assert (result.created, result.rejected, result.failed) == (100, 0, 0)


def test_413_for_a_single_event_rejects_it(make_client: Any, fake_daemon: FakeDaemon) -> None:
    fake_daemon.push(*[Reply(413, problem(413, "Payload too large", "too big"))] * 3)
    errors = Errors()
    ac = make_client(on_error=errors)
    ids = [ac.record(event(i)) for i in range(2)]
    result = ac.flush(timeout=10)
    assert [len(r.ids) for r in fake_daemon.requests] == [2, 1, 1]
    assert result.rejected == 2
    assert {e.id for e in result.errors} == set(ids)
    assert all(e.status == 413 for e in result.errors)
    assert all(isinstance(err, EventsRejectedError) for err, _ in errors.calls)


def test_207_reports_the_rejected_items(make_client: Any, fake_daemon: FakeDaemon) -> None:
    def mixed(request: Received) -> Reply:
        ids = request.ids
        return Reply(207, {
            "successes": [{"id": i, "status": "created"} for i in ids[:3]] + [{"id": ids[4], "status": "duplicate"}],
            "errors": [
                {"id": ids[3], "status": 422, "detail": "unknown model field", "pointer": "/events/3/model"},
                {"status": 422, "detail": "timestamp has no offset", "pointer": "/events/5/timestamp"},
            ],
        })

    fake_daemon.push(mixed)
    errors = Errors()
    ac = make_client(on_error=errors)
    ids = [ac.record(event(i)) for i in range(6)]
    result = ac.flush(timeout=10)
    assert (result.created, result.duplicate, result.rejected, result.failed) == (3, 1, 2, 0)
    assert [(e.id, e.status, e.pointer) for e in result.errors] == [
        (ids[3], 422, "/events/3/model"), (ids[5], 422, "/events/5/timestamp")]
    assert result.errors[0].detail == "unknown model field"
    assert not result.ok
    (error, events), = errors.calls
    assert isinstance(error, EventsRejectedError)
    assert [e["id"] for e in events] == [ids[3], ids[5]]
    assert events[0]["input_tokens"] == 103
    assert len(fake_daemon.requests) == 1  # rejected items are not retried


def test_207_in_the_daemons_shape(make_client: Any, fake_daemon: FakeDaemon) -> None:
    """Several problems of one item come as several entries (with `index`); they make one error."""
    def mixed(request: Received) -> Reply:
        ids = request.ids
        return Reply(207, {"successes": [{"id": ids[0], "status": "created"}], "errors": [
            {"id": None, "index": 1, "status": 422, "detail": "model: required", "pointer": "/events/1/model"},
            {"id": None, "index": 1, "status": 422, "detail": "input_tokens: >= 0",
             "pointer": "/events/1/input_tokens"},
        ]})

    fake_daemon.push(mixed)
    ac = make_client(on_error=Errors())
    ids = [ac.record(event(i)) for i in range(2)]
    result = ac.flush(timeout=10)
    assert (result.created, result.rejected) == (1, 1)
    (error,) = result.errors
    assert (error.id, error.pointer) == (ids[1], "/events/1/model")
    assert error.detail == "model: required; input_tokens: >= 0"


def test_422_rejects_every_item(make_client: Any, fake_daemon: FakeDaemon) -> None:
    fake_daemon.push(Reply(422, problem(422, "Validation failed", "2 invalid events", errors=[
        {"detail": "model is required", "pointer": "/events/1/model"}])))
    errors = Errors()
    ac = make_client(on_error=errors)
    ids = [ac.record(event(i)) for i in range(2)]
    result = ac.flush(timeout=10)
    assert result.rejected == 2
    assert [(e.id, e.detail) for e in result.errors] == [(ids[0], "2 invalid events"), (ids[1], "model is required")]
    assert len(fake_daemon.requests) == 1
    assert len(errors.calls) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_are_not_retried(make_client: Any, fake_daemon: FakeDaemon, status: int) -> None:
    fake_daemon.push(Reply(status, problem(status, "Not authenticated", "the key is revoked")))
    errors = Errors()
    ac = make_client(on_error=errors)
    ids = [ac.record(event(i)) for i in range(3)]
    result = ac.flush(timeout=10)
    time.sleep(0.2)
    assert len(fake_daemon.requests) == 1
    assert (result.created, result.failed) == (0, 3)
    assert [e.status for e in result.errors] == [status] * 3
    (error, events), = errors.calls
    assert isinstance(error, AuthenticationError)
    assert error.status == status and error.detail == "the key is revoked"
    assert [e["id"] for e in events] == ids


def test_other_4xx_are_not_retried(make_client: Any, fake_daemon: FakeDaemon) -> None:
    fake_daemon.push(Reply(404, problem(404, "Not found", "no such route")))
    ac = make_client(on_error=Errors())
    ac.record(event())
    result = ac.flush(timeout=5)
    assert result.failed == 1 and len(fake_daemon.requests) == 1


def test_without_on_error_failures_are_logged(make_client: Any, fake_daemon: FakeDaemon,
                                              caplog: pytest.LogCaptureFixture) -> None:
    fake_daemon.push(Reply(401, problem(401, "Not authenticated", "bad key")))
    ac = make_client()
    ac.record(event())
    ac.flush(timeout=5)
    assert any(r.levelno == logging.ERROR and "not stored" in r.getMessage() for r in caplog.records)


def test_an_on_error_callback_that_raises_does_not_stop_the_client(make_client: Any,
                                                                   fake_daemon: FakeDaemon) -> None:
    def broken(error: Exception, events: list[dict[str, Any]]) -> None:
        raise RuntimeError("callback bug")

    fake_daemon.push(Reply(401, problem(401, "Not authenticated", "bad key")))
    ac = make_client(on_error=broken)
    ac.record(event())
    assert ac.flush(timeout=5).failed == 1
    ac.record(event(1))
    assert ac.flush(timeout=5).created == 1


# -- queue, close, context manager -------------------------------------------------------------


def test_a_full_queue_blocks_then_raises(make_client: Any, fake_daemon: FakeDaemon) -> None:
    fake_daemon.gate = threading.Event()  # hold answers: the first batch stays in flight
    ac = make_client(max_queue=5)
    for i in range(5):
        ac.record(event(i))
    assert fake_daemon.wait_for(1, timeout=2)  # a full queue is sent at once; the answer is held
    for i in range(5, 10):
        ac.record(event(i))
    start = time.monotonic()
    with pytest.raises(QueueFullError):
        ac.record(event(10), timeout=0.3)
    assert time.monotonic() - start >= 0.25
    fake_daemon.gate.set()
    ac.close()
    assert len(fake_daemon.sent_ids()) == 10


def test_a_full_queue_waits_for_room(make_client: Any, fake_daemon: FakeDaemon) -> None:
    fake_daemon.push(Reply(200, delay=0.3))
    ac = make_client(max_queue=2, batch_size=2, timeout=5)
    ids = [ac.record(event(i)) for i in range(7)]  # blocks while a batch is in flight
    ac.close()
    assert fake_daemon.sent_ids() == ids


def test_close_flushes_everything_and_is_idempotent(make_client: Any, fake_daemon: FakeDaemon) -> None:
    ac = make_client(flush_interval=60)
    ids = [ac.record(event(i)) for i in range(30)]
    assert fake_daemon.requests == []
    result = ac.close()
    assert result.created == 30
    assert fake_daemon.sent_ids() == ids
    assert ac.close().sent == 0
    with pytest.raises(ClientClosedError):
        ac.record(event())


def test_close_with_a_timeout_reports_what_it_could_not_send(make_client: Any, fake_daemon: FakeDaemon) -> None:
    fake_daemon.push(*[Reply(503, problem(503, "Service unavailable", "down"), {"Retry-After": "5"})] * 2)
    errors = Errors()
    ac = make_client(on_error=errors)
    ids = [ac.record(event(i)) for i in range(3)]
    start = time.monotonic()
    result = ac.close(timeout=0.5)
    assert time.monotonic() - start < 3
    assert result.failed == 3
    (error, events), = errors.calls
    assert isinstance(error, DeliveryError)
    assert [e["id"] for e in events] == ids


def test_context_manager_closes(fake_daemon: FakeDaemon) -> None:
    with AgentCost(API_KEY, fake_daemon.base_url, flush_interval=60) as ac:
        event_id = ac.record(event())
    assert fake_daemon.sent_ids() == [event_id]
    with pytest.raises(ClientClosedError):
        ac.record(event())


def test_records_from_many_threads(make_client: Any, fake_daemon: FakeDaemon) -> None:
    ac = make_client(batch_size=50, flush_interval=0.05)
    ids: list[str] = []
    lock = threading.Lock()

    def work(t: int) -> None:
        for i in range(100):
            event_id = ac.record(event(i, user=f"t{t}"))
            with lock:
                ids.append(event_id)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = ac.flush(timeout=10)
    assert sorted(fake_daemon.sent_ids()) == sorted(ids)
    assert len(ids) == 800
    assert max(len(r.ids) for r in fake_daemon.requests) <= 50
    assert result.created == 800


def test_project_default_applies_to_events_without_one(make_client: Any, fake_daemon: FakeDaemon) -> None:
    ac = make_client(project="web")
    ac.record(event())
    ac.record(event(1, project="batch-jobs"))
    ac.flush(timeout=5)
    assert [e["project"] for e in fake_daemon.requests[0].events] == ["web", "batch-jobs"]
