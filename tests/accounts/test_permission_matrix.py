"""The permission matrix: every service operation x every kind of actor, from one table.

`EXPECTED` says, per operation, which actors may perform it. `INVOKE` says how to call it
against a seeded team. The test collects every public service function that takes an
`actor` and fails when one has no row: a new operation cannot ship without a rule.
Allowed calls must succeed (any error fails the test); denied ones must raise
PermissionDenied, or NotFound where the actor may not even see the project.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest

import agentcost_cli.services as services_pkg
from agentcost_cli.errors import NotFound, PermissionDenied
from agentcost_cli.ingest.pipeline import IngestOptions
from agentcost_cli.services import (
    alert_run,
    alert_tests,
    alerting,
    audit,
    budgets,
    channels,
    clock,
    demo,
    events,
    export,
    ingest,
    jobs,
    keys,
    mfa,
    outbox,
    pricing,
    projects,
    reports,
    rules,
    sessions,
    sso,
    usage,
    users,
)
from agentcost_cli.services.actor import LOCAL, Actor
from agentcost_cli.store.base import EventFilter, Store

from .conftest import T0, as_user, make_user, project_with

ACTORS = ("owner", "admin", "member", "viewer", "outsider", "server_admin", "key_ingest", "key_read", "key_admin",
          "local")
PROJECT_ROLES = ("owner", "admin", "member", "viewer")


def allow(*names: str) -> frozenset[str]:
    unknown = set(names) - set(ACTORS)
    assert not unknown, unknown
    return frozenset(names) | {"server_admin", "local"}  # operators may do everything


OPERATORS = allow()
READERS = allow("owner", "admin", "member", "viewer", "key_read", "key_admin")  # a project's usage
MANAGERS = allow("owner", "admin", "key_admin")  # a project's budgets, rules and channels
ANY_USER = allow("owner", "admin", "member", "viewer", "outsider")
EVERYONE = frozenset(ACTORS)

EXPECTED: dict[str, frozenset[str]] = {
    "users.create_user": OPERATORS,
    "users.list_users": OPERATORS,
    "users.show_user": OPERATORS,  # another user's account; one's own is always allowed (tested apart)
    "users.set_status": OPERATORS,
    "users.update_user": OPERATORS,
    "users.change_email": OPERATORS,  # another user's address
    "users.delete_user": OPERATORS,
    "users.change_password": OPERATORS,
    "users.request_verification": OPERATORS,
    "sessions.list_sessions": OPERATORS,
    "sessions.revoke_session": OPERATORS,
    "mfa.begin_enrolment": OPERATORS,
    "mfa.confirm_enrolment": OPERATORS,
    "mfa.disable": OPERATORS,
    "mfa.regenerate_recovery_codes": OPERATORS,
    "sso.list_identities": OPERATORS,  # another user's links; one's own are always listed
    "sso.unlink_identities": OPERATORS,
    "projects.list_projects": EVERYONE,  # filtered to what each may see (tested apart)
    "projects.create_project": ANY_USER,
    "projects.show_project": allow("owner", "admin", "member", "viewer", "key_read", "key_admin"),
    "projects.rename_project": allow("owner", "admin"),
    "projects.delete_project": allow("owner"),
    "projects.share_project": allow("owner", "admin"),
    "projects.unshare_project": allow("owner", "admin"),
    "projects.transfer_project": allow("owner"),
    "projects.set_allowed_networks": allow("owner", "admin"),
    "keys.list_keys": allow("owner", "admin", "member", "key_admin"),
    "keys.create_key": allow("owner", "admin", "member", "key_admin"),
    "keys.revoke_key": allow("owner", "admin", "key_admin"),  # a key someone else created
    "keys.rotate_key": allow("owner", "admin", "key_admin"),
    "audit.list_records": allow("owner", "admin", "key_admin"),  # one project's records
    "outbox.list_messages": OPERATORS,
    "outbox.show_message": OPERATORS,
    "usage.record_events": allow("owner", "admin", "member", "key_ingest", "key_admin"),
    "usage.prepare_events": allow("owner", "admin", "member", "key_ingest", "key_admin"),
    "usage.ingest_scope": allow("owner", "admin", "member", "key_ingest", "key_admin"),
    "ingest.ingest_inputs": allow("owner", "admin", "member", "key_ingest", "key_admin"),
    "ingest.import_agent_logs": allow("owner", "admin", "member", "key_ingest", "key_admin"),
    "reports.build_report": allow("owner", "admin", "member", "viewer", "key_read", "key_admin"),
    "export.export_rows": allow("owner", "admin", "member", "viewer", "key_read", "key_admin"),
    "events.list_events": allow("owner", "admin", "member", "viewer", "key_read", "key_admin"),
    "events.show_event": allow("owner", "admin", "member", "viewer", "key_read", "key_admin"),
    "pricing.list_models": allow("owner", "admin", "member", "viewer", "outsider", "key_read", "key_admin"),
    "pricing.show_model": allow("owner", "admin", "member", "viewer", "outsider", "key_read", "key_admin"),
    "pricing.history": allow("owner", "admin", "member", "viewer", "outsider", "key_read", "key_admin"),
    "pricing.missing": allow("owner", "admin", "member", "viewer", "outsider", "key_read", "key_admin"),
    "pricing.set_override": OPERATORS,
    "pricing.unset_override": OPERATORS,
    "pricing.update_prices": OPERATORS,
    "pricing.reprice": OPERATORS,
    "demo.build_demo_store": OPERATORS,
    "demo.create_demo_store": OPERATORS,
    "channels.list_channels": EVERYONE,  # filtered to what each may see
    "channels.get_channel": READERS,
    "channels.add_channel": MANAGERS,
    "channels.remove_channel": MANAGERS,
    "channels.set_enabled": MANAGERS,
    "channels.rotate_secret": MANAGERS,
    "budgets.list_budgets": EVERYONE,
    "budgets.budget_status": READERS,
    "budgets.create_budget": MANAGERS,
    "budgets.update_budget": MANAGERS,
    "budgets.delete_budget": MANAGERS,
    "rules.list_rules": EVERYONE,
    "rules.create_rule": MANAGERS,
    "rules.update_rule": MANAGERS,
    "rules.delete_rule": MANAGERS,
    "alerting.list_alerts": EVERYONE,
    "alerting.list_mutes": EVERYONE,
    "alerting.mute": MANAGERS,
    "alerting.unmute": MANAGERS,
    "alert_tests.test_channels": MANAGERS,
    "alert_run.run_alerts": OPERATORS,
    "alert_run.dispatch": OPERATORS,
    "outbox.deliveries": MANAGERS,  # the project's own channel's deliveries
    "outbox.retry": MANAGERS,
    "jobs.list_jobs": OPERATORS,
}
# Public functions that take an actor but are not operations: the audit recorder (every
# operation calls it with the actor it already checked).
NOT_OPERATIONS = {"audit.record", "ownership.owner_project_id", "ownership.check", "ownership.visible"}


@dataclass
class Team:
    store: Store
    actors: dict[str, Actor]
    local_key_id: int
    target_session: int
    tmp: Path


def _seed(store: Store) -> tuple[int, int]:
    project_with(store, "p", owner="owner@example.com", admin="admin@example.com", member="member@example.com",
                 viewer="viewer@example.com", member2="target@example.com")
    make_user(store, "outsider@example.com")
    make_user(store, "root@example.com", admin=True)
    store.update_user(int(store.find_user("target@example.com")["id"]), {"email_verified_utc": None})
    for scope in ("ingest", "read", "admin"):
        keys.create_key(store, LOCAL, "p", name=f"{scope} key", scopes=(scope,))
    listing, _ = keys.create_key(store, LOCAL, "p", name="someone else's", scopes=("ingest",))
    session = sessions.login(store, email="target@example.com", password="correct horse battery staple")
    users.request_verification(store, LOCAL, "target@example.com")
    # A project channel (localhost: a test delivery is refused as loopback, never sent), budget and rule.
    channels.add_channel(store, LOCAL, name="pchan", kind="webhook", target="https://localhost/hook", project="p")
    budgets.create_budget(store, LOCAL, name="pb", amount="10", project="p", channel_names=["pchan"])
    rules.create_rule(store, LOCAL, name="pr", expression="cost > 1 per day", project="p", channel_names=["pchan"])
    return int(listing["id"]), session.session_id


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, int]:
    """One seeded store per test module, copied for each test: 300 cases, one argon2 login."""
    from agentcost_cli.store import open_store

    path = tmp_path_factory.mktemp("matrix") / "team.db"
    with clock.frozen(T0):
        store = open_store(path)
        key_id, session_id = _seed(store)
        store.close()
    return path, key_id, session_id


@pytest.fixture
def team(seeded: tuple[Path, int, int], tmp_path: Path, frozen: object) -> Iterator[Team]:
    from agentcost_cli.store import open_store

    template, key_id, session_id = seeded
    for suffix in ("", ".key"):
        shutil.copy(f"{template}{suffix}", tmp_path / f"team.db{suffix}")
    store = open_store(tmp_path / "team.db")
    actors = {role: as_user(store, f"{role}@example.com") for role in (*PROJECT_ROLES, "outsider")}
    actors["server_admin"] = as_user(store, "root@example.com")
    actors["local"] = LOCAL
    for row in store.list_api_keys():
        scope = row["scopes"]
        if row["name"] == f"{scope} key":
            actors[f"key_{scope}"] = Actor(kind="key", key_id=int(row["id"]), key_prefix=row["prefix"],
                                           key_project_id=int(row["project_id"]), scopes=frozenset({scope}))
    yield Team(store, actors, key_id, session_id, tmp_path)
    store.close()


def _confirm(t: Team, a: Actor) -> Any:
    enrolment = mfa.begin_enrolment(t.store, LOCAL, "target@example.com")
    return mfa.confirm_enrolment(t.store, a, pyotp.TOTP(enrolment.secret).at(clock.now()), "target@example.com")


def _with_mfa(t: Team) -> list[str]:
    enrolment = mfa.begin_enrolment(t.store, LOCAL, "target@example.com")
    return mfa.confirm_enrolment(t.store, LOCAL, pyotp.TOTP(enrolment.secret).at(clock.now()), "target@example.com")


T = "target@example.com"
INVOKE: dict[str, Callable[[Team, Actor], Any]] = {
    "users.create_user": lambda t, a: users.create_user(t.store, a, email="new@example.com", password=None),
    "users.list_users": lambda t, a: users.list_users(t.store, a),
    "users.show_user": lambda t, a: users.show_user(t.store, a, T),
    "users.set_status": lambda t, a: users.set_status(t.store, a, T, active=False),
    "users.update_user": lambda t, a: users.update_user(t.store, a, T, name="Target"),
    "users.change_email": lambda t, a: users.change_email(t.store, a, "moved@example.com", T),
    "users.delete_user": lambda t, a: users.delete_user(t.store, a, T),
    "users.change_password": lambda t, a: users.change_password(t.store, a, email=T,
                                                                new_password="a different passphrase"),
    "users.request_verification": lambda t, a: users.request_verification(t.store, a, T),
    "sessions.list_sessions": lambda t, a: sessions.list_sessions(t.store, a, T),
    "sessions.revoke_session": lambda t, a: sessions.revoke_session(t.store, a, t.target_session),
    "mfa.begin_enrolment": lambda t, a: mfa.begin_enrolment(t.store, a, T),
    "mfa.confirm_enrolment": _confirm,
    "mfa.disable": lambda t, a: mfa.disable(t.store, a, _with_mfa(t)[0], T),
    "mfa.regenerate_recovery_codes": lambda t, a: mfa.regenerate_recovery_codes(t.store, a, _with_mfa(t)[0], T),
    "sso.list_identities": lambda t, a: sso.list_identities(t.store, a, T),
    "sso.unlink_identities": lambda t, a: sso.unlink_identities(t.store, a, T),
    "projects.list_projects": lambda t, a: projects.list_projects(t.store, a),
    "projects.create_project": lambda t, a: projects.create_project(t.store, a, "fresh"),
    "projects.show_project": lambda t, a: projects.show_project(t.store, a, "p"),
    "projects.rename_project": lambda t, a: projects.rename_project(t.store, a, "p", name="Renamed"),
    "projects.delete_project": lambda t, a: projects.delete_project(t.store, a, "p"),
    "projects.share_project": lambda t, a: projects.share_project(t.store, a, "p", "outsider@example.com", "viewer"),
    "projects.unshare_project": lambda t, a: projects.unshare_project(t.store, a, "p", T),
    "projects.transfer_project": lambda t, a: projects.transfer_project(t.store, a, "p", T),
    "projects.set_allowed_networks": lambda t, a: projects.set_allowed_networks(t.store, a, "p", ["10.0.0.0/8"]),
    "keys.list_keys": lambda t, a: keys.list_keys(t.store, a, "p"),
    "keys.create_key": lambda t, a: keys.create_key(t.store, a, "p", name="new", scopes=("read",)),
    "keys.revoke_key": lambda t, a: keys.revoke_key(t.store, a, str(t.local_key_id)),
    "keys.rotate_key": lambda t, a: keys.rotate_key(t.store, a, str(t.local_key_id)),
    "audit.list_records": lambda t, a: audit.list_records(t.store, a, project="p"),
    "outbox.list_messages": lambda t, a: outbox.list_messages(t.store, a),
    "outbox.show_message": lambda t, a: outbox.show_message(t.store, a, 1),
    "usage.record_events": lambda t, a: _all_stored(usage.record_events(t.store, a, [_api_event()], project="p")),
    "usage.prepare_events": lambda t, a: usage.prepare_events(t.store, a, [_api_event()], project="p"),
    "usage.ingest_scope": lambda t, a: usage.ingest_scope(t.store, a, "native", "p"),
    "ingest.ingest_inputs": lambda t, a: ingest.ingest_inputs(t.store, a, [str(_event_file(t))],
                                                              IngestOptions(project="p")),
    "ingest.import_agent_logs": lambda t, a: ingest.import_agent_logs(t.store, a, "claude-code", [_cc_root(t)],
                                                                      IngestOptions(project="p")),
    "reports.build_report": lambda t, a: reports.build_report(t.store, a, reports.ReportRequest(projects=("p",))),
    "export.export_rows": lambda t, a: list(export.export_rows(t.store, a, EventFilter(projects=("p",)))),
    "events.list_events": lambda t, a: events.list_events(t.store, a, EventFilter(projects=("p",))),
    "events.show_event": lambda t, a: events.show_event(t.store, a, "p", _stored_event(t)),
    "pricing.list_models": lambda t, a: pricing.list_models(t.store, a, search="gpt-4o"),
    "pricing.show_model": lambda t, a: pricing.show_model(t.store, a, "gpt-4o", provider="openai"),
    "pricing.history": lambda t, a: pricing.history(t.store, a),
    "pricing.missing": lambda t, a: pricing.missing(t.store, a),
    "pricing.set_override": lambda t, a: pricing.set_override(t.store, a, provider="openai", model="gpt-4o",
                                                              rates={"input": "1"}, effective_from=None,
                                                              reason="matrix"),
    "pricing.unset_override": lambda t, a: (
        pricing.set_override(t.store, LOCAL, provider="openai", model="gpt-4o", rates={"input": "1"},
                             effective_from=None, reason="matrix"),
        pricing.unset_override(t.store, a, provider="openai", model="gpt-4o")),
    "pricing.update_prices": lambda t, a: pricing.update_prices(t.store, a, source=str(PRICES), timeout=5),
    "pricing.reprice": lambda t, a: pricing.reprice(t.store, a, dry_run=True),
    "demo.build_demo_store": lambda t, a: demo.build_demo_store(t.store, a, events=20),
    "demo.create_demo_store": lambda t, a: demo.create_demo_store(a, t.tmp / "demo.db", events=20)[0].close(),
    "channels.list_channels": lambda t, a: channels.list_channels(t.store, a),
    "channels.get_channel": lambda t, a: channels.get_channel(t.store, a, "pchan"),
    "channels.add_channel": lambda t, a: channels.add_channel(t.store, a, name="new", kind="email",
                                                              target="ops@example.com", project="p"),
    "channels.remove_channel": lambda t, a: channels.remove_channel(t.store, a, "pchan"),
    "channels.set_enabled": lambda t, a: channels.set_enabled(t.store, a, "pchan", False),
    "channels.rotate_secret": lambda t, a: channels.rotate_secret(t.store, a, "pchan"),
    "budgets.list_budgets": lambda t, a: budgets.list_budgets(t.store, a),
    "budgets.budget_status": lambda t, a: budgets.budget_status(t.store, a, "pb"),
    "budgets.create_budget": lambda t, a: budgets.create_budget(t.store, a, name="nb", amount="5", project="p"),
    "budgets.update_budget": lambda t, a: budgets.update_budget(t.store, a, "pb", amount="20"),
    "budgets.delete_budget": lambda t, a: budgets.delete_budget(t.store, a, "pb"),
    "rules.list_rules": lambda t, a: rules.list_rules(t.store, a),
    "rules.create_rule": lambda t, a: rules.create_rule(t.store, a, name="nr", expression="events > 5 per hour",
                                                        project="p"),
    "rules.update_rule": lambda t, a: rules.update_rule(t.store, a, "pr", enabled=False),
    "rules.delete_rule": lambda t, a: rules.delete_rule(t.store, a, "pr"),
    "alerting.list_alerts": lambda t, a: alerting.list_alerts(t.store, a),
    "alerting.list_mutes": lambda t, a: alerting.list_mutes(t.store, a),
    "alerting.mute": lambda t, a: alerting.mute(t.store, a, "budget:pb", duration=timedelta(hours=1)),
    "alerting.unmute": lambda t, a: alerting.unmute(t.store, a, "budget:pb"),
    "alert_tests.test_channels": lambda t, a: alert_tests.test_channels(t.store, a, ["pchan"]),
    "alert_run.run_alerts": lambda t, a: alert_run.run_alerts(t.store, a),
    "alert_run.dispatch": lambda t, a: alert_run.dispatch(t.store, a),
    "outbox.deliveries": lambda t, a: outbox.deliveries(t.store, a, channel="pchan"),
    "outbox.retry": lambda t, a: outbox.retry(t.store, a, all_failed=True, since="2026-01-01T00:00:00.000000Z",
                                              channel="pchan"),
    "jobs.list_jobs": lambda t, a: jobs.list_jobs(t.store, a),
}

PRICES = Path(__file__).parents[1] / "fixtures" / "pricing" / "genai_prices_data_v2.json"


def _api_event() -> dict[str, Any]:
    return {"id": "api-1", "timestamp": "2026-11-20T10:00:00Z", "provider": "openai", "model": "gpt-4o",
            "input_tokens": 10, "output_tokens": 5}


def _stored_event(t: Team) -> str:
    """The id of an event in project p (stored by the local owner)."""
    _all_stored(usage.record_events(t.store, LOCAL, [_api_event()], project="p"))
    return str(_api_event()["id"])


def _all_stored(result: Any) -> Any:
    assert [item.status for item in result.items] == ["created"], result
    return result


def _event_file(t: Team) -> Path:
    path = t.tmp / "events.jsonl"
    path.write_text('{"id": "m1", "timestamp": "2026-11-20T10:00:00Z", "provider": "openai", "model": "gpt-4o", '
                    '"input_tokens": 10, "output_tokens": 5}\n')
    return path


def _cc_root(t: Team) -> Path:
    folder = t.tmp / "claude" / "projects" / "-home-me-src-shop"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "s.jsonl").write_text(json.dumps({
        "type": "assistant", "sessionId": "s", "uuid": "u1", "timestamp": "2026-11-20T10:00:00.000Z",
        "requestId": "r1", "message": {"id": "m1", "model": "claude-sonnet-4-5-20250929", "role": "assistant",
                                       "usage": {"input_tokens": 10, "output_tokens": 5}}}) + "\n")
    return folder.parent


def service_operations() -> set[str]:
    """Every public function in services/ whose signature takes an `actor`."""
    found = set()
    for info in pkgutil.iter_modules(services_pkg.__path__):
        if info.name in ("permissions", "actor"):  # the checking machinery itself
            continue
        module = importlib.import_module(f"agentcost_cli.services.{info.name}")
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ == module.__name__ and not name.startswith("_") \
                    and "actor" in inspect.signature(fn).parameters:
                found.add(f"{info.name}.{name}")
    return found


def test_every_service_operation_has_a_rule_and_a_call() -> None:
    operations = service_operations()
    operations -= NOT_OPERATIONS
    assert operations - EXPECTED.keys() == set(), "service operations without a permission rule"
    assert EXPECTED.keys() - operations == set(), "rules for operations that no longer exist"
    assert EXPECTED.keys() == INVOKE.keys()


@pytest.mark.parametrize("actor_name", ACTORS)
@pytest.mark.parametrize("operation", sorted(EXPECTED))
def test_permission_matrix(team: Team, operation: str, actor_name: str) -> None:
    actor = team.actors[actor_name]
    if actor_name in EXPECTED[operation]:
        INVOKE[operation](team, actor)  # allowed: must simply work
    else:
        with pytest.raises((PermissionDenied, NotFound)):
            INVOKE[operation](team, actor)


def test_lists_show_only_what_the_actor_may_see(team: Team) -> None:
    store = team.store
    project_with(store, "secret", owner="root@example.com")
    for name in (*PROJECT_ROLES, "key_read", "key_admin"):
        assert [p["slug"] for p in projects.list_projects(store, team.actors[name])] == ["p"], name
    for name in ("outsider", "key_ingest"):
        assert projects.list_projects(store, team.actors[name]) == [], name
    assert [p["slug"] for p in projects.list_projects(store, LOCAL)] == ["p", "secret"]
    with pytest.raises(NotFound):  # not "forbidden": the project's existence is not revealed
        projects.show_project(store, team.actors["owner"], "secret")
    assert keys.list_keys(store, team.actors["outsider"]) == []
    assert {k["project"] for k in keys.list_keys(store, team.actors["owner"])} == {"p"}


def test_everyone_may_see_and_manage_their_own_account(team: Team) -> None:
    for name in (*PROJECT_ROLES, "outsider"):
        me = team.actors[name]
        assert users.show_user(team.store, me)["email"] == me.email
        assert sessions.list_sessions(team.store, me) == []


def test_role_changes_apply_at_once(team: Team) -> None:
    store, member = team.store, team.actors["member"]
    projects.share_project(store, team.actors["owner"], "p", "member@example.com", "viewer")
    with pytest.raises(PermissionDenied):
        keys.create_key(store, member, "p", name="late", scopes=("ingest",))
