"""What each screen looks like, at a fixed size and clock, over the seeded store.

The SVGs in __snapshots__/ are the reviewed pictures; a change to a screen fails here until
someone looks at the report and runs `pytest tests/tui/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from agentcost_cli.tui.screens.base import DataScreen

from .conftest import make_test_app, settle, wait_loaded, wait_until

SIZES = {"wide": (160, 48), "small": (80, 24)}


def _screen(keys: tuple[str, ...]):
    async def run_before(pilot: Pilot) -> None:
        await wait_loaded(pilot)
        for key in keys:
            await pilot.press(key)
            if isinstance(pilot.app.screen, DataScreen):
                await wait_loaded(pilot)
        app = pilot.app
        for field in app.screen.query(Input):
            field.cursor_blink = False  # a blinking cursor would differ between shots
        # Twice, with a pause longer than the screens' debounce timers (a detail pane loads 0.15 s
        # after the cursor settles), so that what they start has finished too.
        for _ in range(2):
            await settle(pilot)
            await pilot.pause(0.3)
        await settle(pilot)
        # A table sizes its columns on idle, from the rows added since: wait until it has, or a
        # busy machine takes the picture with columns narrower than they end up.
        await wait_until(pilot, lambda: not any(t._require_update_dimensions for t in app.screen.query(DataTable)))
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", sorted(SIZES))
@pytest.mark.parametrize(("start", "keys"), [
    pytest.param("overview", (), id="overview"),
    pytest.param("explore", (), id="explore"),
    pytest.param("events", (), id="events"),
    pytest.param("budgets", (), id="budgets"),
    pytest.param("pricing", (), id="pricing"),
    pytest.param("projects", (), id="projects"),
    pytest.param("overview", ("question_mark",), id="help"),
])
def test_screen(snap_compare, seeded_db: Path, start: str, keys: tuple[str, ...], size: str) -> None:
    app = make_test_app(seeded_db, start=start)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=_screen(keys))
