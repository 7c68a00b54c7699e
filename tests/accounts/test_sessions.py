"""Sign-in, throttling, sessions and refresh-token families (AU-04, AU-05, AU-12, AU-13)."""

from __future__ import annotations

import base64
import json
import statistics
import time
from datetime import timedelta

import pytest

from agentcost_cli.auth import tokens
from agentcost_cli.errors import AuthError, NotFound, Throttled
from agentcost_cli.services import audit, clock, sessions
from agentcost_cli.services.actor import LOCAL
from agentcost_cli.services.auth_config import auth_config
from agentcost_cli.store.base import Store

from .conftest import PASSWORD, T0, as_user, make_user


def test_login_opens_a_session_with_short_access_and_opaque_refresh(store: Store) -> None:
    make_user(store, "a@example.com")
    pair = sessions.login(store, email="A@example.com", password=PASSWORD, source="198.51.100.7", user_agent="t/1")
    claims = tokens.decode_access_token(auth_config(store).jwt_key, pair.access_token, now=clock.now())
    assert claims.expires_at - claims.issued_at <= 900
    actor = sessions.actor_from_access_token(store, pair.access_token)
    assert actor.email == "a@example.com" and actor.session_id == pair.session_id
    assert len(pair.refresh_token) >= 43 and "." not in pair.refresh_token  # opaque, not a JWT
    stored = [r[0] for r in store.conn.execute("SELECT token_hash FROM refresh_tokens")]  # type: ignore[attr-defined]
    assert stored == [tokens.hash_token(pair.refresh_token)]


def test_access_token_expires_after_15_minutes(store: Store) -> None:
    make_user(store, "a@example.com")
    pair = sessions.login(store, email="a@example.com", password=PASSWORD)
    clock.advance(timedelta(minutes=15, seconds=1))
    with pytest.raises(AuthError):
        sessions.actor_from_access_token(store, pair.access_token)


def test_unsigned_alg_none_token_is_rejected(store: Store) -> None:
    make_user(store, "a@example.com")
    pair = sessions.login(store, email="a@example.com", password=PASSWORD)
    payload = pair.access_token.split(".")[1]
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(b"=").decode()
    with pytest.raises(AuthError):
        sessions.actor_from_access_token(store, f"{header}.{payload}.")


def test_refresh_rotates_and_reuse_kills_the_whole_family(store: Store) -> None:
    make_user(store, "a@example.com")
    first = sessions.login(store, email="a@example.com", password=PASSWORD)
    second = sessions.refresh(store, first.refresh_token)
    third = sessions.refresh(store, second.refresh_token)
    assert len({first.refresh_token, second.refresh_token, third.refresh_token}) == 3
    with pytest.raises(AuthError):
        sessions.refresh(store, first.refresh_token)  # replay of a retired token...
    with pytest.raises(AuthError):
        sessions.refresh(store, third.refresh_token)  # ...and the newest one died with it
    with pytest.raises(AuthError):
        sessions.actor_from_access_token(store, third.access_token)
    actions = [r["action"] for r in audit.list_records(store, LOCAL)]
    assert "session.reuse_detected" in actions


def test_idle_and_absolute_lifetimes(store: Store) -> None:
    make_user(store, "a@example.com")
    idle = sessions.login(store, email="a@example.com", password=PASSWORD)
    clock.advance(timedelta(days=6, hours=23))
    kept = sessions.refresh(store, idle.refresh_token)  # used within 7 days: still alive
    clock.advance(timedelta(days=7))
    with pytest.raises(AuthError):
        sessions.refresh(store, kept.refresh_token)
    busy = sessions.login(store, email="a@example.com", password=PASSWORD)
    token = busy.refresh_token
    for _ in range(4):  # used every 6 days, but 30 days after sign-in it ends anyway
        clock.advance(timedelta(days=6))
        token = sessions.refresh(store, token).refresh_token
    clock.advance(timedelta(days=6, hours=1))
    with pytest.raises(AuthError):
        sessions.refresh(store, token)


def test_logout_and_listing_and_revoking_sessions(store: Store) -> None:
    make_user(store, "a@example.com")
    make_user(store, "b@example.com")
    one = sessions.login(store, email="a@example.com", password=PASSWORD)
    two = sessions.login(store, email="a@example.com", password=PASSWORD)
    sessions.logout(store, one.refresh_token)
    with pytest.raises(AuthError):
        sessions.refresh(store, one.refresh_token)
    me = sessions.actor_from_access_token(store, two.access_token)
    listed = sessions.list_sessions(store, me)
    assert [(s["id"], s["active"], s["current"]) for s in listed] == [(two.session_id, True, True),
                                                                      (one.session_id, False, False)]
    with pytest.raises(NotFound):  # another user's session does not exist for b
        sessions.revoke_session(store, as_user(store, "b@example.com"), two.session_id)
    sessions.revoke_session(store, me, two.session_id)
    with pytest.raises(AuthError):
        sessions.actor_from_access_token(store, two.access_token)


def test_failures_get_increasing_delays_and_a_ceiling_but_never_a_lockout(store: Store) -> None:
    make_user(store, "victim@example.com")
    delays: list[int] = []
    failures = 0
    while failures < 100:
        try:
            sessions.login(store, email="victim@example.com", password=f"wrong guess {failures}")
        except Throttled as exc:  # wait as told, then go on guessing
            delays.append(exc.retry_after)
            clock.advance(timedelta(seconds=exc.retry_after))
        except AuthError:
            failures += 1
    assert clock.now() - T0 < timedelta(hours=1)  # 100 failures inside one hour...
    with pytest.raises(Throttled) as refused:  # ...and the 101st attempt is refused, right password or not
        sessions.login(store, email="victim@example.com", password=PASSWORD)
    assert delays[:5] == [1, 2, 4, 8, 16] and max(delays) == 30  # increasing delays, capped
    assert 0 < refused.value.retry_after <= 3600  # a wait, never a lock-out
    clock.advance(timedelta(seconds=refused.value.retry_after))
    sessions.login(store, email="victim@example.com", password=PASSWORD)  # after the window: signs in


def test_known_and_unknown_emails_get_the_same_answer(store: Store) -> None:
    make_user(store, "real@example.com")
    answers = []
    for email in ("real@example.com", "ghost@example.com"):
        with pytest.raises(AuthError) as exc:
            sessions.login(store, email=email, password="not the password")
        answers.append((type(exc.value), exc.value.message, exc.value.exit_code))
    assert answers[0] == answers[1]


@pytest.mark.slow
def test_known_and_unknown_emails_take_the_same_time(store: Store) -> None:
    """AU-05: medians over 50 attempts each within 50 ms (a dummy hash runs for unknown emails).
    Known and unknown attempts alternate, so a busy machine slows both alike."""
    for i in range(50):
        make_user(store, f"k{i}@example.com")
    times: dict[str, list[float]] = {"k": [], "u": []}
    for i in range(50):
        for prefix in ("k", "u"):
            start = time.perf_counter()
            with pytest.raises(AuthError):
                sessions.login(store, email=f"{prefix}{i}@example.com", password="not the password")
            times[prefix].append(time.perf_counter() - start)
    known, unknown = statistics.median(times["k"]), statistics.median(times["u"])
    assert abs(known - unknown) < 0.050, (known, unknown)


def test_per_source_throttle_spans_accounts(store: Store) -> None:
    for attempt in range(20):
        with pytest.raises(AuthError):
            sessions.login(store, email=f"spray{attempt}@example.com", password="guess", source="192.0.2.1")
    with pytest.raises(Throttled):
        sessions.login(store, email="spray-next@example.com", password="guess", source="192.0.2.1")
    with pytest.raises(AuthError):  # another address is not slowed down
        sessions.login(store, email="spray-next@example.com", password="guess", source="192.0.2.2")


def test_login_and_failures_are_audited_without_secrets(store: Store) -> None:
    make_user(store, "a@example.com")
    with pytest.raises(AuthError):
        sessions.login(store, email="a@example.com", password="hunter2-wrong", source="192.0.2.5")
    sessions.login(store, email="a@example.com", password=PASSWORD, source="192.0.2.5")
    records = audit.list_records(store, LOCAL)
    assert [(r["action"], r["outcome"], r["source_addr"]) for r in reversed(records)] == [
        ("login", "failed", "192.0.2.5"), ("login", "ok", "192.0.2.5")]
    dump = "\n".join(store.conn.iterdump())  # type: ignore[attr-defined]
    assert "hunter2-wrong" not in dump and PASSWORD not in dump
