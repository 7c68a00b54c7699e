"""Real `keyring` backends for tests: the edge where the OS secret service would be.

* `MemoryKeyring`: in this process only (install with `keyring.set_keyring(MemoryKeyring())`).
* `JsonFileKeyring`: a file named by $TEST_KEYRING_FILE, shared by subprocesses (select it with
  `PYTHON_KEYRING_BACKEND=tests.client.keyrings.JsonFileKeyring`, cwd = the repository).
* `BrokenKeyring`: every call raises `KeyringLocked`, as a locked desktop keyring does.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.compat import properties
from keyring.errors import KeyringLocked, PasswordDeleteError


def _not_discovered() -> float:
    # Not viable for keyring's own discovery: a test installs these explicitly.
    raise RuntimeError("a test backend: install it with keyring.set_keyring()")


class MemoryKeyring(KeyringBackend):
    @properties.classproperty
    def priority(cls) -> float:
        return _not_discovered()

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def get_password(self, service: str, username: str) -> str | None:
        with self._lock:
            return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        with self._lock:
            self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        with self._lock:
            if self.items.pop((service, username), None) is None:
                raise PasswordDeleteError("not found")


class JsonFileKeyring(KeyringBackend):
    @properties.classproperty
    def priority(cls) -> float:
        return 1 if os.environ.get("TEST_KEYRING_FILE") else _not_discovered()

    @property
    def _path(self) -> Path:
        return Path(os.environ["TEST_KEYRING_FILE"])

    def _load(self) -> dict[str, str]:
        try:
            data: dict[str, str] = json.loads(self._path.read_text())
        except FileNotFoundError:
            return {}
        return data

    def _save(self, data: dict[str, str]) -> None:
        tmp = self._path.with_name(f"{self._path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self._path)

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}/{username}"] = password
        self._save(data)

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if data.pop(f"{service}/{username}", None) is None:
            raise PasswordDeleteError("not found")
        self._save(data)


class BrokenKeyring(KeyringBackend):
    @properties.classproperty
    def priority(cls) -> float:
        return _not_discovered()

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("the keyring is locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringLocked("the keyring is locked")

    def delete_password(self, service: str, username: str) -> None:
        raise KeyringLocked("the keyring is locked")
