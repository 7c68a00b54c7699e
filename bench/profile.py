#!/usr/bin/env python3
"""Profile one agentcost command with py-spy and print where the time goes.

    .venv/bin/pip install py-spy        # once
    python bench/profile.py ingest bench/data/native-1000000-s1.jsonl
    python bench/profile.py import bench/data/claude-100000-s1
    python bench/profile.py report AGENTCOST_HOME_OF_A_STORE
    python bench/profile.py -- agentcost ARGS...      # anything else (uses $AGENTCOST_HOME)

py-spy samples the real process from outside (no cProfile overhead) at --rate Hz.
Output: inclusive and self time per function, and the hottest agentcost_cli lines
(a `conn.execute`/`executemany` line is time spent inside SQLite). The raw stacks
are kept in bench/out/profile-<name>.txt for flamegraph tools.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
VENV = ROOT / ".venv" / "bin"
PY = str(VENV / "python") if (VENV / "python").exists() else sys.executable
_FRAME = re.compile(r"(.*) \((.*?)(?::(\d+))?\)$")


def short(path: str) -> str:
    path = path.replace(str(ROOT) + "/", "")
    path = re.sub(r".*/site-packages/", "", path)
    return re.sub(r".*/lib/python3\.\d+/", "", path)


def summarize(raw: Path, top: int) -> None:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    lines: collections.Counter[str] = collections.Counter()
    total = 0
    for text in raw.read_text().splitlines():
        if not text.strip():
            continue
        stack, count_text = text.rsplit(" ", 1)
        count = int(count_text)
        total += count
        names = []
        for frame in stack.split(";"):
            match = _FRAME.match(frame)
            if match:
                func, path, line = match.groups()
                names.append((f"{func} ({short(path)})", f"{short(path)}:{line} {func}" if line else None))
            else:
                names.append((frame, None))
        for name in {n for n, _ in names}:
            inclusive[name] += count
        own[names[-1][0]] += count
        # the innermost agentcost_cli line: where agentcost code waits on C code (SQLite, orjson, strptime...)
        for _name, line in reversed(names):
            if line and line.startswith("agentcost_cli/"):
                lines[line] += count
                break
    print(f"{total} samples")
    for title, counter in (("inclusive", inclusive), ("self", own), ("innermost agentcost_cli line", lines)):
        print(f"\n-- {title} --")
        for name, count in counter.most_common(top):
            print(f"{100 * count / total:5.1f}%  {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", help="ingest FILE | import DIR | report HOME | -- agentcost ARGS...")
    parser.add_argument("target", nargs="*")
    parser.add_argument("--rate", type=int, default=200, help="samples per second (default 200)")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--no-subprocesses", action="store_true",
                        help="sample only the main process (default: also agentcost's worker processes)")
    args = parser.parse_args(argv)
    pyspy = shutil.which("py-spy") or str(VENV / "py-spy")
    if not Path(pyspy).exists():
        parser.error("py-spy is not installed: .venv/bin/pip install py-spy")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.setdefault("PYTHONPYCACHEPREFIX", str(ROOT / "bench" / "data" / "pycache"))  # as bench/run.py does
    cli = [PY, "-m", "agentcost_cli"]
    scratch = None
    if args.what == "ingest":
        scratch = tempfile.mkdtemp(prefix="agentcost-profile-")
        env["AGENTCOST_HOME"] = scratch
        cmd, name = [*cli, "ingest", *args.target], "ingest"
    elif args.what == "import":
        scratch = tempfile.mkdtemp(prefix="agentcost-profile-")
        env["AGENTCOST_HOME"] = scratch
        cmd, name = [*cli, "import", "claude-code", "--path", *args.target], "import"
    elif args.what == "report":
        env["AGENTCOST_HOME"] = args.target[0]
        cmd, name = [*cli, "report", "--by", "day,model", *args.target[1:]], "report"
    else:
        rest = [args.what, *args.target]
        cmd, name = [*cli, *(rest[1:] if rest[0] == "agentcost" else rest)], "command"
    OUT.mkdir(parents=True, exist_ok=True)
    raw = OUT / f"profile-{name}.txt"
    try:
        spy = [pyspy, "record", "-r", str(args.rate), "--format", "raw", "-o", str(raw)]
        if not args.no_subprocesses:
            spy.append("--subprocesses")
        subprocess.run([*spy, "--", *cmd],
                       env=env, check=True, stdout=subprocess.DEVNULL)
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    summarize(raw, args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
