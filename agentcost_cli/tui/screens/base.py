"""What every main screen shares: loading its data in a worker, refreshing on demand and on
the app's interval, and reporting failures without freezing or crashing the interface."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from textual import work
from textual.screen import Screen

from ...errors import AgentcostError

if TYPE_CHECKING:
    from ...services.backend import Backend
    from ..app import AgentcostApp

T = TypeVar("T")


def describe_error(exc: BaseException) -> str:
    """What a failed call says to the reader: the agentcost message and hint, or the exception."""
    if isinstance(exc, AgentcostError):
        return f"{exc.title}: {exc.message}" + (f"\n{exc.hint}" if exc.hint else "")
    return f"{type(exc).__name__}: {exc}"


class DataScreen(Screen[None], Generic[T]):
    """A main screen whose content comes from the backend.

    Subclasses implement `fetch` (runs on a backend thread: no widget access there) and
    `show` (runs on the UI thread with what `fetch` returned). `reload()` starts a fresh load
    and cancels one in flight, so pressing `r` repeatedly never stacks requests.
    """

    loaded: bool = False  # at least one load finished (tests wait on it)
    load_error: str | None = None

    @property
    def agentcost(self) -> AgentcostApp:
        from ..app import AgentcostApp

        assert isinstance(self.app, AgentcostApp)
        return self.app

    def fetch(self, backend: Backend) -> T:
        """Every subclass answers this (abstract; Textual's Screen metaclass rules out ABCMeta)."""
        raise NotImplementedError

    def show(self, data: T) -> None:
        """Every subclass answers this (abstract, as `fetch`)."""
        raise NotImplementedError

    def on_mount(self) -> None:
        self.reload()

    def reload(self) -> None:
        self._load()

    @work(exclusive=True, group="load", exit_on_error=False)
    async def _load(self) -> None:
        try:
            data = await self.agentcost.runner.call(self.fetch)
        except Exception as exc:  # a failed load is shown, never fatal: the next refresh may work
            self.load_error = describe_error(exc)
            self.notify(self.load_error, title="Could not load", severity="error", timeout=8)
            return
        self.load_error = None
        self.show(data)
        self.loaded = True
        self.agentcost.mark_refreshed()

    def act(self, fn: Callable[[Backend], Any], *, done: Callable[[Any], None] | None = None,
            success: str | None = None, reload: bool = True) -> None:
        """Run a change (create, delete, retry...) in a worker; say how it went; reload after."""
        self._act(fn, done, success, reload)

    @work(group="act", exit_on_error=False)
    async def _act(self, fn: Callable[[Backend], Any], done: Callable[[Any], None] | None, success: str | None,
                   reload: bool) -> None:
        try:
            result = await self.agentcost.runner.call(fn)
        except Exception as exc:
            self.notify(describe_error(exc), title="Failed", severity="error", timeout=10)
            return
        if success:
            self.notify(success)
        if done is not None:
            done(result)
        if reload:
            self.reload()
