"""Projects, sharing, roles and ownership."""

from __future__ import annotations

import pytest

from agentcost_cli.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from agentcost_cli.services import audit, projects
from agentcost_cli.services.actor import LOCAL
from agentcost_cli.store.base import Store

from .conftest import as_user, make_user, project_with


def test_creator_owns_the_project_and_slugs_are_checked(store: Store) -> None:
    make_user(store, "a@example.com")
    me = as_user(store, "a@example.com")
    created = projects.create_project(store, me, "web-app", name="Web app")
    assert created["role"] == "owner" and created["name"] == "Web app"
    with pytest.raises(Conflict):
        projects.create_project(store, me, "web-app")
    for bad in ("Web App", "-x", "a/b", "x" * 64, ""):
        with pytest.raises(InvalidInput):
            projects.create_project(store, me, bad)


def test_share_change_role_and_leave(store: Store) -> None:
    project_with(store, "p", owner="o@example.com")
    make_user(store, "m@example.com")
    owner = as_user(store, "o@example.com")
    assert projects.share_project(store, owner, "p", "M@example.com", "viewer")["previous"] is None
    assert projects.share_project(store, owner, "p", "m@example.com", "member")["previous"] == "viewer"
    with pytest.raises(InvalidInput):
        projects.share_project(store, owner, "p", "m@example.com", "superuser")
    members = projects.show_project(store, owner, "p")["member_list"]
    assert [(m["email"], m["role"]) for m in members] == [("o@example.com", "owner"), ("m@example.com", "member")]
    projects.unshare_project(store, as_user(store, "m@example.com"), "p", "m@example.com")  # leaving
    with pytest.raises(NotFound):
        projects.show_project(store, as_user(store, "m@example.com"), "p")


def test_the_last_owner_cannot_leave_or_be_demoted(store: Store) -> None:
    project_with(store, "p", owner="o@example.com", admin="a@example.com")
    owner = as_user(store, "o@example.com")
    with pytest.raises(Conflict, match="last owner"):
        projects.unshare_project(store, owner, "p", "o@example.com")
    with pytest.raises(Conflict, match="last owner"):
        projects.share_project(store, owner, "p", "o@example.com", "admin")
    projects.share_project(store, owner, "p", "a@example.com", "owner")  # now there are two
    projects.unshare_project(store, owner, "p", "o@example.com")
    assert [m["email"] for m in store.members(int(store.get_project("p")["id"]))] == ["a@example.com"]


def test_admins_cannot_touch_owners(store: Store) -> None:
    project_with(store, "p", owner="o@example.com", admin="a@example.com", member="m@example.com")
    admin = as_user(store, "a@example.com")
    with pytest.raises(PermissionDenied):
        projects.share_project(store, admin, "p", "m@example.com", "owner")
    with pytest.raises(PermissionDenied):
        projects.unshare_project(store, admin, "p", "o@example.com")
    with pytest.raises(PermissionDenied):
        projects.share_project(store, admin, "p", "o@example.com", "viewer")
    projects.share_project(store, admin, "p", "m@example.com", "viewer")  # but may manage the rest


def test_transfer_makes_the_new_owner_and_demotes_the_old_to_admin(store: Store) -> None:
    project_with(store, "p", owner="o@example.com", member="n@example.com")
    projects.transfer_project(store, as_user(store, "o@example.com"), "p", "n@example.com")
    roles = {m["email"]: m["role"] for m in store.members(int(store.get_project("p")["id"]))}
    assert roles == {"o@example.com": "admin", "n@example.com": "owner"}
    with pytest.raises(PermissionDenied):
        projects.delete_project(store, as_user(store, "o@example.com"), "p")


def test_rename_and_delete_are_audited(store: Store) -> None:
    project_with(store, "p", owner="o@example.com")
    owner = as_user(store, "o@example.com", source="192.0.2.10")
    projects.rename_project(store, owner, "p", new_slug="q", name="Q")
    assert store.get_project("p") is None and store.get_project("q") is not None
    assert projects.delete_project(store, owner, "q") == 0
    records = audit.list_records(store, LOCAL)
    assert [(r["action"], r["target"], r["source_addr"]) for r in reversed(records)] == [
        ("project.rename", "p", "192.0.2.10"), ("project.delete", "q", "192.0.2.10")]


def test_delete_removes_events_rollups_keys_and_members(store: Store) -> None:
    from agentcost_cli.services import keys
    from agentcost_cli.services.ingest import IngestOptions, ingest_inputs

    project_with(store, "p", owner="o@example.com")
    keys.create_key(store, LOCAL, "p", name="k", scopes=("ingest",))
    line = ('{"id": "e1", "timestamp": "2026-11-20T10:00:00Z", "provider": "openai", "model": "gpt-4o", "project": "p",'
            ' "input_tokens": 10, "output_tokens": 5}\n')
    path = store.location + ".jsonl"
    with open(path, "w") as handle:
        handle.write(line)
    ingest_inputs(store, LOCAL, [path], IngestOptions(default_project="p"))
    assert projects.delete_project(store, LOCAL, "p") == 1
    counts = store.table_counts()
    assert counts["events"] == counts["usage_daily"] == counts["api_keys"] == counts["memberships"] == 0
