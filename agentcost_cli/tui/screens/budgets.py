"""Budgets & alerts: every budget with its spend this period, the alerts that fired, and the
outbox (webhook, chat and email deliveries) with each message's attempts; create, edit and
delete budgets, and send failed deliveries again."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane

from ...errors import AgentcostError
from ..formatting import local_time, money
from ..widgets.confirm import ConfirmModal
from ..widgets.nav import NavBar
from .base import DataScreen, describe_error
from .budget_forms import BudgetForm

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ...services.backend import Backend

# The CLI's words for a budget's state (`agentcost budgets list`), never a colour alone.
STATE_WORDS = {"ok": "ok", "warning": "WARNING", "exceeded": "EXCEEDED", "forecast_over": "on course to exceed"}
_STATE_STYLE = {"exceeded": "bold red", "warning": "yellow", "forecast_over": "yellow", "ok": "green"}
# What an outbox status means (`agentcost outbox list --status`: failed = dead or unknown).
FAILED_STATUSES = ("dead", "unknown", "failed", "blocked")
STATUS_WORDS = {"pending": "pending", "sent": "sent", "dead": "FAILED", "unknown": "UNKNOWN (may have been sent)"}
OUTBOX_LIMIT = 100
ALERTS_LIMIT = 100
RETRY_ALL_LIMIT = 10_000

_TAB_OF_ACTION = {
    "new_budget": "tab-budgets", "edit_budget": "tab-budgets", "delete_budget": "tab-budgets",
    "retry_delivery": "tab-deliveries", "retry_all_failed": "tab-deliveries", "toggle_failed": "tab-deliveries",
}


@dataclass
class BudgetsData:
    budgets: list[dict[str, Any]]
    alerts: list[dict[str, Any]] = field(default_factory=list)
    alerts_error: str | None = None
    outbox: list[dict[str, Any]] = field(default_factory=list)
    outbox_error: str | None = None
    channels: list[str] = field(default_factory=list)


def state_words(state: str) -> str:
    return STATE_WORDS.get(state, state)


def scope_words(budget: dict[str, Any]) -> str:
    """`global`, `project web`, `tag team=search (in web)`: the CLI's `scope` column."""
    text = str(budget["scope"]) if budget["value"] is None else f"{budget['scope']} {budget['value']}"
    project = budget.get("project")
    if project and budget["scope"] not in ("project", "global"):
        text += f" (in {project})"
    return text


def period_words(budget: dict[str, Any]) -> str:
    """`2026-11` for a calendar period, `last 7 days` for a rolling one (the CLI's wording)."""
    if str(budget["period"]).startswith("rolling:"):
        return f"last {str(budget['period']).split(':', 1)[1]} days"
    return str(budget["period_key"])


def status_words(status: str | None) -> str:
    return STATUS_WORDS.get(str(status), str(status))


def _cell(text: str, *, style: str = "", right: bool = False) -> Text:
    return Text(text, style=style, justify="right" if right else "left")


def _one_line(text: str | None, width: int = 80) -> str:
    if not text:
        return "-"
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


class BudgetsScreen(DataScreen[BudgetsData]):
    TITLE = "Budgets & alerts"
    HELP = ("**Budgets** show each budget's spend this period against its amount, the share used and its state in "
            "words (ok, WARNING past a threshold, EXCEEDED at 100%, or *on course to exceed* by the forecast), the "
            "thresholds crossed, the period-end forecast and when it resets, as `agentcost budgets list` does. "
            "`n` creates a budget, `e` edits the highlighted one (only the fields you change are sent), `d` deletes "
            "it (its past alerts stay), `enter` shows its details. **Alerts** lists what fired, newest first, in "
            "your time zone. **Deliveries** is the outbox (webhooks, chat and email): status, attempts, the next "
            "attempt and the last error; the highlighted message's attempts show below it. `t` sends a failed one "
            "again, `T` every failed one (it asks first), `f` shows only failed ones. `b`, `a` and `o` switch "
            "between the three tabs.")
    CSS_PATH = "../styles/budgets.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new_budget", "New", tooltip="Create a budget", id="budgets.new"),
        Binding("e", "edit_budget", "Edit", tooltip="Change the highlighted budget", id="budgets.edit"),
        Binding("d", "delete_budget", "Delete", tooltip="Delete the highlighted budget (asks first)",
                id="budgets.delete"),
        Binding("t", "retry_delivery", "Retry", tooltip="Send the highlighted failed delivery again",
                id="budgets.retry"),
        Binding("T", "retry_all_failed", "Retry all failed", key_display="shift+t",
                tooltip="Send every failed delivery again (asks first)", id="budgets.retry_all"),
        Binding("f", "toggle_failed", "Failed only", tooltip="Show only failed deliveries, or all",
                id="budgets.failed_only"),
        Binding("b", "show_tab('tab-budgets')", "Budgets tab", show=False, id="budgets.tab_budgets"),
        Binding("a", "show_tab('tab-alerts')", "Alerts tab", show=False, id="budgets.tab_alerts"),
        Binding("o", "show_tab('tab-deliveries')", "Deliveries tab", show=False, id="budgets.tab_deliveries"),
    ]

    data: BudgetsData | None = None
    failed_only = False
    detail_for: str | None = None  # the budget whose details are open
    message: dict[str, Any] | None = None  # the delivery shown with its attempts
    message_error: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield NavBar("budgets")
        with TabbedContent(id="budgets-tabs", initial="tab-budgets"):
            with TabPane("Budgets", id="tab-budgets"):
                yield DataTable(id="budgets-table", cursor_type="row", zebra_stripes=True)
                detail = Static("", id="budget-detail", classes="panel")
                detail.border_title = "Budget"
                yield detail
            with TabPane("Alerts", id="tab-alerts"):
                yield Static("", id="alerts-note", classes="filter-line")
                yield DataTable(id="alerts-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Deliveries", id="tab-deliveries"):
                yield Static("", id="deliveries-note", classes="filter-line")
                yield DataTable(id="deliveries-table", cursor_type="row", zebra_stripes=True)
                with Vertical(id="delivery-detail", classes="panel"):
                    yield Static("Highlight a message to see its attempts.", id="delivery-summary")
                    yield DataTable(id="attempts-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        zone = self.agentcost.zone_name
        self.budgets_table.add_columns("budget", "scope", "period", "spent / amount", "used", "state", "crossed",
                                       "forecast", "resets")
        self.alerts_table.add_columns(f"fired ({zone})", "level", "kind", "budget / rule", "project", "state",
                                      "summary")
        self.deliveries_table.add_columns("id", f"created ({zone})", "channel", "to", "status", "attempts",
                                          f"next attempt ({zone})", "last error", "subject")
        self.attempts_table.add_columns("#", f"time ({zone})", "outcome", "HTTP", "ms", "answer / error")
        self.query_one("#budget-detail", Static).display = False
        self.query_one("#delivery-detail").border_title = "Attempts"
        self.budgets_table.focus()
        super().on_mount()

    # -- widgets -----------------------------------------------------------------------------
    @property
    def tabs(self) -> TabbedContent:
        return self.query_one("#budgets-tabs", TabbedContent)

    @property
    def budgets_table(self) -> DataTable[Any]:
        return self.query_one("#budgets-table", DataTable)

    @property
    def alerts_table(self) -> DataTable[Any]:
        return self.query_one("#alerts-table", DataTable)

    @property
    def deliveries_table(self) -> DataTable[Any]:
        return self.query_one("#deliveries-table", DataTable)

    @property
    def attempts_table(self) -> DataTable[Any]:
        return self.query_one("#attempts-table", DataTable)

    @property
    def budget_detail(self) -> Static:
        return self.query_one("#budget-detail", Static)

    # -- loading -----------------------------------------------------------------------------
    def fetch(self, backend: Backend) -> BudgetsData:
        data = BudgetsData(budgets=backend.list_budgets())
        try:
            data.alerts = backend.list_alerts(limit=ALERTS_LIMIT)
        except AgentcostError as exc:
            data.alerts_error = describe_error(exc)
        try:  # the outbox is the operators' (a project admin sees a permission error here)
            data.outbox = backend.list_outbox(status="failed" if self.failed_only else None, limit=OUTBOX_LIMIT)
        except AgentcostError as exc:
            data.outbox_error = describe_error(exc)
        try:
            data.channels = sorted(str(c["name"]) for c in backend.list_channels())
        except AgentcostError:
            data.channels = []
        return data

    def show(self, data: BudgetsData) -> None:
        self.data = data
        self._fill_budgets(data.budgets)
        self._fill_alerts(data)
        self._fill_deliveries(data)

    @staticmethod
    def _selected_key(table: DataTable[Any]) -> str | None:
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:  # no row under the cursor
            return None
        return None if key is None else str(key)

    @staticmethod
    def _restore(table: DataTable[Any], key: str | None) -> None:
        if key is None:
            return
        try:
            table.move_cursor(row=table.get_row_index(key))
        except Exception:  # the row is gone (deleted): the cursor stays where it was clamped
            pass

    def _fill_budgets(self, budgets: list[dict[str, Any]]) -> None:
        table = self.budgets_table
        keep = self._selected_key(table)
        table.clear()
        for b in budgets:
            style = _STATE_STYLE.get(str(b["state"]), "")
            table.add_row(
                b["name"], scope_words(b), period_words(b),
                _cell(f"{money(b['spent_usd'])} / {money(b['amount_usd'])}", right=True),
                _cell(f"{b['percent']}%", right=True, style=style),
                _cell(state_words(str(b["state"])), style=style),
                ", ".join(f"{c}%" for c in b["crossed"]) or "-",
                _cell(money(b["forecast_usd"]), right=True),
                b["resets"], key=str(b["name"]))
        if not budgets:
            table.add_row(Text("no budgets yet: press n to add one", style="italic"), "", "", "", "", "", "", "",
                          "", key="")
        self._restore(table, keep)
        if self.detail_for is not None:
            self._show_detail(self.detail_for)

    def _fill_alerts(self, data: BudgetsData) -> None:
        table = self.alerts_table
        note = self.query_one("#alerts-note", Static)
        table.clear()
        if data.alerts_error:
            note.update(Text(f"Alerts could not be loaded: {data.alerts_error}", style="bold"))
            return
        note.update(f"{len(data.alerts)} most recent alert(s), newest first"
                    if data.alerts else "No alerts have fired.")
        zone = self.agentcost.zone
        for a in data.alerts:
            level = str(a["severity"]).upper()
            style = {"CRITICAL": "bold red", "WARNING": "yellow"}.get(level, "")
            table.add_row(local_time(a["created_utc"], zone), _cell(level, style=style), a["kind"], a["source"],
                          a["project"] or "-", "muted" if a["muted"] else "fired", _one_line(a["summary"], 120),
                          key=str(a["id"]))

    def _fill_deliveries(self, data: BudgetsData) -> None:
        table = self.deliveries_table
        note = self.query_one("#deliveries-note", Static)
        keep = self._selected_key(table)
        table.clear()
        if data.outbox_error:
            note.update(Text(f"The outbox could not be loaded: {data.outbox_error}", style="bold"))
            return
        which = "failed messages" if self.failed_only else "messages"
        failed = sum(1 for m in data.outbox if m["status"] in FAILED_STATUSES)
        note.update(f"{len(data.outbox)} most recent {which}, newest first · {failed} failed"
                    + (" · f: show all" if self.failed_only else " · f: only failed"))
        zone = self.agentcost.zone
        for m in data.outbox:
            status = str(m["status"])
            failed_row = status in FAILED_STATUSES
            table.add_row(
                _cell(str(m["id"]), right=True), local_time(m["created_utc"], zone),
                m.get("channel_name") or m["channel"], m["recipient"] or "-",
                _cell(status_words(status), style="bold red" if failed_row else ""),
                _cell(str(m["attempts"]), right=True),
                local_time(m["next_attempt_utc"], zone) if status == "pending" else "-",
                _one_line(m["last_error"], 60), _one_line(m["subject"], 60), key=str(m["id"]))
        self._restore(table, keep)
        if not data.outbox:
            self._show_message(None)

    # -- budgets -----------------------------------------------------------------------------
    def selected_budget(self) -> dict[str, Any] | None:
        name = self._selected_key(self.budgets_table)
        if not name or self.data is None:
            return None
        return next((b for b in self.data.budgets if b["name"] == name), None)

    @on(DataTable.RowSelected, "#budgets-table")
    def _budget_selected(self, event: DataTable.RowSelected) -> None:
        name = event.row_key.value
        if not name:
            return
        if self.detail_for == name and self.budget_detail.display:
            self.detail_for = None
            self.budget_detail.display = False
            return
        self._show_detail(str(name))

    def _show_detail(self, name: str) -> None:
        budget = next((b for b in (self.data.budgets if self.data else []) if b["name"] == name), None)
        panel = self.budget_detail
        if budget is None:
            self.detail_for = None
            panel.display = False
            return
        self.detail_for = name
        zone = self.agentcost.zone
        lines = [
            ("Scope", scope_words(budget) + ("" if budget.get("project") in (None, budget["value"])
                                             else f" · project {budget['project']}")),
            ("Period", f"{budget['period']} in {budget['zone']}: {period_words(budget)}, "
                       f"{local_time(budget['period_start_utc'], zone)} to {local_time(budget['period_end_utc'], zone)}"
                       f" ({self.agentcost.zone_name}); {budget['resets']}"),
            ("Spent", f"{money(budget['spent_usd'])} of {money(budget['amount_usd'])} ({budget['percent']}%) · "
                      f"state: {state_words(str(budget['state']))}"),
            ("Forecast", money(budget["forecast_usd"]) if budget["forecast_usd"] is not None
             else "none (off, or not enough of the period yet)"),
            ("Thresholds", ", ".join(f"{t}%" for t in budget["thresholds"])
             + f" · crossed: {', '.join(f'{c}%' for c in budget['crossed']) or 'none'}"),
            ("Channels", ", ".join(budget["channels"]) or "none (alerts are recorded, not sent)"),
        ]
        text = Text()
        for i, (label, value) in enumerate(lines):
            text.append(f"{label + ':':<12}", style="bold")
            text.append(value + ("\n" if i < len(lines) - 1 else ""))
        panel.border_title = f"Budget {name} (enter closes)"
        panel.update(text)
        panel.display = True

    def action_new_budget(self) -> None:
        channels = self.data.channels if self.data else []
        self.app.push_screen(BudgetForm(channels=channels, zone_name=self.agentcost.zone_name), self._saved)

    def action_edit_budget(self) -> None:
        budget = self.selected_budget()
        if budget is None:
            self.notify("Highlight a budget first.", severity="warning")
            return
        channels = self.data.channels if self.data else []
        self.app.push_screen(BudgetForm(budget=budget, channels=channels), self._saved)

    def _saved(self, budget: dict[str, Any] | None) -> None:
        if budget is None:
            return
        self.notify(f"Budget {budget['name']}: {money(budget['amount_usd'])} per {budget['period']} "
                    f"({budget['zone']}), {state_words(str(budget['state']))}.", title="Saved")
        self.reload()

    def action_delete_budget(self) -> None:
        budget = self.selected_budget()
        if budget is None:
            self.notify("Highlight a budget first.", severity="warning")
            return
        name = str(budget["name"])

        def answered(yes: bool | None) -> None:
            if yes:
                if self.detail_for == name:
                    self.detail_for = None
                    self.budget_detail.display = False
                self.act(lambda b: b.delete_budget(name), success=f"Deleted budget {name}.")

        self.app.push_screen(ConfirmModal(f"Delete budget {name}? Its past alerts stay.", confirm_label="Delete"),
                             answered)

    # -- deliveries --------------------------------------------------------------------------
    def selected_message(self) -> dict[str, Any] | None:
        key = self._selected_key(self.deliveries_table)
        if not key or self.data is None:
            return None
        return next((m for m in self.data.outbox if str(m["id"]) == key), None)

    @on(DataTable.RowHighlighted, "#deliveries-table")
    def _delivery_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value:
            self._load_message(int(event.row_key.value))

    @work(exclusive=True, group="outbox-message", exit_on_error=False)
    async def _load_message(self, message_id: int) -> None:
        try:
            message = await self.agentcost.runner.call(lambda b: b.show_outbox(message_id))
        except Exception as exc:
            self.message_error = describe_error(exc)
            self.message = None
            self.query_one("#delivery-summary", Static).update(
                Text(f"Message {message_id} could not be loaded: {self.message_error}", style="bold"))
            self.attempts_table.clear()
            return
        self.message_error = None
        self._show_message(message)

    def _show_message(self, message: dict[str, Any] | None) -> None:
        self.message = message
        table = self.attempts_table
        table.clear()
        summary = self.query_one("#delivery-summary", Static)
        if message is None:
            summary.update("No message to show.")
            return
        zone = self.agentcost.zone
        status = str(message["status"])
        head = Text()
        head.append(f"Message {message['id']}", style="bold")
        head.append(f" · {message.get('channel_name') or message['channel']} → {message['recipient']} · ")
        head.append(status_words(status), style="bold red" if status in FAILED_STATUSES else "")
        head.append(f" · {message['attempts']} attempt(s)")
        if message.get("sent_utc"):
            head.append(f" · sent {local_time(message['sent_utc'], zone)}")
        if status in FAILED_STATUSES:
            head.append(" · t: send again")
        summary.update(head)
        for a in message.get("attempt_log") or []:
            answer = a.get("error") or a.get("response_excerpt")
            code = str(a["status_code"]) if a["status_code"] is not None else "-"
            table.add_row(_cell(str(a["attempt_no"]), right=True),
                          local_time(a["started_utc"], zone, "%Y-%m-%d %H:%M:%S"), str(a["outcome"]),
                          _cell(code, right=True),
                          _cell(str(a["latency_ms"]) if a["latency_ms"] is not None else "-", right=True),
                          _one_line(answer, 80))

    def _requeued(self, result: dict[str, Any]) -> None:
        ids = ", ".join(str(i) for i in (result.get("ids") or [])[:10])
        more = "…" if len(result.get("ids") or []) > 10 else ""
        if result.get("requeued"):
            self.notify(f"Requeued {result['requeued']} message(s) ({ids}{more}): they are sent at the next "
                        "dispatch.", title="Retry")
        else:
            self.notify("Nothing was requeued (pending or sent messages are not sent again).", title="Retry",
                        severity="warning")

    def action_retry_delivery(self) -> None:
        message = self.selected_message()
        if message is None:
            self.notify("Highlight a delivery first.", severity="warning")
            return
        if message["status"] not in FAILED_STATUSES:
            self.notify(f"Message {message['id']} is {status_words(str(message['status']))}: only failed ones "
                        "are sent again.", severity="warning")
            return
        message_id = int(message["id"])
        self.act(lambda b: b.retry_deliveries(ids=[message_id]), done=self._requeued)

    def action_retry_all_failed(self) -> None:
        def retry_all(backend: Backend) -> dict[str, Any]:
            ids = [int(m["id"]) for m in backend.list_outbox(status="failed", limit=RETRY_ALL_LIMIT)]
            if not ids:
                return {"requeued": 0, "ids": []}
            return backend.retry_deliveries(ids=ids)

        def answered(yes: bool | None) -> None:
            if yes:
                self.act(retry_all, done=self._requeued)

        shown = sum(1 for m in (self.data.outbox if self.data else []) if m["status"] in FAILED_STATUSES)
        self.app.push_screen(ConfirmModal(f"Send every failed delivery again ({shown} in this list)?",
                                          confirm_label="Retry all"), answered)

    def action_toggle_failed(self) -> None:
        self.failed_only = not self.failed_only
        self.reload()

    # -- tabs, keys, palette -----------------------------------------------------------------
    def action_show_tab(self, tab: str) -> None:
        self.tabs.active = tab

    @on(TabbedContent.TabActivated)
    def _tab_changed(self, event: TabbedContent.TabActivated) -> None:
        table = {"tab-budgets": "#budgets-table", "tab-alerts": "#alerts-table",
                 "tab-deliveries": "#deliveries-table"}.get(event.pane.id or "")
        if table:
            self.query_one(table, DataTable).focus()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        tab = _TAB_OF_ACTION.get(action)
        if tab is None or not self.is_mounted:
            return True
        try:
            return self.tabs.active == tab
        except Exception:  # before compose
            return True

    def palette_commands(self) -> Iterable[SystemCommand]:
        def on_tab(tab: str, action: Any) -> Any:
            def run() -> None:
                self.action_show_tab(tab)
                action()
            return run

        yield SystemCommand("New budget", "Create a budget (key n)", on_tab("tab-budgets", self.action_new_budget))
        yield SystemCommand("Edit budget", "Change the highlighted budget (key e)",
                            on_tab("tab-budgets", self.action_edit_budget))
        yield SystemCommand("Delete budget", "Delete the highlighted budget, after asking (key d)",
                            on_tab("tab-budgets", self.action_delete_budget))
        yield SystemCommand("Show alerts", "The alerts that fired, newest first (key a)",
                            lambda: self.action_show_tab("tab-alerts"))
        yield SystemCommand("Show deliveries", "The outbox and each message's attempts (key o)",
                            lambda: self.action_show_tab("tab-deliveries"))
        yield SystemCommand("Retry delivery", "Send the highlighted failed delivery again (key t)",
                            on_tab("tab-deliveries", self.action_retry_delivery))
        yield SystemCommand("Retry all failed deliveries", "Send every failed delivery again, after asking "
                            "(key shift+t)", on_tab("tab-deliveries", self.action_retry_all_failed))
        yield SystemCommand("Toggle failed deliveries only", "Show only failed deliveries, or all (key f)",
                            on_tab("tab-deliveries", self.action_toggle_failed))
