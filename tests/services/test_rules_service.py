"""Custom alert rules (services/rules.py): canonical text, refused expressions, channels,
who may see and change them, and that a disabled rule is not evaluated."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agentcost_cli.alerts.rules import compile_rule
from agentcost_cli.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from agentcost_cli.services import rules
from agentcost_cli.services.actor import LOCAL, Actor
from agentcost_cli.services.evaluate import evaluate_all
from agentcost_cli.store.base import Store

from . import test_budgets as shared
from .test_budgets import T0, USD, add, add_user, ev, hook, project

# the shared fixtures
any_store = shared.any_store
frozen = shared.frozen
sqlite_store = shared.sqlite_store


def test_rules_are_stored_as_canonical_text(sqlite_store: Store) -> None:
    project(sqlite_store, "web")
    made = rules.create_rule(sqlite_store, LOCAL, name="r1", expression='COST > $5 AND Provider == "openai"',
                             project="web")
    canonical = compile_rule('COST > $5 AND Provider == "openai"').to_text()
    assert made["expression"] == canonical
    assert canonical.endswith(" per day")  # no window means per day
    assert compile_rule(made["expression"]) == compile_rule('cost > 5 and provider == "openai" per day')
    assert (made["project"], made["enabled"], made["channels"]) == ("web", True, [])
    stored = sqlite_store.find_rule("r1")
    assert stored is not None and stored["expression"] == canonical
    assert [(r["name"], r["project"]) for r in rules.list_rules(sqlite_store, LOCAL)] == [("r1", "web")]
    assert rules.update_rule(sqlite_store, LOCAL, "r1", enabled=False)["project"] == "web"


@pytest.mark.parametrize(("expression", "message"), [
    ("cost >>> 5", "column"),
    ("cost > 5 per fortnight", "column"),
    ('provider > "openai"', "column"),
    ('cost > 1 or tag.team == "x"', "tag.team"),
    ('tag.team != "x"', "tag.team"),
    ('tag.team in ["x", "y"]', "tag.team"),
])
def test_bad_expressions_are_refused_and_nothing_is_stored(sqlite_store: Store, expression: str,
                                                           message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        rules.create_rule(sqlite_store, LOCAL, name="bad", expression=expression)
    assert message in caught.value.message
    assert sqlite_store.list_rules() == []


def test_names_channels_and_updates(sqlite_store: Store) -> None:
    project(sqlite_store, "web")
    project(sqlite_store, "api")
    hook(sqlite_store, "api-hook", "api")
    hook(sqlite_store, "web-hook", "web")
    with pytest.raises(InvalidInput) as caught:
        rules.create_rule(sqlite_store, LOCAL, name="has space", expression="cost > 1")
    assert "invalid rule name" in caught.value.message
    with pytest.raises(InvalidInput) as caught:
        rules.create_rule(sqlite_store, LOCAL, name="r", expression="cost > 1", project="web",
                          channel_names=["api-hook"])
    assert "belongs to another project" in caught.value.message
    with pytest.raises(InvalidInput) as caught:
        rules.create_rule(sqlite_store, LOCAL, name="r", expression="cost > 1", channel_names=["nope"])
    assert "no channel named 'nope'" in caught.value.message
    rules.create_rule(sqlite_store, LOCAL, name="r", expression="cost > 1", project="web",
                      channel_names=["web-hook"])
    with pytest.raises(Conflict):
        rules.create_rule(sqlite_store, LOCAL, name="r", expression="cost > 2")
    with pytest.raises(InvalidInput) as caught:
        rules.update_rule(sqlite_store, LOCAL, "r")
    assert "nothing to change" in caught.value.message
    with pytest.raises(InvalidInput):
        rules.update_rule(sqlite_store, LOCAL, "r", expression="cost >")
    assert rules.update_rule(sqlite_store, LOCAL, "r", expression="tokens >= 10 over 2 hours")["expression"] == (
        compile_rule("tokens >= 10 over 2 hours").to_text())
    assert rules.update_rule(sqlite_store, LOCAL, "r", enabled=False)["enabled"] is False
    rules.delete_rule(sqlite_store, LOCAL, "r")
    assert sqlite_store.list_rules() == []
    with pytest.raises(NotFound):
        rules.delete_rule(sqlite_store, LOCAL, "r")


def test_a_disabled_rule_is_not_evaluated_until_enabled(sqlite_store: Store) -> None:
    rules.create_rule(sqlite_store, LOCAL, name="r", expression="cost > 1 per day")
    rules.update_rule(sqlite_store, LOCAL, "r", enabled=False)
    add(sqlite_store, [ev("a", T0 - timedelta(hours=1), 2 * USD)])
    report = evaluate_all(sqlite_store)
    assert (report.rules, report.fired) == (0, [])
    rules.update_rule(sqlite_store, LOCAL, "r", enabled=True)
    assert [f["source"] for f in evaluate_all(sqlite_store).fired] == ["r"]


def test_a_project_rule_sees_only_its_project(sqlite_store: Store) -> None:
    project(sqlite_store, "web")
    rules.create_rule(sqlite_store, LOCAL, name="web-r", expression="cost > 5 per day", project="web")
    rules.create_rule(sqlite_store, LOCAL, name="web-names-api", expression='cost > 1 and project == "api"',
                      project="web")
    add(sqlite_store, [ev("w", T0 - timedelta(hours=1), 4 * USD),
                       ev("a", T0 - timedelta(hours=1), 40 * USD, project="api")])
    report = evaluate_all(sqlite_store)
    assert (report.fired, report.errors) == ([], [])
    add(sqlite_store, [ev("w2", T0 - timedelta(minutes=5), 2 * USD)])
    assert [f["source"] for f in evaluate_all(sqlite_store).fired] == ["web-r"]


# -- permissions --------------------------------------------------------------------------------------------

@pytest.fixture
def people(any_store: Store) -> dict[str, Actor]:
    project(any_store, "web")
    project(any_store, "api")
    return {
        "viewer": add_user(any_store, "viewer@example.com", web="viewer"),
        "admin": add_user(any_store, "admin@example.com", web="admin"),
        "outsider": add_user(any_store, "outsider@example.com", api="admin"),
    }


def test_rule_permissions(any_store: Store, people: dict[str, Actor]) -> None:
    viewer, admin, outsider = people["viewer"], people["admin"], people["outsider"]
    rules.create_rule(any_store, admin, name="web-r", expression="cost > 5", project="web")
    rules.create_rule(any_store, LOCAL, name="store-r", expression="cost > 50")
    assert [r["name"] for r in rules.list_rules(any_store, viewer)] == ["web-r"]
    assert [r["name"] for r in rules.list_rules(any_store, admin)] == ["web-r"]
    assert rules.list_rules(any_store, outsider) == []
    assert sorted(r["name"] for r in rules.list_rules(any_store, LOCAL)) == ["store-r", "web-r"]
    with pytest.raises(PermissionDenied):
        rules.create_rule(any_store, viewer, name="v", expression="cost > 1", project="web")
    with pytest.raises(PermissionDenied):
        rules.update_rule(any_store, viewer, "web-r", enabled=False)
    with pytest.raises(PermissionDenied):
        rules.delete_rule(any_store, viewer, "web-r")
    with pytest.raises(NotFound):
        rules.update_rule(any_store, outsider, "web-r", enabled=False)
    for actor in (viewer, admin, outsider):
        with pytest.raises(NotFound):
            rules.update_rule(any_store, actor, "store-r", enabled=False)
        with pytest.raises(NotFound):
            rules.delete_rule(any_store, actor, "store-r")
        with pytest.raises(PermissionDenied):
            rules.create_rule(any_store, actor, name="s", expression="cost > 1")
    assert rules.update_rule(any_store, admin, "web-r", expression="cost > 6")["expression"] == (
        compile_rule("cost > 6").to_text())
    rules.delete_rule(any_store, admin, "web-r")
    assert [r["name"] for r in any_store.list_rules()] == ["store-r"]
    assert all(r["enabled"] for r in any_store.list_rules())
