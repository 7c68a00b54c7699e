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
    # AGENTCOST_HOME moves the folders the settings live in; AGENTCOST_TOKEN is a secret, so it is
    # read from the environment only, never a setting that `config show` would print.
    assert names == {spec.env for spec in SPECS} | {"AGENTCOST_HOME", "AGENTCOST_TOKEN"}


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


def test_readme_roles_table_matches_the_permission_rules() -> None:
    from agentcost_cli.services.permissions import PROJECT_OPS, RANK, RULES, Role

    table = README.split("| operation | viewer | member | admin | owner | key scopes |", 1)[1].split("\n\n", 1)[0]
    documented = {}
    for line in table.strip().splitlines()[1:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        op = re.search(r"`([a-z_.]+)`", cells[0]).group(1)  # type: ignore[union-attr]
        documented[op] = (tuple(c == "✓" for c in cells[1:5]), cells[5])
    expected = {}
    for op in PROJECT_OPS:
        rule = RULES[op]
        assert rule.role is not None
        roles = tuple(RANK[r] >= RANK[rule.role] for r in (Role.VIEWER, Role.MEMBER, Role.ADMIN, Role.OWNER))
        expected[op.value] = (roles, ", ".join(sorted(s.value for s in rule.scopes)) or "—")
    assert documented == expected


def test_readme_key_format_matches_the_generator() -> None:
    from agentcost_cli.auth import apikeys

    assert "`ac_live_<30 base62 characters>_<6 base62 characters>`" in README
    assert apikeys.RANDOM_LENGTH == 30 and apikeys.CHECKSUM_LENGTH == 6 and apikeys.PREFIX_LENGTH == 12
