"""Remote mode prints what local mode prints, for the alerting commands: the same command
against a real `agentcost daemon` (signed in as a server admin) and against a copy of the same
store in local mode gives the same stdout, stderr and exit code.

The daemon runs without its scheduler, so nothing evaluates or delivers on one copy only; the
copies hold the same budgets (without forecasts, which move with the clock), channels, rules
and alerts. `daemon jobs` computes next runs at the moment it is asked: those are compared
for form only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..client.fixtures import no_os_keyring  # noqa: F401  (autouse by name)
from ..contract.test_backends import daemon_env
from ..server.conftest import start_daemon
from .test_remote_mode import Pair, Run, _copy, _template, ac, assert_same, both, login  # noqa: F401  (ac: fixture)


def _alerting_template(folder: Path) -> Path:
    from agentcost_cli.services import alert_run, budgets, channels, rules
    from agentcost_cli.services.actor import LOCAL, user_actor
    from agentcost_cli.store import open_store

    db = _template(folder)
    store = open_store(db)
    try:
        owner = user_actor(store.find_user("owner@example.com"))
        channels.add_channel(store, LOCAL, name="ops-hook", kind="webhook", target="https://hooks.example.com/agentcost")
        channels.add_channel(store, owner, name="web-mail", kind="email", target="team@example.com", project="web")
        budgets.create_budget(store, owner, name="web-monthly", amount="0.01", project="web", forecast=False,
                              channel_names=["web-mail"])
        budgets.create_budget(store, LOCAL, name="everything", amount="1000", scope="global", period="week",
                              forecast=False)
        rules.create_rule(store, owner, name="gpt4o-daily", expression='cost > 0.001 and model == "gpt-4o" per day',
                          project="web", channel_names=["web-mail"])
        alert_run.run_alerts(store, LOCAL)
    finally:
        store.close()
    return db


@pytest.fixture(scope="module")
def alert_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    folder = tmp_path_factory.mktemp("alerts-remote")
    template = _alerting_template(folder)
    running = start_daemon(folder, _copy(template, folder / "remote.db"),
                           env=daemon_env(folder, AGENTCOST_SCHEDULER="0"))
    try:
        yield Pair(running, _copy(template, folder / "local.db"))
    finally:
        running.stop()


READS = [
    ("budgets", "list", "--json"),
    ("budgets", "list"),
    ("budgets", "status", "web-monthly", "--json"),
    ("channels", "list", "--json"),
    ("alerts", "list", "--json"),
    ("alerts", "list", "--json", "--kind", "budget", "--limit", "2"),
    ("alerts", "rules", "list", "--json"),
    ("alerts", "rules", "list"),
]


@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_alerting_reads_print_the_same_in_both_modes(ac: Run, alert_pair: Pair,  # noqa: F811
                                                     args: tuple[str, ...]) -> None:
    login(ac, alert_pair.daemon)
    remote, local = both(ac, alert_pair, *args)
    assert_same(remote, local)
    assert remote.stdout or remote.stderr


def test_daemon_jobs_prints_the_same_jobs_in_both_modes(ac: Run, alert_pair: Pair) -> None:  # noqa: F811
    login(ac, alert_pair.daemon)
    remote, local = both(ac, alert_pair, "daemon", "jobs", "--json")
    assert (remote.code, remote.stderr) == (local.code, local.stderr) == (0, "")
    remote_jobs, local_jobs = json.loads(remote.stdout)["jobs"], json.loads(local.stdout)["jobs"]
    assert [j["job"] for j in remote_jobs] and all(j["next_run_utc"].endswith("Z") for j in remote_jobs)

    def steady(jobs: list[dict[str, object]]) -> list[dict[str, object]]:
        return [{k: v for k, v in j.items() if k != "next_run_utc"} for j in jobs]  # computed when asked

    assert steady(remote_jobs) == steady(local_jobs)


def test_a_viewer_is_refused_by_the_daemon(ac: Run, alert_pair: Pair) -> None:  # noqa: F811
    """(Local mode acts as the store's owner, so only the daemon can refuse.)"""
    from agentcost_cli.errors import ExitCode

    login(ac, alert_pair.daemon, "viewer@example.com")
    for args in (("budgets", "create", "mine", "--amount", "5", "--project", "web"), ("daemon", "jobs", "--json")):
        refused = ac(*args)
        assert refused.code == ExitCode.NOT_PERMITTED and "may not" in refused.stderr, refused
