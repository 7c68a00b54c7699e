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

from agentcost_cli.errors import AgentcostError, AuthError, InvalidInput, NotFound, PermissionDenied, PricingError
from agentcost_cli.services.backend import Backend, LocalBackend
from agentcost_cli.services.reports import ReportRequest, parse_group_by
from agentcost_cli.store.base import EventFilter

from ..server.conftest import PASSWORD, Daemon, seed_team, start_daemon
from ..services.test_import_agents import cc_line

PRICES = Path(__file__).parents[1] / "fixtures" / "pricing" / "genai_prices_data_v2.json"
ROOT = "root@example.com"  # a server admin


def seed_operator_data(db: Path) -> None:
    """A server admin, a price override (so the history has rows) and unconfirmed account emails."""
    from agentcost_cli.services import pricing, users
    from agentcost_cli.services.actor import LOCAL
    from agentcost_cli.store import open_store

    store = open_store(db)
    try:
        users.create_user(store, LOCAL, email=ROOT, password=PASSWORD, admin=True, verified=True)
        users.create_user(store, LOCAL, email="invited@example.com", password=None)
        pricing.set_override(store, LOCAL, provider="openai", model="gpt-4o-mini", rates={"output": "0.5"},
                             effective_from=None, reason="negotiated")
    finally:
        store.close()


def daemon_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The daemon's own home (never the user's), a price source on disk (never the internet),
    sign-in limits a test module's many sign-ins from one address stay under, and no scheduled
    jobs (both modes' stores must change only through the commands compared)."""
    return {"AGENTCOST_HOME": str(tmp / "daemon-home"), "AGENTCOST_PRICING_URL": str(PRICES),
            "AGENTCOST_SCHEDULER": "0",
            "AGENTCOST_RATE_LIMITS": "auth_ip=10000/minute,ip_requests=100000/minute,user_requests=100000/minute",
            **extra}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("contract")
    db = tmp / "shared.db"
    keys = seed_team(db)
    seed_operator_data(db)
    running = start_daemon(tmp, db, env=daemon_env(tmp))
    events = [{"id": f"c-{i}", "timestamp": f"2026-11-{10 + i % 5:02d}T1{i % 10}:00:00Z", "provider": "openai",
               "model": "gpt-4o" if i % 2 else "gpt-4o-mini", "input_tokens": 100 + i, "output_tokens": 10 + i,
               "user": f"u{i % 3}", **({"tags": {"env": "ci"}} if i % 4 == 0 else {})} for i in range(40)]
    events.append({"id": "c-unpriced", "timestamp": "2026-11-12T10:00:00Z", "provider": "acme",
                   "model": "acme-internal-llm", "input_tokens": 5, "output_tokens": 1})
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
    "prices": lambda b: b.list_prices(search="gpt-4o"),
    "prices of a provider at a time": lambda b: b.list_prices(provider="anthropic",
                                                               at=datetime(2026, 1, 1, tzinfo=UTC)),
    "price": lambda b: b.show_price("gpt-4o", provider="openai"),
    "price with an override": lambda b: b.show_price("gpt-4o-mini", provider="openai"),
    "price with tiers": lambda b: b.show_price("claude-sonnet-4-5-20250929"),
    "price history": lambda b: b.price_history(),
    "price history of a model": lambda b: b.price_history(provider="openai", model="gpt-4o-mini"),
    "unpriced models": lambda b: b.missing_prices(),
    "report by model for a user, key and tag": lambda b: b.report(ReportRequest(
        group_by=parse_group_by("model"), users=("u1",), keys=(), tags=())),
    "report by day for a tag": lambda b: b.report(ReportRequest(group_by=parse_group_by("day"),
                                                                tags=(("env", "ci"),))),
    "events page": lambda b: b.list_events(EventFilter(projects=("web",)), limit=7),
    "events second page": lambda b: b.list_events(
        EventFilter(), limit=7, cursor=b.list_events(EventFilter(), limit=7)["next_cursor"]),
    "events filtered and searched": lambda b: b.list_events(
        EventFilter(since="2026-11-11T00:00:00.000000Z", users=("u1",), models=("gpt-4o-mini",)), search="MINI"),
    "events by tag": lambda b: b.list_events(EventFilter(tags=(("env", "ci"),))),
    "event with its price breakdown": lambda b: b.show_event("web", "c-3"),
    "event with an override in its prices": lambda b: b.show_event("web", "c-4"),
    "unpriced event": lambda b: b.show_event("web", "c-unpriced"),
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
    with pytest.raises(NotFound):
        backend.show_event("web", "no-such-event")
    with pytest.raises(NotFound):
        backend.show_event("no-such-project", "c-3")
    with pytest.raises(InvalidInput):
        backend.list_events(EventFilter(), cursor="not-a-cursor")
    with pytest.raises(InvalidInput):
        backend.list_events(EventFilter(), limit=501)


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

    def answer(expected: int) -> httpx.Response:
        """The key's answer once it is `expected`: a change made by another process (the local
        backend) reaches the daemon within its credential cache's lifetime (one second, KEY-04)."""
        import time

        deadline = time.monotonic() + 3
        while True:
            got = httpx.get(f"{running.url}/v1/projects", headers={"Authorization": f"Bearer {keys['read']}"})
            if got.status_code == expected or time.monotonic() > deadline:
                return got
            time.sleep(0.1)

    shown = backend.set_allowed_networks("web", ["10.9.0.0/16"])
    try:
        assert shown["allowed_networks"] == ["10.9.0.0/16"]
        refused = answer(403)
        assert refused.status_code == 403 and refused.json()["type"] == "/problems/forbidden"
    finally:
        assert backend.set_allowed_networks("web", [])["allowed_networks"] == []
    assert answer(200).status_code == 200


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


# -- errors: the same class, message and hint through either backend ---------------------------------
def _error(call: Callable[[], Any]) -> tuple[type[AgentcostError], str, str | None]:
    with pytest.raises(AgentcostError) as caught:
        call()
    return type(caught.value), caught.value.message, caught.value.hint


def _both(running: Daemon, email: str) -> tuple[Any, LocalBackend, Backend]:
    """(store, the LocalBackend as `email`, the RemoteBackend signed in as `email`); close both."""
    from agentcost_cli.auth.credentials import CredentialStore
    from agentcost_cli.client.remote import RemoteBackend
    from agentcost_cli.client.session import RemoteSession
    from agentcost_cli.services.actor import user_actor
    from agentcost_cli.store import open_store

    store = open_store(running.db)
    session = RemoteSession(running.url, email.split("@")[0], CredentialStore(use_env=False))
    session.login(email, PASSWORD)
    return store, LocalBackend(store, user_actor(store.find_user(email))), RemoteBackend(session)


REFUSALS: dict[str, tuple[str, Callable[[Backend], Any], type[AgentcostError]]] = {
    "a non-admin sets a price": ("owner@example.com", lambda b: b.set_price_override(
        provider="openai", model="gpt-4o", rates={"input": "1"}, effective_from=None, reason="cheaper"),
        PermissionDenied),
    "a non-admin removes an override": ("owner@example.com", lambda b: b.unset_price_override(
        provider="openai", model="gpt-4o-mini"), PermissionDenied),
    "a non-admin updates prices": ("owner@example.com", lambda b: b.update_prices(), PermissionDenied),
    "a non-admin reprices": ("viewer@example.com", lambda b: b.reprice(dry_run=True), PermissionDenied),
    "a non-admin reads the outbox": ("owner@example.com", lambda b: b.list_outbox(), PermissionDenied),
    "a non-admin reads a message": ("viewer@example.com", lambda b: b.show_outbox(1), PermissionDenied),
    "an unknown model": ("viewer@example.com", lambda b: b.show_price("no-such-model-x1"), NotFound),
    "an override without rates": (ROOT, lambda b: b.set_price_override(
        provider="openai", model="gpt-4o", rates={"input": None}, effective_from=None, reason="x"), InvalidInput),
    "a rate that is not a number": (ROOT, lambda b: b.set_price_override(
        provider="openai", model="gpt-4o", rates={"input": "cheap"}, effective_from=None, reason="x"), InvalidInput),
    "an override without a reason": (ROOT, lambda b: b.set_price_override(
        provider="openai", model="gpt-4o", rates={"input": "1"}, effective_from=None, reason="  "), InvalidInput),
    "no override to remove": (ROOT, lambda b: b.unset_price_override(provider="openai", model="gpt-4o"), NotFound),
    "no such message": (ROOT, lambda b: b.show_outbox(999_999), NotFound),
    "a wrong current password": ("viewer@example.com", lambda b: b.change_password(
        "a brand new passphrase", current_password="not my password"), AuthError),
    "a too short new password": ("viewer@example.com", lambda b: b.change_password(
        "short", current_password=PASSWORD), InvalidInput),
    "a reset code that is not one": ("viewer@example.com", lambda b: b.reset_password(
        "not-a-token", "a brand new passphrase"), AuthError),
    "a verification code that is not one": ("viewer@example.com", lambda b: b.verify_email("not-a-token"),
                                            AuthError),
    "a non-admin reads another's identities": ("viewer@example.com", lambda b: b.list_identities(ROOT),
                                               PermissionDenied),
    "a non-admin unlinks identities": ("owner@example.com", lambda b: b.unlink_identities("viewer@example.com"),
                                       PermissionDenied),
    "identities of nobody": (ROOT, lambda b: b.list_identities("nobody@example.com"), NotFound),
}


def test_an_administrator_lists_and_unlinks_identities_through_either_backend(
        daemon: tuple[Daemon, dict[str, str]]) -> None:
    running, _ = daemon
    store, local, remote = _both(running, ROOT)
    try:
        viewer = store.find_user("viewer@example.com")
        for index, chosen in enumerate((local, remote)):
            for issuer in ("https://idp.example.com", "https://github.com"):
                store.insert_identity({"user_id": viewer["id"], "issuer": issuer, "subject": f"sub-{index}",
                                       "email_at_link": "viewer@example.com", "created_utc": "2026-11-20T12:00:00Z"})
            listed = chosen.list_identities("viewer@example.com")
            assert listed == (remote if chosen is local else local).list_identities("viewer@example.com")
            assert [(i["issuer"], i["subject"]) for i in listed] == [
                ("https://github.com", f"sub-{index}"), ("https://idp.example.com", f"sub-{index}")]
            assert chosen.unlink_identities("viewer@example.com", issuer="https://github.com") == 1
            assert chosen.unlink_identities("viewer@example.com") == 1
            assert chosen.list_identities("viewer@example.com") == []
    finally:
        remote.close()
        store.close()


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusals_are_the_same_error_with_the_same_words(case: str, daemon: tuple[Daemon, dict[str, str]]) -> None:
    running, _ = daemon
    email, call, expected = REFUSALS[case]
    store, local, remote = _both(running, email)
    try:
        from_local = _error(lambda: call(local))
        from_remote = _error(lambda: call(remote))
    finally:
        remote.close()
        store.close()
    assert from_local[0] is expected
    assert from_remote == from_local


def test_an_administrator_manages_prices_and_reads_the_outbox_through_either_backend(
        daemon: tuple[Daemon, dict[str, str]]) -> None:
    running, _ = daemon
    store, local, remote = _both(running, ROOT)
    both: dict[str, Backend] = {"local": local, "remote": remote}
    try:
        for name, chosen in both.items():
            other = both["remote" if name == "local" else "local"]
            override = chosen.set_price_override(provider="openai", model="gpt-4o", rates={"input": "2", "output": "8"},
                                                 effective_from=datetime(2026, 1, 1, tzinfo=UTC), reason=name)
            assert override["rates"] == {"input": "2", "output": "8"} and override["reason"] == name
            assert other.show_price("gpt-4o", provider="openai", at=datetime(2026, 2, 1, tzinfo=UTC))["overridden"]
            assert _plain(chosen.price_history(model="gpt-4o")) == _plain(other.price_history(model="gpt-4o"))
            assert chosen.reprice(dry_run=True) == other.reprice(dry_run=True)
            assert chosen.unset_price_override(provider="openai", model="gpt-4o") == 1
            assert not other.show_price("gpt-4o", provider="openai")["overridden"]
        applied = remote.reprice(since="2026-11-11T00:00:00.000000Z")
        assert applied["dry_run"] is False and applied["examined"] > 0
        assert local.reprice(since="2026-11-11T00:00:00.000000Z", dry_run=True)["changed"] == 0  # nothing left
        messages = local.list_outbox()
        assert messages and _plain(remote.list_outbox()) == _plain(messages)
        assert _plain(remote.list_outbox(status="pending", limit=1)) == _plain(local.list_outbox(status="pending",
                                                                                                 limit=1))
        invite = next(m for m in messages if m["template"] == "account_invite")
        shown = remote.show_outbox(invite["id"])
        assert shown == local.show_outbox(invite["id"]) and "reset-password?token=" in shown["body"]
    finally:
        remote.close()
        store.close()


def _token(store: Any, recipient: str, template: str) -> str:
    import re

    from agentcost_cli.services import outbox
    from agentcost_cli.services.actor import LOCAL

    message = next(m for m in outbox.list_messages(store, LOCAL) if m["recipient"] == recipient
                   and m["template"] == template)
    found = re.search(r"token=([A-Za-z0-9_\-]+)", outbox.show_message(store, LOCAL, message["id"])["body"])
    assert found is not None
    return found.group(1)


def test_account_links_and_password_changes_work_through_either_backend(
        daemon: tuple[Daemon, dict[str, str]]) -> None:
    """Email verification and password resets need no sign-in; a password change needs the current one."""
    from agentcost_cli.errors import AuthError as Refused
    from agentcost_cli.services import users
    from agentcost_cli.services.actor import LOCAL
    from agentcost_cli.services.sessions import login

    running, _ = daemon
    store, local, remote = _both(running, ROOT)
    try:
        for name, chosen in {"local": local, "remote": remote}.items():
            email = f"{name}-links@example.com"
            users.create_user(store, LOCAL, email=email, password=PASSWORD, verified=False)
            token = _token(store, email, "verify_email")
            assert chosen.verify_email(token) == email
            assert users.show_user(store, LOCAL, email)["email_verified_utc"]
            with pytest.raises(Refused):
                chosen.verify_email(token)  # used
            users.request_password_reset(store, email)
            chosen.reset_password(_token(store, email, "password_reset"), "a reset passphrase here")
            login(store, email=email, password="a reset passphrase here")
        for name in ("local", "remote"):
            email = f"{name}-changes@example.com"
            users.create_user(store, LOCAL, email=email, password=PASSWORD, verified=True)
            own_store, own_local, own_remote = _both(running, email)
            try:
                chosen = own_local if name == "local" else own_remote
                chosen.change_password("my changed passphrase", current_password=PASSWORD)
                login(store, email=email, password="my changed passphrase")
            finally:
                own_remote.close()
                own_store.close()
    finally:
        remote.close()
        store.close()


def test_a_price_update_gives_the_same_answer_through_either_backend(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The daemon updates from its own configured source; the same snapshot on a copy of the same
    store, updated locally, answers the same. A source that fails is the same error both ways."""
    import shutil

    template = tmp_path / "template.db"
    seed_team(template)
    seed_operator_data(template)
    for name in ("remote", "local"):
        for suffix in ("", ".key"):
            shutil.copy(f"{template}{suffix}", tmp_path / f"{name}.db{suffix}")
    monkeypatch.setenv("AGENTCOST_PRICING_URL", str(PRICES))
    broken = tmp_path / "gone.json"
    running = start_daemon(tmp_path, tmp_path / "remote.db", env=daemon_env(tmp_path))
    failing = start_daemon(tmp_path, tmp_path / "local.db", env=daemon_env(
        tmp_path / "failing", AGENTCOST_PRICING_URL=str(broken)))
    try:
        from agentcost_cli.store import open_store

        store_b = open_store(tmp_path / "local.db")
        _, _, remote = _both(running, ROOT)
        from agentcost_cli.services.actor import user_actor

        local = LocalBackend(store_b, user_actor(store_b.find_user(ROOT)))
        try:
            with pytest.raises(InvalidInput, match="--source works only on this machine"):
                remote.update_prices(str(PRICES))
            first = remote.update_prices()
            assert first["status"] == "updated" and first["model_count"] > 1000
            assert local.update_prices() == first
            assert remote.update_prices()["status"] == local.update_prices()["status"] == "unchanged"
            assert _plain(remote.list_prices(search="gpt-4o")) == _plain(local.list_prices(search="gpt-4o"))
            _, _, refused_remote = _both(failing, ROOT)
            try:
                monkeypatch.setenv("AGENTCOST_PRICING_URL", str(broken))
                from_local = _error(local.update_prices)
                from_remote = _error(refused_remote.update_prices)
            finally:
                refused_remote.close()
            assert from_local[0] is PricingError and from_remote == from_local
        finally:
            remote.close()
            store_b.close()
    finally:
        running.stop()
        failing.stop()


def _claude_logs(root: Path) -> Path:
    """Claude Code's projects folder: the repository's fixtures plus a reply logged twice as it
    streamed (the larger copy counts), in project `web`'s folder name."""
    import shutil

    projects = root / "claude" / "projects"
    shutil.copytree(Path(__file__).parents[1] / "fixtures" / "ingest" / "claude_code" / "projects", projects)
    folder = projects / "-home-me-src-web"
    folder.mkdir()
    (folder / "s.jsonl").write_text(cc_line("m1", "r1", 1) + cc_line("m1", "r1", 40) + cc_line("m2", "r2", 5))
    return projects


def test_an_agent_import_is_incremental_and_counts_alike_through_either_backend(
        tmp_path: Path) -> None:
    """The local import keeps its cursors in the store; the remote one on this machine. Either way
    a second run reads nothing old, and an appended reply is all the third run reads."""
    import shutil

    from agentcost_cli.ingest.pipeline import IngestOptions
    from agentcost_cli.services.ingest import Hooks
    from agentcost_cli.store import open_store

    template = tmp_path / "template.db"
    seed_team(template)
    seed_operator_data(template)
    for name in ("remote", "local"):
        for suffix in ("", ".key"):
            shutil.copy(f"{template}{suffix}", tmp_path / f"{name}.db{suffix}")
    projects = _claude_logs(tmp_path)
    running = start_daemon(tmp_path, tmp_path / "remote.db", env=daemon_env(tmp_path))
    try:
        from agentcost_cli.services.actor import user_actor

        store_b = open_store(tmp_path / "local.db")
        _, _, remote = _both(running, ROOT)
        local = LocalBackend(store_b, user_actor(store_b.find_user(ROOT)))
        both: dict[str, Backend] = {"local": local, "remote": remote}

        def imported() -> dict[str, dict[str, int]]:
            return {name: b.import_agent_logs("claude-code", [projects], IngestOptions(), Hooks()).as_dict()
                    for name, b in both.items()}

        try:
            first = imported()
            assert first["remote"] == first["local"]
            assert first["local"]["added"] > 3 and first["local"]["duplicates"] >= 1
            second = imported()
            assert second["remote"] == second["local"]
            assert (second["local"]["files"], second["local"]["read"], second["local"]["added"]) == (0, 0, 0)
            assert second["local"]["unchanged_files"] == first["local"]["files"]
            with (projects / "-home-me-src-web" / "s.jsonl").open("a") as handle:
                handle.write(cc_line("m3", "r3", 11))
            third = imported()
            assert third["remote"] == third["local"]
            assert (third["local"]["files"], third["local"]["read"], third["local"]["added"]) == (1, 1, 1)
            request = ReportRequest(group_by=parse_group_by("project,model"))
            assert remote.report(request)["rows"] == local.report(request)["rows"]
        finally:
            remote.close()
            store_b.close()
    finally:
        running.stop()


def test_an_import_into_a_project_the_user_may_not_write_to_is_refused_alike(
        daemon: tuple[Daemon, dict[str, str]], tmp_path: Path) -> None:
    """Refused before anything is read (locally, the store's cursors; remotely, nothing is sent)."""
    from agentcost_cli.ingest.pipeline import IngestOptions
    from agentcost_cli.services.ingest import Hooks

    running, _ = daemon
    projects = _claude_logs(tmp_path)
    store, local, remote = _both(running, "viewer@example.com")
    try:
        for project, expected in (("web", PermissionDenied), ("not-there", NotFound)):
            def run(b: Backend, project: str = project) -> Any:
                return b.import_agent_logs("claude-code", [projects], IngestOptions(project=project), Hooks())

            from_local = _error(lambda: run(local))
            from_remote = _error(lambda: run(remote))
            assert from_local[0] is expected and from_remote == from_local
        # no --project: a viewer may write to no project at all
        from_local = _error(lambda: local.import_agent_logs("claude-code", [projects], IngestOptions(), Hooks()))
        from_remote = _error(lambda: remote.import_agent_logs("claude-code", [projects], IngestOptions(), Hooks()))
        assert from_local[0] is PermissionDenied and from_remote == from_local
    finally:
        remote.close()
        store.close()


def test_long_lists_arrive_whole_page_after_page(daemon: tuple[Daemon, dict[str, str]],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from agentcost_cli.client import remote as remote_module

    running, _ = daemon
    monkeypatch.setattr(remote_module, "PAGE", 2)
    store, local, remote = _both(running, ROOT)
    try:
        prices = local.list_prices(search="gpt-4o")
        assert len(prices) > 2 and _plain(remote.list_prices(search="gpt-4o")) == _plain(prices)
        assert _plain(remote.price_history()) == _plain(local.price_history())
        assert _plain(remote.list_outbox(limit=3)) == _plain(local.list_outbox(limit=3))
    finally:
        remote.close()
        store.close()


def test_a_codex_import_resumes_with_its_session_state_through_either_backend(tmp_path: Path) -> None:
    """Codex logs carry cumulative totals: the parser's state travels in the cursor (the store's,
    or the remote import's file on this machine), so a resumed run counts only the new turn."""
    import json
    import shutil

    from agentcost_cli.ingest.pipeline import IngestOptions
    from agentcost_cli.services.actor import user_actor
    from agentcost_cli.services.ingest import Hooks
    from agentcost_cli.store import open_store

    template = tmp_path / "template.db"
    seed_team(template)
    seed_operator_data(template)
    for name in ("remote", "local"):
        for suffix in ("", ".key"):
            shutil.copy(f"{template}{suffix}", tmp_path / f"{name}.db{suffix}")
    day = tmp_path / "sessions" / "2026" / "11" / "20"
    day.mkdir(parents=True)
    log = day / "rollout-2026-11-20T10-00-00-abc.jsonl"

    def line(kind: str, payload: dict[str, Any]) -> str:
        return json.dumps({"timestamp": "2026-11-20T10:00:00.000Z", "type": kind, "payload": payload}) + "\n"

    def tokens(total_in: int, total_out: int) -> str:
        return line("event_msg", {"type": "token_count", "info": {"total_token_usage": {
            "input_tokens": total_in, "cached_input_tokens": 0, "output_tokens": total_out,
            "reasoning_output_tokens": 0, "total_tokens": total_in + total_out}}})

    log.write_text(line("session_meta", {"id": "abc", "cwd": "/w/web"}) + line("turn_context", {"model": "gpt-5"})
                   + tokens(100, 10))
    running = start_daemon(tmp_path, tmp_path / "remote.db", env=daemon_env(tmp_path))
    try:
        store_b = open_store(tmp_path / "local.db")
        _, _, remote = _both(running, "owner@example.com")
        local = LocalBackend(store_b, user_actor(store_b.find_user("owner@example.com")))
        both: dict[str, Backend] = {"local": local, "remote": remote}
        try:
            runs = []
            for more in ("", tokens(250, 30)):  # cumulative: the second turn used 150 in / 20 out
                with log.open("a") as handle:
                    handle.write(more)
                runs.append({name: b.import_agent_logs("codex", [tmp_path / "sessions"], IngestOptions(),
                                                       Hooks()).as_dict() for name, b in both.items()})
            assert [r["remote"] for r in runs] == [r["local"] for r in runs]
            assert [(r["local"]["added"], r["local"]["read"]) for r in runs] == [(1, 3), (1, 1)]
            exported = {name: [(e["input_tokens"], e["output_tokens"], e["model"], e["project"])
                               for e in b.export_events(EventFilter(projects=("web",)))] for name, b in both.items()}
            assert exported["remote"] == exported["local"] == [(100, 10, "gpt-5", "web"), (150, 20, "gpt-5", "web")]
        finally:
            remote.close()
            store_b.close()
    finally:
        running.stop()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_the_dashboard_shows_the_same_figures_and_loads_every_screen_in_both_modes(
        backend: Backend, daemon: tuple[Daemon, dict[str, str]]) -> None:
    """`agentcost tui` over this backend: the Overview's figures are those the services give on
    the store for the same user, and no screen fails to load (remote mode included)."""
    from agentcost_cli.services.actor import user_actor
    from agentcost_cli.store import open_store
    from agentcost_cli.tui.factory import make_app
    from agentcost_cli.tui.overview_data import load_overview
    from agentcost_cli.tui.screens.base import DataScreen
    from agentcost_cli.tui.screens.overview import OverviewScreen

    from ..tui.conftest import wait_loaded, wait_until

    running, _ = daemon
    now = datetime(2026, 11, 15, 12, tzinfo=UTC)  # after the seeded events (Nov 10-14)
    app = make_app(lambda: backend, location="contract", shared=True, clock=lambda: now, refresh_seconds=0)
    app.runner.close = lambda: None  # type: ignore[method-assign]  # the fixture closes the backend
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(pilot)
        screen = app.screen
        assert isinstance(screen, OverviewScreen) and screen.load_error is None
        shown = screen.overview
        await wait_until(pilot, lambda: screen.budgets is not None)
        for key in "23456":
            await pilot.press(key)
            await wait_loaded(pilot)
            assert isinstance(app.screen, DataScreen)
            assert app.screen.load_error is None, (key, app.screen.load_error)
    store = open_store(running.db)
    try:
        user = store.find_user("owner@example.com")
        reference = load_overview(LocalBackend(store, user_actor(user)), now=now, zone=UTC, zone_name="UTC")
    finally:
        store.close()
    assert shown == reference
    assert shown is not None and shown.month_events > 0 and shown.top["project"]
