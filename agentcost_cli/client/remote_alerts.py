"""`RemoteAlerts`: the alerting half of the Backend (services/backend_alerts.py) over a daemon's
/v1 routes (server/routes/alerting.py and routes/channels.py), mixed into `RemoteBackend`.

Each method answers what `LocalAlerts` answers: the daemon returns what the same service
returned, and lists arrive whole, page after page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

ROUTE_LIMIT = 1000  # the most the routes give in one page
SLOW = 300.0  # seconds: an evaluation of every budget and rule, or a dispatch of due messages
MAX_ALERTS = 1000  # services.alerting.list_alerts answers at most this many
# the Backend's keyword (the service's) -> the budget routes' body field
_BUDGET_FIELDS = {"name": "name", "amount": "amount", "scope": "scope", "value": "value", "project": "project",
                  "period": "period", "zone": "zone", "thresholds_text": "thresholds", "channel_names": "channels",
                  "forecast": "forecast"}
_CREATE_ONLY = {"name", "scope", "value", "project"}


def _path(*parts: str) -> str:
    return "/" + "/".join(quote(p, safe="") for p in parts)


def _body(fields: dict[str, Any], *, method: str, allowed: set[str]) -> dict[str, Any]:
    """Budget keywords as a request body; an unknown keyword is the TypeError a local call raises."""
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise TypeError(f"{method}() got an unexpected keyword argument {unknown[0]!r}")
    return {_BUDGET_FIELDS[k]: (str(v) if k == "amount" and v is not None else v) for k, v in fields.items()}


class RemoteAlerts:
    """Mixed into RemoteBackend, which provides `_json`, `_pages` and `session`."""

    if TYPE_CHECKING:  # RemoteBackend's
        def _json(self, method: str, path: str, **kw: Any) -> Any: ...
        def _pages(self, path: str, params: dict[str, Any] | None = None, *,
                   limit: int | None = None) -> list[dict[str, Any]]: ...

    # -- channels --------------------------------------------------------------------------------
    def list_channels(self) -> list[dict[str, Any]]:
        return self._pages("/v1/channels")

    def add_channel(self, *, name: str, kind: str, target: str, project: str | None = None,
                    token: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._json("POST", "/v1/channels", json={
            "name": name, "kind": kind, "target": target, "project": project, "token": token})
        return result

    def remove_channel(self, name: str) -> None:
        self._json("DELETE", _path("v1", "channels", name))

    def set_channel_enabled(self, name: str, enabled: bool) -> dict[str, Any]:
        result: dict[str, Any] = self._json("POST", _path("v1", "channels", name, "enable" if enabled else "disable"))
        return result

    def rotate_channel_secret(self, name: str, *, overlap_hours: float | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._json("POST", _path("v1", "channels", name, "rotate-secret"),
                                            json={"overlap_hours": overlap_hours})
        return result

    def test_channels(self, names: list[str]) -> list[dict[str, Any]]:
        return list(self._json("POST", "/v1/channels/test", json={"names": list(names)}, timeout=SLOW)["results"])

    # -- budgets ---------------------------------------------------------------------------------
    def list_budgets(self) -> list[dict[str, Any]]:
        return self._pages("/v1/budgets")

    def budget_status(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", _path("v1", "budgets", name))
        return result

    def create_budget(self, **fields: Any) -> dict[str, Any]:
        body = _body(fields, method="create_budget", allowed=set(_BUDGET_FIELDS))
        result: dict[str, Any] = self._json("POST", "/v1/budgets", json=body)
        return result

    def update_budget(self, name: str, **fields: Any) -> dict[str, Any]:
        body = _body(fields, method="update_budget", allowed=set(_BUDGET_FIELDS) - _CREATE_ONLY)
        result: dict[str, Any] = self._json("PATCH", _path("v1", "budgets", name), json=body)
        return result

    def delete_budget(self, name: str) -> None:
        self._json("DELETE", _path("v1", "budgets", name))

    # -- rules -----------------------------------------------------------------------------------
    def list_rules(self) -> list[dict[str, Any]]:
        return self._pages("/v1/rules")

    def create_rule(self, *, name: str, expression: str, project: str | None = None,
                    channels: list[str] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._json("POST", "/v1/rules", json={
            "name": name, "expression": expression, "project": project, "channels": channels})
        return result

    def update_rule(self, name: str, *, expression: str | None = None, channels: list[str] | None = None,
                    enabled: bool | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._json("PATCH", _path("v1", "rules", name), json={
            "expression": expression, "channels": channels, "enabled": enabled})
        return result

    def delete_rule(self, name: str) -> None:
        self._json("DELETE", _path("v1", "rules", name))

    # -- alerts ----------------------------------------------------------------------------------
    def list_alerts(self, *, since: str | None = None, kind: str | None = None, project: str | None = None,
                    limit: int = 100) -> list[dict[str, Any]]:
        params = {k: v for k, v in {"since": since, "kind": kind, "project": project}.items() if v is not None}
        return self._pages("/v1/alerts", params, limit=max(1, min(limit, MAX_ALERTS)))

    def mute(self, target: str, *, seconds: float, reason: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._json("PUT", _path("v1", "alerts", "mutes", target),
                                            json={"seconds": seconds, "reason": reason})
        return result

    def unmute(self, target: str) -> bool:
        return bool(self._json("DELETE", _path("v1", "alerts", "mutes", target))["removed"])

    def list_mutes(self) -> list[dict[str, Any]]:
        return self._pages("/v1/alerts/mutes")

    def run_alerts(self) -> dict[str, Any]:
        result: dict[str, Any] = self._json("POST", "/v1/alerts/run", timeout=SLOW)
        return result

    # -- deliveries ------------------------------------------------------------------------------
    def dispatch_outbox(self, *, limit: int = 50) -> dict[str, Any]:
        result: dict[str, Any] = self._json("POST", "/v1/outbox/dispatch", json={"limit": limit}, timeout=SLOW)
        return result

    def list_deliveries(self, *, channel: str | None = None, failed: bool = False, since: str | None = None,
                        limit: int = 100) -> list[dict[str, Any]]:
        """One request for up to ROUTE_LIMIT (the daemon asks the service exactly what a local call
        asks); a longer list continues page after page."""
        params: dict[str, Any] = {k: v for k, v in {"channel": channel, "since": since}.items() if v is not None}
        params["failed"] = "true" if failed else "false"
        items: list[dict[str, Any]] = []
        while len(items) < limit:
            page = self._json("GET", "/v1/deliveries", params={**params, "limit": min(ROUTE_LIMIT, limit - len(items))})
            items.extend(page["items"])
            if not page.get("next_cursor"):
                break
            params["cursor"] = page["next_cursor"]
        return items

    def retry_deliveries(self, *, ids: list[int] | None = None, all_failed: bool = False, since: str | None = None,
                         channel: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._json("POST", "/v1/deliveries/retry", json={
            "ids": ids, "all_failed": all_failed, "since": since, "channel": channel})
        return result

    # -- scheduler -------------------------------------------------------------------------------
    def list_jobs(self) -> list[dict[str, Any]]:
        return self._pages("/v1/jobs")
