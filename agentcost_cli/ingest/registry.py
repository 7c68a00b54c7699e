"""The known parsers, in detection order, plus any installed under the
`agentcost.parsers` entry-point group (loaded only when asked for)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from ..errors import InvalidInput
from .base import Parser

# name -> "module:Class"; imported on first use so `--help` stays cheap.
BUILTIN: dict[str, str] = {
    "native": "agentcost_cli.ingest.native:NativeParser",
    "csv": "agentcost_cli.ingest.native:CsvParser",
    "openai": "agentcost_cli.ingest.openai:OpenAIParser",
    "anthropic": "agentcost_cli.ingest.anthropic:AnthropicParser",
    "gemini": "agentcost_cli.ingest.gemini:GeminiParser",
    "claude-code": "agentcost_cli.ingest.claude_code:ClaudeCodeParser",
    "codex": "agentcost_cli.ingest.codex:CodexParser",
}
# Most specific first: agent logs and provider envelopes before the permissive native check.
DETECTION_ORDER = ("claude-code", "codex", "openai", "anthropic", "gemini", "native")
FORMATS = ("auto", *BUILTIN)

_instances: dict[str, Parser] = {}


def get_parser(name: str) -> Parser:
    if name not in _instances:
        target = BUILTIN.get(name)
        if target is None:
            target = _plugin_target(name)
        module_name, _, class_name = target.partition(":")
        _instances[name] = getattr(importlib.import_module(module_name), class_name)()
    return _instances[name]


def _plugin_target(name: str) -> str:
    from importlib.metadata import entry_points

    for ep in entry_points(group="agentcost.parsers"):
        if ep.name == name:
            return str(ep.value)
    raise InvalidInput(f"unknown format {name!r}", hint=f"choose one of: {', '.join(FORMATS)}")


def detect(record: Mapping[str, Any], preferred: Parser | None = None) -> Parser | None:
    """The parser for one decoded record; `preferred` (the last match) is tried first."""
    if preferred is not None and preferred.detect(record):
        return preferred
    for name in DETECTION_ORDER:
        parser = get_parser(name)
        if parser is not preferred and parser.detect(record):
            return parser
    return None
