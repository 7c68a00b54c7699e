"""The one-second memo of API-key lookups (services/authcache.py), with the rules KEY-04 sets:
in this process a revocation applies to the next request; elsewhere within the cache's life."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agentcost_cli.errors import AuthError, PermissionDenied
from agentcost_cli.services import authcache, clock, keys, projects, sessions, usage, users
from agentcost_cli.services.actor import LOCAL
from agentcost_cli.store.base import Store

from .conftest import as_user, project_with


@pytest.fixture
def team(store: Store) -> Store:
    project_with(store, "p", owner="owner@example.com", member="member@example.com")
    return store


def _lookups(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    original = store.find_api_key

    def counting(digest: str) -> object:
        seen.append(digest)
        return original(digest)

    monkeypatch.setattr(store, "find_api_key", counting)
    return seen


def test_a_busy_key_is_looked_up_once_a_second(team: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _, key = keys.create_key(team, LOCAL, "p", name="busy", scopes=("ingest",))
    seen = _lookups(team, monkeypatch)
    for _ in range(50):
        actor = sessions.actor_from_api_key(team, key, source="10.0.0.1")
        assert actor.kind == "key" and actor.source == "10.0.0.1"
    assert len(seen) == 1
    clock.advance(timedelta(seconds=1.5))
    sessions.actor_from_api_key(team, key)
    assert len(seen) == 2


def test_revocation_here_applies_to_the_next_request(team: Store) -> None:
    listing, key = keys.create_key(team, LOCAL, "p", name="k", scopes=("ingest",))
    sessions.actor_from_api_key(team, key)  # now remembered
    keys.revoke_key(team, LOCAL, str(listing["id"]))
    with pytest.raises(AuthError):
        sessions.actor_from_api_key(team, key)


def test_a_change_made_elsewhere_applies_within_the_cache_lifetime(team: Store) -> None:
    """Another process (a second daemon, the CLI) revokes in the store directly: this process
    notices once its entry is older than authcache.TTL_SECONDS (KEY-04's multi-instance case)."""
    listing, key = keys.create_key(team, LOCAL, "p", name="k", scopes=("ingest",))
    sessions.actor_from_api_key(team, key)
    team.conn.execute("UPDATE api_keys SET revoked_utc = ? WHERE id = ?",  # type: ignore[attr-defined]
                      (clock.now_text(), listing["id"]))
    sessions.actor_from_api_key(team, key)  # still remembered: at most TTL_SECONDS stale
    clock.advance(timedelta(seconds=authcache.TTL_SECONDS))
    with pytest.raises(AuthError):
        sessions.actor_from_api_key(team, key)


def test_expiry_and_networks_are_checked_on_every_use(team: Store) -> None:
    _, key = keys.create_key(team, LOCAL, "p", name="short", scopes=("ingest",),
                             expires=clock.now() + timedelta(milliseconds=500))
    sessions.actor_from_api_key(team, key)
    clock.advance(timedelta(milliseconds=600))  # expired, though the entry is younger than a second
    with pytest.raises(AuthError):
        sessions.actor_from_api_key(team, key)

    _, other = keys.create_key(team, LOCAL, "p", name="office", scopes=("ingest",))
    projects.set_allowed_networks(team, LOCAL, "p", ["10.1.0.0/16"])
    assert sessions.actor_from_api_key(team, other, source="10.1.2.3").key_prefix
    with pytest.raises(PermissionDenied):
        sessions.actor_from_api_key(team, other, source="192.0.2.7")


def test_disabling_the_creator_and_removing_a_member_apply_at_once(team: Store) -> None:
    member = as_user(team, "member@example.com")
    _, key = keys.create_key(team, member, "p", name="mine", scopes=("ingest",))
    actor = sessions.actor_from_api_key(team, key)
    assert usage.record_events(team, actor, [{"id": "a", "timestamp": "2026-11-20T12:00:00Z",
                                              "model": "gpt-4o", "input_tokens": 1}]).count("created") == 1
    users.set_status(team, LOCAL, "member@example.com", active=False)
    with pytest.raises(AuthError):
        sessions.actor_from_api_key(team, key)


def test_unknown_keys_are_remembered_too_but_not_without_bound(team: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from agentcost_cli.auth import apikeys

    seen = _lookups(team, monkeypatch)
    bogus = apikeys.generate_key()  # well-formed (the checksum holds), but never issued
    for _ in range(5):
        with pytest.raises(AuthError):
            sessions.actor_from_api_key(team, bogus)
    assert len(seen) == 1
    monkeypatch.setattr(authcache, "MAX_ENTRIES", 3)
    for index in range(10):
        authcache.remembered(("filler", index), lambda i=index: i)
    assert len(authcache._entries) <= 3


def test_a_price_change_here_applies_to_the_next_api_event(team: Store) -> None:
    from agentcost_cli.services import pricing

    def cost(event_id: str) -> int:
        usage.record_events(team, LOCAL, [{"id": event_id, "timestamp": "2026-11-20T12:00:00Z", "provider": "openai",
                                           "model": "gpt-4o", "project": "p", "input_tokens": 1_000_000}])
        row = team.conn.execute("SELECT cost_nanos FROM events WHERE dedupe_key = ?",  # type: ignore[attr-defined]
                                (event_id,)).fetchone()
        return int(row[0])

    cost("first")  # the store's first pricing revision is made here
    before = cost("before")  # ... and remembered
    pricing.set_override(team, LOCAL, provider="openai", model="gpt-4o", rates={"input": "7"},
                         effective_from=None, reason="negotiated")
    assert before != 7_000_000_000 and cost("after") == 7_000_000_000  # $7 per million input tokens
