"""Budgets & alerts: budgets equal to `agentcost budgets list --json`, the budget form (create,
edit, a refused amount), delete through the confirmation, alerts equal to list_alerts, and a
failed webhook delivery (real local receiver) with its attempts, sent again from the screen."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Input

from agentcost_cli.services import clock, dispatch
from agentcost_cli.services.backend import LocalBackend
from agentcost_cli.services.notify_config import NotifyConfig, use_notify_config
from agentcost_cli.store import open_store
from agentcost_cli.timeutil import parse_utc
from agentcost_cli.tui.formatting import money
from agentcost_cli.tui.screens.budget_forms import BudgetForm, BudgetFormValues, changed_fields, values_from_budget
from agentcost_cli.tui.screens.budgets import STATE_WORDS, BudgetsScreen
from agentcost_cli.tui.widgets.confirm import ConfirmModal
from tests.notify.conftest import Receiver, Reply

from .conftest import FIXED_NOW, make_test_app, wait_loaded, wait_until

pytestmark = pytest.mark.anyio  # Textual runs on asyncio (see anyio_backend in conftest)

SIZE = (130, 40)


# -- helpers -------------------------------------------------------------------------------------

def _cli_budgets(run_cli: Any, db: Path) -> dict[str, dict[str, Any]]:
    result = run_cli("--db", str(db), "budgets", "list", "--json")
    assert result.code == 0, result.stderr
    return {b["name"]: b for b in json.loads(result.stdout)["budgets"]}


def _rows(table: DataTable[Any]) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def _notes(app: Any) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def _open(pilot: Any) -> BudgetsScreen:
    await wait_loaded(pilot)
    await pilot.press("4")
    screen = pilot.app.screen
    assert isinstance(screen, BudgetsScreen)
    await wait_until(pilot, lambda: screen.loaded)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    return screen


async def _type(pilot: Any, selector: str, text: str) -> None:
    """Replace what an input holds by typing, as a person would."""
    widget = pilot.app.screen.query_one(selector, Input)
    widget.focus()
    await pilot.pause()
    await pilot.press("end", *(["backspace"] * len(widget.value)))
    await pilot.press(*text)


async def _highlight(pilot: Any, table: DataTable[Any], key: str) -> None:
    table.focus()
    table.move_cursor(row=table.get_row_index(key))
    await pilot.pause()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.stop.set()
    r.server.shutdown()
    r.server.server_close()


def _seed_alerts(db: Path, receiver: Receiver | None = None, *, kill: bool = False) -> int | None:
    """Fire the seeded budgets' threshold alerts through the real services; with a receiver, the
    `monthly` budget notifies a webhook channel on it, and with `kill` the delivery fails (HTTP
    500) on the whole retry schedule until it is dead. Returns the delivery's outbox id."""
    store = open_store(db)
    try:
        use_notify_config(store, NotifyConfig(allow_private_targets=True, webhook_timeout=5.0))
        backend = LocalBackend(store)
        if receiver is not None:
            backend.add_channel(name="ops-hook", kind="webhook", target=receiver.url("/hook"))
            backend.update_budget("monthly", channel_names=["ops-hook"])
        report = backend.run_alerts()
        assert report["fired"] and not report["errors"]
        if receiver is None:
            return None
        [message] = backend.list_outbox()
        message_id = int(message["id"])
        if kill:
            receiver.default = Reply(status=500, body=b"down")
            with clock.frozen(FIXED_NOW):  # the retry schedule's hours pass here only
                while (row := store.get_outbox(message_id)) is not None and row["status"] == "pending":
                    gap = parse_utc(row["next_attempt_utc"]) - clock.now()
                    clock.advance(max(gap, timedelta(0)))
                    dispatch.dispatch_once(store)
            assert backend.show_outbox(message_id)["status"] == "dead"
        return message_id
    finally:
        store.close()


def _budget_names(db: Path) -> set[str]:
    """The budgets in the store, by the services (the CLI cannot run inside a running app:
    Textual holds stdout)."""
    store = open_store(db)
    try:
        return {str(b["name"]) for b in LocalBackend(store).list_budgets()}
    finally:
        store.close()


def _outbox_status(db: Path, message_id: int) -> str:
    store = open_store(db)
    try:
        row = store.get_outbox(message_id)
        assert row is not None
        return str(row["status"])
    finally:
        store.close()


# -- budgets -------------------------------------------------------------------------------------

async def test_key_4_shows_budgets_equal_to_cli_json(seeded_db: Path, run_cli: Any) -> None:
    expected = _cli_budgets(run_cli, seeded_db)
    assert set(expected) == {"monthly", "web-daily"}
    app = make_test_app(seeded_db, start="budgets")
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open(pilot)
        rows = {row[0]: row for row in _rows(screen.budgets_table)}
        assert set(rows) == set(expected)
        for name, budget in expected.items():
            row = rows[name]
            assert row[3] == f"{money(budget['spent_usd'])} / {money(budget['amount_usd'])}"
            assert row[4] == f"{budget['percent']}%"
            assert row[5] == STATE_WORDS[budget["state"]]
            assert row[6] == (", ".join(f"{c}%" for c in budget["crossed"]) or "-")
            assert row[8] == budget["resets"]
        assert rows["web-daily"][1] == "project web" and rows["monthly"][1] == "global"

        # Enter opens the details of the highlighted budget.
        await _highlight(pilot, screen.budgets_table, "web-daily")
        await pilot.press("enter")
        assert screen.budget_detail.display and screen.detail_for == "web-daily"
        assert money(expected["web-daily"]["amount_usd"]) in str(screen.budget_detail.render())


async def test_create_a_budget_by_typing_in_the_form(seeded_db: Path, run_cli: Any) -> None:
    app = make_test_app(seeded_db, start="budgets")
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open(pilot)
        await pilot.press("n")
        assert isinstance(app.screen, BudgetForm)
        await _type(pilot, "#budget-name", "team-web")
        await _type(pilot, "#budget-amount", "12.50")
        await _type(pilot, "#budget-project", "web")
        await _type(pilot, "#budget-period", "week")
        await _type(pilot, "#budget-thresholds", "80,100")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.screen is screen)
        await wait_until(pilot, lambda: screen.data is not None
                         and any(b["name"] == "team-web" for b in screen.data.budgets))
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "team-web" in [row[0] for row in _rows(screen.budgets_table)]

    created = _cli_budgets(run_cli, seeded_db)["team-web"]
    assert created["amount_usd"].startswith("12.5") and money(created["amount_usd"]) == "$12.50"
    assert (created["scope"], created["value"], created["period"]) == ("project", "web", "week")
    assert created["thresholds"] == [80, 100] and created["zone"] == "UTC"


async def test_an_invalid_amount_keeps_the_form_open_and_creates_nothing(seeded_db: Path, run_cli: Any) -> None:
    before = _cli_budgets(run_cli, seeded_db)
    app = make_test_app(seeded_db, start="budgets")
    async with app.run_test(size=SIZE) as pilot:
        await _open(pilot)
        await pilot.press("n")
        form = app.screen
        assert isinstance(form, BudgetForm)
        shown_form: BudgetForm = form
        await _type(pilot, "#budget-name", "broken")
        await _type(pilot, "#budget-amount", "lots")
        await _type(pilot, "#budget-project", "web")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: shown_form.error is not None)
        assert app.screen is form  # still open, with what was typed
        assert "cannot read the amount" in (shown_form.error or "")
        assert form.query_one("#budget-amount", Input).value == "lots"
        assert form.query_one("#budget-name", Input).value == "broken"
        assert any("cannot read the amount" in note for note in _notes(app))
        await pilot.press("escape")
        assert isinstance(app.screen, BudgetsScreen)
    assert _cli_budgets(run_cli, seeded_db).keys() == before.keys()


async def test_edit_changes_the_amount_only(seeded_db: Path, run_cli: Any) -> None:
    before = _cli_budgets(run_cli, seeded_db)["web-daily"]
    app = make_test_app(seeded_db, start="budgets")
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open(pilot)
        await _highlight(pilot, screen.budgets_table, "web-daily")
        await pilot.press("e")
        form = app.screen
        assert isinstance(form, BudgetForm) and form.editing
        # Pre-filled with the budget's values; the name and scope cannot change.
        assert form.query_one("#budget-amount", Input).value == "1.5"
        assert form.query_one("#budget-period", Input).value == "day"
        assert form.query_one("#budget-name", Input).disabled
        await _type(pilot, "#budget-amount", "2.25")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.screen is screen)
        await wait_until(pilot, lambda: screen.data is not None and any(
            b["name"] == "web-daily" and money(b["amount_usd"]) == "$2.25" for b in screen.data.budgets))
    after = _cli_budgets(run_cli, seeded_db)["web-daily"]
    assert money(after["amount_usd"]) == "$2.25"
    for unchanged in ("period", "zone", "thresholds", "channels", "scope", "value", "forecast"):
        assert after[unchanged] == before[unchanged]


def test_only_changed_fields_are_sent_to_update_budget() -> None:
    budget = {"name": "b", "scope": "project", "value": "web", "project": "web", "period": "day", "zone": "UTC",
              "amount_usd": "1.500000000", "thresholds": [50, 80, 100], "channels": ["a"]}
    before = values_from_budget(budget)
    assert changed_fields(before, before) == {}
    same = BudgetFormValues(**{**before.__dict__, "amount": "$1.50", "thresholds": "50, 80, 100"})
    assert changed_fields(before, same) == {}
    moved = BudgetFormValues(**{**before.__dict__, "amount": "3", "channels": ("a", "b"), "forecast": False})
    assert changed_fields(before, moved) == {"amount": "3", "channel_names": ["a", "b"], "forecast": False}
    # The budget's forecast setting is pre-filled: sending it unchanged would be noise in the audit log.
    known = values_from_budget({**budget, "forecast": True})
    assert known.forecast is True and changed_fields(known, known) == {}
    assert changed_fields(known, BudgetFormValues(**{**known.__dict__, "forecast": False})) == {"forecast": False}


async def test_delete_asks_n_keeps_and_y_deletes(seeded_db: Path, run_cli: Any) -> None:
    app = make_test_app(seeded_db, start="budgets")
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open(pilot)
        await _highlight(pilot, screen.budgets_table, "web-daily")
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmModal) and "web-daily" in app.screen.question
        await pilot.press("n")
        assert app.screen is screen
        await app.workers.wait_for_complete()
        assert "web-daily" in _budget_names(seeded_db)

        await pilot.press("d")
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await wait_until(pilot, lambda: screen.data is not None
                         and all(b["name"] != "web-daily" for b in screen.data.budgets))
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert [row[0] for row in _rows(screen.budgets_table)] == ["monthly"]
    assert set(_cli_budgets(run_cli, seeded_db)) == {"monthly"}


# -- alerts --------------------------------------------------------------------------------------

async def test_alerts_listed_equal_list_alerts(seeded_db: Path) -> None:
    _seed_alerts(seeded_db)
    store = open_store(seeded_db)
    try:
        expected = LocalBackend(store).list_alerts(limit=100)
    finally:
        store.close()
    assert len(expected) >= 2
    app = make_test_app(seeded_db, start="budgets")
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open(pilot)
        await pilot.press("a")
        assert screen.tabs.active == "tab-alerts"
        table = screen.alerts_table
        assert [str(table.coordinate_to_cell_key(Coordinate(i, 0)).row_key.value) for i in range(table.row_count)] == [
            str(a["id"]) for a in expected]  # newest first, as the service orders them
        rows = _rows(table)
        for row, alert in zip(rows, expected, strict=True):
            assert row[0] == parse_utc(alert["created_utc"]).strftime("%Y-%m-%d %H:%M")  # UTC is the reader's zone
            assert row[1] == alert["severity"].upper()
            assert (row[2], row[3]) == (alert["kind"], alert["source"])
            assert row[5] == ("muted" if alert["muted"] else "fired")


# -- deliveries ----------------------------------------------------------------------------------

async def test_a_failed_delivery_shows_its_attempts_and_retry_requeues_it(seeded_db: Path,
                                                                         receiver: Receiver) -> None:
    message_id = _seed_alerts(seeded_db, receiver, kill=True)
    assert message_id is not None
    app = make_test_app(seeded_db, start="budgets")
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open(pilot)
        await pilot.press("o")
        assert screen.tabs.active == "tab-deliveries"
        await _highlight(pilot, screen.deliveries_table, str(message_id))
        await wait_until(pilot, lambda: screen.message is not None and screen.message["id"] == message_id)
        await pilot.pause()
        row = _rows(screen.deliveries_table)[0]
        assert row[0] == str(message_id) and row[2] == "ops-hook" and row[4] == "FAILED" and row[5] == "8"
        attempts = _rows(screen.attempts_table)
        assert screen.message is not None and len(attempts) == len(screen.message["attempt_log"]) == 8
        assert {a[3] for a in attempts} == {"500"} and all(a[5] == "down" for a in attempts)
        assert [a[0] for a in attempts] == [str(n) for n in range(1, 9)]

        # `t` on the dead message requeues it: the outbox says pending, and so does the table after the reload.
        await pilot.press("t")
        await wait_until(pilot, lambda: any("Requeued 1 message" in note for note in _notes(app)))
        await app.workers.wait_for_complete()
        assert _outbox_status(seeded_db, message_id) == "pending"
        await wait_until(pilot, lambda: _rows(screen.deliveries_table)[0][4] == "pending")


async def test_retry_all_failed_asks_first(seeded_db: Path, receiver: Receiver) -> None:
    message_id = _seed_alerts(seeded_db, receiver, kill=True)
    assert message_id is not None
    app = make_test_app(seeded_db, start="budgets")
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open(pilot)
        await pilot.press("o")
        await pilot.press("T")
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("n")
        await app.workers.wait_for_complete()
        assert _outbox_status(seeded_db, message_id) == "dead"

        await pilot.press("f")  # only failed ones: the dead message is listed
        await wait_until(pilot, lambda: screen.failed_only and screen.data is not None
                         and [m["id"] for m in screen.data.outbox] == [message_id])
        await pilot.press("T")
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await wait_until(pilot, lambda: any("Requeued 1 message" in note for note in _notes(app)))
        await app.workers.wait_for_complete()
        assert _outbox_status(seeded_db, message_id) == "pending"
        await wait_until(pilot, lambda: screen.data is not None and screen.data.outbox == [])


async def test_palette_commands_exist_and_keys_follow_the_tab(seeded_db: Path) -> None:
    app = make_test_app(seeded_db, start="budgets")
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open(pilot)
        titles = {command.title for command in app.get_system_commands(screen)}
        assert {"New budget", "Edit budget", "Delete budget", "Show alerts", "Show deliveries", "Retry delivery",
                "Retry all failed deliveries", "Toggle failed deliveries only"} <= titles
        # Budget keys belong to the Budgets tab, retry keys to the Deliveries tab.
        assert screen.check_action("new_budget", ()) and not screen.check_action("retry_delivery", ())
        await pilot.press("o")
        assert screen.check_action("retry_delivery", ()) and not screen.check_action("new_budget", ())
        await pilot.press("n")  # not a key here: no form opens
        assert app.screen is screen
