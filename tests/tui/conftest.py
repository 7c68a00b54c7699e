"""TUI fixtures: a seeded store built once per test process at a fixed time, copied per test,
and an app over it with a fixed clock (snapshots and figures must not depend on today)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agentcost_cli.services import clock
from agentcost_cli.timeutil import format_utc
from agentcost_cli.tui.app import AgentcostApp

from ..cli.conftest import run_cli  # noqa: F401  (the CLI's error boundary, for report --json comparisons)

# A Friday afternoon: the month, the ISO week and "today" all have data before it.
FIXED_NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
SEEDED_EVENTS = 3000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Textual runs on asyncio


def _build(target: Path) -> None:
    import random
    from unittest import mock

    from agentcost_cli.auth import apikeys
    from agentcost_cli.services.actor import LOCAL
    from agentcost_cli.services.budgets import create_budget
    from agentcost_cli.services.demo import build_demo_store
    from agentcost_cli.services.keys import create_key
    from agentcost_cli.store import open_store

    store = open_store(target)
    try:
        build_demo_store(store, LOCAL, events=SEEDED_EVENTS, seed=11, now=FIXED_NOW)
        create_budget(store, LOCAL, name="monthly", amount="80", scope="global", period="month")
        create_budget(store, LOCAL, name="web-daily", amount="1.50", scope="project", project="web", period="day")
        # A seeded generator for this one key, so that its display prefix (on the Projects
        # screen's snapshot) is the same on every run; keys the tests make stay random.
        with mock.patch.object(apikeys, "secrets", random.Random(5)):
            create_key(store, LOCAL, "web", name="ci", scopes=("ingest",))
    finally:
        store.close()
    # The ingest layer stamps its runs with the wall clock (it sits below the services' clock);
    # pin them, so that "ingested at" reads the same in every run's snapshots.
    import sqlite3

    with sqlite3.connect(target) as conn:
        conn.execute("UPDATE ingest_runs SET started_utc = ?", (format_utc(FIXED_NOW),))
    conn.close()


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("tui-template") / "seeded.db"
    with clock.frozen(FIXED_NOW):
        _build(target)
    return target


@pytest.fixture
def seeded_db(seeded_template: Path, tmp_path: Path) -> Path:
    """A private copy of the seeded store (tests may change it)."""
    target = tmp_path / "seeded.db"
    shutil.copyfile(seeded_template, target)
    return target


@pytest.fixture(autouse=True)
def frozen_services_clock() -> Iterator[None]:
    """Budgets' "resets in", forecasts and audit times read the services' clock."""
    with clock.frozen(FIXED_NOW):
        yield


def make_test_app(db: Path, *, now: datetime = FIXED_NOW, **options: Any) -> AgentcostApp:
    """The app over `db` at `now`; `start="pricing"` opens on that screen (skipping the
    Overview's load, which a test of another screen does not need)."""
    from agentcost_cli.tui.backends import local_opener
    from agentcost_cli.tui.factory import make_app

    options.setdefault("refresh_seconds", 0)  # no timer unless a test wants one
    options.setdefault("threads", 2)
    return make_app(local_opener(db), location="local · seeded.db", clock=lambda: now, zone=UTC, zone_name="UTC",
                    **options)


async def wait_until(pilot: Any, condition: Callable[[], object], *, timeout: float = 10.0) -> None:
    """Let the app run until `condition()` is true (workers finish on their own threads)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {condition}")
        await pilot.pause(0.02)


async def wait_loaded(pilot: Any) -> None:
    """Until the visible screen's first load has finished (or failed) and workers are idle."""
    from agentcost_cli.tui.screens.base import DataScreen

    app = pilot.app
    await wait_until(pilot, lambda: isinstance(app.screen, DataScreen)
                     and (app.screen.loaded or app.screen.load_error is not None))
    await settle(pilot)


async def settle(pilot: Any) -> None:
    """Until no worker is running (a worker cancelled by a newer reload counts as done)."""
    from textual.worker import WorkerCancelled

    for _ in range(50):
        try:
            await pilot.app.workers.wait_for_complete()
            break
        except WorkerCancelled:
            continue
    await pilot.pause()
