"""The Overview screen: figures from a seeded store, equal to `agentcost report --json`."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from agentcost_cli.tui.formatting import money
from agentcost_cli.tui.screens.overview import OverviewScreen

from .conftest import FIXED_NOW, make_test_app, wait_loaded, wait_until

pytestmark = pytest.mark.anyio  # Textual runs on asyncio (see anyio_backend in conftest)


def _report(run_cli, db: Path, *args: str) -> dict:
    result = run_cli("--db", str(db), "report", "--json", "--tz", "UTC", *args)
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


async def test_overview_figures_equal_agentcost_report_json(seeded_db: Path, run_cli) -> None:
    month = _report(run_cli, seeded_db, "--by", "day", "--since", "2026-11-01")
    week = _report(run_cli, seeded_db, "--by", "day", "--since", "2026-11-16")  # Monday of FIXED_NOW's week
    today = _report(run_cli, seeded_db, "--by", "day", "--since", "2026-11-20")
    projects = _report(run_cli, seeded_db, "--by", "project", "--since", "2026-11-01")
    assert Decimal(month["totals"]["cost_usd"]) > Decimal(week["totals"]["cost_usd"]) > 0  # the seed spans the month

    app = make_test_app(seeded_db)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot)
        screen = app.screen
        assert isinstance(screen, OverviewScreen)
        data = screen.overview
        assert data is not None
        # Exact: the same decimal strings, not just the same rounded dollars.
        assert Decimal(data.month_usd) == Decimal(month["totals"]["cost_usd"])
        assert Decimal(data.week_usd) == Decimal(week["totals"]["cost_usd"])
        assert Decimal(data.today_usd) == Decimal(today["totals"]["cost_usd"])
        assert data.unpriced_events == month["totals"]["unpriced_events"]
        assert data.month_events == month["totals"]["events"]
        # And what is on screen is those figures.
        assert str(screen.query_one("#stat-month", Static).render()).startswith(money(month["totals"]["cost_usd"]))
        assert str(screen.query_one("#stat-today", Static).render()).splitlines() == [
            money(today["totals"]["cost_usd"]), "Fri 20 Nov"]
        assert str(screen.query_one("#stat-week", Static).render()).splitlines() == [
            money(week["totals"]["cost_usd"]), "since Mon 16 Nov"]
        assert str(screen.query_one("#stat-forecast", Static).render()).splitlines()[1] == "by Mon 30 Nov"
        table = screen.query_one("#top-project", DataTable)
        shown = {str(table.get_row_at(i)[0]): str(table.get_row_at(i)[1]) for i in range(table.row_count)}
        expected = {r["project"]: money(r["cost_usd"]) + ("*" if r["unpriced_events"] else "")
                    for r in projects["rows"]}
        assert shown == expected


async def test_overview_forecast_and_unpriced_warning(seeded_db: Path) -> None:
    app = make_test_app(seeded_db)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot)
        screen = app.screen
        assert isinstance(screen, OverviewScreen)
        data = screen.overview
        assert data is not None and data.forecast_usd is not None
        # The run-rate: month so far x 30 days / elapsed (19 days 15.5 hours on Nov 20, 15:30).
        elapsed_hours = Decimal(19 * 24 + 15.5)
        expected = Decimal(data.month_usd) * Decimal(30 * 24) / elapsed_hours
        assert abs(Decimal(data.forecast_usd) - expected) < Decimal("0.000001")
        warning = str(screen.query_one("#unpriced-warning", Static).render())
        assert data.unpriced_events > 0 and f"{data.unpriced_events:,} event(s)" in warning


async def test_overview_budgets_show_state_in_words(seeded_db: Path) -> None:
    app = make_test_app(seeded_db)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot)
        screen = app.screen
        assert isinstance(screen, OverviewScreen)
        await wait_until(pilot, lambda: screen.budgets is not None)
        text = str(screen.gauges.render())
        names = {b["name"]: b for b in screen.budgets or []}
        assert set(names) == {"monthly", "web-daily"}
        for budget in names.values():
            assert budget["name"] in text
            word = budget["state"].upper() if budget["state"] != "ok" else "ok"
            assert word in text
            assert f"{money(budget['spent_usd'])} / {money(budget['amount_usd'])}" in text


async def test_chart_toggles_between_30_and_90_days(seeded_db: Path) -> None:
    app = make_test_app(seeded_db)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot)
        screen = app.screen
        assert isinstance(screen, OverviewScreen) and screen.overview is not None
        assert screen.overview.daily[-1][0] == FIXED_NOW.date()
        assert screen.chart_days == 30
        await pilot.press("t")
        assert screen.chart_days == 90
        await pilot.press("t")
        assert screen.chart_days == 30
