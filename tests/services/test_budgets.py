"""Budgets on a real store (SQLite and PostgreSQL): scopes and their exact spend, period
windows in a zone, bad input, permissions, and the status a budget reports.

Expected spend is always computed from the seeded events (a Python predicate over the
same list, cross-checked with a report), never pasted from an output. The helpers at the
top are shared by the other alerting test modules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from agentcost_cli.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from agentcost_cli.models import PricedEvent, UsageEvent, format_usd
from agentcost_cli.services import budgets, channels, clock
from agentcost_cli.services.actor import LOCAL, Actor
from agentcost_cli.services.reports import ReportRequest, build_report
from agentcost_cli.store import open_store
from agentcost_cli.store.base import Store
from agentcost_cli.timeutil import format_utc

from ..pg import pg_schema

# -- shared helpers (imported by test_evaluate, test_rules_service, test_anomalies, test_price_alerts) ---------

T0 = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)  # a Friday, mid-month
USD = 10**9


def ev(uid: str, when: datetime, cost: int, *, project: str = "web", provider: str = "openai",
       model: str = "gpt-4o", key: str | None = None, user: str | None = None,
       tags: dict[str, str] | None = None) -> PricedEvent:
    """One priced event costing exactly `cost` nano-USD."""
    event = UsageEvent(timestamp=format_utc(when), provider=provider, model=model, input_tokens=100,
                       output_tokens=10, id=uid, project=project, key_id=key, user=user, tags=tags)
    return PricedEvent(event, project, uid, cost, "computed", 1, provider, model)


def add(store: Store, events: list[PricedEvent]) -> list[PricedEvent]:
    with store.transaction():
        result = store.insert_events(events, ingested_utc=clock.now_text())
    assert result.added == len(events)
    return events


def cost_of(events: list[PricedEvent], keep: Callable[[PricedEvent], bool]) -> int:
    return sum(int(e.cost_nanos or 0) for e in events if keep(e))


def nanos(usd_text: str) -> int:
    """`format_usd` text (or "$1.50") back to exact nano-USD."""
    value = Decimal(usd_text.lstrip("$")) * USD
    assert value == value.to_integral_value()
    return int(value)


def add_user(store: Store, email: str, *, admin: bool = False, **roles: str) -> Actor:
    """A user with `roles` ({project slug: role}); the projects must exist."""
    user_id = store.insert_user({"email": email, "is_admin": int(admin), "created_utc": clock.now_text()})
    for slug, role in roles.items():
        project = store.get_project(slug)
        assert project is not None
        store.set_membership(int(project["id"]), user_id, role, created_utc=clock.now_text())
    return Actor(kind="user", user_id=user_id, email=email, is_admin=admin)


def project(store: Store, slug: str) -> int:
    found = store.get_project(slug)
    if found is not None:
        return int(found["id"])
    return store.insert_project({"slug": slug, "name": slug, "created_utc": clock.now_text()})


def hook(store: Store, name: str, project_slug: str | None = None) -> dict[str, Any]:
    return channels.add_channel(store, LOCAL, name=name, kind="webhook", target=f"https://example.com/{name}",
                                project=project_slug)


@pytest.fixture
def frozen() -> Iterator[datetime]:
    with clock.frozen(T0):
        yield T0


@pytest.fixture
def sqlite_store(tmp_path: Path, frozen: datetime) -> Iterator[Store]:
    store = open_store(tmp_path / "alerts.db")
    yield store
    store.close()


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path, frozen: datetime,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """The same tests on both backends (PostgreSQL skips without AGENTCOST_TEST_PG_DSN)."""
    # A server store keeps no key file beside it: channels seal their targets with this one.
    monkeypatch.setenv("AGENTCOST_KEY_FILE", str(tmp_path / "server.key"))
    if request.param == "sqlite":
        store = open_store(tmp_path / "alerts.db")
        yield store
        store.close()
        return
    with pg_schema() as url:
        store = open_store(url)
        yield store
        store.close()


# -- scopes and their spend ---------------------------------------------------------------------------------

def _mixed(store: Store) -> list[PricedEvent]:
    """November spend across projects, keys, users and tags, plus October spend no month budget counts."""
    day = T0 - timedelta(days=3)
    return add(store, [
        ev("a1", day, 1_100_000_001, project="web", key="k1", user="alice", tags={"team": "search"}),
        ev("a2", day + timedelta(hours=1), 2_200_000_003, project="web", key="k2", user="bob",
           tags={"team": "ads", "env": "prod"}),
        ev("a3", day + timedelta(hours=2), 4_400_000_007, project="api", key="k1", user="alice",
           tags={"team": "search", "env": "dev"}),
        ev("a4", day + timedelta(hours=3), 8_800_000_011, project="api", user="carol"),
        ev("a5", T0 - timedelta(minutes=5), 16_000_000_013, project="web", key="k1", user="alice"),
        ev("old", datetime(2026, 10, 31, 12, tzinfo=UTC), 32_000_000_017, project="web", key="k1", user="alice",
           tags={"team": "search"}),
    ])


def _in_november(e: PricedEvent) -> bool:
    return e.event.timestamp >= "2026-11-01"


SCOPE_CASES: list[tuple[str, dict[str, Any], Callable[[PricedEvent], bool]]] = [
    ("project", {"scope": "project", "project": "web"}, lambda e: e.project == "web"),
    ("key", {"scope": "key", "value": "k1"}, lambda e: e.event.key_id == "k1"),
    ("user", {"scope": "user", "value": "alice"}, lambda e: e.event.user == "alice"),
    ("user-in-project", {"scope": "user", "value": "alice", "project": "api"},
     lambda e: e.event.user == "alice" and e.project == "api"),
    ("tag", {"scope": "tag", "value": "team=search"}, lambda e: (e.event.tags or {}).get("team") == "search"),
    ("tag-in-project", {"scope": "tag", "value": "team=search", "project": "web"},
     lambda e: (e.event.tags or {}).get("team") == "search" and e.project == "web"),
    ("global", {"scope": "global"}, lambda e: True),
]


@pytest.mark.parametrize(("name", "args", "keep"), SCOPE_CASES, ids=[c[0] for c in SCOPE_CASES])
def test_each_scope_spends_exactly_its_events(any_store: Store, name: str, args: dict[str, Any],
                                              keep: Callable[[PricedEvent], bool]) -> None:
    events = _mixed(any_store)
    created = budgets.create_budget(any_store, LOCAL, name=name, amount="1000", **args)
    expected = cost_of(events, lambda e: keep(e) and _in_november(e))
    assert expected > 0
    assert nanos(created["spent_usd"]) == expected
    assert nanos(budgets.budget_status(any_store, LOCAL, name)["spent_usd"]) == expected
    listed = {b["name"]: b for b in budgets.list_budgets(any_store, LOCAL)}
    assert nanos(listed[name]["spent_usd"]) == expected


@pytest.mark.parametrize(("dimension", "scope", "value"), [("project", "project", "web"), ("key", "key", "k1"),
                                                          ("user", "user", "alice")])
def test_scope_spend_matches_a_report_of_the_same_events(any_store: Store, dimension: str, scope: str,
                                                         value: str) -> None:
    _mixed(any_store)
    status = budgets.create_budget(any_store, LOCAL, name="b", amount="1000", scope=scope, value=value)
    report = build_report(any_store, LOCAL, ReportRequest(
        group_by=(dimension,), since=datetime(2026, 11, 1, tzinfo=UTC), until=T0))
    rows = [r for r in report.rows if r[dimension] == value]
    assert len(rows) == 1
    assert nanos(status["spent_usd"]) == nanos(rows[0]["cost_usd"])


def test_global_budget_matches_the_report_total(any_store: Store) -> None:
    _mixed(any_store)
    status = budgets.create_budget(any_store, LOCAL, name="all", amount="1000", scope="global")
    report = build_report(any_store, LOCAL, ReportRequest(group_by=("project",),
                                                          since=datetime(2026, 11, 1, tzinfo=UTC), until=T0))
    assert nanos(status["spent_usd"]) == nanos(report.totals["cost_usd"])


# -- period windows -------------------------------------------------------------------------------------------

def test_month_in_paris_starts_at_local_midnight(any_store: Store) -> None:
    events = add(any_store, [
        ev("late-oct", datetime(2026, 10, 31, 22, 30, tzinfo=UTC), 1_000_000_001),  # 23:30 on Oct 31 in Paris
        ev("paris-nov", datetime(2026, 10, 31, 23, 30, tzinfo=UTC), 2_000_000_002),  # 00:30 on Nov 1 in Paris
        ev("mid-nov", datetime(2026, 11, 10, 9, tzinfo=UTC), 4_000_000_004),
    ])
    paris = budgets.create_budget(any_store, LOCAL, name="paris", amount="100", project="web", zone="Europe/Paris")
    utc = budgets.create_budget(any_store, LOCAL, name="utc", amount="100", project="web", zone="UTC")
    by_id = {e.dedupe_key: int(e.cost_nanos or 0) for e in events}
    assert nanos(paris["spent_usd"]) == by_id["paris-nov"] + by_id["mid-nov"]
    assert nanos(utc["spent_usd"]) == by_id["mid-nov"]
    assert paris["period_key"] == utc["period_key"] == "2026-11"
    assert paris["period_start_utc"] == "2026-10-31T23:00:00.000000Z"  # CET, UTC+1, after the October change
    assert paris["period_end_utc"] == "2026-11-30T23:00:00.000000Z"
    assert utc["period_start_utc"] == "2026-11-01T00:00:00.000000Z"


def test_rolling_seven_days_counts_the_last_168_hours(any_store: Store) -> None:
    start = T0 - timedelta(days=7)
    events = add(any_store, [
        ev("before", start - timedelta(seconds=1), 1_000_000_001),
        ev("at-start", start, 2_000_000_002),
        ev("first-day", start + timedelta(hours=20), 4_000_000_004),
        ev("recent", T0 - timedelta(hours=1), 8_000_000_008),
    ])
    status = budgets.create_budget(any_store, LOCAL, name="r7", amount="100", project="web", period="rolling:7")
    spent = cost_of(events, lambda e: e.dedupe_key != "before")
    assert nanos(status["spent_usd"]) == spent
    assert status["period"] == "rolling:7"
    assert status["resets"] == "rolling 7 days"
    assert status["period_start_utc"] == format_utc(start)
    # A rolling forecast is the spend 24 h from now: what leaves the window (its first day) goes,
    # a day's worth at the window's average rate comes.
    leaving = cost_of(events, lambda e: e.dedupe_key in ("at-start", "first-day"))
    assert nanos(status["forecast_usd"]) == spent - leaving + round(Fraction(spent, 7))


def test_period_spellings_are_stored_canonically(sqlite_store: Store) -> None:
    project(sqlite_store, "web")
    assert budgets.create_budget(sqlite_store, LOCAL, name="w", amount="5", project="web",
                                 period="rolling 7 days")["period"] == "rolling:7"
    assert budgets.create_budget(sqlite_store, LOCAL, name="m", amount="5", project="web",
                                 period="Monthly")["period"] == "month"


# -- bad input ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("field", "value", "message"), [
    ("amount", "lots", "cannot read the amount"),
    ("amount", "0", "above 0"),
    ("amount", "-5", "above 0"),
    ("amount", "2000000000", "at most"),
    ("amount", "NaN", "above 0"),
    ("amount", "0.0000000001", "nine decimal places"),
    ("period", "fortnight", "cannot read budget period"),
    ("period", "rolling:0", "rolling period must be 1 to 366"),
    ("period", "rolling:400", "rolling period must be 1 to 366"),
    ("zone", "Mars/Olympus_Mons", "unknown time zone"),
    ("thresholds_text", "50,abc", "not a whole percent"),
    ("thresholds_text", "0", "out of range"),
    ("name", "no spaces allowed", "invalid budget name"),
])
def test_bad_input_is_refused_with_a_clear_message(sqlite_store: Store, field: str, value: str,
                                                    message: str) -> None:
    project(sqlite_store, "web")
    args: dict[str, Any] = {"name": "b", "amount": "50", "project": "web", field: value}
    with pytest.raises(InvalidInput) as caught:
        budgets.create_budget(sqlite_store, LOCAL, **args)
    assert message in caught.value.message
    assert sqlite_store.list_budgets() == []


@pytest.mark.parametrize("value", ["team", "=search", "team search", "", "a" * 65 + "=x"])
def test_tag_budget_needs_name_equals_value(sqlite_store: Store, value: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        budgets.create_budget(sqlite_store, LOCAL, name="t", amount="5", scope="tag", value=value)
    assert "NAME=VALUE" in caught.value.message or "needs a value" in caught.value.message
    assert sqlite_store.list_budgets() == []


def test_scope_mistakes_are_named(sqlite_store: Store) -> None:
    project(sqlite_store, "web")
    project(sqlite_store, "api")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"scope": "team"}, "unknown budget scope"),
        ({"scope": "global", "value": "x"}, "takes no value"),
        ({"scope": "global", "project": "web"}, "covers every project"),
        ({"scope": "project", "value": "web", "project": "api"}, "names one project"),
        ({"scope": "project"}, "names one project"),
        ({"scope": "key"}, "needs a value"),
        ({"scope": "user", "value": "u" * 300}, "too long"),
    ]
    for args, message in cases:
        with pytest.raises(InvalidInput) as caught:
            budgets.create_budget(sqlite_store, LOCAL, name="b", amount="5", **args)
        assert message in caught.value.message, args


def test_channels_must_exist_and_belong_to_the_project(sqlite_store: Store) -> None:
    project(sqlite_store, "web")
    project(sqlite_store, "api")
    hook(sqlite_store, "api-hook", "api")
    hook(sqlite_store, "web-hook", "web")
    hook(sqlite_store, "ops-hook")
    with pytest.raises(InvalidInput) as caught:
        budgets.create_budget(sqlite_store, LOCAL, name="b", amount="5", project="web", channel_names=["nope"])
    assert "no channel named 'nope'" in caught.value.message
    with pytest.raises(InvalidInput) as caught:
        budgets.create_budget(sqlite_store, LOCAL, name="b", amount="5", project="web", channel_names=["api-hook"])
    assert "belongs to another project" in caught.value.message
    with pytest.raises(InvalidInput) as caught:  # a store-wide budget notifies store-wide channels only
        budgets.create_budget(sqlite_store, LOCAL, name="b", amount="5", scope="global", channel_names=["web-hook"])
    assert "belongs to another project" in caught.value.message
    assert sqlite_store.list_budgets() == []
    made = budgets.create_budget(sqlite_store, LOCAL, name="b", amount="5", project="web",
                                 channel_names=["web-hook", "ops-hook", "web-hook"])
    assert made["channels"] == ["web-hook", "ops-hook"]
    with pytest.raises(InvalidInput) as caught:
        budgets.update_budget(sqlite_store, LOCAL, "b", channel_names=["api-hook"])
    assert "belongs to another project" in caught.value.message


def test_names_are_unique_and_updates_need_a_change(sqlite_store: Store) -> None:
    project(sqlite_store, "web")
    budgets.create_budget(sqlite_store, LOCAL, name="b", amount="5", project="web")
    with pytest.raises(Conflict):
        budgets.create_budget(sqlite_store, LOCAL, name="b", amount="6", project="web")
    with pytest.raises(InvalidInput) as caught:
        budgets.update_budget(sqlite_store, LOCAL, "b")
    assert "nothing to change" in caught.value.message
    with pytest.raises(InvalidInput):
        budgets.update_budget(sqlite_store, LOCAL, "b", amount="-1")
    with pytest.raises(InvalidInput):
        budgets.update_budget(sqlite_store, LOCAL, "b", zone="Nowhere/Land")
    updated = budgets.update_budget(sqlite_store, LOCAL, "b", amount="$12.50", period="week",
                                    zone="Europe/Paris", thresholds_text="90%, 25")
    assert (updated["amount_usd"], updated["period"], updated["zone"], updated["thresholds"]) == (
        format_usd(nanos("12.50")), "week", "Europe/Paris", [25, 90])
    with pytest.raises(NotFound):
        budgets.update_budget(sqlite_store, LOCAL, "missing", amount="5")


# -- permissions ------------------------------------------------------------------------------------------------

@pytest.fixture
def people(any_store: Store) -> dict[str, Actor]:
    project(any_store, "web")
    project(any_store, "api")
    return {
        "viewer": add_user(any_store, "viewer@example.com", web="viewer"),
        "member": add_user(any_store, "member@example.com", web="member"),
        "admin": add_user(any_store, "admin@example.com", web="admin"),
        "outsider": add_user(any_store, "outsider@example.com", api="owner"),
        "operator": add_user(any_store, "root@example.com", admin=True),
    }


def test_project_viewer_reads_but_cannot_change_a_project_budget(any_store: Store, people: dict[str, Actor]) -> None:
    budgets.create_budget(any_store, LOCAL, name="webb", amount="5", project="web")
    for who in ("viewer", "member"):
        actor = people[who]
        assert budgets.budget_status(any_store, actor, "webb")["name"] == "webb"
        assert [b["name"] for b in budgets.list_budgets(any_store, actor)] == ["webb"]
        with pytest.raises(PermissionDenied):
            budgets.create_budget(any_store, actor, name=f"mine-{who}", amount="5", project="web")
        with pytest.raises(PermissionDenied):
            budgets.update_budget(any_store, actor, "webb", amount="6")
        with pytest.raises(PermissionDenied):
            budgets.delete_budget(any_store, actor, "webb")
    assert [(b["name"], b["amount_nanos"]) for b in any_store.list_budgets()] == [("webb", 5 * USD)]


def test_project_admin_manages_project_budgets(any_store: Store, people: dict[str, Actor]) -> None:
    admin = people["admin"]
    made = budgets.create_budget(any_store, admin, name="webb", amount="5", project="web")
    assert made["project"] == "web"
    scoped = budgets.create_budget(any_store, admin, name="alice-web", amount="5", scope="user", value="alice",
                                   project="web")
    assert scoped["project"] == "web"
    assert budgets.update_budget(any_store, admin, "webb", amount="7")["amount_usd"] == format_usd(7 * USD)
    budgets.delete_budget(any_store, admin, "webb")
    assert [b["name"] for b in any_store.list_budgets()] == ["alice-web"]
    # an admin of one project cannot reach into another
    with pytest.raises(NotFound):
        budgets.create_budget(any_store, people["outsider"], name="x", amount="5", project="web")
    with pytest.raises(NotFound):
        budgets.budget_status(any_store, people["outsider"], "alice-web")
    with pytest.raises(NotFound):
        budgets.delete_budget(any_store, people["outsider"], "alice-web")
    assert budgets.list_budgets(any_store, people["outsider"]) == []


def test_store_wide_budgets_are_for_operators_only(any_store: Store, people: dict[str, Actor]) -> None:
    budgets.create_budget(any_store, LOCAL, name="everything", amount="5", scope="global")
    budgets.create_budget(any_store, people["operator"], name="alice-all", amount="5", scope="user",
                          value="alice")
    budgets.create_budget(any_store, LOCAL, name="webb", amount="5", project="web")
    for who in ("viewer", "admin", "outsider"):
        actor = people[who]
        for name in ("everything", "alice-all"):
            with pytest.raises(NotFound):
                budgets.budget_status(any_store, actor, name)
            with pytest.raises(NotFound):
                budgets.update_budget(any_store, actor, name, amount="9")
            with pytest.raises(NotFound):
                budgets.delete_budget(any_store, actor, name)
        assert "everything" not in [b["name"] for b in budgets.list_budgets(any_store, actor)]
        with pytest.raises(PermissionDenied):
            budgets.create_budget(any_store, actor, name=f"g-{who}", amount="5", scope="global")
        with pytest.raises(PermissionDenied):
            budgets.create_budget(any_store, actor, name=f"k-{who}", amount="5", scope="key", value="k1")
    assert sorted(b["name"] for b in budgets.list_budgets(any_store, people["operator"])) == [
        "alice-all", "everything", "webb"]
    assert sorted(b["name"] for b in any_store.list_budgets()) == ["alice-all", "everything", "webb"]


# -- status ---------------------------------------------------------------------------------------------------

def _linear_forecast(spent: int, now: datetime, start: datetime, end: datetime) -> int:
    return round(Fraction(spent) * Fraction((end - start) // timedelta(microseconds=1),
                                            (now - start) // timedelta(microseconds=1)))


@pytest.mark.parametrize(("amount", "spent", "state"), [
    (100 * USD, 30 * USD, "ok"),  # 30%, on course for ~46
    (100 * USD, 70 * USD, "forecast_over"),  # below 80%, on course for ~108
    (100 * USD, 85 * USD, "warning"),
    (100 * USD, 100 * USD, "exceeded"),  # exactly the amount is exceeded
    (100 * USD, 100 * USD - 1, "warning"),  # one nano below is not
    (333_333_333, 333_333_333, "exceeded"),
])
def test_status_reports_percent_state_reset_and_forecast(sqlite_store: Store, amount: int, spent: int,
                                                         state: str) -> None:
    add(sqlite_store, [ev("one", T0 - timedelta(days=2), spent)])
    status = budgets.create_budget(sqlite_store, LOCAL, name="b", amount=Decimal(amount) / USD, project="web",
                                   thresholds_text="80,100")
    start, end = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    assert nanos(status["spent_usd"]) == spent
    assert nanos(status["amount_usd"]) == amount
    assert Decimal(status["percent"]) == Decimal(spent * 1000 // amount) / 10
    assert status["state"] == state
    assert status["crossed"] == [t for t in (80, 100) if spent * 100 >= t * amount]
    left = end - T0
    assert status["resets"] == f"resets in {left.days}d {left.seconds // 3600}h"
    assert nanos(status["forecast_usd"]) == _linear_forecast(spent, T0, start, end)
    assert status["period_key"] == "2026-11"


def test_no_forecast_before_a_day_of_the_month_or_when_turned_off(sqlite_store: Store) -> None:
    add(sqlite_store, [ev("one", T0 - timedelta(days=2), 5 * USD)])
    off = budgets.create_budget(sqlite_store, LOCAL, name="off", amount="100", project="web", forecast=False)
    assert off["forecast_usd"] is None
    with clock.frozen(datetime(2026, 12, 1, 20, tzinfo=UTC)):  # 20 h into December: too short a basis
        early = budgets.budget_status(sqlite_store, LOCAL, "off")
        assert early["forecast_usd"] is None
        assert early["period_key"] == "2026-12"
        assert nanos(early["spent_usd"]) == 0
        assert early["state"] == "ok"
