"""What each screen looks like, at a fixed size and clock, over the seeded store.

The SVGs in __snapshots__/ are the reviewed pictures; a change to a screen fails here until
someone looks at the report and runs `pytest tests/tui/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from agentcost_cli.tui.screens.base import DataScreen

from .conftest import make_test_app, wait_loaded

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
        await app.workers.wait_for_complete()
        await pilot.pause(0.1)
        await app.workers.wait_for_complete()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", sorted(SIZES))
@pytest.mark.parametrize("keys", [
    pytest.param((), id="overview"),
    pytest.param(("2",), id="explore"),
    pytest.param(("3",), id="events"),
    pytest.param(("4",), id="budgets"),
    pytest.param(("5",), id="pricing"),
    pytest.param(("6",), id="projects"),
    pytest.param(("question_mark",), id="help"),
])
def test_screen(snap_compare, seeded_db: Path, keys: tuple[str, ...], size: str) -> None:
    app = make_test_app(seeded_db)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=_screen(keys))
