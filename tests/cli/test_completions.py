"""Shell completion: the committed scripts are current, and completion answers in a real process."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agentcost_cli.commands.config import SHELLS, completion_script
from agentcost_cli.errors import ExitCode

ROOT = Path(__file__).resolve().parents[2]
COMPLETIONS = ROOT / "completions"


def _load_generator():
    spec = importlib.util.spec_from_file_location("gen_completions", ROOT / "scripts" / "gen_completions.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


@pytest.mark.parametrize("shell", SHELLS)
def test_committed_completion_file_is_current(shell):
    path = COMPLETIONS / f"agentcost.{shell}"
    assert path.exists(), "run: python scripts/gen_completions.py"
    assert path.read_text(encoding="utf-8") == completion_script(shell) + "\n", (
        f"{path} is stale; run: python scripts/gen_completions.py"
    )


def test_generator_check_passes_on_the_repository(capsys):
    assert gen.main(["--check"]) == 0
    assert capsys.readouterr().err == ""


def test_generator_writes_and_detects_stale_files(tmp_path, capsys):
    assert gen.main(["--check", "--out-dir", str(tmp_path)]) == 1  # nothing written yet
    assert list(tmp_path.iterdir()) == []
    assert gen.main(["--out-dir", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"agentcost.{s}" for s in sorted(SHELLS)]
    assert gen.main(["--check", "--out-dir", str(tmp_path)]) == 0

    stale = tmp_path / "agentcost.zsh"
    stale.write_text("# old\n")
    capsys.readouterr()
    assert gen.main(["--check", "--out-dir", str(tmp_path)]) == 1
    assert "agentcost.zsh" in capsys.readouterr().err
    assert stale.read_text() == "# old\n"  # --check never writes


@pytest.mark.parametrize("shell", SHELLS)
def test_completions_command_prints_the_committed_script(run_cli, shell):
    out = run_cli("completions", shell)
    assert out.code == 0
    assert out.stdout + "\n" == (COMPLETIONS / f"agentcost.{shell}").read_text(encoding="utf-8")
    assert "_AGENTCOST_COMPLETE" in out.stdout


def test_completions_for_an_unknown_shell(run_cli):
    out = run_cli("completions", "tcsh")
    assert (out.code, out.stdout) == (ExitCode.USAGE, "")
    assert "unsupported shell 'tcsh'" in out.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_bash_script_parses():
    proc = subprocess.run(["bash", "-n", str(COMPLETIONS / "agentcost.bash")], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr


def _complete(env_vars: dict[str, str], *, prelude: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTCOST_", "_AGENTCOST", "_TYPER"))}
    env.update(env_vars)
    if prelude:
        cmd = [sys.executable, "-c", f"{prelude}\nfrom agentcost_cli.__main__ import main\nmain([])"]
    else:
        cmd = [sys.executable, "-m", "agentcost_cli"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, check=False)


SHELL_REQUESTS = {
    "bash": {"_AGENTCOST_COMPLETE": "complete_bash", "COMP_WORDS": "agentcost pri", "COMP_CWORD": "1"},
    "zsh": {"_AGENTCOST_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "agentcost pri"},
    "fish": {"_AGENTCOST_COMPLETE": "complete_fish", "_TYPER_COMPLETE_FISH_ACTION": "get-args",
             "_TYPER_COMPLETE_ARGS": "agentcost pri"},
}


@pytest.mark.subprocess
@pytest.mark.parametrize("shell", SHELLS)
def test_completion_round_trip(tmp_path, shell):
    proc = _complete({**SHELL_REQUESTS[shell], "AGENTCOST_HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert "pricing" in proc.stdout
    assert "report" not in proc.stdout


@pytest.mark.subprocess
def test_command_tree_completes_once_shell_classes_are_registered(tmp_path):
    """Typer answers completion only once its shell classes are registered (cli.run does that)."""
    prelude = "import typer._completion_classes as c\nc.completion_init()"
    proc = _complete({**SHELL_REQUESTS["bash"], "AGENTCOST_HOME": str(tmp_path)}, prelude=prelude)
    assert (proc.returncode, proc.stdout.split()) == (0, ["pricing"]), proc.stderr
    proc = _complete({"_AGENTCOST_COMPLETE": "complete_bash", "COMP_WORDS": "agentcost pricing re",
                      "COMP_CWORD": "2", "AGENTCOST_HOME": str(tmp_path)}, prelude=prelude)
    assert proc.stdout.split() == ["reprice"], proc.stderr
