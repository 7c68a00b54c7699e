"""Shared option types and helpers for the command modules."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer

from ..errors import InvalidInput

if TYPE_CHECKING:
    from ..services.backend import Backend
    from ..settings import Settings
    from ..store.base import EventFilter, Store


@dataclass
class AppState:
    db: str | None = None
    debug: bool = False
    profile: str | None = None  # --profile: remote mode through that login
    local: bool = False  # --local: this machine's store even when logged in
    _settings: Settings | None = field(default=None, repr=False)
    _store: Store | None = field(default=None, repr=False)
    _backend: Backend | None = field(default=None, repr=False)


def state(ctx: typer.Context) -> AppState:
    root = ctx.find_root()
    if not isinstance(root.obj, AppState):
        root.obj = AppState()
    return root.obj


def settings(ctx: typer.Context) -> Settings:
    from ..settings import Settings

    st = state(ctx)
    if st._settings is None:
        st._settings = Settings.load({"store.path": st.db})
    return st._settings


def open_store(ctx: typer.Context, *, migrate: bool = True) -> Store:
    """The store for this run, opened once (and migrated, unless `agentcost db` says not to);
    closed when the command ends."""
    from ..store import open_store as _open

    st = state(ctx)
    if st._store is None:
        conf = settings(ctx)
        st._store = _open(conf["store.path"], synchronous=conf["store.synchronous"], migrate=migrate,
                          rollup_zone=rollup_zone(ctx))
        ctx.find_root().call_on_close(st._store.close)
    return st._store


def remote_mode(ctx: typer.Context) -> bool:
    """Remote when asked (--profile, AGENTCOST_PROFILE / AGENTCOST_SERVER / AGENTCOST_TOKEN) or when
    a login is saved; local when asked (--local, --db, AGENTCOST_DB) or when nobody logged in."""
    import os

    st = state(ctx)
    if st.local or st.db or os.environ.get("AGENTCOST_DB"):
        return False
    if st.profile or any(os.environ.get(v) for v in ("AGENTCOST_PROFILE", "AGENTCOST_SERVER", "AGENTCOST_TOKEN")):
        return True
    from .. import paths

    if not (paths.config_dir() / "profiles.toml").exists():  # cheap: no keyring lookup when never logged in
        return False
    from ..auth.credentials import CredentialStore, resolve

    target = resolve(None, None)
    return target.saved and CredentialStore().get(target.profile, target.server) is not None


def backend(ctx: typer.Context) -> Backend:
    """The local store (as its owner) or the daemon of the current login, for commands that work
    in both modes; opened once per run and closed when the command ends."""
    st = state(ctx)
    if st._backend is None:
        if remote_mode(ctx):
            from ..client.remote import RemoteBackend
            from ..client.session import open_session

            session, _ = open_session(st.profile, None)
            st._backend = RemoteBackend(session)
        else:
            from ..services.backend import LocalBackend

            st._backend = LocalBackend(open_store(ctx))
        ctx.find_root().call_on_close(st._backend.close)
    return st._backend


def rollup_zone(ctx: typer.Context) -> str:
    """The zone a new store's daily rollup uses: the configured report zone (its IANA name)."""
    from ..services.reports import zone_key

    tz, _ = zone(ctx, None)
    return zone_key(tz) or "UTC"


# -- shared options (one spelling per idea across every command) ------------------
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
CsvOpt = Annotated[bool, typer.Option("--csv", help="Print CSV (header row first) on stdout.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summary on stderr.")]
RejectFileOpt = Annotated[
    Path | None, typer.Option("--reject-file", help="Save rejected lines here.", show_default=False)
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", "--force", help="Do not ask for confirmation.")]
OutputOpt = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout ('-' = stdout).",
                              show_default=False)
]
SinceOpt = Annotated[
    str | None, typer.Option("--since", help="From this time: RFC 3339, a date, today, yesterday, 7d, 12h.",
                             show_default=False)
]
UntilOpt = Annotated[str | None, typer.Option("--until", help="Before this time (exclusive); same forms as --since.",
                                              show_default=False)]
ProjectFilterOpt = Annotated[
    list[str] | None, typer.Option("--project", "-p", help="Only these projects (repeatable).", show_default=False)
]
ProviderFilterOpt = Annotated[
    list[str] | None, typer.Option("--provider", help="Only these providers (repeatable).", show_default=False)
]
ModelFilterOpt = Annotated[
    list[str] | None, typer.Option("--model", help="Only these models (repeatable).", show_default=False)
]
KeyFilterOpt = Annotated[
    list[str] | None, typer.Option("--key", help="Only events with these key ids (repeatable).", show_default=False)
]
UserFilterOpt = Annotated[
    list[str] | None, typer.Option("--user", help="Only events of these users (repeatable).", show_default=False)
]
TagFilterOpt = Annotated[
    list[str] | None, typer.Option("--tag", help="Only events tagged NAME=VALUE (repeatable; all must match).",
                                   metavar="NAME=VALUE", show_default=False)
]
TzOpt = Annotated[str | None, typer.Option("--tz", help="Time zone for days/weeks/months and bare dates "
                                           "(IANA name, UTC or local; default report.timezone).",
                                           show_default=False)]


def zone(ctx: typer.Context, name: str | None) -> tuple[tzinfo, str]:
    from ..timeutil import resolve_zone

    chosen = name or settings(ctx)["report.timezone"]
    tz = resolve_zone(chosen)
    label = getattr(tz, "key", None) or (chosen if chosen != "local" else str(tz))
    return tz, label


def time_range(since: str | None, until: str | None, tz: tzinfo) -> tuple[datetime | None, datetime | None]:
    from ..timeutil import time_range as parse_range

    return parse_range(since, until, tz, ("--since", "--until"))


def event_filter(ctx: typer.Context, *, since: str | None, until: str | None, tz: str | None,
                 project: list[str] | None, provider: list[str] | None, model: list[str] | None,
                 key: list[str] | None, user: list[str] | None, tag: list[str] | None) -> EventFilter:
    """The events the shared filter options name (`events list`, `export events`)."""
    from ..services.reports import parse_tags
    from ..store.base import EventFilter
    from ..timeutil import format_utc

    tzinfo, _ = zone(ctx, tz)
    start, end = time_range(since, until, tzinfo)
    return EventFilter(
        since=format_utc(start) if start else None, until=format_utc(end) if end else None,
        projects=csv_list(project), providers=tuple(p.lower() for p in csv_list(provider)), models=csv_list(model),
        keys=csv_list(key), users=csv_list(user), tags=parse_tags(tag),
    )


def one_format(**flags: bool) -> str | None:
    chosen = [name for name, on in flags.items() if on]
    if len(chosen) > 1:
        raise InvalidInput(f"choose one of --{' / --'.join(chosen)}")
    return chosen[0] if chosen else None


@contextmanager
def text_target(path: Path | None) -> Iterator[IO[str]]:
    if path is None or str(path) == "-":
        yield sys.stdout
        return
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "w", encoding="utf-8", newline="") as handle:
        yield handle
    tmp.replace(path)  # a crash never leaves half a report under the real name


@contextmanager
def binary_target(path: Path | None) -> Iterator[IO[bytes]]:
    if path is None or str(path) == "-":
        yield sys.stdout.buffer
        return
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "wb") as handle:
        yield handle
    tmp.replace(path)


def confirm(question: str, yes: bool) -> None:
    """Ask on a terminal; elsewhere require --yes (clig: never prompt without a TTY)."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise InvalidInput(f"{question.rstrip('?')}: pass --yes to confirm")
    if not typer.confirm(question, default=False, err=True):
        from .. import output

        output.info("aborted; nothing changed")
        raise typer.Exit(1)


def csv_list(values: list[str] | None) -> tuple[str, ...]:
    """Repeatable options also accept comma-separated values."""
    out: list[str] = []
    for value in values or []:
        out.extend(v.strip() for v in value.split(",") if v.strip())
    return tuple(out)


def plain(value: Any) -> str:
    return "" if value is None else str(value)


def emit_listing(fmt: str | None, name: str, columns: Sequence[str], rows: list[dict[str, Any]],
                 empty: str) -> bool:
    """The machine-readable forms of a list command: `{name: rows}` for --json, CSV with
    `columns` for --csv, and for the table form a hint on stderr when there is nothing to show.
    Returns True when that was all; the caller then renders its table."""
    from .. import output

    if fmt == "json":
        output.write_json({name: rows})
        return True
    if fmt == "csv":
        output.write_csv(columns, rows)
        return True
    if not rows:
        output.info(empty)
        return True
    return False
