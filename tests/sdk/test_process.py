"""The SDK in a fresh interpreter: what it imports, and the flush at interpreter exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from .conftest import API_KEY, FakeDaemon

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("fastapi", "starlette", "typer", "rich", "textual", "click", "uvicorn", "sqlite_utils")


def run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCOST_")}
    environ.update(env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, env=environ)


def test_import_and_helpers_pull_in_no_cli_or_server_packages() -> None:
    proc = run(f"""
        import json, sys
        from agentcost_cli.sdk import AgentCost, provider_events
        after_import = sorted(m for m in sys.modules if m.split(".")[0] in {FORBIDDEN!r})
        provider_events("openai", json.load(open("tests/fixtures/ingest/openai/response.json")))
        provider_events("anthropic", json.load(open("tests/fixtures/ingest/anthropic/message.json")))
        provider_events("gemini", json.load(open("tests/fixtures/ingest/gemini/response.json")))
        after_helpers = sorted(m for m in sys.modules if m.split(".")[0] in {FORBIDDEN!r})
        own = sorted(m for m in sys.modules if m.startswith("agentcost_cli"))
        print(json.dumps([after_import, after_helpers, own]))
    """)
    assert proc.returncode == 0, proc.stderr
    after_import, after_helpers, own = json.loads(proc.stdout)
    assert after_import == [] and after_helpers == []
    assert not [m for m in own if m.startswith(("agentcost_cli.server", "agentcost_cli.commands",
                                                "agentcost_cli.store", "agentcost_cli.cli"))]


def test_the_sdk_sources_import_nothing_forbidden() -> None:
    import ast

    for path in (ROOT / "agentcost_cli" / "sdk").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"


def test_pending_events_are_sent_at_interpreter_exit(fake_daemon: FakeDaemon) -> None:
    proc = run("""
        from agentcost_cli.sdk import AgentCost
        ac = AgentCost(flush_interval=60)  # key and URL from the environment
        for i in range(3):
            print(ac.record({"model": "gpt-4o", "input_tokens": i, "output_tokens": 1}))
        # no flush(), no close(): the atexit hook sends them
    """, AGENTCOST_API_KEY=API_KEY, AGENTCOST_URL=fake_daemon.base_url)
    assert proc.returncode == 0, proc.stderr
    ids = proc.stdout.split()
    assert len(ids) == 3
    assert fake_daemon.sent_ids() == ids


def test_exit_while_the_server_is_down_reports_instead_of_hanging() -> None:
    proc = run("""
        import logging, socket
        logging.basicConfig(level=logging.WARNING)
        s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
        from agentcost_cli.sdk import AgentCost
        ac = AgentCost("ac_live_x", f"http://127.0.0.1:{port}", flush_interval=60, shutdown_timeout=1,
                       on_error=lambda err, events: print("on_error", len(events), type(err).__name__))
        ac.record({"model": "gpt-4o", "input_tokens": 1})
    """)
    assert proc.returncode == 0, proc.stderr
    assert "on_error 1 DeliveryError" in proc.stdout
