"""Cell and line formats shared by the CLI's output and the daemon's streamed exports."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import orjson


def csv_cell(value: Any) -> str:
    """Objects and lists as JSON text; None as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def csv_chunks(columns: Sequence[str], rows: Iterable[dict[str, Any]], *, rows_per_chunk: int = 1000) -> Iterator[str]:
    """CSV text (header first) in chunks, for a streamed response."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    pending = 0
    for row in rows:
        writer.writerow([csv_cell(row.get(c)) for c in columns])
        pending += 1
        if pending >= rows_per_chunk:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue()
