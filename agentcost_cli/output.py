"""Terminal output: data to stdout, everything else to stderr; colour only where it belongs.

Rich is imported on first use, so commands that print nothing pay nothing.
"""

from __future__ import annotations

import csv
import logging
import os
import sys
from collections.abc import Iterable, Sequence
from typing import IO, TYPE_CHECKING, Any

import orjson

from .formats import csv_cell

if TYPE_CHECKING:
    from rich.console import Console

_state: dict[str, Any] = {"no_color": False, "quiet": False}
_consoles: dict[str, Console] = {}


def configure(*, no_color: bool = False, quiet: bool = False) -> None:
    _state["no_color"] = no_color or bool(os.environ.get("NO_COLOR")) or os.environ.get("TERM") == "dumb"
    _state["quiet"] = quiet
    _consoles.clear()


def _console(stderr: bool) -> Console:
    key = "err" if stderr else "out"
    if key not in _consoles:
        from rich.console import Console

        stream = sys.stderr if stderr else sys.stdout
        width = None if stream.isatty() or os.environ.get("COLUMNS") else _piped_width()
        # soft_wrap on stderr: a `file:line: reason` message must stay one greppable line.
        _consoles[key] = Console(stderr=stderr, no_color=_state["no_color"], highlight=False, width=width,
                                 soft_wrap=stderr)
    return _consoles[key]


def _piped_width() -> int:
    """Width for output that is not a terminal. `agentcost report | head` in a terminal still
    lands on that terminal (stderr tells its size); a file or pipe elsewhere gets room to
    spare rather than 80 squeezed columns."""
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError):
        return 200


def console() -> Console:
    return _console(False)


def err_console() -> Console:
    return _console(True)


def stderr_is_terminal() -> bool:
    return err_console().is_terminal


class _StderrHandler(logging.Handler):
    """Shows what the services log (warnings; debug lines with --debug) the CLI's way, on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            warn(message)
        else:
            err_console().print(message, markup=False, highlight=False)


def configure_logging(*, debug: bool = False) -> None:
    logger = logging.getLogger("agentcost_cli")
    logger.handlers = [_StderrHandler()]
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)
    logger.propagate = False


def info(message: str) -> None:
    """A state change or summary for people: stderr, silenced by -q."""
    if not _state["quiet"]:
        err_console().print(message)


def warn(message: str) -> None:
    err_console().print(f"[yellow]warning:[/yellow] {message}" if not _state["no_color"] else f"warning: {message}")


def error(title: str, message: str, hint: str | None = None) -> None:
    con = err_console()
    if _state["no_color"]:
        con.print(f"{title}: {message}", markup=False)
    else:
        con.print(f"[bold red]{title}:[/bold red] {message}", soft_wrap=True)
    if hint:
        con.print(f"hint: {hint}", markup=False, style=None if _state["no_color"] else "dim")


def json_bytes(document: Any) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


def write_json(document: Any, target: IO[bytes] | None = None) -> None:
    out = target or sys.stdout.buffer
    out.write(json_bytes(document))
    out.flush()


def write_jsonl(rows: Iterable[dict[str, Any]], target: IO[bytes] | None = None) -> int:
    out = target or sys.stdout.buffer
    count = 0
    for row in rows:
        out.write(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE))
        count += 1
    out.flush()
    return count


def write_csv(columns: Sequence[str], rows: Iterable[dict[str, Any]], target: IO[str] | None = None) -> int:
    out = target or sys.stdout
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    count = 0
    for row in rows:
        writer.writerow([csv_cell(row.get(c)) for c in columns])
        count += 1
    out.flush()
    return count


def _fit(columns: Sequence[str], rows: list[list[str]], footer: Sequence[Any] | None, width: int,
         priority: Sequence[str]) -> list[int]:
    """Indexes of the columns to show: drop the least important ones until the table fits."""
    def need(i: int) -> int:
        cells = [len(columns[i]), *(len(r[i]) for r in rows)]
        if footer is not None:
            cells.append(len(str(footer[i])))
        return max(cells) + 3  # padding and separator

    keep = list(range(len(columns)))
    droppable = [columns.index(name) for name in reversed(priority) if name in columns]
    while sum(need(i) for i in keep) + 2 > width and droppable:
        keep.remove(droppable.pop(0))
    return keep


def render_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None,
                 right: Sequence[str] = (), footer: Sequence[Any] | None = None,
                 droppable: Sequence[str] = ()) -> None:
    """A table on stdout. When the terminal is too narrow, columns named in `droppable`
    (most important first) are hidden from the end of that list, and stderr says so."""
    text_rows = [["" if v is None else str(v) for v in row] for row in rows]
    con = console()
    keep = _fit(columns, text_rows, footer, con.width, droppable)
    hidden = [c for i, c in enumerate(columns) if i not in keep]
    if len(text_rows) > PLAIN_TABLE_ROWS:
        # Rich lays out every cell (about 0.5 ms a row); a long report would take seconds.
        _plain_table([columns[i] for i in keep], [[r[i] for i in keep] for r in text_rows], title,
                     {columns[i] for i in keep} & set(right),
                     None if footer is None else [str(footer[i]) for i in keep], con.width)
    else:
        _rich_table(columns, text_rows, keep, title, right, footer)
    if hidden:
        info(f"(not shown for lack of width: {', '.join(hidden)}; widen the terminal or use --csv / --json)")


PLAIN_TABLE_ROWS = 100


def _plain_table(columns: list[str], rows: list[list[str]], title: str | None, right: set[str],
                 footer: list[str] | None, width: int) -> None:
    """The same layout as the Rich table below (SIMPLE_HEAVY), written as plain text."""
    widths = [max(len(c), *(len(r[i]) for r in rows), len(footer[i]) if footer else 0)
              for i, c in enumerate(columns)]

    def line(cells: Sequence[str]) -> str:
        parts = [cell.rjust(w) if columns[i] in right else cell.ljust(w)
                 for i, (cell, w) in enumerate(zip(cells, widths, strict=True))]
        return "  " + "   ".join(parts) + "  "

    total = sum(widths) + 3 * (len(widths) - 1) + 4
    rule = " " + "━" * (total - 2) + " "
    bold = not _state["no_color"] and sys.stdout.isatty()
    header = line(columns)
    out = []
    if title:
        out.append(title.center(min(max(total, len(title)), max(width, total))).rstrip())
    out.append(f"\x1b[1m{header}\x1b[0m" if bold else header)
    out.append(rule)
    out.extend(line(r) for r in rows)
    if footer is not None:
        out.append(rule)
        out.append(line(footer))
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()


def _rich_table(columns: Sequence[str], text_rows: list[list[str]], keep: list[int], title: str | None,
                right: Sequence[str], footer: Sequence[Any] | None) -> None:
    from rich import box
    from rich.table import Table

    con = console()
    table = Table(title=title, box=box.SIMPLE_HEAVY, show_footer=footer is not None, header_style="bold")
    for i in keep:
        column = columns[i]
        numeric = column in right
        table.add_column(column, justify="right" if numeric else "left",
                         footer=str(footer[i]) if footer is not None else "",
                         no_wrap=numeric, overflow="fold", min_width=len(column) if numeric else None)
    for row in text_rows:
        table.add_row(*(row[i] for i in keep))
    con.print(table)
