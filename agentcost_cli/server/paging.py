"""Cursor pagination for list routes: `?limit=&cursor=` in, `{"items": [...], "next_cursor"}` out.
The cursor is opaque to clients (today: the position, encoded), so the scheme can change."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from ..errors import InvalidInput

MAX_LIMIT = 1000


def decode(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor.encode() + b"==").decode()
        kind, _, value = text.partition(":")
        if kind != "o" or not value.isdigit():
            raise ValueError
        return int(value)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("invalid cursor", hint="pass the next_cursor of the previous page as it was") from None


def encode(position: int) -> str:
    return base64.urlsafe_b64encode(f"o:{position}".encode()).decode().rstrip("=")


def page(rows: Sequence[Any], cursor: str | None, limit: int) -> dict[str, Any]:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
    start = decode(cursor)
    items = list(rows[start:start + limit])
    more = start + limit < len(rows)
    return {"items": items, "next_cursor": encode(start + limit) if more else None}
