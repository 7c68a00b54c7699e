"""A yes/no modal for destructive actions (revoke, delete, retry all): `n`/escape answers no."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Label


class ConfirmModal(ModalScreen[bool]):
    DEFAULT_CSS = """
    ConfirmModal { align: center middle; }
    ConfirmModal > Vertical {
        width: 90%; max-width: 80; height: auto; padding: 1 2;
        border: thick $error; background: $surface;
    }
    ConfirmModal #confirm-question { width: 1fr; margin-bottom: 1; }
    ConfirmModal Horizontal { width: auto; height: auto; }
    ConfirmModal Button { margin-right: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, question: str, *, confirm_label: str = "Yes") -> None:
        super().__init__()
        self.question = question
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical():
            # Content, not markup: a question may hold brackets ("key [live]") that must show as typed.
            yield Label(Content(self.question), id="confirm-question")
            with Horizontal():
                yield Button(Content(f"{self.confirm_label} [y]"), variant="error", id="confirm-yes")
                yield Button(Content("Cancel [n]"), id="confirm-no")

    def on_mount(self) -> None:
        # Focus "Cancel": Enter on a destructive prompt should not destroy.
        self.query_one("#confirm-no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
