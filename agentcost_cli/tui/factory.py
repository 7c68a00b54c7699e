"""Builds the app from what the command (or a test) knows: how to open a backend, and the
reader's clock and zone. Tests and snapshots call this with a seeded store and a fixed clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING

from .app import AgentcostApp
from .runner import BackendRunner

if TYPE_CHECKING:
    from ..services.backend import Backend


def make_app(open_backend: Callable[[], Backend], *, location: str, shared: bool = False,
             clock: Callable[[], datetime] | None = None, zone: tzinfo = UTC, zone_name: str = "UTC",
             refresh_seconds: float = 30.0, threads: int = 3, start: str = "overview") -> AgentcostApp:
    """Args:
        open_backend: opens one backend (per pool thread unless `shared`).
        shared: one backend for all calls, on one thread (remote mode).
        start: the screen shown first.
    """
    runner = BackendRunner(open_backend, threads=threads, shared=shared)
    try:
        return AgentcostApp(runner, location=location, clock=clock, zone=zone, zone_name=zone_name,
                            refresh_seconds=refresh_seconds, start=start)
    except BaseException:
        runner.close()
        raise
