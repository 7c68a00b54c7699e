"""The Pricing screen: the catalog equal to `agentcost pricing list --json`, search, a model's
rate card and history, overrides through the form (and refused ones), the unpriced models, and
"update now" against a local HTTP source (and an unreachable one)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Input, Static

from agentcost_cli.tui.screens.pricing import PricingScreen, rate_text
from agentcost_cli.tui.screens.pricing_forms import OverrideModal
from agentcost_cli.tui.widgets.confirm import ConfirmModal

from .conftest import FIXED_NOW, make_test_app, wait_loaded, wait_until

pytestmark = pytest.mark.anyio  # Textual runs on asyncio (see anyio_backend in conftest)

AT = "2026-11-20T15:30:00Z"  # FIXED_NOW: the screen asks for the prices in force at the app's clock
GENAI = Path(__file__).resolve().parents[1] / "fixtures" / "pricing" / "genai_prices_data_v2.json"


def cli_json(run_cli: Any, db: Path, *args: str) -> Any:
    result = run_cli("--db", str(db), *args)
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def rows(table: DataTable[Any]) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def record_notifications(app: Any) -> list[tuple[str, str]]:
    """(severity, message) of every notification (they expire from the screen)."""
    seen: list[tuple[str, str]] = []
    original = app.notify

    def notify(message: str, *args: Any, **kwargs: Any) -> None:
        seen.append((kwargs.get("severity", "information"), str(message)))
        original(message, *args, **kwargs)

    app.notify = notify
    return seen


async def open_pricing(pilot: Any) -> PricingScreen:
    await wait_loaded(pilot)
    await pilot.press("5")
    await wait_loaded(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, PricingScreen)
    await wait_until(pilot, lambda: screen.data is not None and screen.missing is not None)
    return screen


async def search(pilot: Any, screen: PricingScreen, term: str) -> None:
    await pilot.press("slash")
    assert screen.search_input.has_focus
    await pilot.press(*term)
    await wait_until(pilot, lambda: screen.data is not None and screen.data.search == term)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def select(pilot: Any, screen: PricingScreen, provider: str, model: str) -> None:
    """Move to the row of provider/model with the keyboard and open it (enter)."""
    table = screen.models_table
    table.focus()
    index = table.get_row_index(f"{provider}\x1f{model}")
    await pilot.press("home", *(["down"] * index), "enter")
    await wait_until(pilot, lambda: screen.detail is not None
                     and (screen.detail["info"]["provider"], screen.detail["info"]["model"]) == (provider, model))


def shown_status(screen: PricingScreen, provider: str, model: str) -> str:
    table = screen.models_table
    return str(table.get_cell(f"{provider}\x1f{model}", "status"))


# -- listing and searching ---------------------------------------------------------------------

async def test_key_5_lists_the_catalog_and_search_equals_pricing_list(seeded_db: Path, run_cli: Any) -> None:
    everything = cli_json(run_cli, seeded_db, "pricing", "list", "--at", AT, "--json")["models"]
    sonnet = cli_json(run_cli, seeded_db, "pricing", "list", "--search", "sonnet", "--at", AT, "--json")["models"]
    narrower = cli_json(run_cli, seeded_db, "pricing", "list", "--search", "sonnet-4-5", "--at", AT, "--json")
    assert 0 < len(narrower["models"]) < len(sonnet) < len(everything)

    app = make_test_app(seeded_db, start="pricing")
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await open_pricing(pilot)
        # A page of the catalog (the status says how many there are, and to search for the rest).
        assert len(everything) > screen.MAX_ROWS
        assert screen.models_table.row_count == screen.MAX_ROWS
        assert rows(screen.models_table)[0][:2] == [everything[0]["provider"], everything[0]["model"]]
        status = str(screen.query_one("#pricing-status", Static).render())
        assert f"{len(everything):,} model(s) (the first {screen.MAX_ROWS:,} shown: / searches)" in status

        await search(pilot, screen, "sonnet")
        shown = rows(screen.models_table)
        assert len(shown) == len(sonnet)
        # provider, model, input, output, status, cache read, cache write, cache 1h, context, name
        def rate(m: dict[str, Any], key: str) -> str:
            return rate_text(m["rates"][key]) if key in m["rates"] else "-"

        expected = [[m["provider"], m["model"], rate(m, "input"), rate(m, "output"),
                     "deprecated" if m["deprecated"] else "",
                     *(rate(m, k) for k in ("cache_read", "cache_write", "cache_write_1h")),
                     f"{m['context_window']:,}" if m["context_window"] is not None else "-", m["name"] or ""]
                    for m in sonnet]
        assert shown == expected
        assert "matching 'sonnet'" in str(screen.query_one("#pricing-status", Static).render())

        # Narrowing further, and a term nothing matches.
        await pilot.press(*"-4-5")
        await wait_until(pilot, lambda: screen.data is not None and screen.data.search == "sonnet-4-5")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert [r[:2] for r in rows(screen.models_table)] == [[m["provider"], m["model"]]
                                                             for m in narrower["models"]]
        await pilot.press(*"zzz")
        await wait_until(pilot, lambda: screen.data is not None and screen.data.search == "sonnet-4-5zzz")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.models_table.row_count == 0
        assert "No model matches" in str(screen.query_one("#pricing-detail", Static).render())
        # escape leaves the search for the table
        await pilot.press("escape")
        assert screen.models_table.has_focus


async def test_selecting_a_model_shows_its_rate_card_periods_and_history(seeded_db: Path, run_cli: Any) -> None:
    # A recorded change, so that the history has something in it.
    result = run_cli("--db", str(seeded_db), "pricing", "set", "claude-sonnet-4-5", "--provider", "anthropic",
                     "--output", "14", "--reason", "deal")
    assert result.code == 0, result.stderr
    info = cli_json(run_cli, seeded_db, "pricing", "show", "claude-sonnet-4-5", "--provider", "anthropic",
                    "--at", AT, "--json")
    history = cli_json(run_cli, seeded_db, "pricing", "history", "claude-sonnet-4-5", "--provider", "anthropic",
                       "--json")["changes"]
    assert history and info["overridden"]

    app = make_test_app(seeded_db, start="pricing")
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await open_pricing(pilot)
        await search(pilot, screen, "claude-sonnet-4-5")
        await select(pilot, screen, "anthropic", "claude-sonnet-4-5")
        assert screen.detail is not None
        assert screen.detail["info"] == info
        assert screen.detail["history"] == history
        text = str(screen.query_one("#pricing-detail", Static).render())
        assert "anthropic/claude-sonnet-4-5" in text and "+ manual override" in text
        assert f"input            ${info['rates']['input']} per MTok" in text
        assert "output           $14 per MTok" in text
        tier = info["rates"]["input_tiers"][0]
        assert f"above {tier['above_prompt_tokens']:,} prompt tokens: ${tier['rate']}" in text
        assert f"Price history ({len(history)} change(s))" in text and "override.output" in text
        assert f"from the start: {info['price_periods'][0]['prices']}" in text
        assert shown_status(screen, "anthropic", "claude-sonnet-4-5") == "overridden"


async def test_narrow_terminal_shows_the_detail_instead_of_the_table(seeded_db: Path) -> None:
    app = make_test_app(seeded_db, start="pricing")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_pricing(pilot)
        detail = screen.query_one("#pricing-detail-pane")
        assert screen.has_class("-narrow") and not detail.display
        await search(pilot, screen, "gpt-4o-mini")
        first = screen.models_table.get_row_at(0)
        await select(pilot, screen, str(first[0]), str(first[1]))
        assert detail.display and not screen.models_table.display
        await pilot.press("escape")
        assert not detail.display and screen.models_table.display


def test_rates_read_without_float_noise_and_stay_exact_when_tiny() -> None:
    assert rate_text("1.0399999999999998") == "1.04"
    assert rate_text("0.13999999999999999") == "0.14"
    assert rate_text("0.00255") == "0.00255"
    assert rate_text("0.0000375") == "0.0000375"
    assert (rate_text("15"), rate_text("0"), rate_text("2.5")) == ("15", "0", "2.5")


# -- overrides ---------------------------------------------------------------------------------

async def test_setting_an_override_through_the_form(seeded_db: Path, run_cli: Any) -> None:
    before = cli_json(run_cli, seeded_db, "pricing", "show", "gpt-4o", "--provider", "openai", "--at", AT, "--json")
    assert not before["overridden"] and before["rates"]["input"] != "2"

    app = make_test_app(seeded_db, start="pricing")
    seen = record_notifications(app)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await open_pricing(pilot)
        await search(pilot, screen, "gpt-4o")
        await select(pilot, screen, "openai", "gpt-4o")
        assert shown_status(screen, "openai", "gpt-4o") == ""
        await pilot.press("o")
        modal = app.screen
        assert isinstance(modal, OverrideModal) and (modal.provider, modal.model) == ("openai", "gpt-4o")
        await pilot.press(*"2")  # input (focused first)
        modal.query_one("#override-output", Input).focus()
        await pilot.press(*"8")
        modal.query_one("#override-reason", Input).focus()
        await pilot.press(*"enterprise deal")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.screen is screen)
        await wait_until(pilot, lambda: screen.data is not None and ("openai", "gpt-4o") in screen.data.overrides)
        await app.workers.wait_for_complete()
        await pilot.pause()

        # On screen: the row says so and shows the new rates; the Overrides tab lists it.
        assert shown_status(screen, "openai", "gpt-4o") == "overridden"
        assert str(screen.models_table.get_cell("openai\x1fgpt-4o", "input")) == "2"
        assert [r[:4] for r in rows(screen.overrides_table)] == [["openai", "gpt-4o", "2", "8"]]
        assert "Overrides (1)" in str(screen.tabs.get_tab("tab-overrides").label)
        assert any("override set for openai/gpt-4o" in message for _, message in seen)
    # The store (through the CLI) says the same.
    after = cli_json(run_cli, seeded_db, "pricing", "show", "gpt-4o", "--provider", "openai", "--at", AT, "--json")
    assert after["overridden"]
    assert (after["rates"]["input"], after["rates"]["output"]) == ("2", "8")
    assert after["rates"]["cache_read"] == before["rates"]["cache_read"]  # unset rates keep the catalog's
    history = cli_json(run_cli, seeded_db, "pricing", "history", "gpt-4o", "--provider", "openai", "--json")
    assert sorted(c["field"] for c in history["changes"]) == ["override.input", "override.output"]


REFUSED = (("-1", "deal", "must be a non-negative number"),
           ("cheap", "deal", "must be a decimal number"),
           ("2", "  ", "--reason is required"))


async def test_a_refused_override_shows_the_error_and_changes_nothing(seeded_db: Path, run_cli: Any) -> None:
    app = make_test_app(seeded_db, start="pricing")
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await open_pricing(pilot)
        await search(pilot, screen, "gpt-4o")
        await select(pilot, screen, "openai", "gpt-4o")
        for rate, reason, error in REFUSED:
            await pilot.press("o")
            modal = app.screen
            assert isinstance(modal, OverrideModal)
            await pilot.press(*rate)
            modal.query_one("#override-reason", Input).focus()
            await pilot.press(*reason)
            await pilot.press("enter")
            refused = modal
            await wait_until(pilot, lambda: refused.error is not None)  # noqa: B023  (awaited here)
            assert modal.error is not None and error in modal.error
            assert app.screen is modal  # still open, with what was typed
            assert modal.query_one("#override-input", Input).value == rate
            assert error in str(modal.query_one("#override-error", Static).render())
            await pilot.press("escape")
            assert app.screen is screen
        assert screen.data is not None and not screen.data.overrides
    info = cli_json(run_cli, seeded_db, "pricing", "show", "gpt-4o", "--provider", "openai", "--at", AT, "--json")
    assert not info["overridden"]
    assert cli_json(run_cli, seeded_db, "pricing", "history", "--json")["changes"] == []


async def test_removing_an_override_asks_first(seeded_db: Path, run_cli: Any) -> None:
    result = run_cli("--db", str(seeded_db), "pricing", "set", "gpt-4o", "--provider", "openai", "--input", "2",
                     "--reason", "deal")
    assert result.code == 0, result.stderr

    app = make_test_app(seeded_db, start="pricing")

    async def overridden() -> bool:  # the backend's word, as `agentcost pricing show` would say
        info = await app.runner.call(lambda b: b.show_price("gpt-4o", provider="openai", at=FIXED_NOW))
        return bool(info["overridden"])

    async with app.run_test(size=(160, 40)) as pilot:
        screen = await open_pricing(pilot)
        assert screen.data is not None and ("openai", "gpt-4o") in screen.data.overrides
        await search(pilot, screen, "gpt-4o")
        await select(pilot, screen, "openai", "gpt-4o")
        assert shown_status(screen, "openai", "gpt-4o") == "overridden"

        await pilot.press("x")
        assert isinstance(app.screen, ConfirmModal)
        assert "openai/gpt-4o" in app.screen.question
        await pilot.press("n")
        await app.workers.wait_for_complete()
        assert app.screen is screen and await overridden()

        await pilot.press("x")
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await wait_until(pilot, lambda: screen.data is not None and not screen.data.overrides)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not await overridden()
        assert shown_status(screen, "openai", "gpt-4o") == ""
        assert screen.overrides_table.row_count == 0

        # Nothing left to remove: said, not asked.
        await pilot.press("x")
        assert app.screen is screen


# -- unpriced ----------------------------------------------------------------------------------

async def test_unpriced_tab_lists_the_missing_models(seeded_db: Path, run_cli: Any) -> None:
    missing = cli_json(run_cli, seeded_db, "pricing", "missing", "--json")["unpriced_models"]
    acme = next(m for m in missing if m["model"] == "acme-internal-llm")
    assert acme["events"] > 0

    app = make_test_app(seeded_db, start="pricing")
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await open_pricing(pilot)
        await pilot.press("t")
        assert screen.tabs.active == "tab-unpriced"
        assert f"Unpriced ({len(missing)})" in str(screen.tabs.get_tab("tab-unpriced").label)
        shown = rows(screen.unpriced_table)
        assert [(r[0], r[1], r[2]) for r in shown] == [(m["provider"], m["model"], f"{m['events']:,}")
                                                       for m in missing]
        row = next(r for r in shown if r[1] == "acme-internal-llm")
        assert row[3] == acme["first_seen"][:16].replace("T", " ")  # UTC, to the minute
        hint = " ".join(str(w.render()) for w in screen.query(".pricing-hint"))
        assert "agentcost pricing set" in hint and "press o" in hint
        # `o` here prices the unpriced model (not in the catalog: input and output required).
        screen.unpriced_table.move_cursor(row=shown.index(row))
        await pilot.press("o")
        modal = app.screen
        assert isinstance(modal, OverrideModal)
        assert (modal.provider, modal.model, modal.in_catalog) == (acme["provider"], "acme-internal-llm", False)
        await pilot.press(*"1")
        modal.query_one("#override-reason", Input).focus()
        await pilot.press(*"internal", "enter")
        await wait_until(pilot, lambda: modal.error is not None)
        assert modal.error is not None and "--input and --output are both required" in modal.error
        await pilot.press("escape")


# -- update now --------------------------------------------------------------------------------

class _Source:
    """A local price source: serves `body`, after `release` is set (to see the update running)."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.release = threading.Event()
        self.requests = 0
        source = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                source.requests += 1
                source.release.wait(10)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(source.body)))
                self.end_headers()
                self.wfile.write(source.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/data.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def price_source(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Source]:
    data = json.loads(GENAI.read_text())
    openai = next(p for p in data if p["id"] == "openai")
    gpt4o = next(m for m in openai["models"] if m["id"] == "gpt-4o")
    prices = gpt4o["prices"] if isinstance(gpt4o["prices"], dict) else gpt4o["prices"][-1]["prices"]
    prices["input_mtok"] = 1.25  # from 2.5: one change of -50%
    source = _Source(json.dumps(data).encode())
    monkeypatch.setenv("AGENTCOST_PRICING_URL", source.url)  # what `pricing.url` resolves to
    monkeypatch.setenv("AGENTCOST_PRICING_TIMEOUT", "5")
    yield source
    source.close()


async def test_update_now_fetches_from_the_configured_source(seeded_db: Path, run_cli: Any,
                                                             price_source: _Source) -> None:
    app = make_test_app(seeded_db, start="pricing")
    seen = record_notifications(app)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await open_pricing(pilot)
        await pilot.press("u")
        await wait_until(pilot, lambda: price_source.requests == 1)
        # Running, and the interface still answers while the source has not replied.
        assert screen.updating
        assert "updating prices…" in str(screen.query_one("#pricing-status", Static).render())
        await pilot.press("t")
        assert screen.tabs.active == "tab-unpriced"
        await pilot.press("u")  # a second press does not start a second update
        assert any("already running" in message for _, message in seen)
        price_source.release.set()
        await wait_until(pilot, lambda: not screen.updating)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.last_update == ("ok", "updated")
        done = [message for severity, message in seen if message.startswith("updated from")]
        assert done and price_source.url in done[0]
        assert "1 price change(s) recorded; 1 of 20% or more" in done[0]
        assert price_source.requests == 1
        assert "last update: updated" in str(screen.query_one("#pricing-status", Static).render())
    changes = cli_json(run_cli, seeded_db, "pricing", "history", "gpt-4o", "--provider", "openai", "--json")["changes"]
    assert [(c["field"], c["old_value"], c["new_value"]) for c in changes] == [("input_mtok", "2.5", "1.25")]


async def test_update_now_from_an_unreachable_source_says_so(seeded_db: Path, run_cli: Any,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from agentcost_cli.pricing import sources

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AGENTCOST_PRICING_URL", f"http://127.0.0.1:{port}/data.json")
    monkeypatch.setenv("AGENTCOST_PRICING_TIMEOUT", "2")
    monkeypatch.setattr(sources, "_sleep", lambda seconds: None)  # retries without waiting

    app = make_test_app(seeded_db, start="pricing")
    seen = record_notifications(app)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await open_pricing(pilot)
        await pilot.press("u")
        await wait_until(pilot, lambda: screen.last_update is not None)
        await app.workers.wait_for_complete()
        assert screen.last_update is not None and screen.last_update[0] == "error"
        errors = [message for severity, message in seen if severity == "error"]
        assert errors and f"127.0.0.1:{port}" in errors[0] and "failed" in errors[0]
        assert app.screen is screen and not screen.updating
        assert "last update: failed" in str(screen.query_one("#pricing-status", Static).render())
    assert cli_json(run_cli, seeded_db, "pricing", "history", "--json")["changes"] == []


# -- the command palette -----------------------------------------------------------------------

async def test_palette_has_the_pricing_actions(seeded_db: Path) -> None:
    app = make_test_app(seeded_db, start="pricing")
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await open_pricing(pilot)
        titles = [command.title for command in app.get_system_commands(screen)]
        for title in ("Pricing: search models", "Pricing: set a price override", "Pricing: remove the price override",
                      "Pricing: update prices now", "Pricing: unpriced models", "Pricing: overrides"):
            assert title in titles
        unpriced = next(c for c in screen.palette_commands() if c.title == "Pricing: unpriced models")
        unpriced.callback()
        await pilot.pause()
        assert screen.tabs.active == "tab-unpriced"
