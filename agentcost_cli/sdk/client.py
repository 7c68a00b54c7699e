"""`AgentCost`: record usage events from an application and send them to an agentcost daemon.

`record()` validates an event, gives it an id and queues it; one background daemon
thread sends the queue in batches (`POST {base_url}/v1/events`) when `batch_size`
events wait or `flush_interval` seconds after the oldest one was queued. A batch
is retried with the *same* bytes, hence the same event ids, so the server counts
a retried event once (it answers `duplicate` for an id it has). Nothing is dropped
silently: what cannot be delivered or is refused goes to `on_error` (or the log)
and into the counts `flush()` returns.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from .. import __version__
from . import retry
from .errors import (
    APIError,
    AuthenticationError,
    ClientClosedError,
    ConfigurationError,
    DeliveryError,
    EventError,
    EventsRejectedError,
    FlushResult,
    QueueFullError,
)
from .events import encode, native_event

if TYPE_CHECKING:
    from ..models import UsageEvent

log = logging.getLogger("agentcost_cli.sdk")

DEFAULT_URL = "http://127.0.0.1:8787"
EVENTS_PATH = "/v1/events"
MAX_BATCH_BYTES = 1_000_000  # the daemon's default body limit; a smaller one is handled by splitting on 413
_ENVELOPE = (b'{"events":[', b"]}")
_SUCCESS = frozenset({200, 201, 202, 207})

ErrorCallback = Callable[[Exception, list[dict[str, Any]]], None]


@dataclass(slots=True)
class _Item:
    id: str
    event: dict[str, Any]
    data: bytes  # the event's JSON, encoded once: every retry sends the same bytes
    queued_at: float = 0.0  # monotonic


class AgentCost:
    """A client for one project API key. Thread-safe; create one per process and reuse it.

    - `api_key`, `base_url`: default to `AGENTCOST_API_KEY` and `AGENTCOST_URL` (else
      http://127.0.0.1:8787, the daemon's default address). Events go to `{base_url}/v1/events`.
    - `project`: set on events that name none.
    - `batch_size`: events per request (the daemon accepts up to 1000 or 1 MB by default).
    - `flush_interval`: the longest an event waits in the queue before it is sent (seconds).
    - `max_queue`: events held at most; beyond it `record()` blocks up to `timeout`, then raises.
    - `timeout`: seconds per HTTP request, and how long `record()` waits for room in a full queue.
    - `max_retries`: attempts per batch, the first one included (429/503 wait `Retry-After` or the
      `RateLimit` header's `t`; network errors, 408 and other 5xx back off exponentially with full
      jitter between 0 and min(`backoff_cap`, `backoff_base` * 2**n) seconds).
    - `on_error(exc, events)`: called from the sender thread with the events that were rejected
      (EventsRejectedError) or could not be delivered (AuthenticationError, APIError,
      DeliveryError). Without it, they are logged at ERROR on the `agentcost_cli.sdk` logger.
    - `shutdown_timeout`: how long `close()` (and the flush at interpreter exit) may take.
    - `transport`: an httpx transport, for tests or proxies.

    >>> ac = AgentCost()  # doctest: +SKIP
    >>> ac.record({"model": "gpt-4o", "input_tokens": 1200, "output_tokens": 80})  # doctest: +SKIP
    >>> ac.record_openai(client.chat.completions.create(...), user="alice")  # doctest: +SKIP
    >>> ac.close()  # doctest: +SKIP
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        project: str | None = None,
        batch_size: int = 100,
        flush_interval: float = 1.0,
        max_queue: int = 10_000,
        timeout: float = 10.0,
        max_retries: int = 5,
        on_error: ErrorCallback | None = None,
        backoff_base: float = retry.BACKOFF_BASE,
        backoff_cap: float = retry.BACKOFF_CAP,
        shutdown_timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("AGENTCOST_API_KEY")
        if not key or not key.strip():
            raise ConfigurationError(
                "no agentcost API key: pass AgentCost(api_key=...) or set AGENTCOST_API_KEY "
                "(a project key, ac_live_..., from `agentcost keys create`)")
        key = key.strip()
        if any(c.isspace() for c in key):
            raise ConfigurationError("the API key contains whitespace; check how it was copied")
        url = (base_url or os.environ.get("AGENTCOST_URL") or DEFAULT_URL).strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError(f"base_url must be an http:// or https:// URL, got {url!r}")
        _positive("batch_size", batch_size, integer=True)
        _positive("max_queue", max_queue, integer=True)
        _positive("max_retries", max_retries, integer=True)
        _positive("flush_interval", flush_interval)
        _positive("timeout", timeout)
        _positive("shutdown_timeout", shutdown_timeout)
        if backoff_base < 0 or backoff_cap < 0:
            raise ConfigurationError("backoff_base and backoff_cap must not be negative")

        self.base_url = url
        self.project = project
        self.batch_size = batch_size
        self.flush_interval = float(flush_interval)
        self.max_queue = max_queue
        self.timeout = float(timeout)
        self.max_retries = max_retries  # attempts per batch, the first one included
        self.on_error = on_error
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.shutdown_timeout = shutdown_timeout
        self.key_hint = key[:12]  # `ac_live_XXXX`, what `agentcost keys list` shows; never the whole key
        self._endpoint = url + EVENTS_PATH
        self._http = httpx.Client(
            headers={
                "Authorization": f"Bearer {key}",
                "Content-Type": "application/json",
                "Accept": "application/json, application/problem+json",
                "User-Agent": f"agentcost-sdk/{__version__} httpx/{httpx.__version__}",
            },
            timeout=self.timeout,
            transport=transport,
        )
        self._cond = threading.Condition()
        self._queue: deque[_Item] = deque()
        self._enqueued = 0  # events ever queued
        self._taken = 0  # events the sender took from the queue
        self._done = 0  # events fully handled (acknowledged, rejected or failed)
        self._flush_upto = 0  # send without waiting until _taken reaches this
        self._result = FlushResult()  # outcomes since the last flush()
        self._closed = False
        self._deadline: float | None = None  # monotonic; set by close(timeout)
        self._worker: threading.Thread | None = None
        _LIVE.add(self)
        log.debug("agentcost client for %s with key %s...", self._endpoint, self.key_hint)

    def __repr__(self) -> str:
        return f"AgentCost(base_url={self.base_url!r}, key={self.key_hint}..., closed={self._closed})"

    # -- recording ---------------------------------------------------------------

    def record(self, event: Mapping[str, Any] | UsageEvent, *, timeout: float | None = None) -> str:
        """Validate and queue one native event (docs/events.md); returns its id.

        `model` is required; `timestamp` defaults to now (UTC); an `id` is generated (`sdk_<hex>`)
        unless given. While the queue is full, blocks up to `timeout` seconds (default: the client's
        `timeout`), then raises QueueFullError. Raises InvalidEventError for an invalid event and
        ClientClosedError after close().
        """
        native = native_event(event, default_project=self.project)
        item = _Item(native["id"], native, encode(native))
        with self._cond:
            if self._closed:
                raise ClientClosedError("record() after close()")
            if len(self._queue) >= self.max_queue:
                self._wait_for_room(self.timeout if timeout is None else timeout)
            item.queued_at = time.monotonic()
            self._queue.append(item)
            self._enqueued += 1
            self._ensure_worker()
            if len(self._queue) == 1 or len(self._queue) >= min(self.batch_size, self.max_queue):
                self._cond.notify_all()
        return item.id

    def record_openai(self, response: Any, **extra: Any) -> list[str]:
        """Record the usage of an OpenAI response (Chat Completions, Responses, the last stream
        chunk, a Batch output line): the SDK's pydantic object, its dict or its JSON.

        `extra` sets id, project, user, session, agent, key_id, tags, price_context, latency_ms,
        timestamp or metadata. Returns the ids queued ([] for a chunk without usage)."""
        return self._record_provider("openai", response, extra)

    def record_anthropic(self, response: Any, **extra: Any) -> list[str]:
        """Record the usage of an Anthropic Messages response (or a Message Batches result line).
        Messages carry no time: the event is stamped now unless `timestamp=` is given."""
        return self._record_provider("anthropic", response, extra)

    def record_gemini(self, response: Any, **extra: Any) -> list[str]:
        """Record the usage of a Gemini / Vertex AI `generateContent` response (google-genai's
        object, its dict in camelCase or snake_case, or its JSON)."""
        return self._record_provider("gemini", response, extra)

    def _record_provider(self, fmt: str, response: Any, extra: dict[str, Any]) -> list[str]:
        from .providers import provider_events

        events = provider_events(fmt, response, **extra)
        natives = [native_event(e, default_project=self.project) for e in events]  # all valid before any is queued
        return [self.record(e) for e in natives]

    # -- flushing and closing ---------------------------------------------------

    def flush(self, timeout: float | None = None) -> FlushResult:
        """Send everything recorded so far and wait for the answers (at most `timeout` seconds).

        Returns the outcomes since the previous flush(), including batches the background thread
        sent on its own; `pending` counts events recorded before this call but not handled in time.
        """
        if threading.current_thread() is self._worker:
            log.warning("flush() called from the sender thread (an on_error callback?): not waiting")
            with self._cond:
                return self._take_result(0)
        end = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._enqueued
            self._flush_upto = max(self._flush_upto, target)
            self._cond.notify_all()
            while self._done < target and self._ensure_worker():  # (re)starts a sender that died
                remaining = None if end is None else end - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._cond.wait(1.0 if remaining is None else min(remaining, 1.0))
            no_sender = self._done < target and not self._ensure_worker()
        if no_sender:  # interpreter shutdown: no thread can start, so send from this one
            self._drain_here()
        with self._cond:
            return self._take_result(max(0, target - self._done))

    def close(self, timeout: float | None = None) -> FlushResult:
        """Flush, then stop the sender thread and release the connection. Idempotent.

        Waits at most `timeout` seconds (default: `shutdown_timeout`, 30 s), retries included;
        events still unsent then are reported to on_error as failed (never dropped silently).
        Called by `with AgentCost(...)` and at interpreter exit."""
        if timeout is None:
            timeout = self.shutdown_timeout
        with self._cond:
            if self._closed:
                return FlushResult()
            self._closed = True
            self._deadline = time.monotonic() + timeout
            self._cond.notify_all()
            worker = self._worker
        _LIVE.discard(self)
        if worker is not None and worker.is_alive() and worker is not threading.current_thread():
            worker.join(min(timeout + self.timeout, threading.TIMEOUT_MAX))
        if worker is None or not worker.is_alive():
            self._drain_here()  # the thread never started (or died): send from this thread
        with self._cond:
            stuck = len(self._queue)
            result = self._take_result(self._enqueued - self._done)
        if stuck:
            log.error("agentcost: %d event(s) still unsent when close() gave up", stuck)
        if worker is None or not worker.is_alive():
            self._http.close()
        return result

    def __enter__(self) -> AgentCost:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def queued(self) -> int:
        """Events waiting to be sent (not counting a batch in flight)."""
        return len(self._queue)

    # -- the sender ---------------------------------------------------------------

    def _ensure_worker(self) -> bool:
        """Start the sender thread if it is not running. Call with the lock held. False when no
        thread can be started (interpreter shutdown, or after close())."""
        if self._worker is not None and self._worker.is_alive():
            return True
        if self._closed:
            return False
        worker = threading.Thread(target=self._run, name="agentcost-sdk-sender", daemon=True)
        try:
            worker.start()
        except RuntimeError:  # "can't create new thread at interpreter shutdown"
            return False
        self._worker = worker
        return True

    def _wait_for_room(self, timeout: float) -> None:
        """Block (lock held) until the queue has room, up to `timeout` seconds."""
        if threading.current_thread() is self._worker:
            raise QueueFullError(f"the queue is full ({self.max_queue} events) and record() was called "
                                 "from the sender thread")
        self._ensure_worker()
        self._cond.notify_all()
        end = time.monotonic() + timeout
        while len(self._queue) >= self.max_queue:
            remaining = end - time.monotonic()
            if remaining <= 0:
                raise QueueFullError(
                    f"the queue stayed full ({self.max_queue} events) for {timeout:g}s: the server at "
                    f"{self.base_url} is not keeping up or not reachable")
            self._cond.wait(remaining)
            if self._closed:
                raise ClientClosedError("record() after close()")

    def _should_send(self, now: float) -> bool:
        queued = len(self._queue)
        return bool(queued) and (
            queued >= min(self.batch_size, self.max_queue)
            or self._closed
            or self._taken < self._flush_upto
            or now >= self._queue[0].queued_at + self.flush_interval  # the oldest has waited long enough
        )

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    now = time.monotonic()
                    if self._should_send(now):
                        break
                    if self._closed and not self._queue:
                        return
                    wait = self._queue[0].queued_at + self.flush_interval - now if self._queue else None
                    self._cond.wait(wait)
                batch = self._take()
            self._deliver(batch)

    def _drain_here(self) -> None:
        """Send everything queued from the calling thread (no sender thread available)."""
        while True:
            with self._cond:
                if not self._queue:
                    return
                batch = self._take()
            self._deliver(batch)

    def _take(self) -> list[_Item]:
        """Up to batch_size events and MAX_BATCH_BYTES of body from the queue (lock held)."""
        batch: list[_Item] = []
        size = len(_ENVELOPE[0]) + len(_ENVELOPE[1])
        while self._queue and len(batch) < self.batch_size:
            item_size = len(self._queue[0].data) + 1
            if batch and size + item_size > MAX_BATCH_BYTES:
                break
            batch.append(self._queue.popleft())
            size += item_size
        self._taken += len(batch)
        self._cond.notify_all()  # room for record() calls waiting on a full queue
        return batch

    def _deliver(self, batch: list[_Item]) -> None:
        outcome = FlushResult()
        try:
            self._send(batch, outcome)
        except Exception as exc:  # a bug must not kill the thread and hang flush()
            log.exception("agentcost: unexpected error sending %d event(s)", len(batch))
            counted = outcome.created + outcome.duplicate + outcome.rejected + outcome.failed
            reported = {e.id for e in outcome.errors}
            rest = [i for i in batch if i.id not in reported][: max(0, len(batch) - counted)]
            self._fail(rest, DeliveryError(f"unexpected error: {exc!r}"), outcome, cause=exc)
        with self._cond:
            self._result.merge(outcome)
            self._done += len(batch)
            self._cond.notify_all()

    def _send(self, items: list[_Item], outcome: FlushResult) -> None:
        """POST one batch, retrying transient failures with the same body; record the outcome."""
        body = _ENVELOPE[0] + b",".join(i.data for i in items) + _ENVELOPE[1]
        attempt = 0
        while True:
            attempt += 1
            request_timeout = self._request_timeout()
            if request_timeout is None:
                self._fail(items, DeliveryError("close() timeout reached before the events could be sent"), outcome)
                return
            error: Exception
            wait: float | None = None
            log.debug("agentcost: POST %s with %d event(s), attempt %d", self._endpoint, len(items), attempt)
            try:
                response = self._http.post(self._endpoint, content=body, timeout=request_timeout)
            except httpx.RequestError as exc:  # connect/read/write errors, timeouts, undecodable answers
                error = exc
            else:
                status = response.status_code
                if status in _SUCCESS:
                    self._read_results(items, response, outcome)
                    return
                if status == 413:
                    if len(items) > 1:
                        half = len(items) // 2
                        log.info("agentcost: batch of %d too large (413), sending it in halves", len(items))
                        self._send(items[:half], outcome)
                        self._send(items[half:], outcome)
                    else:
                        self._reject_all(items, response, outcome)
                    return
                if status == 422:
                    self._reject_all(items, response, outcome)
                    return
                problem = _api_error(response)
                if status in (401, 403):
                    self._fail(items, problem, outcome)
                    return
                if not retry.is_retryable(status):
                    self._fail(items, problem, outcome)
                    return
                error = problem
                if status in retry.SERVER_WAIT_STATUSES:
                    wait = problem.retry_after
            if attempt >= self.max_retries:
                self._fail(items, DeliveryError(f"gave up after {attempt} attempt(s): {error}"), outcome,
                           cause=error)
                return
            if wait is None:
                wait = retry.backoff(attempt, base=self.backoff_base, cap=self.backoff_cap)
            log.warning("agentcost: %s; retrying %d event(s) in %.2fs (attempt %d of %d)",
                        _describe(error), len(items), wait, attempt + 1, self.max_retries)
            if not self._sleep(wait):
                self._fail(items, DeliveryError(f"close() timeout reached while retrying: {error}"), outcome,
                           cause=error)
                return

    def _request_timeout(self) -> float | None:
        if self._deadline is None:
            return self.timeout
        remaining = self._deadline - time.monotonic()
        return None if remaining <= 0 else min(self.timeout, remaining)

    def _sleep(self, seconds: float) -> bool:
        """Wait before a retry; False when close(timeout)'s deadline would pass first."""
        end = time.monotonic() + seconds
        with self._cond:
            while True:
                if self._deadline is not None and end > self._deadline:
                    return False
                remaining = end - time.monotonic()
                if remaining <= 0:
                    return True
                self._cond.wait(remaining)  # close() wakes us to re-check its deadline

    # -- outcomes -------------------------------------------------------------------

    def _read_results(self, items: list[_Item], response: httpx.Response, outcome: FlushResult) -> None:
        payload = _json(response)
        by_id = {i.id: i for i in items}
        acknowledged: set[str] = set()
        rejected = _item_errors(payload, items, default_status=422)
        for entry in _entries(payload, "successes"):
            item_id = entry.get("id")
            if item_id in by_id and item_id not in acknowledged and item_id not in rejected:
                acknowledged.add(item_id)
                if entry.get("status") == "duplicate":
                    outcome.duplicate += 1
                else:
                    outcome.created += 1
        # Items the answer does not list were acknowledged as a whole (a 2xx without per-item results).
        outcome.created += sum(1 for i in items if i.id not in acknowledged and i.id not in rejected)
        if rejected:
            errors = list(rejected.values())
            outcome.rejected += len(errors)
            outcome.errors.extend(errors)
            self._report(EventsRejectedError(errors), [by_id[e.id].event for e in errors])

    def _reject_all(self, items: list[_Item], response: httpx.Response, outcome: FlushResult) -> None:
        """422 (every item invalid) or 413 for a single event: refused for good, per item where the
        problem's `errors` say which."""
        problem = _api_error(response)
        details = _item_errors(_json(response), items, default_status=response.status_code)
        errors = [details.get(i.id) or EventError(i.id, response.status_code, problem.detail or problem.title)
                  for i in items]
        outcome.rejected += len(errors)
        outcome.errors.extend(errors)
        self._report(EventsRejectedError(errors), [i.event for i in items])

    def _fail(self, items: list[_Item], error: Exception, outcome: FlushResult,
              cause: BaseException | None = None) -> None:
        if cause is not None and error.__cause__ is None:
            error.__cause__ = cause
        status = error.status if isinstance(error, APIError) else None
        outcome.failed += len(items)
        outcome.errors.extend(EventError(i.id, status, str(error)) for i in items)
        self._report(error, [i.event for i in items])

    def _report(self, error: Exception, events: list[dict[str, Any]]) -> None:
        if self.on_error is None:
            log.error("agentcost: %d event(s) not stored: %s", len(events), error)
            return
        log.debug("agentcost: %d event(s) not stored: %s", len(events), error)
        try:
            self.on_error(error, events)
        except Exception:
            log.exception("agentcost: the on_error callback raised")

    def _take_result(self, pending: int) -> FlushResult:
        result, self._result = self._result, FlushResult()
        result.pending = pending
        return result


# -- helpers ----------------------------------------------------------------------


def _positive(name: str, value: float, *, integer: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int)):
        raise ConfigurationError(f"{name} must be a {'whole ' if integer else ''}number, got {value!r}")
    if not value > 0:
        raise ConfigurationError(f"{name} must be positive, got {value!r}")


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _entries(payload: Any, key: str) -> list[Mapping[str, Any]]:
    entries = payload.get(key) if isinstance(payload, Mapping) else None
    return [e for e in entries if isinstance(e, Mapping)] if isinstance(entries, list) else []


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _item_errors(payload: Any, items: list[_Item], *, default_status: int) -> dict[str, EventError]:
    """The answer's per-item `errors`, one EventError per item (several problems of one item are
    joined), in the order the answer lists them."""
    found: dict[str, EventError] = {}
    ids = {i.id for i in items}
    for entry in _entries(payload, "errors"):
        item_id = _item_id(entry, items, ids)
        if item_id is None:
            continue
        detail = str(entry.get("detail") or entry.get("title") or "rejected")
        pointer = entry.get("pointer") if isinstance(entry.get("pointer"), str) and entry.get("pointer") else None
        if item_id in found:
            first = found[item_id]
            found[item_id] = EventError(item_id, first.status, f"{first.detail}; {detail}", first.pointer or pointer)
        else:
            found[item_id] = EventError(item_id, _int(entry.get("status")) or default_status, detail, pointer)
    return found


def _item_id(entry: Mapping[str, Any], items: list[_Item], ids: set[str]) -> str | None:
    """Which item a per-item error is about: its `id`, else its `index`, else the index in its
    pointer (`/events/3/model`)."""
    item_id = entry.get("id")
    if isinstance(item_id, str) and item_id in ids:
        return item_id
    index = _int(entry.get("index"))
    if index is not None and 0 <= index < len(items):
        return items[index].id
    pointer = entry.get("pointer")
    if isinstance(pointer, str):
        parts = pointer.split("/")
        if len(parts) > 2 and parts[1] == "events" and parts[2].isdigit() and int(parts[2]) < len(items):
            return items[int(parts[2])].id
    return None


def _api_error(response: httpx.Response) -> APIError:
    payload = _json(response)
    problem = payload if isinstance(payload, Mapping) else {}
    status = response.status_code
    title = str(problem.get("title") or response.reason_phrase or "error")
    detail = str(problem.get("detail") or "")
    kind = problem.get("type") if isinstance(problem.get("type"), str) else None
    wait = retry.server_wait(response.headers) if status in retry.SERVER_WAIT_STATUSES else None
    cls = AuthenticationError if status in (401, 403) else APIError
    return cls(status, title, detail, type=kind, retry_after=wait, body=payload)


def _describe(error: Exception) -> str:
    if isinstance(error, httpx.TransportError):
        return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return str(error)


# -- interpreter exit --------------------------------------------------------------

_LIVE: weakref.WeakSet[AgentCost] = weakref.WeakSet()


@atexit.register
def _close_all_at_exit() -> None:
    """Flush every open client when the interpreter exits (the sender is a daemon thread)."""
    for client in list(_LIVE):
        try:
            client.close()
        except Exception:
            log.exception("agentcost: flushing at exit failed")
