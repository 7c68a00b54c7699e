"""Split inputs into records without holding them in memory.

JSON Lines are read line by line with byte offsets (for resumable imports).
A file that is one JSON document (a pretty-printed response, or an array of
them) is read whole, which is bounded by `MAX_DOCUMENT_BYTES`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import orjson

MAX_DOCUMENT_BYTES = 256 * 1024 * 1024
_PEEK = 64 * 1024


@dataclass(slots=True)
class RawRecord:
    line: int  # 1-based line number (or element number inside a JSON array document)
    end_offset: int  # byte offset just past this record (for cursors); -1 when unknown
    data: bytes | None  # undecoded JSON line (None when `value` is already decoded)
    value: Any = None
    complete: bool = True  # False for a final line with no newline: it may still be being written


def looks_like_document(head: bytes) -> bool:
    """True when the input is one JSON value spread over lines, not JSON Lines."""
    stripped = head.lstrip()
    if stripped.startswith(b"["):
        return True
    if not stripped.startswith(b"{"):
        return False
    if b"\n" not in stripped:
        return False  # one long line reads the same either way: treat it as JSON Lines
    first_line = stripped.split(b"\n", 1)[0]
    try:
        orjson.loads(first_line)
    except orjson.JSONDecodeError:
        return True
    return False


def iter_lines(stream: BinaryIO, start_offset: int = 0, first_line: int = 1) -> Iterator[RawRecord]:
    offset = start_offset
    for line_no, line in enumerate(stream, start=first_line):
        offset += len(line)
        complete = line.endswith(b"\n")
        yield RawRecord(line_no, offset, line, complete=complete)


def iter_document(stream: BinaryIO) -> Iterator[RawRecord]:
    content = stream.read(MAX_DOCUMENT_BYTES + 1)
    if len(content) > MAX_DOCUMENT_BYTES:
        raise ValueError(
            f"a single JSON document larger than {MAX_DOCUMENT_BYTES // 2**20} MiB; write it as JSON Lines instead"
        )
    value = orjson.loads(content)  # JSONDecodeError is reported by the caller for line 1
    if isinstance(value, list):
        for index, item in enumerate(value, start=1):
            yield RawRecord(index, -1, None, item)
    else:
        yield RawRecord(1, len(content), None, value)


def iter_csv(stream: BinaryIO) -> Iterator[RawRecord]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.DictReader(text)
    for row in reader:
        yield RawRecord(reader.line_num, -1, None, row)


def peek(stream: BinaryIO) -> bytes:
    """Look at the start of a buffered stream without consuming it."""
    if isinstance(stream, io.BufferedReader):
        return stream.peek(_PEEK)[:_PEEK]
    raise TypeError("peek needs a buffered reader")
