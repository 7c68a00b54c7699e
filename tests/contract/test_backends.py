"""Local and remote mode give the same answers: one set of scenarios runs through the
LocalBackend (the services on the store, as the user) and the RemoteBackend (a real
`agentcost daemon` process on the same store, signed in as the same user)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentcost_cli.errors import NotFound, PermissionDenied
from agentcost_cli.services.backend import Backend, LocalBackend
from agentcost_cli.services.reports import ReportRequest, parse_group_by
from agentcost_cli.store.base import EventFilter

from ..server.conftest import PASSWORD, Daemon, seed_team, start_daemon


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("contract")
    db = tmp / "shared.db"
    keys = seed_team(db)
    running = start_daemon(tmp, db)
    events = [{"id": f"c-{i}", "timestamp": f"2026-11-{10 + i % 5:02d}T1{i % 10}:00:00Z", "provider": "openai",
               "model": "gpt-4o" if i % 2 else "gpt-4o-mini", "input_tokens": 100 + i, "output_tokens": 10 + i,
               "user": f"u{i % 3}"} for i in range(40)]
    answer = httpx.post(f"{running.url}/v1/events", json={"events": events},
                        headers={"Authorization": f"Bearer {keys['ingest']}"})
    assert answer.status_code == 200, answer.text
    yield running, keys
    running.stop()


@pytest.fixture(params=["local", "remote"])
def backend(request: pytest.FixtureRequest, daemon: tuple[Daemon, dict[str, str]], tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    running, _ = daemon
    email = "owner@example.com"
    if request.param == "local":
        from agentcost_cli.services.actor import user_actor
        from agentcost_cli.store import open_store

        store = open_store(running.db)
        yield LocalBackend(store, user_actor(store.find_user(email)))
        store.close()
        return
    from agentcost_cli.auth.credentials import CredentialStore
    from agentcost_cli.client.remote import RemoteBackend
    from agentcost_cli.client.session import RemoteSession

    session = RemoteSession(running.url, "contract", CredentialStore(use_env=False))
    session.login(email, PASSWORD)
    remote = RemoteBackend(session)
    yield remote
    remote.close()


SCENARIOS: dict[str, Callable[[Backend], Any]] = {
    "projects": lambda b: b.list_projects(),
    "project": lambda b: b.show_project("web"),
    "report by day,model": lambda b: b.report(ReportRequest(group_by=parse_group_by("day,model"))),
    "report by user in a zone": lambda b: b.report(ReportRequest(
        group_by=parse_group_by("user"), since=datetime(2026, 11, 11, tzinfo=UTC),
        until=datetime(2026, 11, 14, tzinfo=UTC), zone=UTC, zone_name="UTC", projects=("web",))),
    "export": lambda b: list(b.export_events(EventFilter(projects=("web",)))),
    "keys": lambda b: b.list_keys("web"),
    "me": lambda b: b.show_user(),
}


def _plain(value: Any) -> Any:
    """As JSON carries it: tuples become lists."""
    import orjson

    return orjson.loads(orjson.dumps(value))


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_both_backends_answer_alike(scenario: str, daemon: tuple[Daemon, dict[str, str]], tmp_path: Path) -> None:
    from agentcost_cli.auth.credentials import CredentialStore
    from agentcost_cli.client.remote import RemoteBackend
    from agentcost_cli.client.session import RemoteSession
    from agentcost_cli.services.actor import user_actor
    from agentcost_cli.store import open_store

    running, _ = daemon
    store = open_store(running.db)
    local = LocalBackend(store, user_actor(store.find_user("owner@example.com")))
    session = RemoteSession(running.url, "contract", CredentialStore(use_env=False))
    session.login("owner@example.com", PASSWORD)
    remote = RemoteBackend(session)
    try:
        expected = _plain(SCENARIOS[scenario](local))
        got = _plain(SCENARIOS[scenario](remote))
    finally:
        remote.close()
        store.close()
    assert got == expected
    assert got  # a scenario that answers nothing proves nothing


def test_errors_are_the_same_errors(backend: Backend) -> None:
    with pytest.raises(NotFound):
        backend.show_project("no-such-project")
    with pytest.raises(PermissionDenied):
        backend.list_users()  # the owner of a project is not a server admin


def test_changes_made_through_one_are_seen_through_the_other(backend: Backend,
                                                            daemon: tuple[Daemon, dict[str, str]]) -> None:
    slug = f"made-{type(backend).__name__.lower()}"
    created = backend.create_project(slug, name="Made here")
    assert created["role"] == "owner"
    listing, key = backend.create_key(slug, name="ci", scopes=("ingest",),
                                      expires=datetime.now(UTC) + timedelta(days=1))
    assert key.startswith("ac_live_") and listing["state"] == "active"
    rotated, new_key = backend.rotate_key(str(listing["id"]), overlap=timedelta(hours=1))
    assert rotated["replaces"]["id"] == listing["id"] and new_key != key
    assert backend.revoke_key(new_key[:12])["state"] == "revoked"
    records = backend.list_audit(project=slug)
    assert [r["action"] for r in records][:3] == ["key.revoke", "key.rotate", "key.create"]
    assert backend.delete_project(slug) == 0


def test_an_allow_list_set_through_either_backend_binds_the_keys(backend: Backend,
                                                                  daemon: tuple[Daemon, dict[str, str]]) -> None:
    running, keys = daemon
    shown = backend.set_allowed_networks("web", ["10.9.0.0/16"])
    try:
        assert shown["allowed_networks"] == ["10.9.0.0/16"]
        refused = httpx.get(f"{running.url}/v1/projects", headers={"Authorization": f"Bearer {keys['read']}"})
        assert refused.status_code == 403 and refused.json()["type"] == "/problems/forbidden"
    finally:
        assert backend.set_allowed_networks("web", [])["allowed_networks"] == []
    allowed = httpx.get(f"{running.url}/v1/projects", headers={"Authorization": f"Bearer {keys['read']}"})
    assert allowed.status_code == 200


def test_an_administrator_manages_users_through_either_backend(daemon: tuple[Daemon, dict[str, str]],
                                                              tmp_path: Path) -> None:
    from agentcost_cli.auth.credentials import CredentialStore
    from agentcost_cli.client.remote import RemoteBackend
    from agentcost_cli.client.session import RemoteSession
    from agentcost_cli.services import users
    from agentcost_cli.services.actor import LOCAL, user_actor
    from agentcost_cli.store import open_store

    running, _ = daemon
    store = open_store(running.db)
    if store.find_user("root@example.com") is None:
        users.create_user(store, LOCAL, email="root@example.com", password=PASSWORD, admin=True, verified=True)
    session = RemoteSession(running.url, "admin", CredentialStore(use_env=False))
    session.login("root@example.com", PASSWORD)
    both = {"local": LocalBackend(store, user_actor(store.find_user("root@example.com"))),
            "remote": RemoteBackend(session)}
    try:
        for name, chosen in both.items():
            email = f"{name}-made@example.com"
            created = chosen.create_user(email=email, password="a long enough passphrase", name=name, verified=True)
            assert created["email"] == email and created["has_password"]
            assert chosen.update_user(email, admin=True)["is_admin"] is True
            assert chosen.set_user_status(email, active=False)["status"] == "disabled"
            shown = both["remote" if name == "local" else "local"].show_user(email)
            assert shown["status"] == "disabled" and shown["is_admin"] is True
            chosen.delete_user(email)
            with pytest.raises(NotFound):
                chosen.show_user(email)
        assert _plain(both["local"].list_users()) == _plain(both["remote"].list_users())
    finally:
        both["remote"].close()
        store.close()
