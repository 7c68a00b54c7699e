"""Remote imports keep their per-file cursors on this machine (client/upload.py CursorBook)."""

from __future__ import annotations

import stat
from pathlib import Path

from agentcost_cli.client.upload import CursorBook
from agentcost_cli.store.base import Cursor


def cursor(path: str, offset: int, source: str = "claude-code") -> Cursor:
    return Cursor(source, path, 1, 2, offset, 3, offset, {"parser": None, "line": offset // 10})


def test_cursors_round_trip_per_server_and_agent(tmp_path: Path) -> None:
    path = tmp_path / "imports" / "work.json"
    here = CursorBook(path, "https://costs.example.org")
    here.save("claude-code", [cursor("/a.jsonl", 10), cursor("/b.jsonl", 20)])
    here.save("codex", [cursor("/c.jsonl", 5, "codex")])
    here.save("claude-code", [cursor("/a.jsonl", 30)])  # a later run moves one file on, keeps the other
    again = CursorBook(path, "https://costs.example.org")
    assert again.load("claude-code") == {"/a.jsonl": cursor("/a.jsonl", 30), "/b.jsonl": cursor("/b.jsonl", 20)}
    assert again.load("codex") == {"/c.jsonl": cursor("/c.jsonl", 5, "codex")}
    assert CursorBook(path, "https://other.example.org").load("claude-code") == {}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".partial")] == []


def test_an_unreadable_book_means_reading_everything_again(tmp_path: Path) -> None:
    """The daemon answers `duplicate` for what was sent before, so starting over is safe."""
    path = tmp_path / "default.json"
    book = CursorBook(path, "https://costs.example.org")
    assert book.load("claude-code") == {}  # no file yet
    path.write_text("{not json")
    assert book.load("claude-code") == {}
    path.write_text('{"version": 99, "servers": {}}')
    assert book.load("claude-code") == {}
    path.write_text('{"version": 1, "servers": {"https://costs.example.org": {"claude-code": {"/x": {"bad": 1}}}}}')
    assert book.load("claude-code") == {}
    book.save("claude-code", [cursor("/a.jsonl", 10)])  # and the next save writes a good one
    assert book.load("claude-code") == {"/a.jsonl": cursor("/a.jsonl", 10)}
