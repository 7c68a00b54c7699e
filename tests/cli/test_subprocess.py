"""Real processes: `python -m agentcost_cli ...` with pipes, as a shell script would run it."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from agentcost_cli import __version__
from agentcost_cli.errors import ExitCode
from agentcost_cli.services.reports import METRIC_COLUMNS

from .conftest import GOOD_JSONL, MIXED_JSONL

pytestmark = pytest.mark.subprocess

ANSI = "\x1b["


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AGENTCOST_", "_AGENTCOST")) and k not in ("FORCE_COLOR", "TTY_COMPATIBLE",
                                                                       "CLICOLOR_FORCE", "NO_COLOR")}
    env.update({"AGENTCOST_HOME": str(home), "TZ": "UTC", **extra})
    return env


def agentcost(*args: str, env: dict[str, str], stdin: bytes = b"", cwd: Path | None = None
              ) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "agentcost_cli", *args], input=stdin, env=env, cwd=cwd,
                          capture_output=True, timeout=120, check=False)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return _env(tmp_path / "home", NO_COLOR="1")


def test_pipe_ingest_then_report_csv(tmp_path, env):
    db = str(tmp_path / "pipe.db")
    ingest = agentcost("--db", db, "ingest", "-", env=env, stdin=GOOD_JSONL.encode())
    assert ingest.returncode == 0, ingest.stderr
    assert ingest.stdout == b""  # messages only on stderr
    assert b"ingested 1 file(s): read 2, added 2" in ingest.stderr

    report = agentcost("--db", db, "report", "--csv", "--by", "model", env=env)
    assert report.returncode == 0, report.stderr
    assert report.stderr == b""  # data only on stdout
    rows = list(csv.DictReader(io.StringIO(report.stdout.decode())))
    assert list(rows[0]) == ["model", *METRIC_COLUMNS]
    assert [(r["model"], r["events"], r["input_tokens"], r["output_tokens"]) for r in rows] == [
        ("gpt-4o", "2", "3000", "300")]
    assert Decimal(rows[0]["cost_usd"]) > 0


def test_stdin_ingest_to_the_default_store(tmp_path, env):
    # No --db: the store lands under AGENTCOST_HOME.
    proc = agentcost("ingest", env=env, stdin=GOOD_JSONL.encode())
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "home" / "data" / "agentcost.db").exists()
    doc = json.loads(agentcost("report", "--json", env=env).stdout)
    assert doc["totals"]["events"] == 2


def test_exit_codes(tmp_path, env):
    (tmp_path / "mixed.jsonl").write_text(MIXED_JSONL)
    db = str(tmp_path / "codes.db")

    rejected = agentcost("--db", db, "ingest", "mixed.jsonl", env=env, cwd=tmp_path)
    assert rejected.returncode == ExitCode.REJECTED
    assert rejected.stdout == b""
    assert b"mixed.jsonl:2: " in rejected.stderr

    missing = agentcost("--db", db, "ingest", "absent.jsonl", env=env, cwd=tmp_path)
    assert missing.returncode == ExitCode.NOT_FOUND
    assert missing.stdout == b"" and b"absent.jsonl" in missing.stderr

    usage = agentcost("config", "get", "no.such", env=env)
    assert usage.returncode == ExitCode.USAGE
    assert usage.stdout == b"" and b"unknown setting" in usage.stderr

    ok = agentcost("--db", db, "db", "status", "--json", env=env)
    assert ok.returncode == 0
    assert json.loads(ok.stdout)["tables"]["events"] == 2


@pytest.mark.parametrize("args", [["--version"], ["-V"], ["--no-color", "--version"]])
def test_version(tmp_path, env, args):
    proc = agentcost(*args, env=env)
    assert proc.returncode == 0
    assert proc.stdout.decode() == f"agentcost {__version__}\n"
    assert proc.stdout.decode() == "agentcost 0.1.0\n"
    assert proc.stderr == b""


@pytest.mark.parametrize("no_color", [True, False], ids=["NO_COLOR", "not-a-tty"])
def test_no_ansi_escapes_off_a_terminal(tmp_path, no_color):
    env = _env(tmp_path / "home", TERM="xterm-256color", COLUMNS="200", **({"NO_COLOR": "1"} if no_color else {}))
    db = str(tmp_path / "demo.db")
    runs = [
        agentcost("demo", "--events", "300", "--db", db, env=env),  # table + warning + info
        agentcost("--db", db, "report", "--by", "model", env=env),
        agentcost("--db", db, "pricing", "missing", env=env),
        agentcost("--help", env=env),
        agentcost("config", "get", "no.such", env=env),  # an error with a hint
    ]
    assert [p.returncode for p in runs] == [0, 0, 0, 0, ExitCode.USAGE]
    assert b"gpt-5" in runs[1].stdout and b"total" in runs[1].stdout
    assert b"warning:" in runs[0].stderr
    for proc in runs:
        assert ANSI.encode() not in proc.stdout, proc.args
        assert ANSI.encode() not in proc.stderr, proc.args


def test_export_pipeline_survives_a_closed_pipe(tmp_path, env):
    db = str(tmp_path / "demo.db")
    assert agentcost("demo", "--events", "200", "--db", db, "-q", env=env).returncode == 0
    proc = subprocess.run(
        f'"{sys.executable}" -m agentcost_cli --db "{db}" export events | head -n 1',
        shell=True, env=env, capture_output=True, timeout=120, check=False,
    )
    assert proc.returncode == 0
    assert len(proc.stdout.splitlines()) == 1
    assert json.loads(proc.stdout)["id"]
    assert b"Traceback" not in proc.stderr and b"unexpected error" not in proc.stderr
