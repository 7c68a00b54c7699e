"""A schemathesis run against a live daemon, signed in as an administrator: no answer is a 5xx,
and every answer matches the OpenAPI document (status, content type, body schema, headers)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from .conftest import PASSWORD, seed_team, start_daemon

CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,"
          "response_headers_conformance")


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_schema_violation(tmp_path: Path) -> None:
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    assert st is not None, "schemathesis is a test dependency: pip install -e '.[dev]'"
    db = tmp_path / "fuzz.db"
    seed_team(db)
    from agentcost_cli.services import users
    from agentcost_cli.services.actor import LOCAL
    from agentcost_cli.store import open_store

    store = open_store(db)
    users.create_user(store, LOCAL, email="root@example.com", password=PASSWORD, admin=True, verified=True)
    store.close()
    prices = Path(__file__).parents[1] / "fixtures" / "pricing" / "genai_prices_data_v2.json"
    daemon = start_daemon(tmp_path, db, env={"AGENTCOST_RATE_LIMITS": "ip_requests=100000/minute,"
                                             "user_requests=100000/minute,auth_ip=100000/minute",
                                             # POST /v1/pricing/update reads this, never the internet
                                             "AGENTCOST_PRICING_URL": str(prices)})
    try:
        token = httpx.post(f"{daemon.url}/v1/auth/login",
                           json={"email": "root@example.com", "password": PASSWORD}).json()["access_token"]
        run = subprocess.run(
            [st, "run", f"{daemon.url}/openapi.json", "--checks", CHECKS, "--max-examples", "8", "--seed", "7",
             "--workers", "1", "-H", f"Authorization: Bearer {token}", "--no-color"],
            capture_output=True, text=True, timeout=600, check=False)
    finally:
        daemon.stop()
    summary = run.stdout[-3000:]
    assert run.returncode == 0, summary
    assert " passed" in summary and "failed" not in summary.split("Test cases:")[-1], summary
