"""The auth modules import quickly: heavy libraries load only when a function needs them."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
import agentcost_cli.auth
assert not [m for m in sys.modules if m.startswith("agentcost_cli.auth.")], "package __init__ imports submodules"
import agentcost_cli.auth.apikeys, agentcost_cli.auth.passwords, agentcost_cli.auth.secretbox
import agentcost_cli.auth.tokens, agentcost_cli.auth.totp
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"argon2", "jwt", "pyotp", "segno", "cryptography"})
print(",".join(heavy))
"""


def test_importing_auth_modules_loads_no_heavy_dependency() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
