"""Write completions/agentcost.{bash,zsh,fish} from `agentcost completions SHELL`.

Usage:
    python scripts/gen_completions.py           # (re)write the three files
    python scripts/gen_completions.py --check   # exit 1 if any committed file is stale

The scripts come from `agentcost_cli.commands.config.completion_script`, the same function the
`agentcost completions SHELL` command prints, plus a final newline.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "completions"


def render(shell: str) -> str:
    """The file content for one shell: the completion script, ending in exactly one newline."""
    from agentcost_cli.commands.config import completion_script

    return completion_script(shell).rstrip("\n") + "\n"


def target(shell: str, out_dir: Path = OUT_DIR) -> Path:
    return out_dir / f"agentcost.{shell}"


def main(argv: list[str] | None = None) -> int:
    from agentcost_cli.commands.config import SHELLS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="Only report stale files; exit 1 if any.")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR, help=f"Where to write (default {OUT_DIR}).")
    args = parser.parse_args(argv)

    stale = []
    for shell in SHELLS:
        path = target(shell, args.out_dir)
        content = render(shell)
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == content:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8", newline="\n")
            print(f"wrote {path}", file=sys.stderr)
    if args.check and stale:
        for path in stale:
            print(f"stale: {path} (run python scripts/gen_completions.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
