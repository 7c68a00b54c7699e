"""The docs that users read must match the code they run."""

from __future__ import annotations

import re
from pathlib import Path

from agentcost_cli.errors import ExitCode
from agentcost_cli.services.export import EXPORT_COLUMNS
from agentcost_cli.services.reports import METRIC_COLUMNS
from agentcost_cli.settings import SPECS

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_env_example_lists_every_variable() -> None:
    names = set(re.findall(r"^(AGENTCOST_[A-Z_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert names == {spec.env for spec in SPECS} | {"AGENTCOST_HOME"}


def test_readme_documents_every_setting_and_exit_code() -> None:
    for spec in SPECS:
        assert f"`{spec.key}`" in README and f"`{spec.env}`" in README, spec.key
    for code in ExitCode:
        assert re.search(rf"^\| {int(code)} \|", README, re.MULTILINE), code


def test_readme_column_orders_match_the_code() -> None:
    assert ", ".join(f"`{c}`" for c in METRIC_COLUMNS) in README.replace("\n", " ")
    listed = re.findall(r"`([a-z_0-9]+)`", README.split("### Export columns", 1)[1].split("###", 1)[0])
    expanded = [c for c in listed if c in EXPORT_COLUMNS]
    assert [c for c in EXPORT_COLUMNS if c in expanded] == expanded
    assert set(EXPORT_COLUMNS) - set(expanded) <= {"input_tokens", "cache_read_tokens", "cache_write_tokens",
                                                   "cache_write_1h_tokens", "output_tokens", "reasoning_tokens"}


def test_quick_start_is_two_commands_and_ci_runs_the_test_one() -> None:
    quick = README.split("## Quick start", 1)[1].split("## ", 1)[0]
    commands = re.findall(r"```sh\n(.+?)\n```", quick)
    assert len(commands) == 2
    assert "agentcost demo" in commands[0]
    test_command = commands[1].rsplit("&& ", 1)[1]
    assert test_command in (ROOT / ".ci" / "run").read_text()
