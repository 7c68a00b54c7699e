"""A byte-based progress bar on stderr, shown only on a terminal and never with -q."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .. import output


class Progress:
    def __init__(self, bar: Any = None, task: Any = None) -> None:
        self._bar = bar
        self._task = task

    def total(self, nbytes: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, total=nbytes)

    def advance(self, nbytes: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, nbytes)


@contextmanager
def progress(description: str, *, quiet: bool) -> Iterator[Progress]:
    if quiet or not output.stderr_is_terminal():
        yield Progress()
        return
    from rich.progress import BarColumn, DownloadColumn, TimeRemainingColumn
    from rich.progress import Progress as RichProgress

    with RichProgress(
        "[progress.description]{task.description}", BarColumn(), DownloadColumn(), TimeRemainingColumn(),
        console=output.err_console(), transient=True,
    ) as bar:
        yield Progress(bar, bar.add_task(description, total=None))
