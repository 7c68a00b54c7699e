"""The alerting half of the Store contract (store/alerts.py), run on each backend (conftest.py).

The atomic operations are tested for what makes them atomic: two dispatchers (two store
objects on one database, in two threads) never lease the same message, and two daemons
never both run one slot of a job.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from agentcost_cli.errors import Conflict
from agentcost_cli.store.alerts import OutboxQuery
from agentcost_cli.store.base import Store

from .conftest import Location


def t(minute: int, hour: int = 12) -> str:
    """Canonical UTC text on one fixed day."""
    return f"2026-11-20T{hour:02d}:{minute:02d}:00.000000Z"


NOW = t(0)


def _project(store: Store, slug: str) -> int:
    return store.insert_project({"slug": slug, "name": slug.upper(), "created_utc": NOW})


def _channel(store: Store, name: str, **fields: Any) -> int:
    return store.insert_channel({"name": name, "kind": "webhook", "target_sealed": f"sealed-{name}",
                                 "target_hint": "https://example.com/…", "created_utc": NOW, **fields})


def _budget(store: Store, name: str, **fields: Any) -> int:
    return store.insert_budget({"name": name, "scope_kind": "store", "amount_nanos": 10**9, "period": "month",
                                "zone": "UTC", "thresholds": "50,100", "channels_json": "[]", "created_utc": NOW,
                                "updated_utc": NOW, **fields})


def _rule(store: Store, name: str, **fields: Any) -> int:
    return store.insert_rule({"name": name, "expression": "cost_1h > 5", "channels_json": "[]",
                              "created_utc": NOW, "updated_utc": NOW, **fields})


def _alert(store: Store, key: str, **fields: Any) -> int | None:
    row = {"dedupe_key": key, "kind": "budget.threshold", "created_utc": NOW, "severity": "warning",
           "summary": f"alert {key}", "data_json": "{}", **fields}
    return store.insert_alert(row)


def _message(store: Store, key: str, **fields: Any) -> int:
    return store.insert_outbox({"created_utc": NOW, "channel": "webhook", "recipient": "hook", "template": "alert",
                                "subject": f"subject {key}", "payload_sealed": "sealed", "idempotency_key": key,
                                **fields})


def _attempt(message_id: int, attempt_no: int, **fields: Any) -> dict[str, Any]:
    return {"outbox_id": message_id, "attempt_no": attempt_no, "started_utc": NOW, "provider": "webhook",
            "outcome": "sent", **fields}


# -- channels, budgets, rules ---------------------------------------------------
def test_channels_are_unique_by_name_listed_with_their_project_and_updatable(backend: Store) -> None:
    pid = _project(backend, "web")
    a = _channel(backend, "zeta-hook", project_id=pid)
    b = _channel(backend, "alpha-mail", kind="email")
    assert a != b
    with pytest.raises(Conflict):
        _channel(backend, "alpha-mail")
    listed = backend.list_channels()
    assert [(c["id"], c["name"], c["project"]) for c in listed] == [(b, "alpha-mail", None), (a, "zeta-hook", "web")]
    assert listed[0]["status"] == "active"  # the column default
    row = backend.get_channel(a)
    assert row is not None and (row["name"], row["kind"], row["project_id"]) == ("zeta-hook", "webhook", pid)
    found = backend.find_channel("alpha-mail")
    assert found is not None and found["id"] == b
    assert backend.find_channel("nope") is None and backend.get_channel(b + a + 100) is None

    backend.update_channel(a, {"status": "disabled", "disabled_reason": "410 Gone", "disabled_utc": t(5)})
    row = backend.get_channel(a)
    assert row is not None and (row["status"], row["disabled_reason"], row["disabled_utc"]) == \
        ("disabled", "410 Gone", t(5))
    with pytest.raises(Conflict):
        backend.update_channel(a, {"name": "alpha-mail"})
    with pytest.raises(ValueError):
        backend.update_channel(a, {"name; DROP TABLE channels": "x"})
    with pytest.raises(ValueError):
        _channel(backend, "bad", bogus=1)


def test_deleting_a_channel_keeps_its_messages(backend: Store) -> None:
    cid = _channel(backend, "hook")
    mid = _message(backend, "m1", channel_id=cid)
    assert backend.query_outbox(OutboxQuery())[0]["channel_name"] == "hook"
    backend.delete_channel(cid)
    assert backend.get_channel(cid) is None and backend.list_channels() == []
    message = backend.get_outbox(mid)
    assert message is not None and message["channel_id"] is None
    assert backend.query_outbox(OutboxQuery())[0]["channel_name"] is None


@pytest.mark.parametrize("kind", ["budget", "rule"])
def test_budgets_and_rules_crud_and_conflict(backend: Store, kind: str) -> None:
    insert: Callable[..., int] = _budget if kind == "budget" else _rule
    find = backend.find_budget if kind == "budget" else backend.find_rule
    listing = backend.list_budgets if kind == "budget" else backend.list_rules
    update = backend.update_budget if kind == "budget" else backend.update_rule
    delete = backend.delete_budget if kind == "budget" else backend.delete_rule

    pid = _project(backend, "api")
    first = insert(backend, "monthly", project_id=pid)
    second = insert(backend, "daily")
    with pytest.raises(Conflict):
        insert(backend, "daily")
    assert [(r["id"], r["name"], r["project"]) for r in listing()] == [(second, "daily", None),
                                                                      (first, "monthly", "api")]
    update(first, {"channels_json": '["hook"]', "updated_utc": t(9)})
    row = find("monthly")
    assert row is not None and (row["channels_json"], row["updated_utc"]) == ('["hook"]', t(9))
    with pytest.raises(Conflict):
        update(first, {"name": "daily"})
    with pytest.raises(ValueError):
        update(first, {"no_such_column": 1})
    update(first, {"name": "renamed"})
    assert find("monthly") is None and find("renamed") is not None
    delete(second)
    assert find("daily") is None and [r["name"] for r in listing()] == ["renamed"]


def test_budget_and_rule_defaults(backend: Store) -> None:
    _budget(backend, "b")
    _rule(backend, "r")
    budget, rule = backend.find_budget("b"), backend.find_rule("r")
    assert budget is not None and budget["forecast"] == 1
    assert rule is not None and rule["enabled"] == 1


def test_deleting_a_project_deletes_its_channels_budgets_and_rules(backend: Store) -> None:
    pid = _project(backend, "gone")
    _channel(backend, "c", project_id=pid)
    _budget(backend, "b", project_id=pid)
    _rule(backend, "r", project_id=pid)
    _budget(backend, "store-wide")
    backend.delete_project(pid)
    assert backend.list_channels() == [] and backend.list_rules() == []
    assert [b["name"] for b in backend.list_budgets()] == ["store-wide"]


# -- mutes -------------------------------------------------------------------------
def test_mutes_are_replaced_and_expire(backend: Store) -> None:
    backend.set_mute({"target": "budget:monthly", "until_utc": t(30), "reason": "known spike", "created_utc": NOW})
    backend.set_mute({"target": "all", "until_utc": t(10), "created_utc": NOW})
    assert [(m["target"], m["until_utc"]) for m in backend.list_mutes(NOW)] == [("all", t(10)),
                                                                                ("budget:monthly", t(30))]
    assert [m["target"] for m in backend.list_mutes(t(10))] == ["budget:monthly"]  # until is exclusive
    assert backend.list_mutes(t(30)) == []

    # Setting again replaces the whole mute (the reason not given is gone).
    backend.set_mute({"target": "budget:monthly", "until_utc": t(45), "created_utc": t(1)})
    [mute] = backend.list_mutes(t(40))
    assert (mute["target"], mute["until_utc"], mute["reason"], mute["created_utc"]) == \
        ("budget:monthly", t(45), None, t(1))

    assert backend.delete_mute("budget:monthly") is True
    assert backend.delete_mute("budget:monthly") is False
    assert [m["target"] for m in backend.list_mutes(NOW)] == ["all"]
    with pytest.raises(ValueError):
        backend.set_mute({"target": "all", "until_utc": t(1), "created_utc": NOW, "junk": 1})


# -- alerts --------------------------------------------------------------------------
def test_an_alert_is_inserted_once_per_dedupe_key(backend: Store) -> None:
    first = _alert(backend, "budget:monthly:2026-11:50", summary="first")
    assert first is not None
    assert _alert(backend, "budget:monthly:2026-11:50", summary="second") is None  # no exception
    assert backend.alert_exists("budget:monthly:2026-11:50") is True
    assert backend.alert_exists("budget:monthly:2026-11:100") is False
    row = backend.get_alert(first)
    assert row is not None and (row["summary"], row["muted"]) == ("first", 0)
    assert len(backend.list_alerts()) == 1
    other = _alert(backend, "budget:monthly:2026-11:100")
    assert other is not None and other != first
    assert backend.get_alert(first + other + 100) is None


def test_list_alerts_filters_and_pages(backend: Store) -> None:
    p1, p2 = _project(backend, "p1"), _project(backend, "p2")
    ids = {
        "a": _alert(backend, "a", kind="rule_fired", project_id=p1, created_utc=t(1)),
        "b": _alert(backend, "b", kind="ruleXfired", project_id=p2, created_utc=t(2)),
        "c": _alert(backend, "c", kind="budget.threshold", created_utc=t(3)),
        "d": _alert(backend, "d", kind="RULE_other", project_id=p1, created_utc=t(4)),
        "e": _alert(backend, "e", kind="anomaly", project_id=p2, created_utc=t(5)),
    }
    name = {v: k for k, v in ids.items()}

    def names(rows: list[dict[str, Any]]) -> list[str]:
        return [name[r["id"]] for r in rows]

    everything = backend.list_alerts()
    assert names(everything) == ["e", "d", "c", "b", "a"]  # newest first
    assert [r["project"] for r in everything] == ["p2", "p1", None, "p2", "p1"]
    assert names(backend.list_alerts(since=t(3))) == ["e", "d", "c"]
    # "_" is literal, not LIKE's any-character; the match ignores ASCII case on both backends.
    assert names(backend.list_alerts(kind_prefix="rule_")) == ["d", "a"]
    assert names(backend.list_alerts(kind_prefix="budget.")) == ["c"]
    assert names(backend.list_alerts(project_ids=(p1,))) == ["d", "a"]
    assert names(backend.list_alerts(project_ids=(p1, p2))) == ["e", "d", "b", "a"]  # store-wide left out
    assert backend.list_alerts(project_ids=()) == []
    page = backend.list_alerts(limit=2)
    assert names(page) == ["e", "d"]
    page = backend.list_alerts(limit=2, before_id=page[-1]["id"])
    assert names(page) == ["c", "b"]
    page = backend.list_alerts(limit=2, before_id=page[-1]["id"])
    assert names(page) == ["a"]
    assert names(backend.list_alerts(since=t(2), project_ids=(p2,), kind_prefix="rule")) == ["b"]


# -- outbox: listing ------------------------------------------------------------------
def test_query_outbox_filters(backend: Store) -> None:
    hook = _channel(backend, "hook")
    mail = _channel(backend, "mail", kind="email")
    ids = {
        "pending": _message(backend, "pending", channel_id=hook, created_utc=t(1)),
        "sent": _message(backend, "sent", status="sent", channel_id=hook, created_utc=t(2)),
        "dead": _message(backend, "dead", status="dead", channel="email", channel_id=mail, created_utc=t(3)),
        "unknown": _message(backend, "unknown", status="unknown", created_utc=t(4)),
        "failed": _message(backend, "failed", status="failed", channel="email", channel_id=mail, created_utc=t(5)),
    }
    name = {v: k for k, v in ids.items()}

    def names(query: OutboxQuery) -> list[str]:
        return [name[r["id"]] for r in backend.query_outbox(query)]

    assert names(OutboxQuery()) == ["failed", "unknown", "dead", "sent", "pending"]
    assert names(OutboxQuery(status="failed")) == ["failed", "unknown", "dead"]
    assert names(OutboxQuery(status="dead")) == ["dead"]
    assert names(OutboxQuery(status="sent")) == ["sent"]
    assert names(OutboxQuery(channel="email")) == ["failed", "dead"]
    assert names(OutboxQuery(channel_id=hook)) == ["sent", "pending"]
    assert names(OutboxQuery(since=t(3))) == ["failed", "unknown", "dead"]
    assert names(OutboxQuery(before_id=ids["dead"])) == ["sent", "pending"]
    assert names(OutboxQuery(limit=2)) == ["failed", "unknown"]
    assert names(OutboxQuery(status="failed", channel_id=mail, since=t(4))) == ["failed"]
    by_id = {r["id"]: r["channel_name"] for r in backend.query_outbox(OutboxQuery())}
    assert by_id == {ids["pending"]: "hook", ids["sent"]: "hook", ids["dead"]: "mail", ids["unknown"]: None,
                     ids["failed"]: "mail"}
    # The existing listing keeps working beside the new columns.
    assert [r["id"] for r in backend.list_outbox(status="dead")] == [ids["dead"]]
    assert len(backend.list_outbox()) == 5


# -- outbox: claiming -----------------------------------------------------------------
def test_claim_outbox_takes_due_pending_messages_oldest_first(backend: Store) -> None:
    later = _message(backend, "later", next_attempt_utc=t(5))
    now_due = _message(backend, "now", next_attempt_utc=t(0))
    unset = _message(backend, "unset")  # NULL next_attempt_utc: due now, before any time
    future = _message(backend, "future", next_attempt_utc=t(30))
    _message(backend, "sent", status="sent", next_attempt_utc=t(0))
    _message(backend, "dead", status="dead", next_attempt_utc=t(0))
    early = _message(backend, "early", next_attempt_utc=t(1))

    claimed = backend.claim_outbox(owner="A", now_utc=t(10), lease_until_utc=t(12), limit=2)
    assert [r["id"] for r in claimed] == [unset, now_due]
    assert all((r["lease_owner"], r["lease_expires_utc"]) == ("A", t(12)) for r in claimed)
    stored = backend.get_outbox(unset)
    assert stored is not None and (stored["lease_owner"], stored["lease_expires_utc"]) == ("A", t(12))

    rest = backend.claim_outbox(owner="B", now_utc=t(10), lease_until_utc=t(12), limit=10)
    assert [r["id"] for r in rest] == [early, later]  # the leased ones, the future one and non-pending stay
    assert backend.claim_outbox(owner="C", now_utc=t(10), lease_until_utc=t(12), limit=10) == []
    assert backend.claim_outbox(owner="C", now_utc=t(10), lease_until_utc=t(12), limit=0) == []

    # At t(12) the leases have expired (the expiry is exclusive) and the future message is not yet due.
    again = backend.claim_outbox(owner="C", now_utc=t(12), lease_until_utc=t(14), limit=10)
    assert [r["id"] for r in again] == [unset, now_due, early, later]
    assert {r["lease_owner"] for r in again} == {"C"}
    at_30 = backend.claim_outbox(owner="D", now_utc=t(30), lease_until_utc=t(32), limit=10)
    assert [r["id"] for r in at_30] == [unset, now_due, early, later, future]


def test_claim_outbox_respects_an_unexpired_lease(backend: Store) -> None:
    mid = _message(backend, "m")
    assert [r["id"] for r in backend.claim_outbox(owner="A", now_utc=t(0), lease_until_utc=t(5), limit=1)] == [mid]
    assert backend.claim_outbox(owner="B", now_utc=t(4), lease_until_utc=t(9), limit=1) == []
    assert backend.claim_outbox(owner="A", now_utc=t(4), lease_until_utc=t(9), limit=1) == []  # nor its owner
    assert [r["lease_owner"] for r in backend.claim_outbox(owner="B", now_utc=t(5), lease_until_utc=t(9),
                                                           limit=1)] == ["B"]


def _claim_all(store: Store, owner: str, start: threading.Barrier, got: list[int], errors: list[BaseException]) \
        -> None:
    try:
        start.wait()
        while True:
            rows = store.claim_outbox(owner=owner, now_utc=t(0), lease_until_utc=t(59), limit=7)
            if not rows:
                return
            assert all(r["lease_owner"] == owner for r in rows)
            got.extend(r["id"] for r in rows)
    except BaseException as exc:  # reported by the main thread
        errors.append(exc)


def test_two_concurrent_claimers_never_get_the_same_message(location: Location) -> None:
    first, second = location.open(), location.open()
    try:
        with first.transaction():
            ids = {_message(first, f"m{i}") for i in range(200)}
        assert len(ids) == 200
        got: dict[str, list[int]] = {"A": [], "B": []}
        errors: list[BaseException] = []
        start = threading.Barrier(2)
        threads = [threading.Thread(target=_claim_all, args=(store, owner, start, got[owner], errors))
                   for store, owner in ((first, "A"), (second, "B"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors
        assert not any(thread.is_alive() for thread in threads)
        assert not set(got["A"]) & set(got["B"])
        assert len(got["A"]) == len(set(got["A"])) and len(got["B"]) == len(set(got["B"]))
        assert set(got["A"]) | set(got["B"]) == ids
        owners = {r["id"]: r["lease_owner"] for r in first.query_outbox(OutboxQuery(limit=500))}
        assert owners == {**dict.fromkeys(got["A"], "A"), **dict.fromkeys(got["B"], "B")}
    finally:
        first.close()
        second.close()


# -- outbox: attempts and finishing -----------------------------------------------------
def test_attempts_and_finishing_need_the_lease(backend: Store) -> None:
    mid = _message(backend, "m")
    assert backend.record_attempt(_attempt(mid, 1), owner="A") is False  # not claimed by anyone
    backend.claim_outbox(owner="A", now_utc=t(0), lease_until_utc=t(5), limit=1)
    # A's lease expires and B takes the message over.
    assert len(backend.claim_outbox(owner="B", now_utc=t(6), lease_until_utc=t(10), limit=1)) == 1
    assert backend.record_attempt(_attempt(mid, 1, outcome="timeout"), owner="A") is False
    assert backend.finish_outbox(mid, owner="A", fields={"status": "sent", "sent_utc": t(7)}) is False
    message = backend.get_outbox(mid)
    assert message is not None
    assert (message["status"], message["attempts"], message["sent_utc"], message["lease_owner"]) == \
        ("pending", 0, None, "B")
    assert backend.list_attempts(mid) == []

    assert backend.record_attempt(_attempt(mid, 1, outcome="retry", status_code=503, latency_ms=120,
                                           response_excerpt="busy"), owner="B") is True
    assert backend.record_attempt(_attempt(mid, 2, status_code=200, latency_ms=80), owner="B") is True
    with pytest.raises(Conflict):
        backend.record_attempt(_attempt(mid, 2), owner="B")
    message = backend.get_outbox(mid)
    assert message is not None and message["attempts"] == 2
    attempts = backend.list_attempts(mid)
    assert [(a["attempt_no"], a["outcome"], a["status_code"], a["latency_ms"], a["response_excerpt"])
            for a in attempts] == [(1, "retry", 503, 120, "busy"), (2, "sent", 200, 80, None)]

    assert backend.finish_outbox(mid, owner="B", fields={
        "status": "sent", "sent_utc": t(8), "provider": "webhook", "provider_message_id": "msg-1",
        "first_attempt_utc": t(6), "last_error": None}) is True
    message = backend.get_outbox(mid)
    assert message is not None
    assert (message["status"], message["sent_utc"], message["provider"], message["provider_message_id"],
            message["first_attempt_utc"], message["lease_owner"], message["lease_expires_utc"]) == \
        ("sent", t(8), "webhook", "msg-1", t(6), None, None)
    assert backend.finish_outbox(mid, owner="B", fields={"status": "dead"}) is False  # the lease is gone
    message = backend.get_outbox(mid)
    assert message is not None and message["status"] == "sent"
    with pytest.raises(ValueError):
        backend.finish_outbox(mid, owner="B", fields={"lease_owner": "B"})


def test_a_retry_goes_back_to_pending_and_is_claimed_again(backend: Store) -> None:
    mid = _message(backend, "m")
    backend.claim_outbox(owner="A", now_utc=t(0), lease_until_utc=t(5), limit=1)
    assert backend.finish_outbox(mid, owner="A", fields={"next_attempt_utc": t(3), "last_error": "503"}) is True
    assert backend.claim_outbox(owner="B", now_utc=t(2), lease_until_utc=t(9), limit=1) == []  # not due yet
    assert [r["id"] for r in backend.claim_outbox(owner="B", now_utc=t(3), lease_until_utc=t(9), limit=1)] == [mid]


def test_requeue_outbox(backend: Store) -> None:
    dead = _message(backend, "dead", status="dead", lease_owner="X", lease_expires_utc=t(50), next_attempt_utc=t(1))
    failed = _message(backend, "failed", status="failed")
    unknown = _message(backend, "unknown", status="unknown")
    sent = _message(backend, "sent", status="sent")
    pending = _message(backend, "pending", next_attempt_utc=t(40))
    assert backend.requeue_outbox([dead, failed, sent, pending], now_utc=t(20)) == 2
    assert backend.requeue_outbox([], now_utc=t(20)) == 0
    rows = {r["id"]: r for r in backend.query_outbox(OutboxQuery())}
    assert (rows[dead]["status"], rows[dead]["next_attempt_utc"], rows[dead]["lease_owner"],
            rows[dead]["lease_expires_utc"]) == ("pending", t(20), None, None)
    assert (rows[failed]["status"], rows[failed]["next_attempt_utc"]) == ("pending", t(20))
    assert rows[unknown]["status"] == "unknown"  # not asked for
    assert (rows[sent]["status"], rows[sent]["next_attempt_utc"]) == ("sent", None)
    assert rows[pending]["next_attempt_utc"] == t(40)  # a pending message is left alone
    claimed = backend.claim_outbox(owner="A", now_utc=t(20), lease_until_utc=t(25), limit=10)
    assert [r["id"] for r in claimed] == [dead, failed]


def test_next_outbox_due(backend: Store) -> None:
    assert backend.next_outbox_due() is None
    _message(backend, "sent", status="sent", next_attempt_utc=t(1))
    _message(backend, "dead", status="dead")
    assert backend.next_outbox_due() is None  # nothing pending
    _message(backend, "late", next_attempt_utc=t(30))
    _message(backend, "soon", next_attempt_utc=t(10))
    assert backend.next_outbox_due() == t(10)
    _message(backend, "now")
    assert backend.next_outbox_due() == ""


# -- scheduler leases ----------------------------------------------------------------------
def test_claim_job_once_per_slot_and_lease(backend: Store) -> None:
    assert backend.list_jobs() == []
    assert backend.claim_job("evaluate", slot="12:00", owner="A", now_utc=t(0), lease_until_utc=t(5)) is True
    # The same slot again: not even its owner, and not once the lease is released.
    assert backend.claim_job("evaluate", slot="12:00", owner="A", now_utc=t(0), lease_until_utc=t(5)) is False
    assert backend.claim_job("evaluate", slot="12:00", owner="B", now_utc=t(6), lease_until_utc=t(9)) is False
    # A new slot while A holds an unexpired lease: not for another owner.
    assert backend.claim_job("evaluate", slot="12:01", owner="B", now_utc=t(1), lease_until_utc=t(6)) is False
    [job] = backend.list_jobs()
    assert (job["job"], job["lease_owner"], job["last_slot"], job["last_owner"], job["last_start_utc"],
            job["runs"]) == ("evaluate", "A", "12:00", "A", t(0), 1)
    # Expired (exclusive): B takes the new slot.
    assert backend.claim_job("evaluate", slot="12:01", owner="B", now_utc=t(5), lease_until_utc=t(10)) is True
    [job] = backend.list_jobs()
    assert (job["lease_owner"], job["lease_expires_utc"], job["last_slot"], job["last_owner"],
            job["last_start_utc"], job["runs"]) == ("B", t(10), "12:01", "B", t(5), 2)

    # A's late finish touches nothing of B's run.
    backend.finish_job("evaluate", owner="A", end_utc=t(6), status="ok", error=None)
    [job] = backend.list_jobs()
    assert (job["lease_owner"], job["last_end_utc"], job["last_status"]) == ("B", None, None)
    backend.finish_job("evaluate", owner="B", end_utc=t(7), status="error", error="boom")
    [job] = backend.list_jobs()
    assert (job["lease_owner"], job["lease_expires_utc"], job["last_end_utc"], job["last_status"],
            job["last_error"]) == (None, None, t(7), "error", "boom")
    # Released: the next slot is anyone's, at once.
    assert backend.claim_job("evaluate", slot="12:02", owner="A", now_utc=t(7), lease_until_utc=t(12)) is True
    # "No other owner holds an unexpired lease": the holder itself may start the next slot.
    assert backend.claim_job("evaluate", slot="12:03", owner="A", now_utc=t(8), lease_until_utc=t(12)) is True
    assert backend.claim_job("prune", slot="2026-11-20", owner="B", now_utc=t(8), lease_until_utc=t(12)) is True
    assert [(j["job"], j["runs"], j["last_owner"]) for j in backend.list_jobs()] == [("evaluate", 4, "A"),
                                                                                    ("prune", 1, "B")]


def _race_jobs(store: Store, owner: str, slots: list[str], start: threading.Barrier, done: threading.Barrier,
               wins: list[str], errors: list[BaseException]) -> None:
    try:
        for slot in slots:
            start.wait(30)
            if store.claim_job("minute", slot=slot, owner=owner, now_utc=t(0), lease_until_utc=t(59)):
                wins.append(slot)
                store.finish_job("minute", owner=owner, end_utc=t(0), status="ok", error=None)
            done.wait(30)
    except BaseException as exc:  # reported by the main thread
        errors.append(exc)
        start.abort()
        done.abort()


def test_two_daemons_never_run_the_same_slot(location: Location) -> None:
    first, second = location.open(), location.open()
    try:
        slots = [f"slot-{i:02d}" for i in range(30)]
        start, done = threading.Barrier(2), threading.Barrier(2)
        wins: dict[str, list[str]] = {"A": [], "B": []}
        errors: list[BaseException] = []
        threads = [threading.Thread(target=_race_jobs, args=(store, owner, slots, start, done, wins[owner], errors))
                   for store, owner in ((first, "A"), (second, "B"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not errors
        assert not any(thread.is_alive() for thread in threads)
        per_slot = Counter(wins["A"] + wins["B"])
        assert per_slot == Counter(dict.fromkeys(slots, 1))  # exactly one winner for every slot
        [job] = first.list_jobs()
        assert job["runs"] == len(slots)
    finally:
        first.close()
        second.close()
