"""Overview: spend today, this week and this month with the month-end forecast, the budgets as
gauges, daily spend for the last 30 or 90 days, and the month's top projects, models and keys."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Footer, Header, Static

from ..formatting import count, money
from ..overview_data import Overview, Ranked, load_overview
from ..widgets.gauge import BudgetGauges
from ..widgets.nav import NavBar
from ..widgets.spend_chart import SpendChart
from .base import DataScreen, describe_error

if TYPE_CHECKING:
    from ...services.backend import Backend

_TOP_TITLES = {"project": "Top projects", "model": "Top models", "key": "Top keys"}


class OverviewScreen(DataScreen[Overview]):
    TITLE = "Overview"
    HELP = ("Spend today, this week (from Monday) and this month in your time zone, from the same rollups "
            "as `agentcost report`; the forecast is the month's spend at its run-rate so far. Budgets show "
            "as gauges (marks at their thresholds; the state is spelled out). Unpriced events are never "
            "counted as free: they are left out of the figures and counted in a warning.")
    CSS_PATH = "../styles/overview.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("t", "toggle_days", "30/90 days", tooltip="Chart the last 30 or 90 days", id="overview.days"),
    ]

    chart_days = 30
    overview: Overview | None = None
    budgets: list[dict[str, Any]] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield NavBar("overview")
        with VerticalScroll(id="overview-body"):
            with Horizontal(id="stats"):
                for key, label in (("today", "Today"), ("week", "This week"), ("month", "This month"),
                                   ("forecast", "Forecast")):
                    card = Static("…", id=f"stat-{key}", classes="stat")
                    card.border_title = label
                    yield card
            yield Static("", id="unpriced-warning")
            # Budgets before the chart: on a small terminal what needs action shows first.
            gauges = BudgetGauges("Loading budgets…", id="budget-gauges", classes="panel")
            gauges.border_title = "Budgets"
            yield gauges
            yield SpendChart(id="spend-chart")
            with Horizontal(id="tops"):
                for dimension, title in _TOP_TITLES.items():
                    table: DataTable[Any] = DataTable(id=f"top-{dimension}", cursor_type="row", zebra_stripes=True)
                    table.border_title = title
                    yield table
        yield Footer()

    def on_mount(self) -> None:
        for dimension in _TOP_TITLES:
            self.query_one(f"#top-{dimension}", DataTable).add_columns(dimension, "cost", "events")
        super().on_mount()

    # -- loading -----------------------------------------------------------------------------
    def reload(self) -> None:
        super().reload()
        self._load_budgets()

    def fetch(self, backend: Backend) -> Overview:
        app = self.agentcost
        return load_overview(backend, now=app.clock(), zone=app.zone, zone_name=app.zone_name)

    @work(exclusive=True, group="budgets", exit_on_error=False)
    async def _load_budgets(self) -> None:
        # Apart from the figures: a key or tag budget reads raw events and may take longer.
        try:
            budgets = await self.agentcost.runner.call(lambda b: b.list_budgets())
        except Exception as exc:
            self.gauges.update(Text(f"Budgets could not be loaded: {describe_error(exc)}", style="bold"))
            return
        self.budgets = budgets
        self.gauges.show_budgets(budgets)

    # -- showing -----------------------------------------------------------------------------
    @property
    def gauges(self) -> BudgetGauges:
        return self.query_one("#budget-gauges", BudgetGauges)

    def show(self, data: Overview) -> None:
        self.overview = data
        month_end = data.month_start.replace(day=28) + timedelta(days=4)
        month_end -= timedelta(days=month_end.day)  # the month's last day
        self._stat("today", money(data.today_usd), data.today.strftime("%a %d %b"))
        self._stat("week", money(data.week_usd), f"since {data.week_start.strftime('%a %d %b')}")
        self._stat("month", money(data.month_usd), f"{count(data.month_events)} events")
        self._stat("forecast", money(data.forecast_usd) if data.forecast_usd is not None else "-",
                   f"by {month_end.strftime('%a %d %b')}" if data.forecast_usd is not None
                   else "after a day of data")
        warning = self.query_one("#unpriced-warning", Static)
        if data.unpriced_events:
            warning.update(Text(f"⚠ {data.unpriced_events:,} event(s) this month have no known price and are not "
                                "in these figures: see Pricing (5) or `agentcost pricing missing`.", style="bold"))
            warning.display = True
        else:
            warning.display = False
        self._plot()
        for dimension in _TOP_TITLES:
            self._fill_top(dimension, data.top.get(dimension, []))

    def _stat(self, key: str, figure: str, caption: str) -> None:
        text = Text(figure, style="bold", justify="center")
        text.append("\n" + caption, style="dim not bold")
        self.query_one(f"#stat-{key}", Static).update(text)

    def _fill_top(self, dimension: str, rows: list[Ranked]) -> None:
        table = self.query_one(f"#top-{dimension}", DataTable)
        table.clear()
        for row in rows:
            cost = "unpriced" if row.unpriced_events == row.events else money(row.cost_usd) + (
                "*" if row.unpriced_events else "")
            table.add_row(row.name if row.name is not None else "(none)", Text(cost, justify="right"),
                          Text(count(row.events), justify="right"))

    def _plot(self) -> None:
        if self.overview is not None:
            self.query_one(SpendChart).plot_days(self.overview.daily[-self.chart_days:])

    def action_toggle_days(self) -> None:
        self.chart_days = 90 if self.chart_days == 30 else 30
        self._plot()
