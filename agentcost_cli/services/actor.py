"""Who is asking: the one concept every service function takes.

- `LOCAL`: the CLI and TUI on the embedded store act as the store's owner (like a
  server admin): whoever can open the file already has all of it.
- a user: signed in with a session; roles come from their memberships, read at each
  check so that a role change applies at once.
- an API key: bound to one project, with scopes (ingest, read, admin).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

ActorKind = Literal["local", "user", "key"]


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    user_id: int | None = None
    email: str | None = None
    is_admin: bool = False  # server-wide operator flag (users only)
    key_id: int | None = None
    key_prefix: str | None = None
    key_project_id: int | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    session_id: int | None = None
    mfa: bool = False  # the session was opened with a second factor
    authenticated_utc: str | None = None  # when the password (and code) were last checked
    source: str | None = None  # the request's address, for the audit log and throttling

    @property
    def label(self) -> str:
        """How the audit log names the actor (never a secret: keys by their display prefix)."""
        if self.kind == "local":
            return "local"
        if self.kind == "user":
            return f"user:{self.email}"
        return f"key:{self.key_prefix}"

    @property
    def is_operator(self) -> bool:
        """May do anything store-wide: the local owner and server admins."""
        return self.kind == "local" or (self.kind == "user" and self.is_admin)

    def at(self, source: str | None) -> Actor:
        return replace(self, source=source)


LOCAL = Actor(kind="local")


def user_actor(user: dict[str, Any], **extra: Any) -> Actor:
    return Actor(kind="user", user_id=int(user["id"]), email=str(user["email"]), is_admin=bool(user["is_admin"]),
                 **extra)
