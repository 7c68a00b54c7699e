"""The override form of the Pricing screen: a model's rates per million tokens, when they apply
from, and why. The service validates (the same rules and messages as `agentcost pricing set`);
a refusal is shown in the form, which stays open with what was typed, and nothing changes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from .base import describe_error

if TYPE_CHECKING:
    from ..app import AgentcostApp

# service rate name, label (the CLI's option), input id
RATE_FIELDS = (
    ("input", "input", "override-input"),
    ("output", "output", "override-output"),
    ("cache_read", "cache read", "override-cache-read"),
    ("cache_write", "cache write (5 min)", "override-cache-write"),
    ("cache_write_1h", "cache write (1 hour)", "override-cache-write-1h"),
)


class OverrideModal(ModalScreen[dict[str, Any] | None]):
    """Set a manual price for `provider/model`. Dismisses with the stored override (the
    service's dict), or None when cancelled.

    Args:
        current: the model's rates now (shown as hints: a rate left empty keeps the catalog's).
        in_catalog: False for a model with no catalog price (input and output are then required).
    """

    DEFAULT_CSS = """
    OverrideModal { align: center middle; }
    OverrideModal > VerticalScroll {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    OverrideModal .form-row { height: 1; margin-top: 1; }
    OverrideModal .form-row Label { width: 22; padding: 0 1 0 0; }
    OverrideModal .form-row Input { width: 1fr; }
    OverrideModal #override-error { color: $error; text-style: bold; height: auto; }
    OverrideModal #override-buttons { height: auto; margin-top: 1; }
    OverrideModal #override-buttons Button { margin-right: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="override.cancel"),
        Binding("ctrl+s", "save", "Save", id="override.save"),
    ]

    def __init__(self, provider: str, model: str, *, current: dict[str, Any] | None = None,
                 in_catalog: bool = True) -> None:
        super().__init__()
        self.provider = provider
        self.model = model
        self.current = current or {}
        self.in_catalog = in_catalog
        self.error: str | None = None  # the last refusal (tests read it)

    @property
    def agentcost(self) -> AgentcostApp:
        from ..app import AgentcostApp

        assert isinstance(self.app, AgentcostApp)
        return self.app

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_title = f"Price override for {self.provider}/{self.model}"
            yield Static(Text("USD per million tokens. " + (
                "Rates left empty keep the catalog's." if self.in_catalog else
                "Not in the catalog: input and output are both required."), style="dim"))
            for name, label, input_id in RATE_FIELDS:
                now = self.current.get(name)
                hint = f"now ${now}" if now is not None else ("required" if not self.in_catalog
                                                                and name in ("input", "output") else "not set")
                with Horizontal(classes="form-row"):
                    yield Label(label)
                    yield Input(placeholder=hint, id=input_id, compact=True)
            with Horizontal(classes="form-row"):
                yield Label("effective from")
                yield Input(placeholder="empty: for all time; or 2026-12-01, today...", id="override-from",
                            compact=True)
            with Horizontal(classes="form-row"):
                yield Label("reason (required)")
                yield Input(placeholder="e.g. enterprise deal", id="override-reason", compact=True)
            yield Static("", id="override-error")
            with Horizontal(id="override-buttons"):
                yield Button("Save [ctrl+s]", variant="primary", id="override-save")
                yield Button("Cancel [esc]", id="override-cancel")

    def on_mount(self) -> None:
        self.query_one("#override-input", Input).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "override-save":
            self.action_save()
        else:
            self.action_cancel()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def request(self) -> dict[str, Any]:
        """What the form asks for, as `Backend.set_price_override` keywords (raises InvalidInput
        for an unreadable date)."""
        from ...timeutil import parse_time_arg

        rates: dict[str, str | None] = {}
        for name, _label, input_id in RATE_FIELDS:
            value = self.query_one(f"#{input_id}", Input).value.strip()
            rates[name] = value or None
        when = self.query_one("#override-from", Input).value.strip()
        app = self.agentcost
        effective = parse_time_arg(when, app.zone, now=app.clock()) if when else None
        return {"provider": self.provider, "model": self.model, "rates": rates, "effective_from": effective,
                "reason": self.query_one("#override-reason", Input).value}

    def show_error(self, message: str) -> None:
        self.error = message
        self.query_one("#override-error", Static).update(f"Not saved: {message}")
        self.notify(message, title="Override not saved", severity="error", timeout=8)

    def action_save(self) -> None:
        try:
            request = self.request()
        except Exception as exc:
            self.show_error(describe_error(exc))
            return
        self._save(request)

    @work(exclusive=True, group="override-save", exit_on_error=False)
    async def _save(self, request: dict[str, Any]) -> None:
        self.query_one("#override-save", Button).disabled = True
        try:
            result = await self.agentcost.runner.call(lambda b: b.set_price_override(**request))
        except Exception as exc:  # the service refused: say why, keep what was typed
            self.show_error(describe_error(exc))
            return
        finally:
            self.query_one("#override-save", Button).disabled = False
        self.dismiss(result)
