"""Import httpx without its command-line client.

httpx's `__init__` imports `httpx._main` (click, rich, pygments: ~80 ms) whenever
those packages are installed, which they are next to the agentcost CLI. The SDK
needs none of it, so when httpx is not imported yet we hide that one module for
the duration of the import. Only the `httpx.main` function (the CLI entry point,
which runs in its own process) becomes httpx's "dependencies not installed" stub
in this process; `import httpx._main` still works afterwards.
"""

from __future__ import annotations

import sys

if "httpx" not in sys.modules and "httpx._main" not in sys.modules:
    sys.modules["httpx._main"] = None  # type: ignore[assignment]  # makes `from ._main import main` fail
    try:
        import httpx  # noqa: F401
    finally:
        if sys.modules.get("httpx._main", sys) is None:
            del sys.modules["httpx._main"]
