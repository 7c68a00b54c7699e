"""The alerting half of the `Store` contract (migration m007_alerts): notification channels,
budgets, alert rules, mutes, fired alerts, the outbox's dispatch lease and delivery attempts,
and the scheduler's job leases.

Rows travel as plain dicts keyed by column name. As in `accounts.AccountStore`, the
store decides nothing about permissions; it owns the operations that must be atomic
between several dispatchers or daemons on one store, each one conditional statement:
- `insert_alert` inserts at most one alert per `dedupe_key` (the persisted alert state);
- `claim_outbox` leases due messages to one dispatcher;
- `finish_outbox` and `record_attempt` apply only while the caller still holds the lease;
- `claim_job` lets one daemon run one slot of a scheduled job.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

Row = dict[str, Any]


@dataclass(frozen=True)
class OutboxQuery:
    """Which outbox messages to list, newest first."""

    status: str | None = None  # one status; "failed" also matches "dead" and "unknown"
    channel: str | None = None  # "email", "webhook", "slack", ... (the outbox's `channel` column)
    channel_id: int | None = None
    since: str | None = None  # created at or after (canonical UTC text)
    before_id: int | None = None  # paging: messages older than this id
    limit: int = 100


class AlertStore(ABC):
    # -- channels ----------------------------------------------------------
    @abstractmethod
    def insert_channel(self, row: Row) -> int:
        """Raises Conflict when the name is taken."""

    @abstractmethod
    def get_channel(self, channel_id: int) -> Row | None: ...

    @abstractmethod
    def find_channel(self, name: str) -> Row | None: ...

    @abstractmethod
    def list_channels(self) -> list[Row]:
        """Every channel, by name, with its project's slug as `project` (None: store-wide)."""

    @abstractmethod
    def update_channel(self, channel_id: int, fields: Row) -> None: ...

    @abstractmethod
    def delete_channel(self, channel_id: int) -> None:
        """Remove the channel; its outbox messages stay (their `channel_id` becomes NULL)."""

    # -- budgets -----------------------------------------------------------
    @abstractmethod
    def insert_budget(self, row: Row) -> int:
        """Raises Conflict when the name is taken."""

    @abstractmethod
    def find_budget(self, name: str) -> Row | None: ...

    @abstractmethod
    def list_budgets(self) -> list[Row]:
        """Every budget, by name, with its project's slug as `project`."""

    @abstractmethod
    def update_budget(self, budget_id: int, fields: Row) -> None: ...

    @abstractmethod
    def delete_budget(self, budget_id: int) -> None: ...

    # -- alert rules ---------------------------------------------------------
    @abstractmethod
    def insert_rule(self, row: Row) -> int:
        """Raises Conflict when the name is taken."""

    @abstractmethod
    def find_rule(self, name: str) -> Row | None: ...

    @abstractmethod
    def list_rules(self) -> list[Row]:
        """Every rule, by name, with its project's slug as `project`."""

    @abstractmethod
    def update_rule(self, rule_id: int, fields: Row) -> None: ...

    @abstractmethod
    def delete_rule(self, rule_id: int) -> None: ...

    # -- mutes -------------------------------------------------------------
    @abstractmethod
    def set_mute(self, row: Row) -> None:
        """Insert or replace the mute of `row["target"]` ("budget:NAME", "rule:NAME",
        "channel:NAME", "kind:anomaly", "all")."""

    @abstractmethod
    def delete_mute(self, target: str) -> bool: ...

    @abstractmethod
    def list_mutes(self, now_utc: str) -> list[Row]:
        """Mutes still in force at `now_utc`, by target."""

    # -- alerts ------------------------------------------------------------
    @abstractmethod
    def insert_alert(self, row: Row) -> int | None:
        """Record a fired alert. Returns its id, or None when an alert with the same
        `dedupe_key` exists already (it fired before: nobody is notified twice)."""

    @abstractmethod
    def get_alert(self, alert_id: int) -> Row | None: ...

    @abstractmethod
    def alert_exists(self, dedupe_key: str) -> bool: ...

    @abstractmethod
    def list_alerts(self, *, since: str | None = None, kind_prefix: str | None = None,
                    project_ids: tuple[int, ...] | None = None, before_id: int | None = None,
                    limit: int = 100) -> list[Row]:
        """Newest first, with the project's slug as `project`. `project_ids` None: every alert;
        a tuple: alerts of those projects only (store-wide alerts are left out)."""

    # -- outbox dispatch -----------------------------------------------------
    @abstractmethod
    def query_outbox(self, query: OutboxQuery) -> list[Row]:
        """Messages matching `query`, newest first, with the channel's name as `channel_name`."""

    @abstractmethod
    def claim_outbox(self, *, owner: str, now_utc: str, lease_until_utc: str, limit: int) -> list[Row]:
        """Lease up to `limit` messages that are `pending` with `next_attempt_utc` at or before
        `now_utc` (NULL counts as due) and whose lease is free or expired, oldest due first.
        Sets `lease_owner` and `lease_expires_utc` and returns the claimed rows. Two callers
        never get the same message."""

    @abstractmethod
    def record_attempt(self, row: Row, *, owner: str) -> bool:
        """Record one delivery attempt (`outbox_id`, `attempt_no`, `started_utc`, `provider`,
        `outcome`, `status_code`, `latency_ms`, `response_excerpt`, `error`) and set the
        message's `attempts` to `attempt_no`, in one transaction, while `owner` holds the
        message's lease. Returns False (and writes nothing) when the lease was lost."""

    @abstractmethod
    def finish_outbox(self, message_id: int, *, owner: str, fields: Row) -> bool:
        """Update the message (status, next_attempt_utc, sent_utc, last_error, provider,
        provider_message_id, first_attempt_utc) and release the lease, if `owner` still holds
        it. Returns False otherwise."""

    @abstractmethod
    def requeue_outbox(self, message_ids: list[int], *, now_utc: str) -> int:
        """Put messages that are not `pending` or `sent` back to `pending`, due at `now_utc`,
        with no lease (a manual retry). Returns how many changed."""

    @abstractmethod
    def list_attempts(self, message_id: int) -> list[Row]:
        """The message's attempts, oldest first."""

    @abstractmethod
    def next_outbox_due(self) -> str | None:
        """The earliest `next_attempt_utc` of a pending message (NULL sorts first as
        "now"; returns "" for it), or None when nothing is pending."""

    # -- scheduler leases ----------------------------------------------------
    @abstractmethod
    def claim_job(self, job: str, *, slot: str, owner: str, now_utc: str, lease_until_utc: str) -> bool:
        """Take the job's lease for `slot` (a text naming one scheduled run, e.g. the minute
        or the day, that sorts after every earlier one): succeeds when no other owner holds an
        unexpired lease and `slot` sorts after the last slot that started. (After, not just
        different: a daemon whose timer fires late, in a slot another daemon has already moved
        past, must not run that old slot again.) Records `last_slot`, `last_start_utc`, the
        lease and `last_owner`, and counts the run."""

    @abstractmethod
    def finish_job(self, job: str, *, owner: str, end_utc: str, status: str, error: str | None) -> None:
        """Release the lease (if `owner` holds it) and record the run's end."""

    @abstractmethod
    def list_jobs(self) -> list[Row]:
        """Every job's row, by name."""

    # -- retention -----------------------------------------------------------
    @abstractmethod
    def purge_outbox(self, before_utc: str) -> int:
        """Delete messages created before `before_utc` that are finished (sent, dead, unknown),
        with their attempts. Pending messages are never purged. Returns how many."""

    @abstractmethod
    def purge_alerts(self, before_utc: str) -> int:
        """Delete alerts created before `before_utc` (their outbox rows keep a NULL alert_id).
        Their dedupe keys go too, so keep alerts longer than any period a key names."""

    @abstractmethod
    def purge_events(self, project_id: int, before_utc: str) -> int:
        """Delete the project's events before `before_utc` (the start of a UTC hour) and take
        them out of the rollups, in one transaction. Returns how many events."""
