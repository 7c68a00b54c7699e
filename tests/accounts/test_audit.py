"""The audit log: append-only, complete for security actions, scoped by role."""

from __future__ import annotations

import sqlite3

import pytest

from agentcost_cli.services import audit, keys, projects
from agentcost_cli.services.actor import LOCAL
from agentcost_cli.store.base import Store

from .conftest import as_user, make_user, project_with


def test_the_store_refuses_to_change_or_delete_records(store: Store) -> None:
    audit.record(store, LOCAL, "test.action", target="x")
    conn = sqlite3.connect(store.location)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE audit_log SET outcome = 'ok'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM audit_log")
    assert conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] == 1


def test_project_admins_see_their_projects_and_users_their_own_actions(store: Store) -> None:
    project_with(store, "a", owner="oa@example.com", member="m@example.com")
    project_with(store, "b", owner="ob@example.com")
    member = as_user(store, "m@example.com")
    keys.create_key(store, member, "a", name="mine", scopes=("ingest",))
    keys.create_key(store, as_user(store, "ob@example.com"), "b", name="theirs", scopes=("ingest",))
    owner_a = audit.list_records(store, as_user(store, "oa@example.com"))
    assert {r["project"] for r in owner_a} == {"a"}
    assert [r["actor"] for r in audit.list_records(store, member)] == ["user:m@example.com"]
    assert len(audit.list_records(store, LOCAL)) == 2


def test_filters_and_paging(store: Store) -> None:
    make_user(store, "o@example.com")
    owner = as_user(store, "o@example.com")
    for slug in ("one", "two", "three"):
        projects.create_project(store, owner, slug)
    newest_first = audit.list_records(store, LOCAL, action="project.")
    assert [r["target"] for r in newest_first] == ["three", "two", "one"]
    page = audit.list_records(store, LOCAL, limit=2)
    rest = audit.list_records(store, LOCAL, before_id=page[-1]["id"])
    assert [r["target"] for r in page + rest] == ["three", "two", "one"]
    assert audit.list_records(store, LOCAL, since="2030-01-01T00:00:00.000000Z") == []


def test_records_keep_the_project_name_after_it_is_deleted(store: Store) -> None:
    make_user(store, "o@example.com")
    owner = as_user(store, "o@example.com")
    projects.create_project(store, owner, "gone")
    projects.delete_project(store, owner, "gone")
    assert {r["project"] for r in audit.list_records(store, LOCAL)} == {"gone"}
