"""Events: the raw events, newest first, a page at a time (keyset paging: a page costs the same
however deep it is, and nothing loads the whole store), with search, the filters a drill-down
carried over from Explore, and a detail pane with the full normalized event and its price
breakdown at the prices in force now."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Container, VerticalScroll
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input, Static

from ..events_data import COLUMNS, RIGHT, UNPRICED, breakdown, detail_fields, event_key, row_cells, split_key
from ..filters import ViewFilter
from ..widgets.nav import NavBar
from .base import DataScreen, describe_error

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ...services.backend import Backend


@dataclass(frozen=True)
class EventsPage:
    """The first page of a load, with the view and search it answers (a newer load may have
    started meanwhile: what is shown always says what it was asked)."""

    view: ViewFilter
    search: str | None
    events: list[dict[str, Any]]
    next_cursor: str | None


class EventsScreen(DataScreen[EventsPage]):
    TITLE = "Events"
    HELP = ("The stored events, newest first, in your time zone. Only a page is loaded at a time: moving the "
            "cursor (or scrolling) near the last loaded row loads the next page, and the line under the table "
            "says how many are loaded and whether more are below. `/` searches model, session, user, agent, "
            "event id and key id (any case); a drill-down from Explore arrives with its filters, shown above the "
            "table, and `c` clears them. Moving the cursor shows the event in the detail pane: every field, "
            "tags and metadata as JSON, and what its tokens cost at the prices in force now, component by "
            "component, beside the stored cost (with the reason when they differ). An event with no known "
            "price reads `unpriced`, never $0.00. On a narrow terminal `d` or `enter` opens the pane below "
            "the table; on a wide one it stands beside it (`d` hides it).")
    CSS_PATH = "../styles/events.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (140, "-wide")]  # noqa: RUF012  (Screen types it so)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_search", "Search", key_display="/", tooltip="Search the events (model, session, "
                "user, agent, id, key)", id="events.search"),
        Binding("c", "clear_filters", "Clear filters", tooltip="Show every event: drop the filters and the search",
                id="events.clear"),
        Binding("d", "toggle_detail", "Detail", tooltip="Show or hide the event detail pane", id="events.detail"),
        Binding("escape", "focus_table", "Table", show=False, id="events.table"),
    ]

    PAGE_SIZE = 100  # rows per request (the backend allows 1..500)
    PREFETCH = 20  # load the next page when the cursor or the view is this close to the end
    MAX_ROWS = 20_000  # stop appending past this many rows (memory: 200 pages); search or filter instead
    SEARCH_DELAY = 0.3
    DETAIL_DELAY = 0.15

    shown: EventsPage | None = None  # what the table answers (view, search); its rows are appended pages
    next_cursor: str | None = None
    detail_event: dict[str, Any] | None = None  # the show_event answer in the detail pane

    def __init__(self) -> None:
        super().__init__()
        self._keys: list[str] = []
        self._key_set: set[str] = set()
        self._generation = 0  # bumped by every first page: a late next page of an older load is dropped
        self._loading_more = False
        self._pending: tuple[ViewFilter, str | None] = (ViewFilter(), None)
        self._search_timer: Timer | None = None
        self._detail_timer: Timer | None = None
        self._detail_key: str | None = None
        self._ready = False  # composed and mounted: a reload before that waits for on_mount's

    # -- layout ------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        yield NavBar("events")
        yield Static("", id="events-filter", classes="filter-line")
        yield Input(placeholder="/ search: model, session, user, agent, id or key (enter to apply, esc: table)",
                    id="events-search")
        with Container(id="events-body"):
            table: DataTable[Any] = DataTable(id="events-table", cursor_type="row", zebra_stripes=True)
            yield table
            with VerticalScroll(id="events-detail", classes="panel"):
                yield Static("Move the cursor to an event to see it here.", id="event-fields")
                yield Static("", id="event-breakdown-title")
                yield DataTable(id="event-breakdown", cursor_type="none", show_cursor=False)
                yield Static("", id="event-totals")
        yield Static("Loading events…", id="events-status")
        yield Footer()

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one("#events-table", DataTable)

    @property
    def search_input(self) -> Input:
        return self.query_one("#events-search", Input)

    @property
    def detail_pane(self) -> VerticalScroll:
        return self.query_one("#events-detail", VerticalScroll)

    @property
    def status_line(self) -> Static:
        return self.query_one("#events-status", Static)

    def on_mount(self) -> None:
        zone_name = self.agentcost.zone_name
        for label, _ in COLUMNS:
            self.table.add_column(f"time ({zone_name})" if label == "time" else label, key=label)
        self.query_one("#event-breakdown", DataTable).add_columns("component", "tokens", "rate", "cost (USD)")
        self.query_one("#event-breakdown").display = False
        self.detail_pane.border_title = "Event"
        self.watch(self.table, "scroll_y", self._table_scrolled, init=False)
        self.table.focus()
        self._ready = True
        super().on_mount()

    # -- loading the first page ----------------------------------------------------------------
    def reload(self) -> None:
        """The first page again, for the app's current view and search (new events appear on top)."""
        if not self._ready:  # app.show_events right after switching here: on_mount loads
            return
        view = self.agentcost.view_filter
        search = (view.search or "").strip() or None
        if self.search_input.value.strip() != (search or "") and (self.shown is None or view != self.shown.view):
            self.search_input.value = search or ""  # a drill-down brought its own search
        self._pending = (view, search)
        self.workers.cancel_group(self, "events-more")
        self._loading_more = False
        self.status_line.update("Loading events…")
        super().reload()

    def auto_reload(self) -> None:
        """The app's periodic refresh: reload while the reader is on the first page; deeper down,
        keep their place and say that newer events may be waiting."""
        if self.table.cursor_row < self.PAGE_SIZE:
            self.reload()
        else:
            self._update_status(stale=True)

    def fetch(self, backend: Backend) -> EventsPage:
        view, search = self._pending
        page = backend.list_events(view.event_filter(), limit=self.PAGE_SIZE, search=search)
        return EventsPage(view, search, page["events"], page["next_cursor"])

    def show(self, data: EventsPage) -> None:
        table = self.table
        keep = self._selected_key()
        self._generation += 1
        self._loading_more = False
        self.shown = data
        self.next_cursor = data.next_cursor
        self._keys, self._key_set = [], set()
        table.clear()
        self._append(data.events)
        self._show_filter_line(data.view)
        self._update_status()
        if keep is not None and keep in self._key_set:
            table.move_cursor(row=self._keys.index(keep), animate=False)
        elif table.row_count:
            table.move_cursor(row=0, animate=False, scroll=True)
        if not table.row_count:
            self._clear_detail("No event matches." if data.view != ViewFilter() or data.search else "No events yet.")
        else:
            self._detail_key = None  # a refresh reloads the pane too (a reprice may have changed it)
            self._request_detail(delay=0)

    def _append(self, events: Iterable[dict[str, Any]]) -> int:
        zone = self.agentcost.zone
        rows = []
        for event in events:
            key = event_key(event)
            if key in self._key_set:  # keyset paging repeats nothing; this only guards the table's keys
                continue
            self._key_set.add(key)
            self._keys.append(key)
            rows.append((key, [Text(cell, justify="right") if label in RIGHT else cell
                               for (label, _), cell in zip(COLUMNS, row_cells(event, zone), strict=True)]))
        for key, cells in rows:
            self.table.add_row(*cells, key=key)
        return len(rows)

    # -- paging --------------------------------------------------------------------------------
    def _near_end(self) -> bool:
        table = self.table
        if not table.row_count:
            return False
        if table.cursor_row >= table.row_count - self.PREFETCH:
            return True
        return table.max_scroll_y > 0 and table.scroll_y >= table.max_scroll_y - self.PREFETCH

    def maybe_load_more(self) -> None:
        if (self.next_cursor is not None and not self._loading_more and self.shown is not None
                and len(self._keys) < self.MAX_ROWS and self._near_end()):
            self._loading_more = True
            self._update_status()
            self._load_more(self._generation, self.shown, self.next_cursor)

    def _table_scrolled(self, _old: float, _new: float) -> None:
        self.maybe_load_more()

    @work(exclusive=True, group="events-more", exit_on_error=False)
    async def _load_more(self, generation: int, shown: EventsPage, cursor: str) -> None:
        limit = self.PAGE_SIZE
        try:
            page = await self.agentcost.runner.call(
                lambda b: b.list_events(shown.view.event_filter(), limit=limit, cursor=cursor, search=shown.search))
        except Exception as exc:
            if generation == self._generation:
                self._loading_more = False
                self._update_status()
                self.notify(describe_error(exc), title="Could not load more events", severity="error", timeout=8)
            return
        if generation != self._generation:  # a reload replaced the rows meanwhile
            return
        self._append(page["events"])
        self.next_cursor = page["next_cursor"]
        self._loading_more = False
        self._update_status()
        self.maybe_load_more()  # the reader may already be past this page too (End, PageDown held)

    def _update_status(self, *, stale: bool = False) -> None:
        loaded = len(self._keys)
        if self.shown is None:
            text = "Loading events…"
        elif not loaded:
            text = "No events match." if self.shown.view != ViewFilter() or self.shown.search else "No events stored."
        else:
            text = f"{loaded:,} event{'s' if loaded != 1 else ''} loaded, newest first · "
            if self._loading_more:
                text += "loading more…"
            elif self.next_cursor is None:
                text += "end"
            elif loaded >= self.MAX_ROWS:
                text += f"more below, but only {self.MAX_ROWS:,} are kept: search or filter to see older ones"
            else:
                text += "more below"
        if stale:
            text += " · newer events may be stored: r reloads from the top"
        self.status_line.update(text)

    def _show_filter_line(self, view: ViewFilter) -> None:
        zone = self.agentcost.zone
        parts = []
        if view.since:
            parts.append(f"from {view.since.astimezone(zone):%Y-%m-%d %H:%M}")
        if view.until:
            parts.append(f"until {view.until.astimezone(zone):%Y-%m-%d %H:%M}")
        described = view.describe()  # with the search, which the box above also shows
        if described != "everything" or not parts:
            parts.append(described)
        line = "Filters: " + " · ".join(parts) + (" (c clears)" if view != ViewFilter() else "")
        self.query_one("#events-filter", Static).update(line)

    # -- search and filters --------------------------------------------------------------------
    @on(Input.Changed, "#events-search")
    def _search_changed(self, event: Input.Changed) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
            self._search_timer = None
        if event.value.strip() != (self.agentcost.view_filter.search or ""):
            self._search_timer = self.set_timer(self.SEARCH_DELAY, self._apply_search)

    @on(Input.Submitted, "#events-search")
    def _search_submitted(self, _event: Input.Submitted) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
            self._search_timer = None
        self._apply_search()
        self.table.focus()

    def _apply_search(self) -> None:
        self._search_timer = None
        text = self.search_input.value.strip() or None
        view = self.agentcost.view_filter
        if text != (view.search or None):
            self.agentcost.view_filter = view.narrowed(search=text)
            self.reload()

    def action_focus_search(self) -> None:
        self.set_focus(self.search_input)  # at once (focus() waits a turn): the next keys typed go to the box

    def action_focus_table(self) -> None:
        self.set_focus(self.table)

    def action_clear_filters(self) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
            self._search_timer = None
        self.agentcost.view_filter = ViewFilter()
        self.search_input.value = ""
        self.reload()

    # -- the detail pane -----------------------------------------------------------------------
    def _selected_key(self) -> str | None:
        table = self.table
        if not table.row_count or not table.is_valid_row_index(table.cursor_row):
            return None
        return self._keys[table.cursor_row] if table.cursor_row < len(self._keys) else None

    @on(DataTable.RowHighlighted, "#events-table")
    def _row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self.maybe_load_more()
        self._request_detail(delay=self.DETAIL_DELAY)

    @on(DataTable.RowSelected, "#events-table")
    def _row_selected(self, _event: DataTable.RowSelected) -> None:
        if not self.detail_pane.display:
            self.action_toggle_detail()
        self._request_detail(delay=0)

    def _request_detail(self, *, delay: float) -> None:
        """Load the highlighted event; while the cursor moves fast, only where it stops."""
        if self._detail_timer is not None:
            self._detail_timer.stop()
            self._detail_timer = None
        key = self._selected_key()
        if key is None or (key == self._detail_key and self.detail_event is not None):
            return
        if delay:
            self._detail_timer = self.set_timer(delay, lambda: self._load_detail(key))
        else:
            self._load_detail(key)

    @work(exclusive=True, group="events-detail", exit_on_error=False)
    async def _load_detail(self, key: str) -> None:
        self._detail_timer = None
        project, event_id = split_key(key)
        self._detail_key = key
        self.detail_pane.border_title = f"Event {event_id} (loading…)"
        try:
            event = await self.agentcost.runner.call(lambda b: b.show_event(project, event_id))
        except Exception as exc:
            self._detail_key = None
            self._clear_detail(f"Could not load the event: {describe_error(exc)}")
            return
        if key != self._detail_key:
            return
        self.show_detail(event)

    def _clear_detail(self, message: str) -> None:
        self.detail_event = None
        self._detail_key = None
        self.detail_pane.border_title = "Event"
        self.query_one("#event-fields", Static).update(message)
        self.query_one("#event-breakdown").display = False
        self.query_one("#event-breakdown-title", Static).update("")
        self.query_one("#event-totals", Static).update("")

    def show_detail(self, event: dict[str, Any]) -> None:
        app = self.agentcost
        self.detail_event = event
        self.detail_pane.border_title = f"Event {event['id']}"
        text = Text()
        for label, value in detail_fields(event, app.zone, app.zone_name):
            text.append(f"{label}: ", style="bold")
            if "\n" in value:
                text.append("\n" + "\n".join("  " + line for line in value.splitlines()))
            else:
                text.append(value, style="bold" if value == UNPRICED else "")
            text.append("\n")
        self.query_one("#event-fields", Static).update(text)

        parts = breakdown(event)
        table = self.query_one("#event-breakdown", DataTable)
        table.clear()
        for component, amount, rate, cost in parts.rows:
            table.add_row(component, Text(amount, justify="right"), rate, Text(cost, justify="right"))
        if parts.rows:
            table.add_row(Text("total", style="bold"), "", "", Text(parts.total, justify="right", style="bold"))
        table.display = bool(parts.rows)
        title = Text()
        if parts.rows:
            title.append("Price breakdown at the prices in force now", style="bold")
            title.append(f" (pricing revision {event.get('current_pricing_revision')}"
                         + (", with a manual price override)" if event.get("override_applied") else ")"))
        elif event.get("breakdown_total_usd") is None:
            title.append("No price breakdown: no price is known for this model.", style="bold")
        else:
            title.append("No per-component breakdown for this model's prices.", style="bold")
        self.query_one("#event-breakdown-title", Static).update(title)
        totals = Text()
        totals.append(f"At today's prices: {parts.total if parts.total != '-' else 'no price known'}\n")
        source = event.get("cost_source")
        totals.append(f"Stored cost: {parts.stored}" + (f" ({source})" if source and source != UNPRICED else "") + "\n")
        totals.append(f"→ {parts.verdict}\n", style="bold" if "DIFFERS" in parts.verdict or
                      parts.stored == UNPRICED else "")
        if parts.note:
            totals.append(f"Note: {parts.note}\n")
        self.query_one("#event-totals", Static).update(totals)

    def action_toggle_detail(self) -> None:
        if self.detail_pane.display:
            self.remove_class("-detail-open")
            self.add_class("-detail-closed")
        else:
            self.remove_class("-detail-closed")
            self.add_class("-detail-open")
            self._request_detail(delay=0)

    # -- the command palette ---------------------------------------------------------------------
    def palette_commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("Events: search", "Search the events by model, session, user, agent, id or key (key /)",
                            self.action_focus_search)
        yield SystemCommand("Events: clear filters", "Show every event: drop the filters and the search (key c)",
                            self.action_clear_filters)
        yield SystemCommand("Events: show or hide the detail pane", "The selected event in full with its price "
                            "breakdown (key d)", self.action_toggle_detail)
