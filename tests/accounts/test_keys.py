"""Project API keys (KEY-01 .. KEY-06)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from agentcost_cli.auth import apikeys
from agentcost_cli.errors import AuthError, InvalidInput, PermissionDenied
from agentcost_cli.services import audit, clock, keys, sessions
from agentcost_cli.services.actor import LOCAL
from agentcost_cli.store.base import Store

from .conftest import as_user, project_with


@pytest.fixture
def team(store: Store) -> Store:
    project_with(store, "p", owner="owner@example.com", admin="admin@example.com", member="member@example.com",
                 viewer="viewer@example.com")
    return store


def test_key_format_checksum_and_storage(team: Store) -> None:
    listing, key = keys.create_key(team, LOCAL, "p", name="ci", scopes=("ingest",))
    assert apikeys.KEY_RE.fullmatch(key) and apikeys.looks_valid(key)
    row = sqlite3.connect(team.location).execute("SELECT key_hash, prefix, last_four FROM api_keys").fetchone()
    assert row == (apikeys.hash_key(key), key[:12], key[-4:])
    dump = "\n".join(sqlite3.connect(team.location).iterdump())
    assert key not in dump and key[12:-4] not in dump  # KEY-02: no plaintext anywhere
    assert key not in str(keys.list_keys(team, LOCAL)) and listing["display"] == f"{key[:12]}…{key[-4:]}"


def test_a_typo_fails_on_the_checksum_before_any_lookup(team: Store) -> None:
    _, key = keys.create_key(team, LOCAL, "p", name="ci", scopes=("ingest",))
    typo = key[:20] + ("A" if key[20] != "A" else "B") + key[21:]

    class NoLookups:
        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"store.{name} called for a malformed key")

    with pytest.raises(AuthError):
        sessions.actor_from_api_key(NoLookups(), typo)  # type: ignore[arg-type]


def test_unknown_revoked_and_expired_keys_fail_alike(team: Store) -> None:
    _, revoked = keys.create_key(team, LOCAL, "p", name="old", scopes=("ingest",))
    keys.revoke_key(team, LOCAL, revoked[:12])
    _, expiring = keys.create_key(team, LOCAL, "p", name="tmp", scopes=("read",),
                                  expires=clock.now() + timedelta(hours=1))
    sessions.actor_from_api_key(team, expiring)
    clock.advance(timedelta(hours=1))
    unknown = apikeys.generate_key()
    messages = set()
    for key in (revoked, expiring, unknown, "garbage"):
        with pytest.raises(AuthError) as exc:
            sessions.actor_from_api_key(team, key)
        messages.add((exc.value.message, exc.value.http_status))
    assert len(messages) == 1  # KEY-06: nothing says whether the key exists


def test_revocation_is_immediate(team: Store) -> None:
    _, key = keys.create_key(team, LOCAL, "p", name="ci", scopes=("ingest",))
    assert sessions.actor_from_api_key(team, key).scopes == {"ingest"}
    keys.revoke_key(team, LOCAL, key[:12])
    with pytest.raises(AuthError):
        sessions.actor_from_api_key(team, key)


def test_rotation_keeps_both_keys_during_the_overlap(team: Store) -> None:
    old_listing, old = keys.create_key(team, LOCAL, "p", name="prod", scopes=("ingest", "read"))
    new_listing, new = keys.rotate_key(team, LOCAL, str(old_listing["id"]), overlap=timedelta(hours=2))
    assert new != old and new_listing["scopes"] == ["ingest", "read"] and new_listing["name"] == "prod"
    clock.advance(timedelta(hours=1, minutes=59))
    assert sessions.actor_from_api_key(team, old).key_id == old_listing["id"]
    assert sessions.actor_from_api_key(team, new).key_id == new_listing["id"]
    clock.advance(timedelta(minutes=1))
    with pytest.raises(AuthError):
        sessions.actor_from_api_key(team, old)
    sessions.actor_from_api_key(team, new)


def test_last_used_is_written_at_most_once_a_minute(team: Store) -> None:
    _, key = keys.create_key(team, LOCAL, "p", name="busy", scopes=("ingest",))
    conn = team.conn  # type: ignore[attr-defined]
    before = conn.total_changes
    for _ in range(100):  # 100 requests in 50 s
        sessions.actor_from_api_key(team, key)
        clock.advance(timedelta(milliseconds=500))
    assert conn.total_changes - before == 1  # KEY-05: exactly one row write
    stamps = {k["last_used_utc"] for k in keys.list_keys(team, LOCAL)}
    assert stamps == {"2026-11-20T12:00:00.000000Z"}
    clock.advance(timedelta(seconds=11))
    sessions.actor_from_api_key(team, key)
    assert conn.total_changes - before == 2
    assert {k["last_used_utc"] for k in keys.list_keys(team, LOCAL)} != stamps


def test_members_manage_their_own_keys_within_their_reach(team: Store) -> None:
    member = as_user(team, "member@example.com")
    listing, _ = keys.create_key(team, member, "p", name="mine", scopes=("ingest", "read"))
    with pytest.raises(PermissionDenied):
        keys.create_key(team, member, "p", name="escalate", scopes=("admin",))
    with pytest.raises(PermissionDenied):
        keys.create_key(team, as_user(team, "viewer@example.com"), "p", name="v", scopes=("read",))
    other, _ = keys.create_key(team, as_user(team, "admin@example.com"), "p", name="admins", scopes=("admin",))
    with pytest.raises(PermissionDenied):
        keys.revoke_key(team, member, str(other["id"]))
    keys.revoke_key(team, member, str(listing["id"]))
    keys.revoke_key(team, as_user(team, "admin@example.com"), str(other["id"]))
    actions = [(r["action"], r["actor"]) for r in audit.list_records(team, LOCAL, project="p")]
    assert ("key.revoke", "user:admin@example.com") in actions and ("key.create", "user:member@example.com") in actions


def test_audit_names_keys_by_prefix_only(team: Store) -> None:
    _, key = keys.create_key(team, LOCAL, "p", name="ci", scopes=("ingest",))
    keys.rotate_key(team, LOCAL, key[:12])
    keys.revoke_key(team, LOCAL, key[:12])
    text = str(audit.list_records(team, LOCAL))
    assert key[:12] in text and key not in text and key[12:-4] not in text


def test_an_ingest_key_is_refused_not_misled_on_admin_operations(team: Store) -> None:
    """KEY-03: the key sees its project, so it gets 'not permitted' (HTTP 403), not 'not found'."""
    from agentcost_cli.services import audit as audit_service
    from agentcost_cli.services import projects

    _, key = keys.create_key(team, LOCAL, "p", name="ingest only", scopes=("ingest",))
    actor = sessions.actor_from_api_key(team, key)
    for call in (lambda: keys.list_keys(team, actor, "p"),
                 lambda: keys.create_key(team, actor, "p", name="x", scopes=("ingest",)),
                 lambda: audit_service.list_records(team, actor, project="p"),
                 lambda: projects.rename_project(team, actor, "p", name="mine now")):
        with pytest.raises(PermissionDenied) as exc:
            call()
        assert exc.value.http_status == 403


def test_a_rotated_key_cannot_be_rotated_again(team: Store) -> None:
    from agentcost_cli.errors import Conflict

    old, key = keys.create_key(team, LOCAL, "p", name="prod", scopes=("ingest",),
                               expires=clock.now() + timedelta(days=90))
    new, _ = keys.rotate_key(team, LOCAL, key[:12], overlap=timedelta(hours=1))
    assert new["replaces"]["expires_utc"] == "2026-11-20T13:00:00.000000Z"
    assert new["expires_utc"] == old["expires_utc"]  # the successor keeps the original expiry
    with pytest.raises(Conflict, match="already rotated"):
        keys.rotate_key(team, LOCAL, key[:12])


def test_a_prefix_only_counts_the_keys_the_actor_may_see(team: Store) -> None:
    keys.create_key(team, LOCAL, "p", name="theirs", scopes=("ingest",))
    project_with(team, "q", owner="solo@example.com")
    solo = as_user(team, "solo@example.com")
    mine, _ = keys.create_key(team, solo, "q", name="mine", scopes=("ingest",))
    assert keys.revoke_key(team, solo, "ac_live_")["id"] == mine["id"]  # p's key is not "another match"
    with pytest.raises(InvalidInput, match="matches 2 keys"):
        keys.revoke_key(team, LOCAL, "ac_live_")


def test_a_project_allow_list_limits_where_its_keys_work(team: Store) -> None:
    from agentcost_cli.services import projects

    _, key = keys.create_key(team, LOCAL, "p", name="ci", scopes=("ingest",))
    assert sessions.actor_from_api_key(team, key, source="198.51.100.7").key_project_id
    shown = projects.set_allowed_networks(team, as_user(team, "admin@example.com"), "p", ["10.1.0.0/16", "192.0.2.9"])
    assert shown["allowed_networks"] == ["10.1.0.0/16", "192.0.2.9/32"]
    assert sessions.actor_from_api_key(team, key, source="10.1.200.3").scopes == {"ingest"}
    assert sessions.actor_from_api_key(team, key, source="192.0.2.9").scopes == {"ingest"}
    for outside in ("198.51.100.7", "10.2.0.1", None):
        with pytest.raises(PermissionDenied):
            sessions.actor_from_api_key(team, key, source=outside)
    with pytest.raises(InvalidInput):
        projects.set_allowed_networks(team, LOCAL, "p", ["not-a-network"])
    projects.set_allowed_networks(team, LOCAL, "p", [])
    sessions.actor_from_api_key(team, key, source="198.51.100.7")  # the list is gone: anywhere again
