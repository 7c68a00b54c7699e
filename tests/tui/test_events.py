"""The Events screen: pages equal to `agentcost events list --json`, lazy paging without gaps or
repeats, search, a drill-down's filters, and the detail pane equal to `agentcost events show --json`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Input, Static

from agentcost_cli.tui.events_data import COLUMNS, cost_text, event_key, exact_usd
from agentcost_cli.tui.filters import ViewFilter
from agentcost_cli.tui.screens.events import EventsScreen

from .conftest import make_test_app, wait_loaded, wait_until

pytestmark = pytest.mark.anyio  # Textual runs on asyncio (see anyio_backend in conftest)

PAGE = 25
_COL = {label: i for i, (label, _) in enumerate(COLUMNS)}


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small pages, so that a few key presses reach the end of the loaded rows."""
    monkeypatch.setattr(EventsScreen, "PAGE_SIZE", PAGE)
    monkeypatch.setattr(EventsScreen, "PREFETCH", 5)
    monkeypatch.setattr(EventsScreen, "DETAIL_DELAY", 0.01)
    monkeypatch.setattr(EventsScreen, "SEARCH_DELAY", 0.05)


def _cli_page(run_cli, db: Path, *args: str, limit: int = PAGE) -> dict[str, Any]:
    result = run_cli("--db", str(db), "events", "list", "--json", "-n", str(limit), *args)
    assert result.code == 0, result.stderr
    page: dict[str, Any] = json.loads(result.stdout)
    return page


def _cli_rows(run_cli, db: Path, count: int, *args: str) -> list[dict[str, Any]]:
    """The first `count` rows (or all there are), page after page as the CLI gives them."""
    rows: list[dict[str, Any]] = []
    cursor: list[str] = []
    while len(rows) < count:
        page = _cli_page(run_cli, db, *args, *cursor)
        rows += page["events"]
        if page["next_cursor"] is None:
            break
        cursor = ["--cursor", page["next_cursor"]]
    return rows[:count]


def _screen(app: Any) -> EventsScreen:
    screen = app.screen
    assert isinstance(screen, EventsScreen)
    return screen


def _shown(screen: EventsScreen) -> list[list[str]]:
    table = screen.table
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def _keys(screen: EventsScreen) -> list[str]:
    table = screen.table
    return [str(table.coordinate_to_cell_key(Coordinate(i, 0)).row_key.value) for i in range(table.row_count)]


async def _open_events(pilot: Any) -> EventsScreen:
    await wait_loaded(pilot)  # the overview first
    await pilot.press("3")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, EventsScreen) and pilot.app.screen.loaded)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    return _screen(pilot.app)


async def _wait_reloaded(pilot: Any, screen: EventsScreen, condition: Any) -> None:
    await wait_until(pilot, lambda: screen.shown is not None and condition(screen.shown))
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def _status(screen: EventsScreen) -> str:
    return str(screen.status_line.render())


async def test_key_3_shows_the_newest_events_equal_to_events_list_json(seeded_db: Path, run_cli) -> None:
    expected = _cli_page(run_cli, seeded_db)
    assert len(expected["events"]) == PAGE and expected["next_cursor"]

    app = make_test_app(seeded_db, start="events")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open_events(pilot)
        assert app.current_mode == "events"
        assert _keys(screen) == [event_key(r) for r in expected["events"]]
        rows = _shown(screen)
        assert [r[_COL["cost"]] for r in rows] == [cost_text(e["cost_usd"]) for e in expected["events"]]
        assert [r[_COL["project"]] for r in rows] == [e["project"] for e in expected["events"]]
        stamps = [e["timestamp"] for e in expected["events"]]
        assert stamps == sorted(stamps, reverse=True)  # newest first
        assert _status(screen) == f"{PAGE} events loaded, newest first · more below"
        assert "time (UTC)" in [str(c.label) for c in screen.table.columns.values()]


async def test_moving_to_the_end_loads_the_next_pages_in_order(seeded_db: Path, run_cli) -> None:
    app = make_test_app(seeded_db, start="events")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open_events(pilot)
        assert screen.table.row_count == PAGE
        await pilot.press("ctrl+end")  # the cursor to the last loaded row: the next page comes
        await wait_until(pilot, lambda: screen.table.row_count > PAGE)
        await app.workers.wait_for_complete()
        await pilot.pause()
        first = screen.table.row_count
        assert first % PAGE == 0 and first < 3000  # pages, never everything
        for _ in range(PAGE):
            await pilot.press("down")
        await wait_until(pilot, lambda: screen.table.row_count > first)
        await app.workers.wait_for_complete()
        await pilot.pause()
        keys = _keys(screen)
        status = _status(screen)
    assert len(keys) == len(set(keys))  # no event twice
    assert keys == [event_key(r) for r in _cli_rows(run_cli, seeded_db, len(keys))]  # (the CLI prints: app closed)
    assert status == f"{len(keys)} events loaded, newest first · more below"


async def test_the_last_page_says_end(seeded_db: Path, run_cli) -> None:
    expected = _cli_rows(run_cli, seeded_db, 10_000, "--project", "api", "--since", "2026-11-19")
    assert PAGE < len(expected) <= 4 * PAGE, len(expected)  # a few pages
    app = make_test_app(seeded_db, start="events")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot)
        app.show_events(ViewFilter(projects=("api",), since=datetime(2026, 11, 19, tzinfo=UTC)))
        screen = _screen(app)
        await _wait_reloaded(pilot, screen, lambda shown: shown.view.projects == ("api",))
        for _ in range(6):
            await pilot.press("ctrl+end")
            await app.workers.wait_for_complete()
            await pilot.pause()
        assert _keys(screen) == [event_key(r) for r in expected]
        assert _status(screen) == f"{len(expected)} events loaded, newest first · end"
        assert "from 2026-11-19 00:00" in str(screen.query_one("#events-filter", Static).render())


async def test_search_narrows_the_rows(seeded_db: Path, run_cli) -> None:
    expected = _cli_page(run_cli, seeded_db, "--search", "HAIKU")
    assert expected["events"]
    app = make_test_app(seeded_db, start="events")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open_events(pilot)
        everything = _keys(screen)
        await pilot.press("slash")
        assert screen.search_input.has_focus
        for key in "HAIKU":
            await pilot.press(key)
        await _wait_reloaded(pilot, screen, lambda shown: shown.search == "HAIKU")
        rows = _shown(screen)
        assert rows and all("haiku" in r[_COL["model"]] for r in rows)
        assert _keys(screen) == [event_key(r) for r in expected["events"]]
        assert _keys(screen) != everything
        assert app.view_filter.search == "HAIKU"
        # Typing stays in the box: "3" and "r" were letters there, not screen keys.
        assert app.current_mode == "events"


async def test_a_drill_down_filter_applies_and_c_clears_it(seeded_db: Path, run_cli) -> None:
    web = _cli_page(run_cli, seeded_db, "--project", "web")
    everything = _cli_page(run_cli, seeded_db)
    app = make_test_app(seeded_db, start="events")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot)
        app.show_events(ViewFilter(projects=("web",)))  # as Explore's drill-down does
        screen = _screen(app)
        await _wait_reloaded(pilot, screen, lambda shown: shown.view.projects == ("web",))
        rows = _shown(screen)
        assert rows and all(r[_COL["project"]] == "web" for r in rows)
        assert _keys(screen) == [event_key(r) for r in web["events"]]
        line = str(screen.query_one("#events-filter", Static).render())
        assert "project=web" in line and "c clears" in line

        await pilot.press("c")
        await _wait_reloaded(pilot, screen, lambda shown: shown.view == ViewFilter())
        assert app.view_filter == ViewFilter()
        assert _keys(screen) == [event_key(r) for r in everything["events"]]
        assert len({r[_COL["project"]] for r in _shown(screen)}) > 1
        assert str(screen.query_one("#events-filter", Static).render()) == "Filters: everything"


async def test_detail_pane_shows_the_event_and_its_breakdown(seeded_db: Path, run_cli) -> None:
    first = _cli_page(run_cli, seeded_db, limit=2)["events"]
    result = run_cli("--db", str(seeded_db), "events", "show", first[1]["project"], first[1]["id"], "--json")
    assert result.code == 0, result.stderr
    shown_event = json.loads(result.stdout)
    app = make_test_app(seeded_db, start="events")
    async with app.run_test(size=(200, 60)) as pilot:
        screen = await _open_events(pilot)
        assert screen.detail_pane.display  # beside the table at 200 columns
        assert screen.detail_pane.region.x > screen.table.region.x
        await pilot.press("down")
        await wait_until(pilot, lambda: screen.detail_event is not None and screen.detail_event["id"] == first[1]["id"])
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.detail_event == shown_event

        fields = str(screen.query_one("#event-fields", Static).render())
        for label, key in (("Event", "id"), ("Project", "project"), ("Model", "model"), ("Provider", "provider"),
                           ("Session", "session")):
            assert f"{label}: {shown_event[key]}" in fields
        assert f"Input tokens: {shown_event['input_tokens']:,}" in fields
        if shown_event["tags"]:
            assert json.dumps(shown_event["tags"], indent=2, sort_keys=True).splitlines()[1].strip() in fields

        assert shown_event["price_breakdown"]
        table = screen.query_one("#event-breakdown", DataTable)
        cells = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        assert [c[3] for c in cells[:-1]] == [exact_usd(i["cost_usd"]) for i in shown_event["price_breakdown"]]
        assert cells[-1][0] == "total" and cells[-1][3] == exact_usd(shown_event["breakdown_total_usd"])
        parts = sum(Decimal(i["cost_usd"]) for i in shown_event["price_breakdown"])
        assert abs(parts - Decimal(shown_event["breakdown_total_usd"])) < Decimal("0.000000001")
        totals = str(screen.query_one("#event-totals", Static).render())
        assert f"Stored cost: {exact_usd(shown_event['cost_usd'])}" in totals
        assert ("matches the stored cost" in totals) == bool(shown_event["matches_stored_cost"])


async def test_an_unpriced_event_reads_unpriced_with_the_reason(seeded_db: Path, run_cli) -> None:
    expected = _cli_page(run_cli, seeded_db, "--model", "acme-internal-llm")["events"]
    assert expected and all(e["cost_usd"] is None for e in expected)
    app = make_test_app(seeded_db, start="events")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot)
        app.show_events(ViewFilter(models=("acme-internal-llm",)))
        screen = _screen(app)
        await _wait_reloaded(pilot, screen, lambda shown: shown.view.models == ("acme-internal-llm",))
        rows = _shown(screen)
        assert rows and all(r[_COL["cost"]] == "unpriced" for r in rows)
        await pilot.press("enter")  # opens the pane at 120 columns
        await wait_until(pilot, lambda: screen.detail_event is not None)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.detail_pane.display
        fields = str(screen.query_one("#event-fields", Static).render())
        totals = str(screen.query_one("#event-totals", Static).render())
        assert "Cost (USD): unpriced" in fields
        assert "Stored cost: unpriced" in totals and "not counted as free" in totals
        assert screen.detail_event is not None
        assert f"Note: {screen.detail_event['note']}" in totals and "no price is known" in totals
        assert "$0.00" not in fields + totals
        assert not screen.query_one("#event-breakdown", DataTable).display


async def test_refresh_shows_a_new_event_on_top(seeded_db: Path, run_cli, tmp_path: Path) -> None:
    app = make_test_app(seeded_db, start="events")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open_events(pilot)
        before = _keys(screen)
        line = {"id": "evt-new-1", "timestamp": "2026-11-20T15:30:00Z", "provider": "openai", "model": "gpt-4o-mini",
                "project": "web", "input_tokens": 10, "output_tokens": 5}
        source = tmp_path / "new.jsonl"
        source.write_text(json.dumps(line) + "\n")
        assert run_cli("--db", str(seeded_db), "ingest", str(source), "--quiet").code == 0
        assert _keys(screen) == before  # nothing moves until a refresh
        await pilot.press("r")
        await wait_until(pilot, lambda: _keys(screen)[0] == "web\x1fevt-new-1")
        assert _keys(screen)[1:] == before[:-1]


async def test_narrow_terminal_toggles_the_detail_pane(seeded_db: Path) -> None:
    app = make_test_app(seeded_db, start="events")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_events(pilot)
        assert not screen.detail_pane.display  # the table gets the room
        assert "cost" in [str(c.label) for c in screen.table.columns.values()]
        await pilot.press("d")
        await pilot.pause()
        assert screen.detail_pane.display
        await wait_until(pilot, lambda: screen.detail_event is not None)
        assert screen.detail_pane.region.y > screen.table.region.y  # below the table
        await pilot.press("d")
        await pilot.pause()
        assert not screen.detail_pane.display


async def test_an_invalid_search_is_reported_and_changes_nothing(seeded_db: Path) -> None:
    app = make_test_app(seeded_db, start="events")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open_events(pilot)
        before = _keys(screen)
        box = screen.query_one("#events-search", Input)
        box.value = "x" * 201  # longer than the backend accepts
        await pilot.press("slash", "enter")
        await wait_until(pilot, lambda: screen.load_error is not None)
        assert "longer than 200" in (screen.load_error or "")
        assert _keys(screen) == before  # the table keeps what it showed
        assert app.is_running


async def test_palette_commands_exist(seeded_db: Path) -> None:
    app = make_test_app(seeded_db, start="events")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open_events(pilot)
        titles = [c.title for c in screen.palette_commands()]
        assert titles == ["Events: search", "Events: clear filters", "Events: show or hide the detail pane"]
        assert {c.title for c in app.get_system_commands(screen)} >= set(titles)
        for command in screen.palette_commands():
            assert callable(command.callback)
