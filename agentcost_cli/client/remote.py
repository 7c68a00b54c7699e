"""`RemoteBackend`: the Backend protocol (services/backend.py) over a daemon's HTTP API.

Each method is the HTTP form of the service call of the same name; the daemon answers with
what that service returned, so the CLI renders remote answers exactly like local ones.
Errors come back as the same agentcost errors (client/problems.py maps problem documents).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..services.reports import ReportRequest
from ..store.base import EventFilter
from ..timeutil import format_utc
from .remote_alerts import RemoteAlerts
from .session import RemoteSession

if TYPE_CHECKING:
    from ..ingest.pipeline import IngestOptions, IngestSummary
    from ..services.ingest import Hooks

PAGE = 1000
SLOW = 300.0  # seconds for requests that fetch a price snapshot or rewrite stored costs on the daemon


def _path(*parts: str) -> str:
    return "/" + "/".join(quote(p, safe="") for p in parts)


def _dimension_params(keys: Sequence[str], users: Sequence[str],
                      tags: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    return [*(("key", k) for k in keys), *(("user", u) for u in users),
            *(("tag", f"{name}={value}") for name, value in tags)]


def _filter_params(flt: EventFilter) -> list[tuple[str, str]]:
    """An EventFilter as the query parameters of /v1/events and /v1/export/events."""
    params: list[tuple[str, str]] = []
    if flt.since:
        params.append(("since", flt.since))
    if flt.until:
        params.append(("until", flt.until))
    params += [("project", p) for p in flt.projects]
    params += [("provider", p) for p in flt.providers]
    params += [("model", m) for m in flt.models]
    return params + _dimension_params(flt.keys, flt.users, flt.tags)


class RemoteBackend(RemoteAlerts):
    def __init__(self, session: RemoteSession) -> None:
        self.session = session
        self.location = session.server

    # -- plumbing ------------------------------------------------------------------------
    def _json(self, method: str, path: str, **kw: Any) -> Any:
        response = self.session.request(method, path, **kw)
        return response.json() if response.content else None

    def _pages(self, path: str, params: dict[str, Any] | None = None, *,
               limit: int | None = None) -> list[dict[str, Any]]:
        """Every item of a paged list (cursor after cursor), or the first `limit`."""
        items: list[dict[str, Any]] = []
        query = {**(params or {}), "limit": PAGE}
        while limit is None or len(items) < limit:
            if limit is not None:
                query["limit"] = min(PAGE, limit - len(items))
            page = self._json("GET", path, params=query)
            items.extend(page["items"])
            if not page.get("next_cursor"):
                break
            query["cursor"] = page["next_cursor"]
        return items

    def _public(self, method: str, path: str, **kw: Any) -> Any:
        """A request that needs no sign-in (the links in emails work for someone who cannot sign in)."""
        from .problems import error_for

        response = self.session._send(method, path, **kw)
        if not response.is_success:
            raise error_for(response, self.session.server)
        return response.json() if response.content else None

    # -- usage -----------------------------------------------------------------------------
    def ingest(self, inputs: Sequence[str], options: IngestOptions, hooks: Hooks) -> IngestSummary:
        from .upload import upload_inputs

        return upload_inputs(self.session, inputs, options, hooks)

    def report(self, request: ReportRequest) -> dict[str, Any]:
        params: list[tuple[str, str]] = [("by", ",".join(request.group_by)), ("tz", request.zone_name)]
        if request.since:
            params.append(("since", format_utc(request.since)))
        if request.until:
            params.append(("until", format_utc(request.until)))
        params += [("project", p) for p in request.projects]
        params += [("provider", p) for p in request.providers]
        params += [("model", m) for m in request.models]
        params += _dimension_params(request.keys, request.users, request.tags)
        result: dict[str, Any] = self._json("GET", "/v1/report", params=params)
        return result

    def list_events(self, flt: EventFilter, *, limit: int = 100, cursor: str | None = None,
                    search: str | None = None) -> dict[str, Any]:
        params = [*_filter_params(flt), ("limit", str(limit))]
        if cursor is not None:
            params.append(("cursor", cursor))
        if search is not None:
            params.append(("search", search))
        result: dict[str, Any] = self._json("GET", "/v1/events", params=params)
        return result

    def show_event(self, project: str, event_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", _path("v1", "events", project, event_id))
        return result

    def export_events(self, flt: EventFilter) -> Iterator[dict[str, Any]]:
        import orjson

        params: list[tuple[str, str]] = [("format", "jsonl"), *_filter_params(flt)]
        response = self.session.request("GET", "/v1/export/events", params=params)
        for line in response.iter_lines():
            if line.strip():
                yield orjson.loads(line)

    # -- projects --------------------------------------------------------------------------
    def list_projects(self) -> list[dict[str, Any]]:
        return self._pages("/v1/projects")

    def show_project(self, slug: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", _path("v1", "projects", slug))
        return result

    def create_project(self, slug: str, name: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._json("POST", "/v1/projects", json={"slug": slug, "name": name})
        return result

    def rename_project(self, slug: str, *, new_slug: str | None = None, name: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._json("PATCH", _path("v1", "projects", slug),
                                            json={"slug": new_slug, "name": name})
        return result

    def set_allowed_networks(self, slug: str, networks: list[str]) -> dict[str, Any]:
        result: dict[str, Any] = self._json("PATCH", _path("v1", "projects", slug), json={"allowed_networks": networks})
        return result

    def delete_project(self, slug: str) -> int:
        return int(self._json("DELETE", _path("v1", "projects", slug))["events_deleted"])

    def share_project(self, slug: str, email: str, role: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json("PUT", _path("v1", "projects", slug, "members", email),
                                            json={"role": role})
        return result

    def unshare_project(self, slug: str, email: str) -> None:
        self.session.request("DELETE", _path("v1", "projects", slug, "members", email))

    def transfer_project(self, slug: str, email: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json("POST", _path("v1", "projects", slug, "transfer"), json={"email": email})
        return result

    # -- keys ------------------------------------------------------------------------------
    def list_keys(self, project: str | None = None, *, include_revoked: bool = False) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"include_revoked": str(include_revoked).lower()}
        if project:
            params["project"] = project
        return self._pages("/v1/keys", params)

    def create_key(self, project: str, *, name: str, scopes: tuple[str, ...], expires: datetime | None = None,
                   env: str = "live") -> tuple[dict[str, Any], str]:
        body = {"name": name, "scopes": list(scopes), "expires_at": format_utc(expires) if expires else None,
                "env": env}
        created: dict[str, Any] = self._json("POST", _path("v1", "projects", project, "keys"), json=body)
        key = created.pop("key")
        return created, key

    def _key_id(self, ref: str) -> int:
        """The id of a key named by id or display prefix, as `keys._find` resolves it locally."""
        text = ref.strip().split("…")[0]
        if text.isdigit():
            return int(text)
        from ..errors import InvalidInput, NotFound

        matches = [k for k in self.list_keys(include_revoked=True) if text[:12] and k["display"].startswith(text[:12])]
        if not matches:
            raise NotFound(f"no key {ref!r}")
        if len(matches) > 1:
            raise InvalidInput(f"{ref!r} matches {len(matches)} keys", hint="use the key id from `agentcost keys list`")
        return int(matches[0]["id"])

    def revoke_key(self, ref: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json("DELETE", f"/v1/keys/{self._key_id(ref)}")
        return result

    def rotate_key(self, ref: str, *, overlap: timedelta) -> tuple[dict[str, Any], str]:
        created: dict[str, Any] = self._json("POST", f"/v1/keys/{self._key_id(ref)}/rotate",
                                             json={"overlap_seconds": int(overlap.total_seconds())})
        key = created.pop("key")
        return created, key

    # -- audit and users -----------------------------------------------------------------------
    def list_audit(self, *, project: str | None = None, since: str | None = None, until: str | None = None,
                   action: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        params = {k: v for k, v in {"project": project, "since": since, "until": until, "action": action}.items()
                  if v is not None}
        records: list[dict[str, Any]] = []
        cursor: str | None = None
        while len(records) < limit:
            page = self._json("GET", "/v1/audit", params={**params, "limit": min(PAGE, limit - len(records)),
                                                          **({"cursor": cursor} if cursor else {})})
            records.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                break
        return records

    def list_users(self) -> list[dict[str, Any]]:
        return self._pages("/v1/users")

    def show_user(self, email: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", "/v1/me" if email is None else _path("v1", "users", email))
        return result

    def create_user(self, *, email: str, password: str | None, name: str | None = None, admin: bool = False,
                    verified: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = self._json("POST", "/v1/users", json={
            "email": email, "password": password, "name": name, "admin": admin, "verified": verified})
        return result

    def update_user(self, email: str, *, name: str | None = None, admin: bool | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._json("PATCH", _path("v1", "users", email), json={"name": name, "admin": admin})
        return result

    def set_user_status(self, email: str, *, active: bool) -> dict[str, Any]:
        result: dict[str, Any] = self._json("PATCH", _path("v1", "users", email), json={"active": active})
        return result

    def delete_user(self, email: str) -> None:
        self.session.request("DELETE", _path("v1", "users", email))

    def list_identities(self, email: str | None = None) -> list[dict[str, Any]]:
        path = _path("v1", "me", "identities") if email is None else _path("v1", "users", email, "identities")
        found: list[dict[str, Any]] = self._json("GET", path)["identities"]
        return found

    def unlink_identities(self, email: str, *, issuer: str | None = None) -> int:
        params = {"issuer": issuer} if issuer is not None else None
        return int(self._json("DELETE", _path("v1", "users", email, "identities"), params=params)["removed"])

    # -- the signed-in user's own account (`email` must be None: see _me) ---------------------
    @staticmethod
    def _me(email: str | None) -> None:
        if email is not None:
            from ..errors import InvalidInput

            raise InvalidInput("against a daemon, `account` acts on your own account",
                               hint="omit --user; administrators manage other accounts with `agentcost users`")

    def list_sessions(self, email: str | None = None) -> list[dict[str, Any]]:
        self._me(email)
        return list(self._json("GET", "/v1/me/sessions")["sessions"])

    def revoke_session(self, session_id: int) -> None:
        self.session.request("DELETE", f"/v1/me/sessions/{int(session_id)}")

    def change_email(self, new_email: str, email: str | None = None) -> dict[str, Any]:
        self._me(email)
        result: dict[str, Any] = self._json("POST", "/v1/me/email", json={"email": new_email})
        return result

    def begin_mfa(self, email: str | None = None) -> dict[str, str]:
        self._me(email)
        result: dict[str, str] = self._json("POST", "/v1/me/mfa")
        return result

    def confirm_mfa(self, code: str, email: str | None = None) -> list[str]:
        self._me(email)
        return list(self._json("POST", "/v1/me/mfa/confirm", json={"code": code})["recovery_codes"])

    def disable_mfa(self, code: str, email: str | None = None) -> None:
        self._me(email)
        self.session.request("POST", "/v1/me/mfa/disable", json={"code": code})

    def regenerate_recovery_codes(self, code: str, email: str | None = None) -> list[str]:
        self._me(email)
        return list(self._json("POST", "/v1/me/recovery-codes", json={"code": code})["recovery_codes"])

    def change_password(self, new_password: str, *, current_password: str | None = None,
                        email: str | None = None) -> None:
        self._me(email)
        if current_password is None:
            from ..errors import InvalidInput

            raise InvalidInput("changing your own password needs your current one")
        self._json("POST", "/v1/me/password", json={"current_password": current_password,
                                                     "new_password": new_password})

    # -- links from emails: no sign-in needed ----------------------------------------------------
    def reset_password(self, token: str, new_password: str) -> None:
        self._public("POST", "/v1/auth/reset-password", json={"token": token, "password": new_password})

    def verify_email(self, token: str) -> str:
        return str(self._public("POST", "/v1/auth/verify-email", json={"token": token})["email"])

    # -- agent logs ------------------------------------------------------------------------------
    def import_agent_logs(self, agent: str, roots: Sequence[Path], options: IngestOptions,
                          hooks: Hooks) -> IngestSummary:
        from .upload import upload_agent_logs

        return upload_agent_logs(self.session, agent, roots, options, hooks)

    # -- prices ----------------------------------------------------------------------------------
    def list_prices(self, *, search: str | None = None, provider: str | None = None,
                    at: datetime | None = None) -> list[dict[str, Any]]:
        params = {k: v for k, v in {"search": search, "provider": provider,
                                    "at": format_utc(at) if at else None}.items() if v is not None}
        return self._pages("/v1/pricing/models", params)

    def show_price(self, model: str, *, provider: str | None = None, at: datetime | None = None) -> dict[str, Any]:
        params = {k: v for k, v in {"provider": provider, "at": format_utc(at) if at else None}.items()
                  if v is not None}
        result: dict[str, Any] = self._json("GET", _path("v1", "pricing", "models", model), params=params)
        return result

    def set_price_override(self, *, provider: str, model: str, rates: dict[str, str | None],
                           effective_from: datetime | None, reason: str) -> dict[str, Any]:
        body = {"provider": provider, "model": model, "rates": rates, "reason": reason,
                "effective_from": format_utc(effective_from) if effective_from else None}
        result: dict[str, Any] = self._json("POST", "/v1/pricing/overrides", json=body)
        return result

    def unset_price_override(self, *, provider: str, model: str) -> int:
        return int(self._json("DELETE", _path("v1", "pricing", "overrides", provider, model))["removed"])

    def price_history(self, *, provider: str | None = None, model: str | None = None) -> list[dict[str, Any]]:
        params = {k: v for k, v in {"provider": provider, "model": model}.items() if v is not None}
        return self._pages("/v1/pricing/history", params)

    def missing_prices(self) -> list[dict[str, Any]]:
        return self._pages("/v1/pricing/missing")

    def update_prices(self, source: str | None = None, *, timeout: float | None = None) -> dict[str, Any]:
        if source is not None:
            from ..errors import InvalidInput

            raise InvalidInput("against a daemon, `pricing update` refreshes the daemon's prices from the source "
                               "it is configured with; --source works only on this machine's store",
                               hint="drop --source (the daemon's pricing.url is used), or run "
                               "`agentcost --local pricing update --source ...`")
        from ..errors import InvalidInput, PricingError

        try:
            result: dict[str, Any] = self._json("POST", "/v1/pricing/update", timeout=SLOW)
        except InvalidInput as exc:  # the daemon's source failed or its snapshot was refused: nothing changed
            raise PricingError(exc.message, hint=exc.hint) from None
        return result

    def reprice(self, *, since: str | None = None, dry_run: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = self._json("POST", "/v1/pricing/reprice", json={"since": since, "dry_run": dry_run},
                                            timeout=SLOW)
        return result

    # -- the outbox --------------------------------------------------------------------------------
    def list_outbox(self, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return self._pages("/v1/outbox", {"status": status} if status else None, limit=limit)

    def show_outbox(self, message_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", f"/v1/outbox/{int(message_id)}")
        return result

    def close(self) -> None:
        self.session.close()
