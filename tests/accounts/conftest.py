"""Fixtures for the account services: a real SQLite store, a frozen clock, quick users."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from agentcost_cli.services import clock
from agentcost_cli.services.actor import Actor, user_actor
from agentcost_cli.store.base import Store

PASSWORD = "correct horse battery staple"
T0 = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)


@cache
def password_hash() -> str:
    """argon2id costs ~0.1 s: hash the test password once per process, not once per user."""
    from agentcost_cli.auth.passwords import hash_password

    return hash_password(PASSWORD)


@pytest.fixture
def frozen() -> Iterator[datetime]:
    with clock.frozen(T0):
        yield T0


@pytest.fixture
def store(tmp_path: Path, frozen: datetime) -> Iterator[Store]:
    from agentcost_cli.store import open_store

    s = open_store(tmp_path / "accounts.db")
    yield s
    s.close()


def make_user(store: Store, email: str, *, admin: bool = False, password: bool = True) -> dict[str, Any]:
    user_id = store.insert_user({
        "email": email, "password_hash": password_hash() if password else None, "is_admin": int(admin),
        "created_utc": clock.now_text(), "email_verified_utc": clock.now_text(),
    })
    row = store.get_user(user_id)
    assert row is not None
    return row


def as_user(store: Store, email: str, **extra: Any) -> Actor:
    row = store.find_user(email)
    assert row is not None
    extra.setdefault("authenticated_utc", clock.now_text())
    return user_actor(row, **extra)


def project_with(store: Store, slug: str, **members: str) -> int:
    """A project whose members are given as role=email (role may repeat with a suffix: admin2=...)."""
    pid = store.insert_project({"slug": slug, "name": slug, "created_utc": clock.now_text()})
    for role, email in members.items():
        row = store.find_user(email) or make_user(store, email)
        store.set_membership(pid, int(row["id"]), role.rstrip("0123456789"), created_utc=clock.now_text())
    return pid
