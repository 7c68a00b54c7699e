"""Fixture files of the provider-response parsers, shared by their tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson

from agentcost_cli.ingest.anthropic import AnthropicParser
from agentcost_cli.ingest.base import Parser, RecordError, SourceContext
from agentcost_cli.ingest.gemini import GeminiParser
from agentcost_cli.ingest.openai import OpenAIParser

FIXTURE_ROOT = Path(__file__).parents[1] / "fixtures" / "ingest"
PARSERS: dict[str, Parser] = {"openai": OpenAIParser(), "anthropic": AnthropicParser(), "gemini": GeminiParser()}


def expected(provider: str) -> dict[str, list[dict[str, Any]]]:
    """What each fixture file must parse to: events, or an error, per record."""
    result: dict[str, list[dict[str, Any]]] = json.loads((FIXTURE_ROOT / provider / "expected.json").read_text())
    return result


def input_files(provider: str) -> list[Path]:
    return sorted(p for p in (FIXTURE_ROOT / provider).iterdir() if p.name != "expected.json")


def file_records(path: Path) -> list[Any]:
    raw = path.read_bytes()
    if path.suffix == ".json":
        return [orjson.loads(raw)]  # one pretty-printed response
    return [orjson.loads(line) for line in raw.splitlines() if line.strip()]


def all_records(provider: str) -> list[Any]:
    return [record for path in input_files(provider) for record in file_records(path)]


def outcome(parser: Parser, line: int, record: Any, ctx: SourceContext) -> dict[str, Any]:
    try:
        events = parser.parse_record(record, ctx)
    except RecordError as exc:
        return {"line": line, "error": str(exc)}
    return {"line": line, "events": [{**event.to_native(), "source": event.source} for event in events]}
