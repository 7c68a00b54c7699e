"""The Textual application: modes (one per main screen), global keys, the refresh clock and
the command palette. Everything it shows comes from a Backend through `BackendRunner`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from .filters import ViewFilter
from .formatting import clock_time
from .widgets.nav import SCREENS

if TYPE_CHECKING:
    from .runner import BackendRunner


def _modes() -> dict[str, Callable[[], Screen]]:
    from .screens.budgets import BudgetsScreen
    from .screens.events import EventsScreen
    from .screens.explore import ExploreScreen
    from .screens.overview import OverviewScreen
    from .screens.pricing import PricingScreen
    from .screens.projects import ProjectsScreen

    return {"overview": OverviewScreen, "explore": ExploreScreen, "events": EventsScreen,
            "budgets": BudgetsScreen, "pricing": PricingScreen, "projects": ProjectsScreen}


class AgentcostApp(App[None]):
    """Args:
        runner: runs backend calls off the UI thread (and owns the backends).
        location: what the data is: "local: PATH" or "remote: URL"; shown in the header.
        clock: the current time (fixed in tests and snapshots).
        zone, zone_name: the reader's time zone (days, weeks and months cut there).
        refresh_seconds: reload the visible screen this often (0: only on `r`).
        start: the screen shown first (a mode name of SCREENS).
    """

    TITLE = "agentcost"
    CSS_PATH = Path(__file__).parent / "styles" / "app.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(str(i), f"switch_mode('{name}')", label, show=False, id=f"app.screen.{name}")
          for i, (name, label) in enumerate(SCREENS, start=1)),
        Binding("r", "refresh", "Refresh", tooltip="Reload this screen's data now", id="app.refresh"),
        Binding("question_mark", "help", "Help", key_display="?", id="app.help"),
        Binding("q", "quit", "Quit", id="app.quit"),
    ]

    def __init__(self, runner: BackendRunner, *, location: str, clock: Callable[[], datetime] | None = None,
                 zone: tzinfo = UTC, zone_name: str = "UTC", refresh_seconds: float = 30.0,
                 start: str = "overview") -> None:
        if start not in dict(SCREENS):
            from ..errors import InvalidInput

            raise InvalidInput(f"no screen named {start!r}", hint=f"choose from: {', '.join(dict(SCREENS))}")
        super().__init__()
        self.start = start
        self.runner = runner
        self.location = location
        self.clock = clock or (lambda: datetime.now(UTC))
        self.zone = zone
        self.zone_name = zone_name
        self.refresh_seconds = refresh_seconds
        self.last_refreshed: datetime | None = None
        self.view_filter = ViewFilter()  # carried from Explore into Events on a drill-down
        self._modes.update(_modes())

    async def on_event(self, event: events.Event) -> None:
        # Once quitting, a key typed right after `q` (say `s`) must not open a form on a screen
        # that is being torn down: the form would find none of its widgets.
        if isinstance(event, events.Key) and getattr(self, "_exit", False):
            return
        await super().on_event(event)

    def on_mount(self) -> None:
        self.sub_title = self.location
        self.switch_mode(self.start)
        if self.refresh_seconds > 0:
            self.set_interval(self.refresh_seconds, self._refresh_visible)

    def on_unmount(self) -> None:
        self.runner.close()

    # -- refreshing --------------------------------------------------------------------------
    def mark_refreshed(self) -> None:
        self.last_refreshed = self.clock()
        # The time first: a long store path is what gets cut on a narrow terminal.
        self.sub_title = f"refreshed {clock_time(self.last_refreshed, self.zone)} · {self.location}"

    def _refresh_visible(self) -> None:
        # Not while a modal (a form, a confirmation) is open: its screen is on top. A screen
        # may define `auto_reload` to keep the reader's place (Events, scrolled down a long way).
        from .screens.base import DataScreen

        screen = self.screen
        if isinstance(screen, DataScreen):
            getattr(screen, "auto_reload", screen.reload)()

    def action_refresh(self) -> None:
        from .screens.base import DataScreen

        if isinstance(self.screen, DataScreen):
            self.screen.reload()

    # -- navigation --------------------------------------------------------------------------
    def action_help(self) -> None:
        from .screens.help import HelpScreen

        self.push_screen(HelpScreen(self.screen))

    def show_events(self, view: ViewFilter) -> None:
        """Drill down: the Events screen, filtered to `view`."""
        self.view_filter = view
        first_visit = "events" not in self._screen_stacks or not self._screen_stacks["events"]
        self.switch_mode("events")
        from .screens.base import DataScreen

        # A screen shown for the first time loads on mount, with the filter already set.
        if not first_visit and isinstance(self.screen, DataScreen) and self.screen.is_mounted:
            self.screen.reload()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for i, (name, label) in enumerate(SCREENS, start=1):
            yield SystemCommand(f"Go to {label}", f"Switch to the {label} screen (key {i})",
                                lambda name=name: self.switch_mode(name))
        yield SystemCommand("Refresh", "Reload this screen's data now (key r)", self.action_refresh)
        palette = getattr(screen, "palette_commands", None)
        if palette is not None:
            yield from palette()
