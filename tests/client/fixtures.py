"""Fixtures shared by tests/client and tests/cli/test_login.py (imported by name into each).

* `auth_server`: the server the remote-mode scenarios run against. Today a ContractAuthServer
  (tests/client/contract_server.py); to run the same scenarios against the real daemon, return
  an adapter implementing `AuthServerUnderTest` here instead: only the URL and hooks change.
* `no_os_keyring` (autouse where imported): keyring's fail backend, so no test ever touches the
  real OS keyring and credentials go to the 0600 file unless a test installs a backend.
* `memory_keyring`: a real `keyring.backend.KeyringBackend` (in memory) installed with set_keyring.
"""

from __future__ import annotations

from collections.abc import Iterator

import keyring
import pytest
from keyring.backends import fail

from .contract_server import AuthServerUnderTest, ContractAuthServer, running_contract_server
from .keyrings import MemoryKeyring

TEST_PASSWORD = "correct horse battery staple"


@pytest.fixture
def auth_server() -> Iterator[ContractAuthServer]:
    """A running server with ana@example.com (password only) and mfa@example.com (TOTP on)."""
    with running_contract_server() as server:
        seed_users(server)
        yield server


def seed_users(server: AuthServerUnderTest) -> None:
    server.add_user("ana@example.com", TEST_PASSWORD, display_name="Ana Example", is_admin=True)
    server.add_user("mfa@example.com", TEST_PASSWORD, mfa=True, display_name="Mo Factor")


@pytest.fixture(autouse=True)
def no_os_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def memory_keyring(no_os_keyring: None) -> MemoryKeyring:
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    return backend
