"""Pricing: the model price catalog (searchable), one model's rate card with its price periods
and recorded changes, manual overrides (set and remove), the models seen in events that have
no price, and fetching a new price snapshot now. Rates are USD per million tokens, as in
`agentcost pricing list`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input, Static, TabbedContent, TabPane

from ..formatting import count, local_time
from ..widgets.confirm import ConfirmModal
from ..widgets.nav import NavBar
from .base import DataScreen, describe_error
from .pricing_forms import OverrideModal

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ...services.backend import Backend

# The rate card's order, as `agentcost pricing show` prints it.
RATE_ORDER = ("input", "cache_read", "cache_write", "cache_write_1h", "output", "reasoning", "requests_kcount")
MODEL_COLUMNS = (("provider", "provider"), ("model", "model"), ("input", "input"), ("output", "output"),
                 ("status", "status"), ("cache_read", "cache read"), ("cache_write", "cache write"),
                 ("cache_write_1h", "cache 1h"), ("context", "context"), ("name", "name"))
RIGHT = {"input", "output", "cache_read", "cache_write", "cache_write_1h", "context"}
SEARCH_DEBOUNCE_S = 0.3
WIDTHS = {"provider": 12, "model": 32}  # at most: 80 columns still show the input and output rates
DETAIL_DEBOUNCE_S = 0.15
UNPRICED_HINT = ("Events of these models are stored unpriced (never as $0) and left out of every cost. "
                 "Give one a price: select it and press o (or `agentcost pricing set MODEL --provider P "
                 "--input X --output Y --reason ...`), then `agentcost pricing reprice` to apply it to "
                 "stored events.")
OVERRIDES_HINT = ("Manual prices in force now; they win over the catalog. o edits the selected one, "
                  "x removes it (it stays in the history).")


def rate_text(value: Any) -> str:
    """A rate for the table: float noise from the upstream data (1.0399999999999998) rounded to
    six places, tiny rates kept whole; the detail pane shows the exact value."""
    from decimal import Decimal, InvalidOperation

    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if number and number.adjusted() >= -3:
        number = number.quantize(Decimal("0.000001"))
    return format(number.normalize(), "f") if number else "0"


def model_key(provider: str, model: str) -> tuple[str, str]:
    return provider.lower(), model.lower()


def status_words(overridden: bool, deprecated: bool) -> str:
    return ", ".join(word for word, on_ in (("overridden", overridden), ("deprecated", deprecated)) if on_)


@dataclass
class PricingData:
    models: list[dict[str, Any]]
    search: str
    # (provider, model) lower-cased -> show_price of each model with an override in force
    overrides: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


def load_overrides(backend: Backend, at: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """The overrides in force: every model that ever had one (the history records each), asked
    whether it still has one. `list_prices` does not say (see the report to the lead)."""
    from ...errors import NotFound

    candidates: dict[tuple[str, str], tuple[str, str]] = {}
    for row in backend.price_history():
        if row.get("source") == "override":
            candidates.setdefault(model_key(row["provider"], row["model"]), (row["provider"], row["model"]))
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for key, (provider, model) in sorted(candidates.items()):
        try:
            info = backend.show_price(model, provider=provider, at=at)
        except NotFound:
            continue
        if info.get("overridden"):
            out[key] = info
    return out


class PricingScreen(DataScreen[PricingData]):
    MAX_ROWS = 300  # rows of the Models table (the rest: search)
    TITLE = "Pricing"
    HELP = ("The price catalog agentcost costs events with (USD per million tokens, as `agentcost pricing "
            "list`): type after `/` to search model ids and names. The selected model's rate card (with its "
            "long-context tiers), its price periods and every recorded change (updates and overrides) show "
            "beside the table (below 120 columns: press enter, escape returns). `o` sets a manual price "
            "(override) for the selected model, with a required reason; `x` removes it. Overrides apply to "
            "new events at once; run `agentcost pricing reprice` to apply them to stored events. The "
            "Unpriced tab lists models seen in events with no known price (never counted as $0). `u` "
            "fetches a new price snapshot from the configured source (pricing.url) in the background.")
    CSS_PATH = "../styles/pricing.tcss"
    AUTO_FOCUS = "#pricing-models"  # keys act on the table; `/` goes to the search
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]  # noqa: RUF012  (Screen declares it an instance variable)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_search", "Search", key_display="/", tooltip="Search model ids and names",
                id="pricing.search"),
        Binding("o", "set_override", "Override", tooltip="Set a manual price for the selected model",
                id="pricing.override"),
        Binding("x", "remove_override", "Remove override", tooltip="Remove the selected model's override",
                id="pricing.unset"),
        Binding("u", "update_prices", "Update now", tooltip="Fetch prices from the configured source now",
                id="pricing.update"),
        Binding("t", "next_tab", "Next tab", tooltip="Models, Unpriced, Overrides", id="pricing.tab"),
        Binding("escape", "back", "Back", show=False, id="pricing.back"),
    ]

    data: PricingData | None = None
    missing: list[dict[str, Any]] | None = None
    detail: dict[str, Any] | None = None  # {"info": show_price, "history": price_history} of the selection
    updating: bool = False
    last_update: tuple[str, str] | None = None  # ("ok" | "error", what was said)
    search_text: str = ""
    _search_timer: Timer | None = None
    _detail_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield NavBar("pricing")
        yield Static("Loading prices…", id="pricing-status", classes="filter-line")
        with TabbedContent(id="pricing-tabs", initial="tab-models"):
            with TabPane("Models", id="tab-models"):
                yield Input(placeholder="/ search model id or name (e.g. sonnet)", id="pricing-search", compact=True)
                with Horizontal(id="pricing-main"):
                    models: DataTable[Any] = DataTable(id="pricing-models", cursor_type="row", zebra_stripes=True)
                    models.border_title = "USD per million tokens"
                    yield models
                    with VerticalScroll(id="pricing-detail-pane", classes="panel") as pane:
                        pane.border_title = "Model"
                        yield Static("Select a model.", id="pricing-detail")
            with TabPane("Unpriced", id="tab-unpriced"):
                yield Static(UNPRICED_HINT, classes="pricing-hint muted")
                yield DataTable(id="pricing-unpriced", cursor_type="row", zebra_stripes=True)
            with TabPane("Overrides", id="tab-overrides"):
                yield Static(OVERRIDES_HINT, classes="pricing-hint muted")
                yield DataTable(id="pricing-overrides", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        for key, label in MODEL_COLUMNS:
            # Long ids (openrouter/anthropic/...) are cut here; the detail pane shows them whole.
            self.models_table.add_column(Text(label, justify="right") if key in RIGHT else label, key=key,
                                         width=WIDTHS.get(key))
        for label in ("provider", "model", "events", "first seen", "last seen"):
            self.unpriced_table.add_column(Text(label, justify="right") if label == "events" else label, key=label)
        for label in ("provider", "model", "input", "output", "cache read", "cache write", "source"):
            self.overrides_table.add_column(label, key=label)
        super().on_mount()

    # -- accessors ---------------------------------------------------------------------------
    @property
    def models_table(self) -> DataTable[Any]:
        return self.query_one("#pricing-models", DataTable)

    @property
    def unpriced_table(self) -> DataTable[Any]:
        return self.query_one("#pricing-unpriced", DataTable)

    @property
    def overrides_table(self) -> DataTable[Any]:
        return self.query_one("#pricing-overrides", DataTable)

    @property
    def search_input(self) -> Input:
        return self.query_one("#pricing-search", Input)

    @property
    def tabs(self) -> TabbedContent:
        return self.query_one("#pricing-tabs", TabbedContent)

    def is_overridden(self, model: dict[str, Any]) -> bool:
        overrides = self.data.overrides if self.data else {}
        return bool(model.get("overridden")) or model_key(model["provider"], model["model"]) in overrides

    # -- loading -----------------------------------------------------------------------------
    def reload(self) -> None:
        super().reload()
        self._load_missing()

    def fetch(self, backend: Backend) -> PricingData:
        at = self.agentcost.clock()
        search = self.search_text.strip()
        models = backend.list_prices(search=search or None, at=at)
        return PricingData(models=models, search=search, overrides=load_overrides(backend, at))

    @work(exclusive=True, group="pricing-missing", exit_on_error=False)
    async def _load_missing(self) -> None:
        # Apart from the catalog: it reads the store's unpriced events.
        try:
            rows = await self.agentcost.runner.call(lambda b: b.missing_prices())
        except Exception as exc:
            self.notify(describe_error(exc), title="Could not load unpriced models", severity="error", timeout=8)
            return
        self.missing = rows
        self._fill_unpriced(rows)

    # -- showing -----------------------------------------------------------------------------
    def show(self, data: PricingData) -> None:
        self.data = data
        table = self.models_table
        selected = self._row_key(table)
        table.clear()
        # A page of the catalog, not all of it: 2,000+ rows cost the interface about 2 s to add
        # and measure, and nobody scrolls them; the status line says to search for the rest.
        for model in data.models[:self.MAX_ROWS]:
            rates = model["rates"]
            words = status_words(self.is_overridden(model), bool(model["deprecated"]))
            rate = {k: Text(rate_text(rates[k]) if k in rates else "-", justify="right")
                    for k in ("input", "output", "cache_read", "cache_write", "cache_write_1h")}
            table.add_row(
                model["provider"], model["model"], rate["input"], rate["output"],
                Text(words, style="bold") if words else "",
                rate["cache_read"], rate["cache_write"], rate["cache_write_1h"],
                Text(count(model["context_window"]), justify="right"), model["name"] or "",
                key=f"{model['provider']}\x1f{model['model']}",
            )
        if selected is not None and selected in table.rows:
            table.move_cursor(row=table.get_row_index(selected))
        self._fill_overrides(data.overrides)
        self._status()
        if not data.models:
            self.detail = None
            self.query_one("#pricing-detail", Static).update(
                f"No model matches {data.search!r}." if data.search else "The catalog is empty.")
        else:
            self._queue_detail()

    def _fill_overrides(self, overrides: dict[tuple[str, str], dict[str, Any]]) -> None:
        table = self.overrides_table
        table.clear()
        for info in overrides.values():
            rates = info["rates"]
            table.add_row(info["provider"], info["model"],
                          *(rate_text(rates[k]) if k in rates else "-"
                            for k in ("input", "output", "cache_read", "cache_write")),
                          "catalog + override" if info["layer"] != "override" else "override only",
                          key=f"{info['provider']}\x1f{info['model']}")
        self.tabs.get_tab("tab-overrides").label = f"Overrides ({len(overrides)})"

    def _fill_unpriced(self, rows: list[dict[str, Any]]) -> None:
        table = self.unpriced_table
        table.clear()
        zone = self.agentcost.zone
        for row in rows:
            table.add_row(row["provider"], row["model"], Text(count(row["events"]), justify="right"),
                          local_time(row["first_seen"], zone), local_time(row["last_seen"], zone),
                          key=f"{row['provider']}\x1f{row['model']}")
        self.tabs.get_tab("tab-unpriced").label = f"Unpriced ({len(rows)})"

    def _status(self) -> None:
        parts = []
        if self.data is not None:
            shown = f"{len(self.data.models):,} model(s)"
            if self.data.search:
                shown += f" matching {self.data.search!r}"
            if len(self.data.models) > self.MAX_ROWS:
                shown += f" (the first {self.MAX_ROWS:,} shown: / searches)"
            parts += [shown, "USD per million tokens", f"{len(self.data.overrides)} overridden"]
        if self.updating:
            parts.append("updating prices…")
        elif self.last_update is not None:
            parts.append("last update: " + ("failed" if self.last_update[0] == "error" else self.last_update[1]))
        self.query_one("#pricing-status", Static).update(" · ".join(parts))

    @staticmethod
    def _row_key(table: DataTable[Any]) -> str | None:
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:
            return None
        return key.value

    # -- the detail pane ---------------------------------------------------------------------
    @on(DataTable.RowHighlighted, "#pricing-models")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._queue_detail()

    @on(DataTable.RowSelected, "#pricing-models")
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.add_class("-detail-open")
        self._queue_detail()

    def _queue_detail(self) -> None:
        if self._detail_timer is not None:
            self._detail_timer.stop()
        self._detail_timer = self.set_timer(DETAIL_DEBOUNCE_S, self._start_detail)

    def _start_detail(self) -> None:
        selected = self.selected_model()
        if selected is not None and selected[2] == "models":
            self._load_detail(selected[0], selected[1])

    @work(exclusive=True, group="pricing-detail", exit_on_error=False)
    async def _load_detail(self, provider: str, model: str) -> None:
        at = self.agentcost.clock()

        def ask(backend: Backend) -> dict[str, Any]:
            return {"info": backend.show_price(model, provider=provider, at=at),
                    "history": backend.price_history(provider=provider, model=model)}

        try:
            detail = await self.agentcost.runner.call(ask)
        except Exception as exc:
            self.query_one("#pricing-detail", Static).update(f"{provider}/{model}: {describe_error(exc)}")
            return
        self.detail = detail
        self.query_one("#pricing-detail", Static).update(self.describe(detail["info"], detail["history"]))

    def describe(self, info: dict[str, Any], history: list[dict[str, Any]]) -> Text:
        """The rate card (as `agentcost pricing show`), price periods and recorded changes."""
        out = Text()
        out.append(f"{info['provider']}/{info['model']}", style="bold")
        if info["name"]:
            out.append(f"  ({info['name']})")
        out.append(f"\nsource: {info['layer']}" + ("  + manual override" if info["overridden"] else ""))
        if info["deprecated"]:
            out.append("\ndeprecated", style="bold")
        if info["context_window"]:
            out.append(f"\ncontext window: {info['context_window']:,} tokens")
        out.append("\n\nRates", style="bold")
        rates: dict[str, Any] = info["rates"]
        if not rates:
            out.append("\n  no rates in the catalog")
        for key in RATE_ORDER:
            if key in rates:
                unit = "per 1000 requests" if key == "requests_kcount" else "per MTok"
                out.append(f"\n  {key:<16} ${rates[key]} {unit}")
                for tier in rates.get(f"{key}_tiers", []):
                    out.append(f"\n  {'':<16}   above {tier['above_prompt_tokens']:,} prompt tokens: ${tier['rate']}")
        for key, value in rates.items():
            if key not in RATE_ORDER and not key.endswith("_tiers"):
                out.append(f"\n  {key:<16} {value}")
        out.append("\n\nPrice periods", style="bold")
        if not info["price_periods"]:
            out.append("\n  one price for all time" if info["layer"] != "override" else "\n  (override only)")
        for period in info["price_periods"]:
            window = f" ({period['time_of_day']})" if period.get("time_of_day") else ""
            out.append(f"\n  from {period['from'] or 'the start'}{window}: {period['prices']}")
        out.append(f"\n\nPrice history ({len(history)} change(s))", style="bold")
        if not history:
            out.append("\n  no changes recorded (updates and overrides are recorded here)")
        zone = self.agentcost.zone
        for row in history:
            change = f" ({row['pct_change']}%)" if row.get("pct_change") else ""
            out.append(f"\n  {local_time(row['recorded_utc'], zone)}  {row['field']}: "
                       f"{row['old_value'] or '-'} -> {row['new_value'] or '-'}{change}  [{row['source']}]")
        return out

    # -- search ------------------------------------------------------------------------------
    def action_focus_search(self) -> None:
        self.tabs.active = "tab-models"
        self.search_input.focus()

    @on(Input.Changed, "#pricing-search")
    def _search_changed(self, event: Input.Changed) -> None:
        self.search_text = event.value
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(SEARCH_DEBOUNCE_S, self.reload_models)

    @on(Input.Submitted, "#pricing-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        self.reload_models()
        self.models_table.focus()

    def reload_models(self) -> None:
        """The catalog again, for the current search (the unpriced list does not depend on it)."""
        super().reload()

    def action_back(self) -> None:
        if self.search_input.has_focus:
            self.models_table.focus()
        elif self.has_class("-detail-open"):
            self.remove_class("-detail-open")
            self.models_table.focus()

    def action_next_tab(self) -> None:
        order = ["tab-models", "tab-unpriced", "tab-overrides"]
        self.tabs.active = order[(order.index(self.tabs.active) + 1) % len(order)] if self.tabs.active in order \
            else order[0]
        self._focus_tab_table()

    @on(TabbedContent.TabActivated, "#pricing-tabs")
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._focus_tab_table()

    def _focus_tab_table(self) -> None:
        table = {"tab-models": self.models_table, "tab-unpriced": self.unpriced_table,
                 "tab-overrides": self.overrides_table}.get(self.tabs.active)
        if table is not None and not self.search_input.has_focus:
            table.focus()

    # -- overrides ---------------------------------------------------------------------------
    def selected_model(self) -> tuple[str, str, str] | None:
        """(provider, model, which tab) of the selected row of the visible tab."""
        tab = self.tabs.active
        table, where = {"tab-models": (self.models_table, "models"), "tab-unpriced": (self.unpriced_table, "unpriced"),
                        "tab-overrides": (self.overrides_table, "overrides")}.get(tab, (None, ""))
        if table is None:
            return None
        key = self._row_key(table)
        if key is None:
            return None
        provider, _, model = key.partition("\x1f")
        return provider, model, where

    def action_set_override(self) -> None:
        selected = self.selected_model()
        if selected is None:
            self.notify("Select a model first.", severity="warning")
            return
        provider, model, where = selected
        current: dict[str, Any] = {}
        in_catalog = where != "unpriced"
        overrides = self.data.overrides if self.data else {}
        if where == "models" and self.data is not None:
            row = next((m for m in self.data.models if (m["provider"], m["model"]) == (provider, model)), None)
            current = row["rates"] if row else {}
        elif where == "overrides" and model_key(provider, model) in overrides:
            info = overrides[model_key(provider, model)]
            current, in_catalog = info["rates"], info["layer"] != "override"
        self.app.push_screen(OverrideModal(provider, model, current=current, in_catalog=in_catalog),
                             self._override_saved)

    def _override_saved(self, result: dict[str, Any] | None) -> None:
        if result is None:
            return
        self.notify(f"override set for {result['provider']}/{result['model']} (pricing revision "
                    f"{result['revision']}); run `agentcost pricing reprice` to apply it to stored events",
                    title="Override set")
        self.reload()

    def action_remove_override(self) -> None:
        selected = self.selected_model()
        if selected is None:
            self.notify("Select a model first.", severity="warning")
            return
        provider, model, _ = selected
        overrides = self.data.overrides if self.data else {}
        if model_key(provider, model) not in overrides:
            self.notify(f"{provider}/{model} has no override to remove.", severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.act(lambda b: b.unset_price_override(provider=provider, model=model),
                         done=lambda removed: self.notify(
                             f"removed {removed} override(s) for {provider}/{model}; run `agentcost pricing "
                             "reprice` to re-apply catalog prices", title="Override removed"))

        self.app.push_screen(ConfirmModal(f"Remove the price override for {provider}/{model}?",
                                          confirm_label="Remove"), answered)

    # -- update now --------------------------------------------------------------------------
    def action_update_prices(self) -> None:
        if self.updating:
            self.notify("A price update is already running.", severity="warning")
            return
        self.updating = True
        self._status()
        self._update()

    @work(exclusive=True, group="pricing-update", exit_on_error=False)
    async def _update(self) -> None:
        try:
            result = await self.agentcost.runner.call(lambda b: b.update_prices())
        except Exception as exc:  # offline, refused snapshot, no permission: said, never fatal
            message = describe_error(exc)
            self.last_update = ("error", message)
            self.notify(message, title="Price update failed", severity="error", timeout=12)
        else:
            message = self.describe_update(result)
            self.last_update = ("ok", result["status"])
            self.notify(message, title="Prices updated" if result["status"] == "updated" else "Prices unchanged",
                        timeout=10)
        finally:
            self.updating = False
            self._status()
        self.reload()

    @staticmethod
    def describe_update(result: dict[str, Any]) -> str:
        """What `agentcost pricing update` says about the same result."""
        if result["status"] != "updated":
            return f"prices {result['status']}: {result['source']}"
        changes = result["changes"]
        big = [c for c in changes if c.get("pct_change") and abs(float(c["pct_change"])) >= 20]
        lines = [f"updated from {result['source']}: {result['format']}, {result['model_count']:,} models from "
                 f"{result['provider_count']} providers (revision {result['revision']})",
                 f"{len(changes):,} price change(s) recorded; {len(big)} of 20% or more"]
        lines += [f"warning: {w}" for w in result.get("warnings", [])[:3]]
        return "\n".join(lines)

    # -- the command palette -----------------------------------------------------------------
    def palette_commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("Pricing: search models", "Search model ids and names (key /)", self.action_focus_search)
        yield SystemCommand("Pricing: set a price override", "A manual price for the selected model (key o)",
                            self.action_set_override)
        yield SystemCommand("Pricing: remove the price override", "Remove the selected model's override (key x)",
                            self.action_remove_override)
        yield SystemCommand("Pricing: update prices now", "Fetch prices from the configured source (key u)",
                            self.action_update_prices)
        yield SystemCommand("Pricing: unpriced models", "Models seen in events with no known price",
                            lambda: setattr(self.tabs, "active", "tab-unpriced"))
        yield SystemCommand("Pricing: overrides", "The manual prices in force",
                            lambda: setattr(self.tabs, "active", "tab-overrides"))
