"""Startup budget: `--version` and `--help` must not import the heavy dependencies.

Measured with `python -X importtime`, which logs every import to stderr. No wall-clock targets
here: timings belong in bench/.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.subprocess

HEAVY = ("fastapi", "uvicorn", "textual", "apscheduler", "psycopg", "genai_prices", "httpx", "sqlite_utils")


def imported_modules(*args: str, home: str) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCOST_")}
    env.update({"AGENTCOST_HOME": home, "NO_COLOR": "1"})
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "agentcost_cli", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    modules = set()
    for line in proc.stderr.splitlines():
        # "import time: self [us] | cumulative | imported package"
        if not line.startswith("import time:"):
            continue
        name = line.rsplit("|", 1)[-1].strip()
        if name and name != "imported package":
            modules.add(name)
    assert "agentcost_cli" in modules, "importtime output was not parsed"
    return modules


def top_level(modules: set[str]) -> set[str]:
    return {m.split(".", 1)[0] for m in modules}


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["report", "--help"]], ids=" ".join)
def test_no_heavy_imports(tmp_path, args):
    loaded = top_level(imported_modules(*args, home=str(tmp_path)))
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_version_fast_path_skips_typer_and_rich(tmp_path):
    loaded = top_level(imported_modules("--version", home=str(tmp_path)))
    assert not loaded & {"typer", "rich", "click", "orjson"}, sorted(loaded & {"typer", "rich", "click", "orjson"})


def test_help_does_not_open_a_store_or_load_prices(tmp_path):
    loaded = imported_modules("--help", home=str(tmp_path))
    assert not {m for m in loaded if m.startswith(("agentcost_cli.store", "agentcost_cli.pricing",
                                                   "agentcost_cli.services", "sqlite3"))}
    assert not (tmp_path / "data").exists()


def test_run_leaves_the_callers_sigpipe_alone() -> None:
    """Only the process entry point restores SIGPIPE's default: a program (or a test worker)
    that calls run() must not start dying silently on a closed socket afterwards."""
    import signal

    from agentcost_cli.cli import run

    before = signal.getsignal(signal.SIGPIPE)
    assert run(["config", "path", "data"]) == 0
    assert signal.getsignal(signal.SIGPIPE) == before
