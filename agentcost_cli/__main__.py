"""Entry point for `agentcost` and `python -m agentcost_cli`."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args in (["--version"], ["-V"]):
        # Answer without importing Typer/Rich at all: this is on every shell prompt's path.
        from . import __version__

        sys.stdout.write(f"agentcost {__version__}\n")
        sys.exit(0)
    import signal

    if hasattr(signal, "SIGPIPE"):
        # `agentcost export | head` should end quietly, like other Unix tools. Set here, in the
        # process's entry point, not in run(): a program (or test) calling run() keeps its own.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    from .cli import run

    sys.exit(run(args))


if __name__ == "__main__":
    main()
