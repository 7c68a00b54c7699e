"""The row of screen tabs under the header: shows where you are and switches on click
(the number keys switch too)."""

from __future__ import annotations

from textual.widgets import Tab, Tabs

# mode name, tab label (the key is the position: 1..6)
SCREENS = (
    ("overview", "Overview"),
    ("explore", "Explore"),
    ("events", "Events"),
    ("budgets", "Budgets & alerts"),
    ("pricing", "Pricing"),
    ("projects", "Projects & keys"),
)


class NavBar(Tabs):
    DEFAULT_CSS = """
    NavBar { height: 2; }
    """

    def __init__(self, active: str) -> None:
        tabs = [Tab(f"{i} {label}", id=f"nav-{name}") for i, (name, label) in enumerate(SCREENS, start=1)]
        super().__init__(*tabs, active=f"nav-{active}")
        self.can_focus = False  # the keys are 1..6; Tab moves between the screen's own widgets

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        event.stop()
        mode = (event.tab.id or "").removeprefix("nav-")
        if mode and mode != self.app.current_mode:
            self.app.switch_mode(mode)
