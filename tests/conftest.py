"""Shared fixtures: every test runs with its own AGENTCOST_HOME and a clean environment."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentcost_cli.ingest.base import SourceContext

FIXTURES = Path(__file__).parent / "fixtures"
SHARED_PRICING = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "pricing"


@pytest.fixture(autouse=True)
def agentcost_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Isolate every test from the user's real config, data and environment."""
    for name in list(os.environ):
        if name.startswith(("AGENTCOST_", "TWILIO_")) or name in ("CLAUDE_CONFIG_DIR", "CODEX_HOME", "RESEND_API_KEY",
                                                                  "SENDGRID_API_KEY"):
            monkeypatch.delenv(name, raising=False)
    # A CLI run earlier in this process (configure_logging) points the package's logger at
    # stderr and stops it propagating: undo that, so that caplog sees every test's records.
    logger = logging.getLogger("agentcost_cli")
    logger.handlers, logger.propagate = [], True
    logger.setLevel(logging.NOTSET)
    home = tmp_path / "agentcost-home"
    monkeypatch.setenv("AGENTCOST_HOME", str(home))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("TZ", "UTC")
    return home


@pytest.fixture
def ctx() -> SourceContext:
    return SourceContext(path="test.jsonl", fallback_timestamp="2026-11-20T12:00:00.000000Z")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[object]:
    from agentcost_cli.store import open_store

    s = open_store(tmp_path / "store.db")
    yield s
    s.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """In CI (`AGENTCOST_CI=1`, set by .ci/run) every service a test needs is there, so a skip
    means something is missing: it fails instead of hiding (PostgreSQL, Redis, ccusage...)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.skipped and not hasattr(report, "wasxfail") and os.environ.get("AGENTCOST_CI") == "1":
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where nothing may be skipped: {reason}"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long tests first (`slow`, then `subprocess`), in their collected order otherwise: with
    pytest-xdist the long ones then run while the many short ones fill the other workers,
    instead of one (the 75 s schemathesis run) starting last and finishing alone."""
    def weight(item: pytest.Item) -> int:
        return 0 if item.get_closest_marker("slow") else 1 if item.get_closest_marker("subprocess") else 2

    items.sort(key=weight)
