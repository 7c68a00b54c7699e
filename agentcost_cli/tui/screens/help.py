"""`?`: what this screen shows and every key that works here."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Markdown

GLOBAL_HELP = """\
**Everywhere:** `1`-`6` switch screens · `r` refresh now · `ctrl+p` command palette (screens, actions,
themes) · `?` this help · `q` quit. Tables: arrows, page up/down and home/end move, `enter` opens,
the mouse clicks and scrolls. `escape` leaves a text field, so that the keys above work again.
Changes that destroy something ask first: `y` confirms, `n` or `escape` cancels.
"""


def _keys_table(screen: Screen) -> str:
    rows = []
    seen: set[str] = set()
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if not binding.description or key in seen:
            continue
        seen.add(key)
        shown = binding.key_display or key
        rows.append(f"| `{shown}` | {binding.description} |")
    if not rows:
        return ""
    return "| key | action |\n|---|---|\n" + "\n".join(rows)


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90%; max-width: 110; height: 80%; border: thick $primary; background: $surface; padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss_help", "Close", id="help.close"),
    ]

    def __init__(self, screen: Screen) -> None:
        super().__init__()
        self.about = getattr(screen, "HELP", None) or ""
        self.title_text = getattr(screen, "TITLE", None) or type(screen).__name__
        self.keys = _keys_table(screen)

    def compose(self) -> ComposeResult:
        text = f"# {self.title_text}\n\n{self.about}\n\n{GLOBAL_HELP}\n\n{self.keys}\n\n*escape closes this help.*"
        with VerticalScroll():
            yield Markdown(text, id="help-text")

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
