"""Helpers shared by the Claude Code and Codex parser tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentcost_cli.ingest.base import SourceContext
from agentcost_cli.models import TOKEN_FIELDS, UsageEvent

REPO = Path(__file__).resolve().parents[2]
CCUSAGE = REPO / "bench" / ".node" / "node_modules" / ".bin" / "ccusage"


def ctx_for(path: str | Path, project: str | None = None) -> SourceContext:
    return SourceContext(path=str(path), fallback_timestamp="2026-11-20T12:00:00.000000Z", project=project)


def shown(event: UsageEvent) -> dict[str, Any]:
    """The fields the expected.json files record for each event."""
    out: dict[str, Any] = {"id": event.id, "timestamp": event.timestamp, "model": event.model,
                           "project": event.project, "session": event.session}
    out.update({name: getattr(event, name) for name in TOKEN_FIELDS})
    out["metadata"] = event.metadata
    return out
