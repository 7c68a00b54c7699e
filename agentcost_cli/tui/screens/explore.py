"""Explore: `agentcost report` as an interactive table. Group by any dimensions, filter by time,
project, provider, model, key, user and tag, sort by any column, drill from a row into its
events, and export the view as the same CSV as `agentcost report --csv`."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal
from textual.coordinate import Coordinate
from textual.suggester import Suggester
from textual.widgets import DataTable, Footer, Header, Input, Label, Select, Static
from textual.worker import Worker, WorkerState

from ...errors import AgentcostError
from ...services.reports import DIMENSIONS, METRIC_COLUMNS, ReportRequest
from ..explore_model import (
    METRIC_LABELS,
    RANGE_LABELS,
    RANGES,
    ExploreState,
    cost_cell,
    default_descending,
    drill_filter,
    metric_value,
    next_grouping,
    next_range,
    sort_columns,
    sort_rows,
)
from ..formatting import count, money, tokens
from ..widgets.confirm import ConfirmModal
from ..widgets.explore_export import ExportModal
from ..widgets.nav import NavBar
from .base import DataScreen, describe_error

if TYPE_CHECKING:
    from ...services.backend import Backend

Loaded = tuple[ReportRequest, dict[str, Any]]
TOTAL_KEY = "total"
# (field, label, placeholder): the filter form's text fields (the range is a Select).
_FIELDS = (
    ("by", "Group by", "day,model ..."),
    ("since", "Since", "2026-11-01, 7d, today"),
    ("until", "Until", "(now)"),
    ("project", "Project", "all (a,b,...)"),
    ("provider", "Provider", "all"),
    ("model", "Model", "all"),
    ("key", "Key", "all (key ids)"),
    ("user", "User", "all"),
    ("tag", "Tag", "NAME=VALUE,..."),
)
_TIPS = {
    "by": f"Comma-separated, any of: {', '.join(DIMENSIONS)} (enter applies; g cycles common ones)",
    "since": "A custom start: RFC 3339, a date (midnight in your zone), today, yesterday, 7d, 12h",
    "until": "A custom end (exclusive), same forms as Since; empty: up to now",
    "tag": "NAME=VALUE pairs, comma-separated; all must match (reads raw events: slower)",
}
_DETAIL_LABELS = {
    "events": "events", "requests": "requests", "input_tokens": "input", "cache_read_tokens": "cache read",
    "cache_write_tokens": "cache write", "cache_write_1h_tokens": "cache write 1h", "output_tokens": "output",
    "reasoning_tokens": "  of which reasoning", "cost_usd": "cost (USD)", "unpriced_events": "unpriced events",
}


class DimensionSuggester(Suggester):
    """Completes the last name of a comma-separated group-by."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=False)

    async def get_suggestion(self, value: str) -> str | None:
        head, _, last = value.rpartition(",")
        stem = last.strip()
        if not stem:
            return None
        used = {part.strip() for part in head.split(",")}
        for name in DIMENSIONS:
            if name.startswith(stem) and name != stem and name not in used:
                return value + name[len(stem):]
        return None


def _when(moment: datetime | None, zone: Any) -> str | None:
    if moment is None:
        return None
    local = moment.astimezone(zone)
    return local.strftime("%Y-%m-%d") if (local.hour, local.minute, local.second) == (0, 0, 0) \
        else local.strftime("%Y-%m-%d %H:%M")


class ExploreScreen(DataScreen[Loaded]):
    TITLE = "Explore"
    HELP = ("The report of `agentcost report` as a table: one row per group, its events, tokens (every "
            "token once: input, cache reads and writes, output) and cost, with a total line. Group by one or "
            "more of day, week, month, project, provider, model, key, user, agent and session (`g` cycles "
            "common groupings; type any comma-separated list in *Group by*). `t` cycles the time range (today, "
            "last 7/30/90 days, this month, all; presets start at a midnight in your zone); type *Since*/*Until* "
            "(2026-11-01, 7d, today, RFC 3339) for a custom range. Filters take comma-separated values; *Tag* "
            "takes NAME=VALUE pairs, all of which must match (tag filters read the raw events: slower). "
            "Press enter in any field to apply; a field that cannot be read is reported and nothing changes.\n\n"
            "`s` sorts by the next column and `S` reverses it (or click a header). Cost reads `unpriced` when "
            "no event of the row has a known price and carries `*` when some do not: unknown is never $0.00. "
            "`enter` (or a click) on a row opens its events in Events, narrowed to the row's keys and period; "
            "agent and session have no events filter, so they become a text search, as a notification says. "
            "`x` writes the view, in the order shown, as the CSV of `agentcost report --csv` (asks before "
            "overwriting a file).")
    CSS_PATH = "../styles/explore.tcss"
    AUTO_FOCUS = "#explore-table"  # keys (g, t, s, x, enter) work from the start; Tab reaches the fields
    # -narrow: the form two fields a line, no detail pane; -wide: the pane; -full: every token column.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide"), (170, "-full")]  # noqa: RUF012
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "drill", "Events", tooltip="Open the events behind the highlighted row",
                id="explore.drill"),
        Binding("g", "cycle_group", "Group by", tooltip="Cycle common groupings (day, week, month, project...)",
                id="explore.group"),
        Binding("t", "cycle_range", "Range", tooltip="Cycle the time range presets", id="explore.range"),
        Binding("s", "cycle_sort", "Sort", tooltip="Sort by the next column", id="explore.sort"),
        Binding("S", "reverse_sort", "Reverse", key_display="S", tooltip="Reverse the sort order",
                id="explore.reverse"),
        Binding("f", "filters", "Filters", tooltip="Show, focus or hide the group-by and filter fields",
                id="explore.filters"),
        Binding("c", "clear_filters", "Clear", tooltip="Clear the filters (keeps the grouping and range)",
                id="explore.clear"),
        Binding("x", "export", "Export CSV", tooltip="Write this view as CSV (as `agentcost report --csv`)",
                id="explore.export"),
        Binding("escape", "focus_table", "Table", show=False, id="explore.table"),
    ]

    state = ExploreState()
    sort_column: str | None = None  # None: the report's order (time, then the costliest)
    sort_descending = False
    request: ReportRequest | None = None  # what the rows shown answer
    report: dict[str, Any] | None = None
    shown_rows: list[dict[str, Any]]
    last_export: tuple[Path, int] | None = None
    _pending: ReportRequest | None = None
    _full = False  # the table has every token column (a -full terminal)

    def __init__(self) -> None:
        super().__init__()
        self.shown_rows = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield NavBar("explore")
        with Grid(id="explore-form"):
            for name, label, placeholder in _FIELDS:
                yield Label(label, classes="explore-label")
                yield Input(placeholder=placeholder, id=f"explore-{name}", compact=True, tooltip=_TIPS.get(name),
                            suggester=DimensionSuggester() if name == "by" else None)
                if name == "by":
                    yield Label("Range", classes="explore-label")
                    yield Select([(label, rid) for rid, label in RANGES], allow_blank=False, compact=True,
                                 value=self.state.range_id, id="explore-range")
        yield Static("", id="explore-filters", classes="filter-line")
        with Horizontal(id="explore-main"):
            yield DataTable(id="explore-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="explore-detail", classes="panel")
        yield Static("", id="explore-unpriced")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#explore-by", Input).value = ",".join(self.state.group_by)
        self.query_one("#explore-detail", Static).border_title = "Row"
        super().on_mount()

    # -- typed accessors ---------------------------------------------------------------------
    @property
    def table(self) -> DataTable[Any]:
        return self.query_one("#explore-table", DataTable)

    def field(self, name: str) -> Input:
        return self.query_one(f"#explore-{name}", Input)

    @property
    def range_select(self) -> Select[str]:
        return self.query_one("#explore-range", Select)

    # -- loading -----------------------------------------------------------------------------
    def reload(self) -> None:
        app = self.agentcost
        try:
            self._pending = self.state.request(app.clock(), app.zone, app.zone_name)
        except AgentcostError as exc:  # a custom time that no longer reads: say so, keep the rows
            self.notify(describe_error(exc), title="Not applied", severity="error", timeout=8)
            return
        self._describe(self._pending)
        # A new question shows the loading indicator; a refresh of the same one keeps the rows in view.
        self.table.loading = self._pending != self.request
        super().reload()

    def fetch(self, backend: Backend) -> Loaded:
        request = self._pending
        assert request is not None
        return request, backend.report(request)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # The base loader reports failures itself; here only the loading indicator ends.
        if event.worker.group == "load" and event.state in (WorkerState.SUCCESS, WorkerState.ERROR):
            self.table.loading = False

    def show(self, data: Loaded) -> None:
        self.request, self.report = data
        self.table.loading = False
        self._describe(self.request)
        self._fill()
        unpriced = int(self.report["unpriced_events"])
        line = self.query_one("#explore-unpriced", Static)
        if unpriced:
            line.update(Text(f"⚠ {unpriced:,} unpriced event(s), not in the cost (* or 'unpriced'): "
                             "see Pricing (5)", style="bold"))
        else:
            line.update(Text("Every event in this view is priced.", style="dim"))

    # -- the table ---------------------------------------------------------------------------
    def _fill(self) -> None:
        if self.report is None:
            return
        table = self.table
        cursor = table.cursor_row
        group_by: list[str] = list(self.report["group_by"])
        self._full = self.has_class("-full")
        if self.sort_column is not None and self.sort_column not in self.columns(group_by):
            self.sort_column, self.sort_descending = None, False  # a column a narrower table lacks
        self.shown_rows = sort_rows(self.report["rows"], self.sort_column, self.sort_descending)
        table.clear(columns=True)
        for column in self.columns(group_by):
            label = METRIC_LABELS.get(column, column)
            if column == self.sort_column:
                label += " ▼" if self.sort_descending else " ▲"
            table.add_column(Text(label, justify="left" if column in group_by else "right"), key=column)
        for index, row in enumerate(self.shown_rows):
            table.add_row(*self._cells(group_by, row), key=str(index))
        totals = self.report["totals"]
        first = [Text("total", style="bold"), *(Text("") for _ in group_by[1:])]
        table.add_row(*first, *(Text(c.plain, style="bold", justify="right")
                                for c in self._cells([], totals)), key=TOTAL_KEY)
        if table.row_count:
            table.move_cursor(row=min(max(cursor, 0), table.row_count - 1))
        self._show_detail()

    def columns(self, group_by: list[str] | tuple[str, ...]) -> list[str]:
        return sort_columns(group_by, self._full)

    def _cells(self, group_by: list[str], row: dict[str, Any]) -> list[Text]:
        cells = [Text("-" if row.get(d) is None else str(row[d])) for d in group_by]
        for column in self.columns(()):
            if column == "cost":
                text = cost_cell(row)
            elif column in ("events", "requests"):
                text = count(metric_value(row, column))
            else:
                text = tokens(metric_value(row, column))
            cells.append(Text(text, justify="right"))
        return cells

    def on_resize(self) -> None:
        if self.report is not None and self.has_class("-full") != self._full:
            self._fill()

    def _cursor_row(self) -> tuple[bool, dict[str, Any] | None]:
        """(is there a row, the row or None for the totals line) under the cursor."""
        table = self.table
        if not table.row_count or self.report is None:
            return False, None
        key = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value
        return True, None if key == TOTAL_KEY else self.shown_rows[int(key or 0)]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        found, row = self._cursor_row()
        detail = self.query_one("#explore-detail", Static)
        if not found or self.report is None:
            detail.update("")
            return
        shown = row if row is not None else self.report["totals"]
        lines = [f"{g}: {'-' if shown.get(g) is None else shown[g]}" for g in self.report["group_by"]] \
            if row is not None else ["total of the view"]
        lines.append("")
        for column in METRIC_COLUMNS:
            value = shown[column]
            text = money(value) if column == "cost_usd" else count(int(value))
            lines.append(f"{_DETAIL_LABELS[column]:<20} {text:>16}")
            if column == "cost_usd":
                lines.append(f"{'  exact':<20} {value:>16}")
        if int(shown["unpriced_events"]):
            lines.append("\n* cost leaves out the unpriced events")
        lines.append("\nenter: open these events")
        detail.update("\n".join(lines))

    def _describe(self, request: ReportRequest) -> None:
        start = _when(request.since, request.zone) or "the start"
        end = _when(request.until, request.zone) or "now"
        parts = [f"by {','.join(request.group_by)}", f"{RANGE_LABELS[self.state.range_id]}: {start} .. {end} "
                 f"({request.zone_name})", self.state.describe_filters()]
        if self.sort_column is not None:
            parts.append(f"sorted by {self.sort_column} {'descending' if self.sort_descending else 'ascending'}")
        if self.report is not None and request == self.request:
            parts.append(f"{len(self.report['rows']):,} row(s)")
        self.query_one("#explore-filters", Static).update(" · ".join(parts))

    # -- the form ----------------------------------------------------------------------------
    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        custom = event.input.id in ("explore-since", "explore-until") and bool(
            self.field("since").value.strip() or self.field("until").value.strip())
        self.apply_form(range_id="custom" if custom else None)

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.value != self.state.range_id and isinstance(event.value, str):
            self.apply_form(range_id=event.value)

    def apply_form(self, *, range_id: str | None = None) -> None:
        """Read every field; apply them all, or none if one cannot be read."""
        chosen = range_id or self.state.range_id
        try:
            state = ExploreState.from_texts(
                group_by=self.field("by").value, range_id=chosen, since=self.field("since").value,
                until=self.field("until").value, projects=self.field("project").value,
                providers=self.field("provider").value, models=self.field("model").value,
                keys=self.field("key").value, users=self.field("user").value, tags=self.field("tag").value)
            app = self.agentcost
            state.request(app.clock(), app.zone, app.zone_name)  # reads the custom times now
        except AgentcostError as exc:
            self.notify(describe_error(exc), title="Not applied", severity="error", timeout=8)
            with self.prevent(Select.Changed):  # the range back to what is applied; the texts stay to fix
                self.range_select.value = self.state.range_id
            return
        self._set_state(state)

    def _set_state(self, state: ExploreState) -> None:
        if self.sort_column is not None and self.sort_column not in self.columns(state.group_by):
            self.sort_column, self.sort_descending = None, False
        self.state = state
        self._sync_form()
        self.reload()

    def _sync_form(self) -> None:
        with self.prevent(Select.Changed):
            self.range_select.value = self.state.range_id
        self.field("by").value = ",".join(self.state.group_by)
        if self.state.range_id != "custom":
            self.field("since").value = ""
            self.field("until").value = ""

    # -- actions -----------------------------------------------------------------------------
    def action_focus_table(self) -> None:
        self.table.focus()

    def action_filters(self) -> None:
        form = self.query_one("#explore-form", Grid)
        if not form.display:
            form.display = True
            self.field("by").focus()
        elif self.focused is not None and self.focused.parent is form:
            form.display = False
            self.table.focus()
        else:
            self.field("by").focus()

    def action_cycle_group(self) -> None:
        self._set_state(replace(self.state, group_by=next_grouping(self.state.group_by)))

    def action_group(self, *dims: str) -> None:
        self._set_state(replace(self.state, group_by=tuple(dims)))

    def action_cycle_range(self) -> None:
        self._set_state(replace(self.state, range_id=next_range(self.state.range_id)))

    def action_range(self, range_id: str) -> None:
        self._set_state(replace(self.state, range_id=range_id))

    def action_clear_filters(self) -> None:
        for name in ("project", "provider", "model", "key", "user", "tag"):
            self.field(name).value = ""
        self._set_state(replace(self.state, projects=(), providers=(), models=(), keys=(), users=(), tags=()))

    def sort_by(self, column: str | None, descending: bool | None = None) -> None:
        self.sort_column = column
        self.sort_descending = default_descending(column) if descending is None and column else bool(descending)
        self._fill()
        if self.request is not None:
            self._describe(self.request)

    def action_cycle_sort(self) -> None:
        columns: list[str | None] = [*self.columns(self.state.group_by), None]
        at = columns.index(self.sort_column) if self.sort_column in columns else -1
        self.sort_by(columns[(at + 1) % len(columns)])

    def action_reverse_sort(self) -> None:
        self.sort_by(self.sort_column, not self.sort_descending)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        column = str(event.column_key.value)
        if column == self.sort_column:
            self.sort_by(column, not self.sort_descending)
        else:
            self.sort_by(column)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_drill()

    def action_drill(self) -> None:
        found, row = self._cursor_row()
        if not found or self.request is None:
            self.notify("Nothing to open: the view has no rows.", severity="warning")
            return
        drill = drill_filter(row, self.request)
        if drill.notes:
            self.notify("; ".join(drill.notes), title="Drill-down", severity="warning", timeout=10)
        self.agentcost.show_events(drill.view)

    # -- export ------------------------------------------------------------------------------
    def action_export(self) -> None:
        if self.report is None:
            self.notify("Nothing to export yet: the report is still loading.", severity="warning")
            return
        day = self.agentcost.clock().astimezone(self.agentcost.zone).strftime("%Y-%m-%d")
        self.app.push_screen(ExportModal(f"agentcost-report-{day}.csv", len(self.shown_rows)), self._export_to)

    def _export_to(self, path: Path | None) -> None:
        if path is None or self.report is None:
            return
        columns = [*self.report["group_by"], *METRIC_COLUMNS]
        rows = list(self.shown_rows)
        if path.exists():
            self.app.push_screen(ConfirmModal(f"{path} exists. Overwrite it?", confirm_label="Overwrite"),
                                 lambda yes: self._confirmed_write(bool(yes), path, columns, rows))
        else:
            self._write_csv(path, columns, rows)

    def _confirmed_write(self, yes: bool, path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
        if yes:
            self._write_csv(path, columns, rows)
        else:
            self.notify(f"Not exported: {path} is unchanged.")

    @work(thread=True, exclusive=True, group="export", exit_on_error=False)
    def _write_csv(self, path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
        from ...output import write_csv

        tmp = path.with_name(path.name + ".partial")
        try:
            with open(tmp, "w", encoding="utf-8", newline="") as handle:
                written = write_csv(columns, rows, handle)
            tmp.replace(path)  # never half a report under the real name
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            self.app.call_from_thread(self.notify, f"Could not write {path}: {exc.strerror or exc}",
                                      title="Export failed", severity="error", timeout=10)
            return
        self.last_export = (path, written)
        self.app.call_from_thread(self.notify, f"Wrote {written:,} row(s) to {path.absolute()}", title="Exported")

    # -- the command palette -----------------------------------------------------------------
    def palette_commands(self) -> list[SystemCommand]:
        commands = [
            SystemCommand("Explore: export CSV", "Write this view as `agentcost report --csv` does (key x)",
                          self.action_export),
            SystemCommand("Explore: open the row's events", "Drill into the highlighted row (enter)",
                          self.action_drill),
            SystemCommand("Explore: next grouping", "Cycle common groupings (key g)", self.action_cycle_group),
            SystemCommand("Explore: next time range", "Cycle the range presets (key t)", self.action_cycle_range),
            SystemCommand("Explore: sort by the next column", "Cycle the sort column (key s)",
                          self.action_cycle_sort),
            SystemCommand("Explore: reverse the sort", "Reverse the order (key S)", self.action_reverse_sort),
            SystemCommand("Explore: clear filters", "Remove every filter (key c)", self.action_clear_filters),
            SystemCommand("Explore: edit filters", "Show and focus the filter fields (key f)", self.action_filters),
        ]
        for dim in DIMENSIONS:
            commands.append(SystemCommand(f"Explore: group by {dim}", f"One row per {dim}",
                                          lambda dim=dim: self.action_group(dim)))
        for rid, label in RANGES:
            if rid != "custom":
                commands.append(SystemCommand(f"Explore: range {label}", f"Show {label}",
                                              lambda rid=rid: self.action_range(rid)))
        return commands
