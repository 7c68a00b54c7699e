"""The app around the screens: switching, help, the palette, refresh, failures, NO_COLOR."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from textual.filter import Monochrome
from textual.widgets import Markdown

from agentcost_cli.tui.screens.base import DataScreen
from agentcost_cli.tui.screens.help import HelpScreen
from agentcost_cli.tui.screens.overview import OverviewScreen
from agentcost_cli.tui.widgets.nav import SCREENS

from .conftest import FIXED_NOW, make_test_app, wait_loaded, wait_until

pytestmark = pytest.mark.anyio  # Textual runs on asyncio (see anyio_backend in conftest)


def _add_spend(db: Path, *, cost_tokens: int = 1_000_000) -> None:
    """A real ingest into the store the app is showing: an event at FIXED_NOW."""
    from agentcost_cli.ingest.pipeline import IngestOptions
    from agentcost_cli.services.actor import LOCAL
    from agentcost_cli.services.backend import LocalBackend
    from agentcost_cli.services.ingest import Hooks
    from agentcost_cli.store import open_store

    line = (b'{"timestamp":"2026-11-20T15:00:00Z","provider":"openai","model":"gpt-4o","project":"web",'
            b'"input_tokens":%d,"output_tokens":0,"id":"added-1"}\n' % cost_tokens)
    source = db.parent / "added.jsonl"
    source.write_bytes(line)
    store = open_store(db)
    try:
        summary = LocalBackend(store, LOCAL).ingest([str(source)], IngestOptions(), Hooks())
        assert summary.added == 1
    finally:
        store.close()


async def test_number_keys_switch_screens_and_the_nav_bar_follows(seeded_db: Path) -> None:
    app = make_test_app(seeded_db)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot)
        for index, (mode, _label) in reversed(list(enumerate(SCREENS, start=1))):
            await pilot.press(str(index))
            assert app.current_mode == mode
            assert isinstance(app.screen, DataScreen)
            nav = app.screen.query_one("NavBar")
            assert nav.active == f"nav-{mode}"  # type: ignore[attr-defined]


async def test_clicking_a_tab_switches_screen(seeded_db: Path) -> None:
    app = make_test_app(seeded_db)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot)
        await pilot.click("#nav-pricing")
        await wait_until(pilot, lambda: app.current_mode == "pricing")


async def test_help_lists_this_screens_keys_and_closes(seeded_db: Path) -> None:
    app = make_test_app(seeded_db)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = app.screen.query_one("#help-text", Markdown).source
        assert "# Overview" in text
        assert "30/90 days" in text and "`t`" in text  # the Overview's own binding
        assert "Refresh" in text and "command palette" in text
        await pilot.press("escape")
        assert isinstance(app.screen, OverviewScreen)


async def test_palette_offers_every_screen_and_refresh(seeded_db: Path) -> None:
    app = make_test_app(seeded_db)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        for _mode, label in SCREENS:
            assert f"Go to {label}" in titles
        assert "Refresh" in titles
        # Through the real palette: open it, type, pick the first match.
        await pilot.press("ctrl+p")
        await pilot.press(*"go to budgets")
        await pilot.pause(0.3)  # the palette searches its providers asynchronously
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.current_mode == "budgets")


async def test_r_reloads_and_the_header_says_when(seeded_db: Path) -> None:
    app = make_test_app(seeded_db)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot)
        screen = app.screen
        assert isinstance(screen, OverviewScreen) and screen.overview is not None
        before = Decimal(screen.overview.today_usd)
        assert app.sub_title == "refreshed 15:30:00 · local · seeded.db"  # the app's clock, in its zone
        _add_spend(seeded_db)  # gpt-4o input: $2.50 per million tokens
        await pilot.press("r")
        await wait_until(pilot, lambda: screen.overview is not None and Decimal(screen.overview.today_usd) != before)
        assert Decimal(screen.overview.today_usd) - before == Decimal("2.5")


async def test_the_visible_screen_refreshes_on_the_interval(seeded_db: Path) -> None:
    app = make_test_app(seeded_db, refresh_seconds=0.5)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen) and app.screen.loaded)
        screen = app.screen
        assert isinstance(screen, OverviewScreen) and screen.overview is not None
        before = Decimal(screen.overview.month_usd)
        _add_spend(seeded_db)
        await wait_until(pilot, lambda: screen.overview is not None and Decimal(screen.overview.month_usd) > before)


async def test_a_store_that_cannot_open_is_reported_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    app = make_test_app(tmp_path / "a-file" / "x.db")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        screen = app.screen
        assert isinstance(screen, OverviewScreen)
        assert screen.load_error is not None and "a-file" in screen.load_error
        assert any("a-file" in str(n.message) for n in app._notifications)
        await pilot.press("2")  # still usable
        assert app.current_mode == "explore"


async def test_keys_typed_after_q_do_not_reach_the_closing_screens(seeded_db: Path) -> None:
    app = make_test_app(seeded_db)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("6")
        await wait_loaded(pilot)
        # "s" opens the share form on this screen; typed after "q" it used to crash the exit.
        await pilot.press("q", "s", "n", "question_mark")
    assert app.return_code == 0


@pytest.mark.parametrize("no_color", [True, False])
async def test_no_color_makes_the_screen_monochrome(seeded_db: Path, monkeypatch: pytest.MonkeyPatch,
                                                    no_color: bool) -> None:
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    app = make_test_app(seeded_db)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot)
        monochrome = [f for f in app.get_line_filters() if isinstance(f, Monochrome)]
        assert bool(monochrome) is no_color
        screen = app.screen
        assert isinstance(screen, OverviewScreen)
        await wait_until(pilot, lambda: screen.budgets is not None)
        # Without colour the state still reads: the monthly budget's state is a word on the gauge.
        monthly = next(b for b in screen.budgets or [] if b["name"] == "monthly")
        assert monthly["state"] != "ok"  # the seed spends past 50% of $80 by Nov 20
        assert monthly["state"].upper() in str(screen.gauges.render())


async def test_the_app_can_open_on_any_screen(seeded_db: Path) -> None:
    app = make_test_app(seeded_db, start="events")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot)
        assert app.current_mode == "events" and isinstance(app.screen, DataScreen) and app.screen.loaded
        assert "overview" not in app._screen_stacks or not app._screen_stacks["overview"]  # never loaded


def test_an_unknown_start_screen_is_refused(seeded_db: Path, run_cli) -> None:
    from agentcost_cli.errors import InvalidInput

    with pytest.raises(InvalidInput, match="no screen named 'costs'"):
        make_test_app(seeded_db, start="costs")
    result = run_cli("--db", str(seeded_db), "tui", "--screen", "costs")
    assert result.code == 2 and "choose from: overview, explore, events, budgets, pricing, projects" in result.stderr


def test_fixed_now_is_a_friday_afternoon() -> None:
    # The week and month figures in these tests rely on it.
    assert FIXED_NOW.isoweekday() == 5 and FIXED_NOW.day == 20
