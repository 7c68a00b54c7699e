"""The Explore screen: the report table equals `agentcost report --json` for the same options,
the form and keys change it, sorting, drilling into Events, CSV export equal to `--csv`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from textual.widgets import Input, Static

from agentcost_cli.services.reports import ReportRequest
from agentcost_cli.tui.explore_model import ExploreState, cost_cell, drill_filter, total_tokens
from agentcost_cli.tui.formatting import count, tokens
from agentcost_cli.tui.screens.explore import ExploreScreen
from agentcost_cli.tui.widgets.confirm import ConfirmModal
from agentcost_cli.tui.widgets.explore_export import ExportModal

from .conftest import FIXED_NOW, make_test_app, wait_loaded, wait_until

pytestmark = pytest.mark.anyio  # Textual runs on asyncio (see anyio_backend in conftest)

LAST_30 = "2026-10-22"  # the default range: today (Nov 20, UTC) and the 29 days before
_CHAR_KEYS = {",": "comma", "=": "equals_sign", " ": "space", "-": "minus", ":": "colon", ".": "full_stop"}


def _report(run_cli: Any, db: Path, *args: str) -> dict[str, Any]:
    result = run_cli("--db", str(db), "report", "--json", "--tz", "UTC", *args)
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


async def _open(pilot: Any) -> ExploreScreen:
    await wait_loaded(pilot)
    await pilot.press("2")
    await wait_loaded(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ExploreScreen)
    return screen


async def _settle(pilot: Any, screen: ExploreScreen) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await wait_until(pilot, lambda: not screen.table.loading)


async def _type(pilot: Any, screen: ExploreScreen, field: str, text: str, *, keys: bool = False) -> None:
    """Focus a form field, replace its text (key by key when `keys`), and press enter."""
    widget = screen.field(field)
    widget.focus()
    if keys:
        await pilot.press("home", "ctrl+k", *(_CHAR_KEYS.get(c, c) for c in text))
    else:
        widget.value = text
    await pilot.press("enter")
    await _settle(pilot, screen)


def _table_rows(screen: ExploreScreen) -> list[list[str]]:
    table = screen.table
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def _expected_cells(group_by: list[str], row: dict[str, Any]) -> list[str]:
    keys = ["-" if row.get(d) is None else str(row[d]) for d in group_by]
    return [*keys, count(row["events"]), tokens(total_tokens(row)), cost_cell(row)]


def _assert_shows(screen: ExploreScreen, expected: dict[str, Any]) -> None:
    """The screen's report is the CLI's, and the table shows exactly it, then the totals."""
    assert screen.report is not None
    assert screen.report["group_by"] == expected["group_by"]
    assert screen.report["rows"] == expected["rows"]
    assert screen.report["totals"] == expected["totals"]
    group_by = expected["group_by"]
    shown = _table_rows(screen)
    assert shown[:-1] == [_expected_cells(group_by, r) for r in expected["rows"]]
    assert shown[-1] == ["total", *[""] * (len(group_by) - 1), *_expected_cells([], expected["totals"])]


def _notes(app: Any) -> list[str]:
    return [n.message for n in app._notifications]


async def test_key_2_loads_the_report_equal_to_cli_json(seeded_db: Path, run_cli: Any) -> None:
    expected = _report(run_cli, seeded_db, "--by", "day", "--since", LAST_30)
    assert expected["rows"] and expected["unpriced_events"] > 0
    app = make_test_app(seeded_db, start="explore")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot)
        assert app.current_mode == "explore"
        assert screen.request is not None and screen.request.since == datetime(2026, 10, 22, tzinfo=UTC)
        _assert_shows(screen, expected)
        unpriced = str(screen.query_one("#explore-unpriced", Static).render())
        assert f"{expected['unpriced_events']:,} unpriced event(s)" in unpriced
        line = str(screen.query_one("#explore-filters", Static).render())
        assert "by day" in line and "last 30 days: 2026-10-22 .. now (UTC)" in line and "no filters" in line


async def test_wide_terminal_shows_every_token_column_and_narrow_hides_the_pane(
        seeded_db: Path, run_cli: Any) -> None:
    expected = _report(run_cli, seeded_db, "--by", "day", "--since", LAST_30)
    app = make_test_app(seeded_db, start="explore")
    async with app.run_test(size=(200, 60)) as pilot:
        screen = await _open(pilot)
        labels = [str(c.label) for c in screen.table.ordered_columns]
        assert labels == ["day", "events", "requests", "input", "cache read", "cache write", "output", "tokens",
                          "cost"]
        first = expected["rows"][0]
        assert _table_rows(screen)[0][:5] == [first["day"], count(first["events"]), count(first["requests"]),
                                              tokens(first["input_tokens"]), tokens(first["cache_read_tokens"])]
        assert screen.query_one("#explore-detail").display
        assert first["cost_usd"] in str(screen.query_one("#explore-detail", Static).render())  # the exact cost
        screen.sort_by("input")
        inputs = [r["input_tokens"] for r in screen.shown_rows]
        assert inputs == sorted(inputs, reverse=True)
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await wait_until(pilot, lambda: len(screen.table.ordered_columns) == 4)
        assert [str(c.label) for c in screen.table.ordered_columns] == ["day", "events", "tokens", "cost"]
        assert screen.sort_column is None  # the input column is gone: back to the report's order
        assert not screen.query_one("#explore-detail").display


async def test_unpriced_rows_never_read_as_free(seeded_db: Path, run_cli: Any) -> None:
    expected = _report(run_cli, seeded_db, "--by", "model", "--since", LAST_30)
    all_unpriced = [r for r in expected["rows"] if r["unpriced_events"] == r["events"]]
    assert all_unpriced  # the demo has a model with no known price
    app = make_test_app(seeded_db, start="explore")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot)
        await _type(pilot, screen, "by", "model")
        _assert_shows(screen, expected)
        shown = {row[0]: row[-1] for row in _table_rows(screen)}
        for row in all_unpriced:
            assert shown[row["model"]] == "unpriced"
        assert shown["total"].endswith("*")


async def test_group_by_and_filters_change_the_rows(seeded_db: Path, run_cli: Any) -> None:
    # The CLI runs before the app: Textual captures stdout while it runs.
    since_90 = (FIXED_NOW - timedelta(days=89)).strftime("%Y-%m-%d")
    by_project_model = _report(run_cli, seeded_db, "--by", "project,model", "--since", LAST_30)
    web = _report(run_cli, seeded_db, "--by", "project,model", "--since", LAST_30, "--project", "web")
    narrowed = _report(run_cli, seeded_db, "--by", "project,model", "--since", LAST_30, "--project", "web",
                       "--user", "alice,bob", "--tag", "env=prod")
    weeks = _report(run_cli, seeded_db, "--by", "week", "--since", LAST_30)
    weeks_90 = _report(run_cli, seeded_db, "--by", "week", "--since", since_90)
    custom = _report(run_cli, seeded_db, "--by", "week", "--since", "2026-11-02", "--until", "2026-11-09T12:00:00Z")
    assert web["rows"] != by_project_model["rows"] and narrowed["rows"] != web["rows"]
    assert weeks_90["rows"] != weeks["rows"] and custom["rows"]

    app = make_test_app(seeded_db, start="explore")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot)
        await _type(pilot, screen, "by", "project,model", keys=True)
        assert screen.field("by").value == "project,model"
        _assert_shows(screen, by_project_model)

        await _type(pilot, screen, "project", "web", keys=True)
        _assert_shows(screen, web)
        assert {r["project"] for r in screen.report["rows"]} == {"web"}  # type: ignore[index]

        await _type(pilot, screen, "user", "alice,bob")
        await _type(pilot, screen, "tag", "env=prod")
        _assert_shows(screen, narrowed)
        line = str(screen.query_one("#explore-filters", Static).render())
        assert "project=web" in line and "user=alice,bob" in line and "tag env=prod" in line

        # `c` clears the filters, `g` cycles the grouping, `t` the range.
        screen.table.focus()
        await pilot.press("c")
        await _settle(pilot, screen)
        _assert_shows(screen, by_project_model)
        await pilot.press("g")  # project,model -> day (the cycle starts over)
        await _settle(pilot, screen)
        await pilot.press("g")
        await _settle(pilot, screen)
        assert screen.field("by").value == "week"
        _assert_shows(screen, weeks)
        await pilot.press("t")  # last 30 days -> last 90 days
        await _settle(pilot, screen)
        _assert_shows(screen, weeks_90)
        assert str(screen.range_select.value) == "90d"

        # A custom range typed in Since/Until.
        await _type(pilot, screen, "since", "2026-11-02")
        await _type(pilot, screen, "until", "2026-11-09T12:00:00Z")
        assert str(screen.range_select.value) == "custom"
        _assert_shows(screen, custom)


async def test_sort_by_a_column_and_reverse(seeded_db: Path) -> None:
    app = make_test_app(seeded_db, start="explore")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot)
        await _type(pilot, screen, "by", "user")
        screen.table.focus()
        for _ in range(4):  # user -> events -> tokens -> cost
            await pilot.press("s")
        assert screen.sort_column == "cost" and screen.sort_descending
        costs = [Decimal(r["cost_usd"]) for r in screen.shown_rows]
        assert costs == sorted(costs, reverse=True) and len(set(costs)) > 1
        shown_users = [row[0] for row in _table_rows(screen)[:-1]]
        assert shown_users == [r["user"] for r in screen.shown_rows]
        await pilot.press("S")
        costs = [Decimal(r["cost_usd"]) for r in screen.shown_rows]
        assert costs == sorted(costs) and not screen.sort_descending
        assert "sorted by cost ascending" in str(screen.query_one("#explore-filters", Static).render())
        assert _table_rows(screen)[-1][0] == "total"  # the totals stay last

        # Clicking a header sorts by it; clicking it again reverses.
        table = screen.table
        x = sum(c.get_render_width(table) for c in table.ordered_columns[:1]) + 2  # inside "events"
        await pilot.click("#explore-table", offset=(x, 0))
        assert screen.sort_column == "events" and screen.sort_descending
        events = [r["events"] for r in screen.shown_rows]
        assert events == sorted(events, reverse=True)
        await pilot.click("#explore-table", offset=(x, 0))
        assert not screen.sort_descending
        assert [r["events"] for r in screen.shown_rows] == sorted(events)
        await pilot.click("#explore-table", offset=(1, 0))  # "user": names in reading order
        assert [r["user"] for r in screen.shown_rows] == sorted(r["user"] for r in screen.shown_rows)


async def test_drill_into_a_day_row_narrows_the_events_view(seeded_db: Path) -> None:
    app = make_test_app(seeded_db, start="explore")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot)
        await _type(pilot, screen, "by", "day,project")
        await _type(pilot, screen, "provider", "anthropic")
        screen.table.focus()
        await pilot.press("down", "down")
        row = screen.shown_rows[2]
        await pilot.press("enter")
        await pilot.pause()
        assert app.current_mode == "events"
        view = app.view_filter
        day = datetime.strptime(row["day"], "%Y-%m-%d").replace(tzinfo=UTC)
        assert (view.since, view.until) == (day, day + timedelta(days=1))
        assert view.projects == (row["project"],)
        assert view.providers == ("anthropic",)  # the view's own filters are kept
        assert view.models == () and view.search is None


async def test_drill_into_agent_uses_search_and_says_so(seeded_db: Path) -> None:
    app = make_test_app(seeded_db, start="explore")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot)
        await _type(pilot, screen, "by", "agent")
        screen.table.focus()
        row = screen.shown_rows[0]
        await pilot.press("enter")
        await pilot.pause()
        assert app.current_mode == "events"
        assert app.view_filter.search == row["agent"]
        assert app.view_filter.since == datetime(2026, 10, 22, tzinfo=UTC) and app.view_filter.until is None
        assert any("no agent field" in n for n in _notes(app))


async def test_drill_into_the_totals_line_keeps_the_whole_view(seeded_db: Path) -> None:
    app = make_test_app(seeded_db, start="explore")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot)
        await _type(pilot, screen, "model", "gpt-4o")
        screen.table.focus()
        await pilot.press("end")
        await pilot.press("enter")
        await pilot.pause()
        assert app.current_mode == "events"
        assert app.view_filter.models == ("gpt-4o",)
        assert (app.view_filter.since, app.view_filter.until) == (datetime(2026, 10, 22, tzinfo=UTC), None)


def test_drill_filter_buckets_in_the_readers_zone() -> None:
    paris = ZoneInfo("Europe/Paris")
    request = ReportRequest(group_by=("month", "key", "session"), zone=paris, zone_name="Europe/Paris",
                            since=datetime(2026, 10, 15, tzinfo=paris))
    drill = drill_filter({"month": "2026-10", "key": None, "session": "s-1"}, request)
    # Clipped to the report's start; the month ends at Paris midnight (after the DST change).
    assert drill.view.since == datetime(2026, 10, 15, tzinfo=paris)
    assert drill.view.until == datetime(2026, 10, 31, 23, tzinfo=UTC)
    assert drill.view.keys == () and drill.view.search == "s-1"
    assert any("no key" in n for n in drill.notes)
    week = drill_filter({"week": "2026-10-19"}, ReportRequest(group_by=("week",), zone=paris))
    assert week.view.since == datetime(2026, 10, 19, tzinfo=paris)
    assert week.view.until == datetime(2026, 10, 26, tzinfo=paris)


def test_presets_start_at_local_midnights() -> None:
    paris = ZoneInfo("Europe/Paris")
    now = datetime(2026, 11, 1, 0, 30, tzinfo=UTC)  # already Nov 1, 01:30 in Paris
    since, until = ExploreState(range_id="month").time_bounds(now, paris)
    assert since == datetime(2026, 11, 1, tzinfo=paris) and until is None
    since, _ = ExploreState(range_id="7d").time_bounds(now, paris)
    assert since == datetime(2026, 10, 26, tzinfo=paris)
    assert ExploreState(range_id="all").time_bounds(now, paris) == (None, None)


async def test_export_writes_the_cli_csv_and_asks_before_overwriting(
        seeded_db: Path, run_cli: Any, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    cli_csv = tmp_path / "cli.csv"
    result = run_cli("--db", str(seeded_db), "report", "--csv", "--tz", "UTC", "--by", "day,model",
                     "--since", LAST_30, "--project", "web", "-o", str(cli_csv))
    assert result.code == 0, result.stderr
    app = make_test_app(seeded_db, start="explore")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot)
        await _type(pilot, screen, "by", "day,model")
        await _type(pilot, screen, "project", "web")
        screen.table.focus()
        await pilot.press("x")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, ExportModal)
        assert modal.query_one("#export-path", Input).value == "agentcost-report-2026-11-20.csv"
        await pilot.press("enter")
        await _settle(pilot, screen)
        target = tmp_path / "agentcost-report-2026-11-20.csv"
        assert target.read_bytes() == cli_csv.read_bytes()
        rows = len(screen.report["rows"])  # type: ignore[index]
        assert screen.last_export == (Path("agentcost-report-2026-11-20.csv"), rows)
        assert any(f"Wrote {rows:,} row(s) to {target}" in n for n in _notes(app))

        # The file exists now: "no" leaves it alone...
        target.write_text("keep me\n", encoding="utf-8")
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("n")
        await _settle(pilot, screen)
        assert target.read_text(encoding="utf-8") == "keep me\n"
        # ...and "yes" overwrites it, here with the view sorted: the same lines, in the order shown.
        await pilot.press("s")  # sort by day
        await pilot.press("S")  # newest first
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await _settle(pilot, screen)
        written = target.read_text(encoding="utf-8").splitlines()
        cli_lines = cli_csv.read_text(encoding="utf-8").splitlines()
        assert written[0] == cli_lines[0] and sorted(written) == sorted(cli_lines) and written != cli_lines
        assert written[1].startswith("2026-11-20,")


async def test_export_to_a_missing_directory_reports_an_error(seeded_db: Path, tmp_path: Path) -> None:
    app = make_test_app(seeded_db, start="explore")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot)
        screen.table.focus()
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ExportModal)
        app.screen.query_one("#export-path", Input).value = str(tmp_path / "nowhere" / "r.csv")
        await pilot.press("enter")
        await _settle(pilot, screen)
        assert screen.last_export is None
        assert any("Could not write" in n for n in _notes(app))
        assert app.screen is screen


async def test_bad_custom_time_shows_an_error_and_keeps_the_rows(seeded_db: Path) -> None:
    app = make_test_app(seeded_db, start="explore")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot)
        before, state = screen.report, screen.state
        assert before is not None
        await _type(pilot, screen, "since", "last tuesday")
        assert any("cannot read time 'last tuesday'" in n for n in _notes(app))
        assert screen.report is before and screen.state == state
        assert str(screen.range_select.value) == "30d"
        assert screen.field("since").value == "last tuesday"  # kept, to be corrected
        await _type(pilot, screen, "by", "day,colour")
        assert any("cannot group by 'colour'" in n for n in _notes(app))
        assert screen.report is before and screen.state == state
        assert len(_table_rows(screen)) == len(before["rows"]) + 1

        # A good since applies; an until before it is refused and changes nothing.
        await _type(pilot, screen, "by", "day")
        await _type(pilot, screen, "since", "2026-11-10")
        applied, state = screen.report, screen.state
        assert applied is not before and state.range_id == "custom"
        await _type(pilot, screen, "until", "2026-11-01")
        assert any("until must be later than since" in n for n in _notes(app))
        assert screen.report is applied and screen.state == state


async def test_palette_commands_exist(seeded_db: Path) -> None:
    app = make_test_app(seeded_db, start="explore")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot)
        titles = [c.title for c in app.get_system_commands(screen)]
        for title in ("Explore: export CSV", "Explore: open the row's events", "Explore: next grouping",
                      "Explore: sort by the next column", "Explore: group by session", "Explore: range all time"):
            assert title in titles
        command = next(c for c in screen.palette_commands() if c.title == "Explore: group by provider")
        command.callback()
        await _settle(pilot, screen)
        assert screen.report is not None and screen.report["group_by"] == ["provider"]
