"""The accounts half of the `Store` contract: users, projects and memberships, API keys,
sessions, one-time tokens, recovery codes, login failures, the audit log and the outbox.

Rows travel as plain dicts keyed by column name (see migration m004_accounts). The
store checks nothing about who may do what: that is `services/`' job. It does own the
few operations that must be atomic against concurrent requests (consuming a one-time
token, rotating a refresh token, throttling `last_used_at` writes), so they are single
conditional statements here rather than read-then-write sequences in the services.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

Row = dict[str, Any]


@dataclass(frozen=True)
class AuditQuery:
    since: str | None = None
    until: str | None = None
    project_ids: tuple[int, ...] | None = None  # None: every project and the store-wide records
    actor_user_id: int | None = None
    action_prefix: str | None = None
    limit: int = 1000
    before_id: int | None = None  # paging: records older than this id


class AccountStore(ABC):
    # -- users -----------------------------------------------------------
    @abstractmethod
    def insert_user(self, row: Row) -> int:
        """Raises Conflict when the (normalised) email is taken."""

    @abstractmethod
    def get_user(self, user_id: int) -> Row | None: ...

    @abstractmethod
    def find_user(self, email: str) -> Row | None: ...

    @abstractmethod
    def list_users(self) -> list[Row]: ...

    @abstractmethod
    def update_user(self, user_id: int, fields: Row) -> None:
        """Raises Conflict when a new email is taken."""

    @abstractmethod
    def delete_user(self, user_id: int) -> None:
        """Remove the user with their memberships, sessions, tokens, recovery codes and single
        sign-on identities. Keys they created stay with their projects (revoking them is the
        service's call)."""

    # -- projects and memberships -----------------------------------------
    @abstractmethod
    def insert_project(self, row: Row) -> int:
        """Raises Conflict when the slug is taken."""

    @abstractmethod
    def get_project(self, slug: str) -> Row | None: ...

    @abstractmethod
    def get_project_by_id(self, project_id: int) -> Row | None: ...

    @abstractmethod
    def update_project(self, project_id: int, fields: Row) -> None:
        """Raises Conflict when a new slug is taken."""

    @abstractmethod
    def delete_project(self, project_id: int) -> int:
        """Delete the project with its events, rollups, memberships and keys. Returns the events deleted."""

    @abstractmethod
    def project_event_counts(self) -> dict[int, int]:
        """Events per project id (from the daily rollup, so it is cheap)."""

    @abstractmethod
    def set_membership(self, project_id: int, user_id: int, role: str, *, created_utc: str) -> None:
        """Add the user to the project with `role`, or change their role."""

    @abstractmethod
    def remove_membership(self, project_id: int, user_id: int) -> bool: ...

    @abstractmethod
    def members(self, project_id: int) -> list[Row]:
        """(user_id, email, display_name, role, created_utc) of each member."""

    @abstractmethod
    def memberships(self, user_id: int) -> dict[int, str]:
        """project id -> role, for one user."""

    # -- API keys --------------------------------------------------------
    @abstractmethod
    def insert_api_key(self, row: Row) -> int: ...

    @abstractmethod
    def get_api_key(self, key_id: int) -> Row | None: ...

    @abstractmethod
    def find_api_key(self, key_hash: str) -> Row | None: ...

    @abstractmethod
    def list_api_keys(self, project_ids: Sequence[int] | None = None) -> list[Row]:
        """Keys with their project's slug; None: every project."""

    @abstractmethod
    def update_api_key(self, key_id: int, fields: Row) -> None: ...

    @abstractmethod
    def touch_api_key(self, key_id: int, now_utc: str, not_since_utc: str) -> bool:
        """Set last_used_utc = now unless it is already later than `not_since_utc`; True when written."""

    @abstractmethod
    def revoke_user_keys(self, user_id: int, now_utc: str) -> int:
        """Revoke every live key the user created. Returns how many."""

    # -- sessions and refresh tokens ---------------------------------------
    @abstractmethod
    def insert_session(self, row: Row) -> int: ...

    @abstractmethod
    def get_session(self, session_id: int) -> Row | None: ...

    @abstractmethod
    def list_sessions(self, user_id: int) -> list[Row]: ...

    @abstractmethod
    def update_session(self, session_id: int, fields: Row) -> None: ...

    @abstractmethod
    def revoke_sessions(self, user_id: int, *, now_utc: str, reason: str, keep: int | None = None) -> int:
        """Revoke the user's live sessions (but `keep`). Returns how many."""

    @abstractmethod
    def insert_refresh_token(self, token_hash: str, session_id: int, issued_utc: str) -> None: ...

    @abstractmethod
    def find_refresh_token(self, token_hash: str) -> Row | None: ...

    @abstractmethod
    def use_refresh_token(self, token_hash: str, now_utc: str) -> bool:
        """Mark the token used; False when it already was (a replay, or a race lost)."""

    # -- one-time tokens and recovery codes --------------------------------
    @abstractmethod
    def insert_user_token(self, row: Row) -> None: ...

    @abstractmethod
    def consume_user_token(self, token_hash: str, purpose: str, now_utc: str) -> int | None:
        """Use an unused, unexpired token once. Returns its user id, or None."""

    @abstractmethod
    def expire_user_tokens(self, user_id: int, purpose: str, now_utc: str) -> None:
        """Make the user's outstanding tokens of this purpose unusable (a newer one replaces them)."""

    @abstractmethod
    def replace_recovery_codes(self, user_id: int, code_hashes: Sequence[str], now_utc: str) -> None: ...

    @abstractmethod
    def consume_recovery_code(self, user_id: int, code_hash: str, now_utc: str) -> bool: ...

    @abstractmethod
    def recovery_codes_left(self, user_id: int) -> int: ...

    # -- login throttling --------------------------------------------------
    @abstractmethod
    def add_login_failure(self, scope: str, subject: str, ts_utc: str) -> None: ...

    @abstractmethod
    def login_failures(self, scope: str, subject: str, since_utc: str) -> list[str]:
        """Times of the failures since `since_utc`, oldest first."""

    @abstractmethod
    def clear_login_failures(self, scope: str, subject: str) -> None: ...

    @abstractmethod
    def prune_login_failures(self, before_utc: str) -> int: ...

    # -- single sign-on identities (migration m006_identities) --------------
    @abstractmethod
    def insert_identity(self, row: Row) -> int:
        """Link a provider identity to a user: `user_id`, `issuer`, `subject`, `email_at_link`,
        `created_utc`, `last_login_utc`. Returns its id.

        Raises:
            Conflict: (issuer, subject) is linked already, or the user already has an identity at
                that issuer.
        """

    @abstractmethod
    def find_identity(self, issuer: str, subject: str) -> Row | None:
        """The link of (issuer, subject), or None."""

    @abstractmethod
    def list_identities(self, user_id: int) -> list[Row]:
        """The user's links, by issuer."""

    @abstractmethod
    def touch_identity(self, identity_id: int, last_login_utc: str) -> None:
        """Note a sign-in through the identity."""

    @abstractmethod
    def delete_identities(self, user_id: int, issuer: str | None = None) -> int:
        """Unlink the user's identities (at one issuer, or all). Returns how many."""

    # -- audit log ---------------------------------------------------------
    @abstractmethod
    def append_audit(self, row: Row) -> int: ...

    @abstractmethod
    def list_audit(self, query: AuditQuery) -> list[Row]:
        """Newest first, with the project's slug."""

    # -- outbox ------------------------------------------------------------
    @abstractmethod
    def insert_outbox(self, row: Row) -> int:
        """Returns the id; a second message with the same idempotency key is not added (the first id returns)."""

    @abstractmethod
    def get_outbox(self, message_id: int) -> Row | None: ...

    @abstractmethod
    def list_outbox(self, *, status: str | None = None, limit: int = 100) -> list[Row]: ...
