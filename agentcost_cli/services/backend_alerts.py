"""The alerting half of the Backend: budgets, rules, channels, alerts, deliveries and the
scheduler's jobs. `LocalAlerts` calls the services; `client.remote_alerts.RemoteAlerts`
asks a daemon's /v1 routes, which call the same services."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..store.base import Store
    from .actor import Actor


class AlertsBackend(Protocol):
    # channels
    def list_channels(self) -> list[dict[str, Any]]: ...
    def add_channel(self, *, name: str, kind: str, target: str, project: str | None = None,
                    token: str | None = None) -> dict[str, Any]: ...
    def remove_channel(self, name: str) -> None: ...
    def set_channel_enabled(self, name: str, enabled: bool) -> dict[str, Any]: ...
    def rotate_channel_secret(self, name: str, *, overlap_hours: float | None = None) -> dict[str, Any]: ...
    def test_channels(self, names: list[str]) -> list[dict[str, Any]]: ...
    # budgets
    def list_budgets(self) -> list[dict[str, Any]]: ...
    def budget_status(self, name: str) -> dict[str, Any]: ...
    def create_budget(self, **fields: Any) -> dict[str, Any]: ...
    def update_budget(self, name: str, **fields: Any) -> dict[str, Any]: ...
    def delete_budget(self, name: str) -> None: ...
    # rules
    def list_rules(self) -> list[dict[str, Any]]: ...
    def create_rule(self, *, name: str, expression: str, project: str | None = None,
                    channels: list[str] | None = None) -> dict[str, Any]: ...
    def update_rule(self, name: str, *, expression: str | None = None, channels: list[str] | None = None,
                    enabled: bool | None = None) -> dict[str, Any]: ...
    def delete_rule(self, name: str) -> None: ...
    # alerts
    def list_alerts(self, *, since: str | None = None, kind: str | None = None, project: str | None = None,
                    limit: int = 100) -> list[dict[str, Any]]: ...
    def mute(self, target: str, *, seconds: float, reason: str | None = None) -> dict[str, Any]: ...
    def unmute(self, target: str) -> bool: ...
    def list_mutes(self) -> list[dict[str, Any]]: ...
    def run_alerts(self) -> dict[str, Any]: ...
    # deliveries
    def dispatch_outbox(self, *, limit: int = 50) -> dict[str, Any]: ...
    def list_deliveries(self, *, channel: str | None = None, failed: bool = False, since: str | None = None,
                        limit: int = 100) -> list[dict[str, Any]]: ...
    def retry_deliveries(self, *, ids: list[int] | None = None, all_failed: bool = False, since: str | None = None,
                         channel: str | None = None) -> dict[str, Any]: ...
    # scheduler
    def list_jobs(self) -> list[dict[str, Any]]: ...


class LocalAlerts:
    """Mixed into LocalBackend (which provides `store` and `actor`)."""

    store: Store
    actor: Actor

    def list_channels(self) -> list[dict[str, Any]]:
        from .channels import list_channels

        return list_channels(self.store, self.actor)

    def add_channel(self, *, name: str, kind: str, target: str, project: str | None = None,
                    token: str | None = None) -> dict[str, Any]:
        from .channels import add_channel

        return add_channel(self.store, self.actor, name=name, kind=kind, target=target, project=project, token=token)

    def remove_channel(self, name: str) -> None:
        from .channels import remove_channel

        remove_channel(self.store, self.actor, name)

    def set_channel_enabled(self, name: str, enabled: bool) -> dict[str, Any]:
        from .channels import set_enabled

        return set_enabled(self.store, self.actor, name, enabled)

    def rotate_channel_secret(self, name: str, *, overlap_hours: float | None = None) -> dict[str, Any]:
        from datetime import timedelta

        from .channels import rotate_secret

        # Clamped first: far past the service's limit (so it answers "out of range", not OverflowError).
        overlap = None if overlap_hours is None else timedelta(hours=max(min(overlap_hours, 1e6), -1e6))
        return rotate_secret(self.store, self.actor, name, overlap=overlap)

    def test_channels(self, names: list[str]) -> list[dict[str, Any]]:
        from .alert_tests import test_channels

        return test_channels(self.store, self.actor, names)

    def list_budgets(self) -> list[dict[str, Any]]:
        from .budgets import list_budgets

        return list_budgets(self.store, self.actor)

    def budget_status(self, name: str) -> dict[str, Any]:
        from .budgets import budget_status

        return budget_status(self.store, self.actor, name)

    def create_budget(self, **fields: Any) -> dict[str, Any]:
        from .budgets import create_budget

        return create_budget(self.store, self.actor, **fields)

    def update_budget(self, name: str, **fields: Any) -> dict[str, Any]:
        from .budgets import update_budget

        return update_budget(self.store, self.actor, name, **fields)

    def delete_budget(self, name: str) -> None:
        from .budgets import delete_budget

        delete_budget(self.store, self.actor, name)

    def list_rules(self) -> list[dict[str, Any]]:
        from .rules import list_rules

        return list_rules(self.store, self.actor)

    def create_rule(self, *, name: str, expression: str, project: str | None = None,
                    channels: list[str] | None = None) -> dict[str, Any]:
        from .rules import create_rule

        return create_rule(self.store, self.actor, name=name, expression=expression, project=project,
                           channel_names=channels)

    def update_rule(self, name: str, *, expression: str | None = None, channels: list[str] | None = None,
                    enabled: bool | None = None) -> dict[str, Any]:
        from .rules import update_rule

        return update_rule(self.store, self.actor, name, expression=expression, channel_names=channels,
                           enabled=enabled)

    def delete_rule(self, name: str) -> None:
        from .rules import delete_rule

        delete_rule(self.store, self.actor, name)

    def list_alerts(self, *, since: str | None = None, kind: str | None = None, project: str | None = None,
                    limit: int = 100) -> list[dict[str, Any]]:
        from .alerting import list_alerts

        return list_alerts(self.store, self.actor, since=since, kind=kind, project=project, limit=limit)

    def mute(self, target: str, *, seconds: float, reason: str | None = None) -> dict[str, Any]:
        from datetime import timedelta

        from .alerting import mute

        seconds = max(min(seconds, 1e12), -1e12)  # as above: the service says what the limit is
        return mute(self.store, self.actor, target, duration=timedelta(seconds=seconds), reason=reason)

    def unmute(self, target: str) -> bool:
        from .alerting import unmute

        return unmute(self.store, self.actor, target)

    def list_mutes(self) -> list[dict[str, Any]]:
        from .alerting import list_mutes

        return list_mutes(self.store, self.actor)

    def run_alerts(self) -> dict[str, Any]:
        from .alert_run import run_alerts

        return run_alerts(self.store, self.actor)

    def dispatch_outbox(self, *, limit: int = 50) -> dict[str, Any]:
        from .alert_run import dispatch

        return dispatch(self.store, self.actor, limit=limit)

    def list_deliveries(self, *, channel: str | None = None, failed: bool = False, since: str | None = None,
                        limit: int = 100) -> list[dict[str, Any]]:
        from .outbox import deliveries

        return deliveries(self.store, self.actor, channel=channel, failed=failed, since=since, limit=limit)

    def retry_deliveries(self, *, ids: list[int] | None = None, all_failed: bool = False, since: str | None = None,
                         channel: str | None = None) -> dict[str, Any]:
        from .outbox import retry

        return retry(self.store, self.actor, ids=ids, all_failed=all_failed, since=since, channel=channel)

    def list_jobs(self) -> list[dict[str, Any]]:
        from .jobs import list_jobs

        return list_jobs(self.store, self.actor)
