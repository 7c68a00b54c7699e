"""The budget form: create a budget, or change one (only the fields that changed are sent).

The service validates: when it refuses (an unreadable amount, an unknown zone, a bad period...)
the form stays open with what was typed and says why; nothing is created or changed."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, SelectionList, Static

from .base import describe_error

if TYPE_CHECKING:
    from ...services.backend import Backend
    from ..app import AgentcostApp

SCOPES = ("project", "global", "key", "user", "tag")
_SCOPE_HELP = {
    "project": "one project (give it as the value or the project)",
    "global": "everything (store-wide: no value, no project)",
    "key": "one API key (value: the key id)",
    "user": "one user (value: the user name)",
    "tag": "one tag (value: NAME=VALUE, e.g. team=search)",
}
_KEEP = "keep"


@dataclass(frozen=True)
class BudgetFormValues:
    """What the form holds, as typed."""

    name: str = ""
    amount: str = ""
    scope: str = "project"
    value: str = ""
    project: str = ""
    period: str = "month"
    zone: str = "UTC"
    thresholds: str = "50,80,100"
    channels: tuple[str, ...] = ()
    forecast: bool | None = True  # None: leave as it is (edit)


def plain_amount(text: str) -> str:
    """`80.000000000` -> `80`, `1.500000000` -> `1.5` (what a person would type)."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return text
    return format(value.normalize(), "f")


def values_from_budget(budget: dict[str, Any]) -> BudgetFormValues:
    """The form's starting values for editing `budget` (a `list_budgets` row)."""
    scope = str(budget["scope"])
    return BudgetFormValues(
        name=str(budget["name"]), amount=plain_amount(str(budget["amount_usd"])), scope=scope,
        value=str(budget["value"] or ""), project=str(budget.get("project") or ""), period=str(budget["period"]),
        zone=str(budget["zone"]), thresholds=",".join(str(t) for t in budget["thresholds"]),
        # None ("keep as it is") only for a daemon too old to say whether forecasts are on.
        channels=tuple(budget.get("channels") or ()), forecast=budget.get("forecast"),
    )


def _optional(text: str) -> str | None:
    text = text.strip()
    return text or None


def create_fields(values: BudgetFormValues) -> dict[str, Any]:
    """The keyword arguments of `create_budget` for what the form holds."""
    return {
        "name": values.name.strip(), "amount": values.amount.strip(), "scope": values.scope,
        "value": _optional(values.value), "project": _optional(values.project),
        "period": values.period.strip(), "zone": values.zone.strip(), "thresholds_text": values.thresholds.strip(),
        "channel_names": list(values.channels), "forecast": True if values.forecast is None else values.forecast,
    }


def _same_amount(a: str, b: str) -> bool:
    try:
        return Decimal(a.strip().lstrip("$").replace(",", "")) == Decimal(b)
    except InvalidOperation:
        return False


def _threshold_list(text: str) -> list[str]:
    return [part.strip() for part in text.replace(" ", ",").split(",") if part.strip()]


def changed_fields(before: BudgetFormValues, after: BudgetFormValues) -> dict[str, Any]:
    """The keyword arguments of `update_budget`: only what differs from `before`."""
    fields: dict[str, Any] = {}
    if not _same_amount(after.amount, before.amount):
        fields["amount"] = after.amount.strip()
    if after.period.strip() != before.period:
        fields["period"] = after.period.strip()
    if after.zone.strip() != before.zone:
        fields["zone"] = after.zone.strip()
    if _threshold_list(after.thresholds) != _threshold_list(before.thresholds):
        fields["thresholds_text"] = after.thresholds.strip()
    if sorted(after.channels) != sorted(before.channels):
        fields["channel_names"] = list(after.channels)
    if after.forecast is not None and after.forecast != before.forecast:
        fields["forecast"] = after.forecast
    return fields


def _input(value: str, *, placeholder: str, id: str, disabled: bool = False) -> Input:
    return Input(value, placeholder=placeholder, id=id, disabled=disabled, compact=True)


class BudgetForm(ModalScreen[dict[str, Any] | None]):
    """Create (no `budget`) or edit a budget. Dismisses with the service's answer (the budget
    as `list_budgets` shows it), or None when cancelled or nothing changed."""

    DEFAULT_CSS = """
    BudgetForm { align: center middle; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", tooltip="Save the budget", id="budget_form.save"),
        Binding("escape", "cancel", "Cancel", tooltip="Close without saving", id="budget_form.cancel"),
    ]

    def __init__(self, *, budget: dict[str, Any] | None = None, channels: list[str] | None = None,
                 zone_name: str = "UTC") -> None:
        super().__init__()
        self.budget = budget
        self.before = values_from_budget(budget) if budget else BudgetFormValues(zone=zone_name)
        self.channel_names = sorted(set(channels or ()) | set(self.before.channels))
        self.saving = False
        self.error: str | None = None

    @property
    def editing(self) -> bool:
        return self.budget is not None

    def compose(self) -> ComposeResult:
        v = self.before
        with Vertical(id="budget-form"):
            yield Static(f"Edit budget {v.name}" if self.editing else "New budget", id="form-title")
            with VerticalScroll(id="form-fields"):
                yield from self._row("Name", _input(v.name, placeholder="e.g. team-a", id="budget-name",
                                                   disabled=self.editing))
                yield from self._row("Amount (USD)", _input(v.amount, placeholder="per period, e.g. 100 or 12.50",
                                                           id="budget-amount"))
                yield from self._row("Scope", Select([(s, s) for s in SCOPES], value=v.scope, allow_blank=False,
                                                     id="budget-scope", disabled=self.editing, compact=True))
                yield Static(_SCOPE_HELP.get(v.scope, ""), id="scope-help", classes="form-hint muted")
                yield from self._row("Value", _input(v.value, placeholder="key id, user name, or NAME=VALUE",
                                                    id="budget-value", disabled=self.editing))
                yield from self._row("Project", _input(v.project, placeholder="project slug (optional for key, "
                                                      "user and tag)", id="budget-project", disabled=self.editing))
                yield from self._row("Period", _input(v.period, placeholder="day, week, month, or rolling:N",
                                                     id="budget-period"))
                yield from self._row("Time zone", _input(v.zone, placeholder="e.g. Europe/Paris or UTC",
                                                        id="budget-zone"))
                yield from self._row("Thresholds (%)", _input(v.thresholds, placeholder="e.g. 50,80,100",
                                                             id="budget-thresholds"))
                forecast_options: list[tuple[str, Any]] = [("on: also warn when on course to exceed", True),
                                                           ("off", False)]
                if self.editing and v.forecast is None:
                    forecast_options.insert(0, ("keep as it is", _KEEP))
                start: Any = (_KEEP if v.forecast is None else v.forecast) if self.editing else True
                yield from self._row("Forecast", Select(forecast_options, value=start, allow_blank=False,
                                                        id="budget-forecast", compact=True))
                channels = SelectionList[str](
                    *((name, name, name in v.channels) for name in self.channel_names), id="budget-channels")
                channels.border_title = "Notify channels" + ("" if self.channel_names else
                                                             " (none yet: `agentcost channels add`)")
                yield channels
            yield Static("", id="form-error")
            with Horizontal(id="form-buttons"):
                yield Button(Content("Save [ctrl+s]"), variant="primary", id="form-save", compact=True)
                yield Button(Content("Cancel [esc]"), id="form-cancel", compact=True)

    @staticmethod
    def _row(label: str, widget: Input | Select[Any]) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Label(label, classes="form-label")
            yield widget

    def on_mount(self) -> None:
        self.query_one("#form-error", Static).display = False
        self.query_one("#budget-amount" if self.editing else "#budget-name", Input).focus()

    # -- reading the form ----------------------------------------------------------------------
    def _text(self, selector: str) -> str:
        return self.query_one(selector, Input).value

    def values(self) -> BudgetFormValues:
        scope = self.query_one("#budget-scope", Select).value
        forecast = self.query_one("#budget-forecast", Select).value
        return BudgetFormValues(
            name=self._text("#budget-name"), amount=self._text("#budget-amount"),
            scope=str(scope) if isinstance(scope, str) else "project", value=self._text("#budget-value"),
            project=self._text("#budget-project"), period=self._text("#budget-period"),
            zone=self._text("#budget-zone"), thresholds=self._text("#budget-thresholds"),
            channels=tuple(self.query_one("#budget-channels", SelectionList).selected),
            forecast=forecast if isinstance(forecast, bool) else None,
        )

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "budget-scope" and isinstance(event.value, str):
            self.query_one("#scope-help", Static).update(_SCOPE_HELP.get(event.value, ""))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "form-save":
            self.action_save()
        else:
            self.action_cancel()

    # -- saving --------------------------------------------------------------------------------
    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        if self.saving:
            return
        values = self.values()
        if self.budget is not None:
            fields = changed_fields(self.before, values)
            if not fields:
                self.notify("Nothing changed.", title=f"Budget {self.before.name}")
                self.dismiss(None)
                return
            name = self.before.name
            self._save(lambda backend: backend.update_budget(name, **fields))
        else:
            fields = create_fields(values)
            self._save(lambda backend: backend.create_budget(**fields))

    def show_error(self, text: str | None) -> None:
        self.error = text
        box = self.query_one("#form-error", Static)
        box.update(text or "")
        box.display = bool(text)

    @work(exclusive=True, group="budget-form", exit_on_error=False)
    async def _save(self, call: Any) -> None:
        from ..app import AgentcostApp

        app = self.app
        assert isinstance(app, AgentcostApp)
        self.saving = True
        try:
            result: dict[str, Any] = await _run(app, call)
        except Exception as exc:  # the service refused: say why, keep what was typed
            text = describe_error(exc)
            self.show_error(text)
            self.notify(text, title="Not saved", severity="error", timeout=10)
            return
        finally:
            self.saving = False
        self.dismiss(result)


async def _run(app: AgentcostApp, call: Any) -> dict[str, Any]:
    def run(backend: Backend) -> dict[str, Any]:
        return dict(call(backend))

    return await app.runner.call(run)
