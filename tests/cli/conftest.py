"""Fixtures for the CLI tests: a CliRunner wrapper, an in-process `run()` helper, a demo store.

Two ways in:

* `invoke(...)` uses `typer.testing.CliRunner` (stdout and stderr are kept apart). Typer's
  standalone mode handles usage errors itself, and `AgentcostError`s propagate as exceptions,
  so use it for success paths.
* `run_cli(...)` calls `agentcost_cli.cli.run(args)`, the real entry point's error boundary,
  and captures stdout/stderr with capsys. Use it whenever the exit code matters.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from agentcost_cli.cli import app

DEMO_EVENTS = 300
UNKNOWN_DEMO_MODEL = "acme-internal-llm"

# Three native events for gpt-4o; line 2 is malformed (input_tokens is not a number).
GOOD_LINE_1 = (
    '{"timestamp":"2026-11-20T10:00:00Z","provider":"openai","model":"gpt-4o",'
    '"input_tokens":1000,"output_tokens":100,"id":"t-1"}'
)
BAD_LINE = (
    '{"timestamp":"2026-11-20T11:00:00Z","provider":"openai","model":"gpt-4o",'
    '"input_tokens":"lots","output_tokens":100,"id":"t-2"}'
)
GOOD_LINE_3 = (
    '{"timestamp":"2026-11-20T12:00:00Z","provider":"openai","model":"gpt-4o",'
    '"input_tokens":2000,"output_tokens":200,"id":"t-3"}'
)
GOOD_JSONL = f"{GOOD_LINE_1}\n{GOOD_LINE_3}\n"
MIXED_JSONL = f"{GOOD_LINE_1}\n{BAD_LINE}\n{GOOD_LINE_3}\n"


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


class _TtyInput(io.StringIO):
    """A stdin that claims to be a terminal, for prompt tests."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Outcome]:
    """Run `agentcost_cli.cli.run(args)` in-process; stdin is not a TTY unless `tty_input` is given."""
    from agentcost_cli.cli import run

    def _run(*args: str, stdin: bytes = b"", tty_input: str | None = None) -> Outcome:
        if tty_input is not None:
            monkeypatch.setattr(sys, "stdin", _TtyInput(tty_input))
        else:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
        previous = signal.getsignal(signal.SIGPIPE) if hasattr(signal, "SIGPIPE") else None
        capsys.readouterr()
        try:
            code = run(list(args))
        finally:
            if previous is not None:
                # run() restores SIGPIPE's default action; do not leave that behind in the test process.
                signal.signal(signal.SIGPIPE, previous)
        out, err = capsys.readouterr()
        return Outcome(code, out, err)

    return _run


@pytest.fixture
def invoke() -> Callable[..., Result]:
    """`CliRunner().invoke(app, args)`; asserts exit code 0 unless `expect` says otherwise."""
    runner = CliRunner()

    def _invoke(*args: str, input: bytes | str | None = None, expect: int = 0) -> Result:
        result = runner.invoke(app, list(args), input=input, catch_exceptions=False)
        assert result.exit_code == expect, (
            f"exit {result.exit_code} != {expect}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
        return result

    return _invoke


def _copy_store(source: Path, target: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(source) + suffix)
        if src.exists():
            shutil.copyfile(src, Path(str(target) + suffix))
    return target


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One demo store per module (built through the CLI); tests get a copy via `demo_db`."""
    folder = tmp_path_factory.mktemp("demo-template")
    env: dict[str, str | None] = {name: None for name in os.environ if name.startswith("AGENTCOST_")}
    env.update({"AGENTCOST_HOME": str(folder / "home"), "NO_COLOR": "1", "COLUMNS": "120", "TZ": "UTC"})
    target = folder / "demo.db"
    result = CliRunner().invoke(app, ["demo", "--events", str(DEMO_EVENTS), "--db", str(target), "--quiet"],
                                env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return target


@pytest.fixture
def demo_db(demo_template: Path, tmp_path: Path) -> Path:
    """A private copy of the demo store (safe to modify)."""
    return _copy_store(demo_template, tmp_path / "demo.db")
