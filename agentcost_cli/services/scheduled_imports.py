"""The daemon's optional import of coding-agent logs (`scheduler.import_paths`): the same
incremental import as `agentcost import claude-code|codex`, every ten minutes, with the
per-file cursors in the store, so each run reads only what is new."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..errors import ConfigError
from ..ingest.pipeline import IngestOptions, Rejection
from ..settings import Settings
from ..store.base import Store
from .actor import LOCAL
from .ingest import Hooks, agent_log_roots, import_agent_logs

AGENTS = ("claude-code", "codex")
log = logging.getLogger("agentcost.jobs")


def configured_agents(setting: str) -> list[str]:
    agents = [a.strip() for a in setting.split(",") if a.strip()]
    unknown = [a for a in agents if a not in AGENTS]
    if unknown:
        raise ConfigError(f"scheduler.import_paths: unknown agent {unknown[0]!r}",
                          hint=f"choose from {', '.join(AGENTS)}")
    return agents


def _collector(sink: list[str]) -> Callable[[Rejection], None]:
    def collect(rejection: Rejection) -> None:
        sink.append(f"{rejection.path}:{rejection.line}: {rejection.reason}")

    return collect


def run_configured_imports(store: Store, conf: Settings | None = None) -> dict[str, Any]:
    conf = conf or Settings.load()
    out: dict[str, Any] = {}
    for agent in configured_agents(conf["scheduler.import_paths"]):
        setting = conf["import.claude_code_path" if agent == "claude-code" else "import.codex_path"]
        roots = agent_log_roots(agent, [], setting)
        rejected: list[str] = []
        hooks = Hooks(on_reject=_collector(rejected))
        options = IngestOptions(default_project=conf["ingest.project"], batch_size=conf["ingest.batch_size"],
                                workers=1)
        summary = import_agent_logs(store, LOCAL.at("scheduler"), agent, roots, options, hooks)
        for reason in rejected[:10]:
            log.warning("%s import: rejected %s", agent, reason)
        out[agent] = summary.as_dict()
    return out
