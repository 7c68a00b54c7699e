"""Fixtures for the remote-mode client tests (see fixtures.py)."""

from .fixtures import auth_server, memory_keyring, no_os_keyring  # noqa: F401
