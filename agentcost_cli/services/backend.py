"""The Backend: what the CLI (and the TUI) ask for, answered locally or by a daemon.

`LocalBackend` calls the services over a store with an Actor (the CLI's local owner, or any
user in tests); `client.remote.RemoteBackend` sends the same questions to a daemon, whose
routes call the same services with the signed-in user. Both return the same plain data
(what the services return, as JSON would carry it), so a command renders identical output
in both modes; tests/contract runs one set of scenarios through both against a real daemon.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..store.base import EventFilter, Store
from .actor import LOCAL, Actor
from .backend_alerts import AlertsBackend, LocalAlerts
from .reports import ReportRequest

if TYPE_CHECKING:
    from ..ingest.pipeline import IngestOptions, IngestSummary
    from .ingest import Hooks


class Backend(AlertsBackend, Protocol):
    """Args and returns mirror the service functions of the same names.

    Raises: the agentcost errors the services raise (NotFound, PermissionDenied, Conflict,
    InvalidInput, AuthError, Throttled); a remote backend also RemoteError when the daemon
    cannot be reached.
    """

    location: str  # a store path, or the daemon's URL

    def ingest(self, inputs: Sequence[str], options: IngestOptions, hooks: Hooks) -> IngestSummary: ...
    def report(self, request: ReportRequest) -> dict[str, Any]: ...
    def export_events(self, flt: EventFilter) -> Iterator[dict[str, Any]]: ...
    # Browsing events: services.events (a page newest first; one event with its price breakdown).
    def list_events(self, flt: EventFilter, *, limit: int = 100, cursor: str | None = None,
                    search: str | None = None) -> dict[str, Any]: ...
    def show_event(self, project: str, event_id: str) -> dict[str, Any]: ...
    def list_projects(self) -> list[dict[str, Any]]: ...
    def show_project(self, slug: str) -> dict[str, Any]: ...
    def create_project(self, slug: str, name: str | None = None) -> dict[str, Any]: ...
    def rename_project(self, slug: str, *, new_slug: str | None = None, name: str | None = None) -> dict[str, Any]: ...
    def set_allowed_networks(self, slug: str, networks: list[str]) -> dict[str, Any]: ...
    def delete_project(self, slug: str) -> int: ...
    def share_project(self, slug: str, email: str, role: str) -> dict[str, Any]: ...
    def unshare_project(self, slug: str, email: str) -> None: ...
    def transfer_project(self, slug: str, email: str) -> dict[str, Any]: ...
    def list_keys(self, project: str | None = None, *, include_revoked: bool = False) -> list[dict[str, Any]]: ...
    def create_key(self, project: str, *, name: str, scopes: tuple[str, ...], expires: datetime | None = None,
                   env: str = "live") -> tuple[dict[str, Any], str]: ...
    def revoke_key(self, ref: str) -> dict[str, Any]: ...
    def rotate_key(self, ref: str, *, overlap: timedelta) -> tuple[dict[str, Any], str]: ...
    def list_audit(self, *, project: str | None = None, since: str | None = None, until: str | None = None,
                   action: str | None = None, limit: int = 1000) -> list[dict[str, Any]]: ...
    def list_users(self) -> list[dict[str, Any]]: ...
    def show_user(self, email: str | None = None) -> dict[str, Any]: ...
    def create_user(self, *, email: str, password: str | None, name: str | None = None, admin: bool = False,
                    verified: bool = False) -> dict[str, Any]: ...
    def update_user(self, email: str, *, name: str | None = None, admin: bool | None = None) -> dict[str, Any]: ...
    def set_user_status(self, email: str, *, active: bool) -> dict[str, Any]: ...
    def delete_user(self, email: str) -> None: ...
    def list_identities(self, email: str | None = None) -> list[dict[str, Any]]: ...
    def unlink_identities(self, email: str, *, issuer: str | None = None) -> int: ...
    def list_sessions(self, email: str | None = None) -> list[dict[str, Any]]: ...
    def revoke_session(self, session_id: int) -> None: ...
    def change_email(self, new_email: str, email: str | None = None) -> dict[str, Any]: ...
    def begin_mfa(self, email: str | None = None) -> dict[str, str]: ...
    def confirm_mfa(self, code: str, email: str | None = None) -> list[str]: ...
    def disable_mfa(self, code: str, email: str | None = None) -> None: ...
    def regenerate_recovery_codes(self, code: str, email: str | None = None) -> list[str]: ...
    def change_password(self, new_password: str, *, current_password: str | None = None,
                        email: str | None = None) -> None: ...
    def reset_password(self, token: str, new_password: str) -> None: ...
    def verify_email(self, token: str) -> str: ...
    # Incremental agent-log import: the files are read here in both modes; where the per-file
    # cursors live is the backend's business (the store it writes to, or a file on this machine).
    def import_agent_logs(self, agent: str, roots: Sequence[Path], options: IngestOptions,
                          hooks: Hooks) -> IngestSummary: ...
    # Prices: plain dicts (services.pricing's dataclasses as JSON carries them).
    def list_prices(self, *, search: str | None = None, provider: str | None = None,
                    at: datetime | None = None) -> list[dict[str, Any]]: ...
    def show_price(self, model: str, *, provider: str | None = None, at: datetime | None = None) -> dict[str, Any]: ...
    def set_price_override(self, *, provider: str, model: str, rates: dict[str, str | None],
                           effective_from: datetime | None, reason: str) -> dict[str, Any]: ...
    def unset_price_override(self, *, provider: str, model: str) -> int: ...
    def price_history(self, *, provider: str | None = None, model: str | None = None) -> list[dict[str, Any]]: ...
    def missing_prices(self) -> list[dict[str, Any]]: ...
    # `source` None: the configured one (this machine's pricing.url locally, the daemon's own remotely;
    # a daemon fetches only from its own configuration, so a remote backend refuses a `source`).
    def update_prices(self, source: str | None = None, *, timeout: float | None = None) -> dict[str, Any]: ...
    def reprice(self, *, since: str | None = None, dry_run: bool = False) -> dict[str, Any]: ...
    def list_outbox(self, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]: ...
    def show_outbox(self, message_id: int) -> dict[str, Any]: ...
    def close(self) -> None: ...


class LocalBackend(LocalAlerts):
    """The services over a store, as `actor` (the local owner unless told otherwise)."""

    def __init__(self, store: Store, actor: Actor = LOCAL) -> None:
        self.store = store
        self.actor = actor
        self.location = store.location

    def ingest(self, inputs: Sequence[str], options: IngestOptions, hooks: Hooks) -> IngestSummary:
        from .ingest import ingest_inputs

        return ingest_inputs(self.store, self.actor, inputs, options, hooks)

    def report(self, request: ReportRequest) -> dict[str, Any]:
        from .reports import build_report

        return build_report(self.store, self.actor, request).as_json()

    def export_events(self, flt: EventFilter) -> Iterator[dict[str, Any]]:
        from .export import export_rows

        return export_rows(self.store, self.actor, flt)

    def list_events(self, flt: EventFilter, *, limit: int = 100, cursor: str | None = None,
                    search: str | None = None) -> dict[str, Any]:
        from .events import list_events

        return list_events(self.store, self.actor, flt, limit=limit, cursor=cursor, search=search)

    def show_event(self, project: str, event_id: str) -> dict[str, Any]:
        from .events import show_event

        return show_event(self.store, self.actor, project, event_id)

    def list_projects(self) -> list[dict[str, Any]]:
        from .projects import list_projects

        return list_projects(self.store, self.actor)

    def show_project(self, slug: str) -> dict[str, Any]:
        from .projects import show_project

        return show_project(self.store, self.actor, slug)

    def create_project(self, slug: str, name: str | None = None) -> dict[str, Any]:
        from .projects import create_project

        return create_project(self.store, self.actor, slug, name=name)

    def rename_project(self, slug: str, *, new_slug: str | None = None, name: str | None = None) -> dict[str, Any]:
        from .projects import rename_project

        return rename_project(self.store, self.actor, slug, new_slug=new_slug, name=name)

    def set_allowed_networks(self, slug: str, networks: list[str]) -> dict[str, Any]:
        from .projects import set_allowed_networks

        return set_allowed_networks(self.store, self.actor, slug, networks)

    def delete_project(self, slug: str) -> int:
        from .projects import delete_project

        return delete_project(self.store, self.actor, slug)

    def share_project(self, slug: str, email: str, role: str) -> dict[str, Any]:
        from .projects import share_project

        return share_project(self.store, self.actor, slug, email, role)

    def unshare_project(self, slug: str, email: str) -> None:
        from .projects import unshare_project

        unshare_project(self.store, self.actor, slug, email)

    def transfer_project(self, slug: str, email: str) -> dict[str, Any]:
        from .projects import transfer_project

        return transfer_project(self.store, self.actor, slug, email)

    def list_keys(self, project: str | None = None, *, include_revoked: bool = False) -> list[dict[str, Any]]:
        from .keys import list_keys

        return list_keys(self.store, self.actor, project, include_revoked=include_revoked)

    def create_key(self, project: str, *, name: str, scopes: tuple[str, ...], expires: datetime | None = None,
                   env: str = "live") -> tuple[dict[str, Any], str]:
        from .keys import create_key

        return create_key(self.store, self.actor, project, name=name, scopes=scopes, expires=expires, env=env)

    def revoke_key(self, ref: str) -> dict[str, Any]:
        from .keys import revoke_key

        return revoke_key(self.store, self.actor, ref)

    def rotate_key(self, ref: str, *, overlap: timedelta) -> tuple[dict[str, Any], str]:
        from .keys import rotate_key

        return rotate_key(self.store, self.actor, ref, overlap=overlap)

    def list_audit(self, *, project: str | None = None, since: str | None = None, until: str | None = None,
                   action: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        from .audit import list_records

        return list_records(self.store, self.actor, project=project, since=since, until=until, action=action,
                            limit=limit)

    def list_users(self) -> list[dict[str, Any]]:
        from .users import list_users

        return list_users(self.store, self.actor)

    def show_user(self, email: str | None = None) -> dict[str, Any]:
        from .users import show_user

        return show_user(self.store, self.actor, email)

    def create_user(self, *, email: str, password: str | None, name: str | None = None, admin: bool = False,
                    verified: bool = False) -> dict[str, Any]:
        from .users import create_user

        return create_user(self.store, self.actor, email=email, password=password, name=name, admin=admin,
                           verified=verified)

    def update_user(self, email: str, *, name: str | None = None, admin: bool | None = None) -> dict[str, Any]:
        from .users import update_user

        return update_user(self.store, self.actor, email, name=name, admin=admin)

    def set_user_status(self, email: str, *, active: bool) -> dict[str, Any]:
        from .users import set_status

        return set_status(self.store, self.actor, email, active=active)

    def delete_user(self, email: str) -> None:
        from .users import delete_user

        delete_user(self.store, self.actor, email)

    def list_identities(self, email: str | None = None) -> list[dict[str, Any]]:
        from .sso import list_identities

        return list_identities(self.store, self.actor, email)

    def unlink_identities(self, email: str, *, issuer: str | None = None) -> int:
        from .sso import unlink_identities

        return unlink_identities(self.store, self.actor, email, issuer=issuer)

    # `email` None: the actor's own account (a remote backend can only act on its own).
    def list_sessions(self, email: str | None = None) -> list[dict[str, Any]]:
        from .sessions import list_sessions

        return list_sessions(self.store, self.actor, email)

    def revoke_session(self, session_id: int) -> None:
        from .sessions import revoke_session

        revoke_session(self.store, self.actor, session_id)

    def change_email(self, new_email: str, email: str | None = None) -> dict[str, Any]:
        from .users import change_email

        return change_email(self.store, self.actor, new_email, email)

    def begin_mfa(self, email: str | None = None) -> dict[str, str]:
        from .mfa import begin_enrolment

        enrolment = begin_enrolment(self.store, self.actor, email)
        return {"secret": enrolment.secret, "uri": enrolment.uri}

    def confirm_mfa(self, code: str, email: str | None = None) -> list[str]:
        from .mfa import confirm_enrolment

        return confirm_enrolment(self.store, self.actor, code, email)

    def disable_mfa(self, code: str, email: str | None = None) -> None:
        from .mfa import disable

        disable(self.store, self.actor, code, email)

    def regenerate_recovery_codes(self, code: str, email: str | None = None) -> list[str]:
        from .mfa import regenerate_recovery_codes

        return regenerate_recovery_codes(self.store, self.actor, code, email)

    def change_password(self, new_password: str, *, current_password: str | None = None,
                        email: str | None = None) -> None:
        from .users import change_password

        change_password(self.store, self.actor, new_password=new_password, current_password=current_password,
                        email=email)

    def reset_password(self, token: str, new_password: str) -> None:
        from .users import reset_password

        reset_password(self.store, token, new_password, source=self.actor.source)

    def verify_email(self, token: str) -> str:
        from .users import verify_email

        return verify_email(self.store, token, source=self.actor.source)

    def import_agent_logs(self, agent: str, roots: Sequence[Path], options: IngestOptions,
                          hooks: Hooks) -> IngestSummary:
        from .ingest import import_agent_logs

        return import_agent_logs(self.store, self.actor, agent, roots, options, hooks)

    # -- prices ------------------------------------------------------------------------------
    def list_prices(self, *, search: str | None = None, provider: str | None = None,
                    at: datetime | None = None) -> list[dict[str, Any]]:
        from dataclasses import asdict

        from .pricing import list_models

        return [asdict(m) for m in list_models(self.store, self.actor, search=search, provider=provider, at=at)]

    def show_price(self, model: str, *, provider: str | None = None, at: datetime | None = None) -> dict[str, Any]:
        from dataclasses import asdict

        from .pricing import show_model

        return asdict(show_model(self.store, self.actor, model, provider=provider, at=at))

    def set_price_override(self, *, provider: str, model: str, rates: dict[str, str | None],
                           effective_from: datetime | None, reason: str) -> dict[str, Any]:
        from .pricing import set_override

        return set_override(self.store, self.actor, provider=provider, model=model, rates=rates,
                            effective_from=effective_from, reason=reason)

    def unset_price_override(self, *, provider: str, model: str) -> int:
        from .pricing import unset_override

        return unset_override(self.store, self.actor, provider=provider, model=model)

    def price_history(self, *, provider: str | None = None, model: str | None = None) -> list[dict[str, Any]]:
        from .pricing import history

        return history(self.store, self.actor, provider=provider, model=model)

    def missing_prices(self) -> list[dict[str, Any]]:
        from .pricing import missing

        return missing(self.store, self.actor)

    def update_prices(self, source: str | None = None, *, timeout: float | None = None) -> dict[str, Any]:
        from dataclasses import asdict

        from .pricing import update_prices

        if source is None or timeout is None:
            from ..settings import Settings

            conf = Settings.load()
            source = source or conf["pricing.url"]
            timeout = timeout or conf["pricing.timeout"]
        return asdict(update_prices(self.store, self.actor, source=source, timeout=timeout))

    def reprice(self, *, since: str | None = None, dry_run: bool = False) -> dict[str, Any]:
        from .pricing import reprice

        return reprice(self.store, self.actor, since=since, dry_run=dry_run).as_json()

    # -- the outbox --------------------------------------------------------------------------
    def list_outbox(self, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        from .outbox import list_messages

        return list_messages(self.store, self.actor, status=status, limit=limit)

    def show_outbox(self, message_id: int) -> dict[str, Any]:
        from .outbox import show_message

        return show_message(self.store, self.actor, message_id)

    def close(self) -> None:
        """The store belongs to whoever opened it."""
