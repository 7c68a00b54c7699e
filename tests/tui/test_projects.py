"""The Projects & keys screen: projects and keys equal to `agentcost projects list` and
`agentcost keys list`; a new key shown once (and then nowhere); revoking, sharing and
unsharing through their confirmations; and what a viewer's or member's role allows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Checkbox, DataTable, Input, RadioButton, Static

from agentcost_cli.services import keys as key_service
from agentcost_cli.services import sessions
from agentcost_cli.services.actor import LOCAL, user_actor
from agentcost_cli.services.projects import share_project
from agentcost_cli.services.users import create_user
from agentcost_cli.store import open_store
from agentcost_cli.tui.app import AgentcostApp
from agentcost_cli.tui.screens.project_forms import NewKeyForm, NewProjectForm, SecretModal, ShareForm
from agentcost_cli.tui.screens.projects import ProjectsScreen
from agentcost_cli.tui.widgets.confirm import ConfirmModal

from .conftest import FIXED_NOW, make_test_app, wait_loaded, wait_until

pytestmark = pytest.mark.anyio  # Textual runs on asyncio (see anyio_backend in conftest)


def _cli(run_cli: Any, db: Path, *args: str) -> Any:
    result = run_cli("--db", str(db), *args, "--json")
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def _cells(table: DataTable[Any], column: int) -> list[str]:
    return [str(table.get_row_at(i)[column]) for i in range(table.row_count)]


async def _open(pilot: Any) -> ProjectsScreen:
    await pilot.press("6")
    await wait_loaded(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ProjectsScreen)
    return screen


async def _select(pilot: Any, screen: ProjectsScreen, slug: str) -> None:
    """Move the projects cursor to `slug` with the arrow keys; wait for its members and keys."""
    screen.projects_table.focus()
    target = _cells(screen.projects_table, 0).index(slug)
    while screen.projects_table.cursor_row != target:
        await pilot.press("down" if screen.projects_table.cursor_row < target else "up")
    await wait_until(pilot, lambda: screen.detail is not None and screen.detail.slug == slug)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def _add_user(db: Path, email: str, *, role: str | None = None, project: str = "web") -> dict[str, Any]:
    store = open_store(db)
    try:
        create_user(store, LOCAL, email=email, password=None)
        if role is not None:
            share_project(store, LOCAL, project, email, role)
        row = store.find_user(email)
        assert row is not None
        return row
    finally:
        store.close()


def _app_as(db: Path, user: dict[str, Any]) -> AgentcostApp:
    """The app over a LocalBackend acting as `user` (not the local owner)."""
    from agentcost_cli.tui.backends import OwnedLocalBackend
    from agentcost_cli.tui.factory import make_app

    actor = user_actor(user, authenticated_utc=FIXED_NOW.isoformat())

    def open_backend() -> OwnedLocalBackend:
        return OwnedLocalBackend(open_store(db, migrate=False), actor)

    return make_app(open_backend, location="local · seeded.db", clock=lambda: FIXED_NOW, zone=UTC, zone_name="UTC",
                    refresh_seconds=0, threads=2)


def _all_keys(db: Path) -> list[dict[str, Any]]:
    store = open_store(db)
    try:
        return key_service.list_keys(store, LOCAL, include_revoked=True)
    finally:
        store.close()


def _members(db: Path, slug: str = "web") -> list[dict[str, Any]]:
    from agentcost_cli.services.projects import show_project

    store = open_store(db)
    try:
        return list(show_project(store, LOCAL, slug)["member_list"])
    finally:
        store.close()


def _strings(value: Any, depth: int = 0) -> Iterator[str]:
    """Every string inside plain containers (not into other objects)."""
    if depth > 6:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k, depth + 1)
            yield from _strings(v, depth + 1)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for v in value:
            yield from _strings(v, depth + 1)
    elif hasattr(value, "__dataclass_fields__"):
        yield from _strings(vars(value), depth + 1)


def _visible_text(app: AgentcostApp) -> str:
    """What every widget of every open screen shows (statics, inputs, table cells, titles)."""
    parts: list[str] = []
    for screen in app.screen_stack:
        for widget in screen.walk_children(with_self=True):
            parts.append(str(getattr(widget, "border_title", None) or ""))
            if isinstance(widget, Static):
                parts.append(str(widget.render()))
            if isinstance(widget, Input):
                parts.append(widget.value)
            if isinstance(widget, DataTable):
                parts.extend(str(cell) for i in range(widget.row_count) for cell in widget.get_row_at(i))
    parts.extend(n.message for n in app._notifications)
    return "\n".join(parts)


# -- loading and showing ---------------------------------------------------------------------
async def test_projects_and_keys_equal_the_cli(seeded_db: Path, run_cli: Any) -> None:
    projects = _cli(run_cli, seeded_db, "projects", "list")["projects"]
    web_keys = _cli(run_cli, seeded_db, "keys", "list", "--project", "web")["keys"]
    assert len(projects) >= 2 and [k["name"] for k in web_keys] == ["ci"]

    app = make_test_app(seeded_db, start="projects")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot)
        table = screen.projects_table
        shown = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        assert shown == [[p["slug"], p["name"], p["role"] or "-", f"{p['members']:,}", f"{p['events']:,}"]
                         for p in projects]
        await _select(pilot, screen, "web")
        keys = screen.keys_table
        assert _cells(keys, 0) == [k["name"] for k in web_keys]
        assert _cells(keys, 1) == [k["display"] for k in web_keys]  # the display prefix, never the key
        assert _cells(keys, 2) == [k["state"] for k in web_keys]  # in words
        assert _cells(keys, 3) == [",".join(k["scopes"]) for k in web_keys]
        assert "web" in str(screen.query_one("#projects-whoami", Static).render())


async def test_layout_stacks_at_80_columns_and_sits_side_by_side_at_200(seeded_db: Path) -> None:
    app = make_test_app(seeded_db, start="projects")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot)
        assert screen.narrow and screen.keys_table.display and not screen.members_table.display
        await pilot.press("t")  # keys -> members
        await pilot.pause()
        assert screen.members_table.display and not screen.keys_table.display
        await pilot.press("t")
        await pilot.pause()
        assert screen.keys_table.display
    app = make_test_app(seeded_db, start="projects")
    async with app.run_test(size=(200, 60)) as pilot:
        screen = await _open(pilot)
        assert not screen.narrow and screen.keys_table.display and screen.members_table.display
        assert screen.keys_table.region.x > screen.projects_table.region.right - 1  # beside, not below
        assert screen.check_action("toggle_pane", ()) is False  # nothing to switch when both show


# -- a new key: shown once ---------------------------------------------------------------------
async def test_new_key_is_shown_once_copied_and_then_nowhere(seeded_db: Path, run_cli: Any) -> None:
    app = make_test_app(seeded_db, start="projects")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot)
        await _select(pilot, screen, "web")
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, NewKeyForm))
        form = app.screen
        await pilot.press(*"laptop-ana")
        form.query_one("#key-scope-read", Checkbox).value = True
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, SecretModal))
        modal = app.screen
        secret = str(modal.query_one("#secret-value", Static).render()).strip()
        assert secret.startswith("ac_live_")
        assert "shown only once" in str(modal.query_one("#secret-warning", Static).render())

        # The key authenticates, on web, with the chosen scopes.
        store = open_store(seeded_db)
        try:
            actor = sessions.actor_from_api_key(store, secret)
            assert actor.kind == "key" and actor.scopes == frozenset({"ingest", "read"})
        finally:
            store.close()

        await pilot.press("c")
        assert app.clipboard == secret
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen)
        await app.workers.wait_for_complete()
        await pilot.pause()

        await wait_until(pilot, lambda: "laptop-ana" in _cells(screen.keys_table, 0))
        shown = _cells(screen.keys_table, 1)
        # Nowhere any more: not on a screen, in a notification or on the screen object.
        assert secret not in _visible_text(app)
        assert secret[12:-4] not in _visible_text(app)
        assert all(secret not in text for text in _strings(vars(screen)))
    # (the CLI runs outside the app: Textual captures stdout while it runs)
    listed = _cli(run_cli, seeded_db, "keys", "list", "--project", "web")["keys"]
    new = [k for k in listed if k["name"] == "laptop-ana"]
    assert len(new) == 1 and new[0]["display"].startswith(secret[:12]) and new[0]["display"].endswith(secret[-4:])
    assert shown == [k["display"] for k in listed]


async def test_new_key_form_refusals_keep_the_form_and_create_nothing(seeded_db: Path) -> None:
    before = _all_keys(seeded_db)
    app = make_test_app(seeded_db, start="projects")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot)
        await _select(pilot, screen, "web")
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, NewKeyForm))
        form = app.screen
        await pilot.press(*"tmp")
        form.query_one("#key-expires", Input).value = "soonish"  # not a duration or a date
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: any("soonish" in n.message for n in app._notifications))
        assert app.screen is form
        form.query_one("#key-expires", Input).value = ""
        form.query_one("#key-name", Input).value = "   "  # the service wants a name
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: any("name" in n.message for n in app._notifications if n.title == "Not saved"))
        await app.workers.wait_for_complete()
        assert app.screen is form
        form.query_one("#key-scope-ingest", Checkbox).value = False  # no scope at all
        form.query_one("#key-name", Input).value = "x"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: any("at least one scope" in n.message for n in app._notifications))
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen)
    assert _all_keys(seeded_db) == before


# -- revoking ------------------------------------------------------------------------------------
async def test_revoke_asks_no_keeps_yes_revokes(seeded_db: Path, run_cli: Any) -> None:
    app = make_test_app(seeded_db, start="projects")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot)
        await _select(pilot, screen, "web")
        screen.keys_table.focus()
        assert _cells(screen.keys_table, 0) == ["ci"]
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        question = app.screen.question if isinstance(app.screen, ConfirmModal) else ""
        assert "ac_live_" in question and "ci" in question
        await pilot.press("n")
        await wait_until(pilot, lambda: app.screen is screen)
        await app.workers.wait_for_complete()
        assert [k["state"] for k in _all_keys(seeded_db)] == ["active"]

        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await wait_until(pilot, lambda: screen.keys_table.row_count == 0)  # revoked keys are hidden by default
        await pilot.press("a")  # include revoked
        await wait_until(pilot, lambda: screen.keys_table.row_count == 1)
        shown = list(zip(_cells(screen.keys_table, 0), _cells(screen.keys_table, 1), _cells(screen.keys_table, 2),
                         strict=True))
        assert screen.check_action("revoke_key", ()) is False  # a revoked key cannot be revoked again
    assert _cli(run_cli, seeded_db, "keys", "list", "--project", "web")["keys"] == []
    every = _cli(run_cli, seeded_db, "keys", "list", "--project", "web", "--all")["keys"]
    assert shown == [(k["name"], k["display"], k["state"]) for k in every] == [("ci", every[0]["display"], "revoked")]


# -- sharing ----------------------------------------------------------------------------------------
async def test_share_adds_a_member_and_unshare_asks(seeded_db: Path, run_cli: Any) -> None:
    _add_user(seeded_db, "ana@example.com")
    app = make_test_app(seeded_db, start="projects")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot)
        await _select(pilot, screen, "web")
        assert screen.members_table.row_count == 0
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, ShareForm))
        await pilot.press(*"ana@example.com")
        app.screen.query_one("#share-role-admin", RadioButton).value = True
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: screen.members_table.row_count == 1)
        shared = list(zip(_cells(screen.members_table, 0), _cells(screen.members_table, 2), strict=True))
        assert shared == [("ana@example.com", "admin")]

        # Unknown users are refused by the service: a notification, the form stays, nothing changes.
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, ShareForm))
        await pilot.press(*"nobody@example.com", "enter")
        await wait_until(pilot, lambda: any("nobody@example.com" in n.message for n in app._notifications))
        assert isinstance(app.screen, ShareForm)
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen)

        screen.members_table.focus()
        await pilot.press("u")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("n")
        await wait_until(pilot, lambda: app.screen is screen)
        await app.workers.wait_for_complete()
        assert screen.members_table.row_count == 1
        kept = _members(seeded_db)
        await pilot.press("u")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await wait_until(pilot, lambda: screen.members_table.row_count == 0)
    assert [(m["email"], m["role"]) for m in kept] == shared  # `n` kept ana, as shown when shared
    assert _cli(run_cli, seeded_db, "projects", "show", "web")["member_list"] == []


async def test_new_project(seeded_db: Path, run_cli: Any) -> None:
    app = make_test_app(seeded_db, start="projects")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot)
        await pilot.press("p")
        await wait_until(pilot, lambda: isinstance(app.screen, NewProjectForm))
        await pilot.press(*"Bad Slug", "enter")  # refused by the service: the form stays
        await wait_until(pilot, lambda: any("valid project name" in n.message for n in app._notifications))
        assert isinstance(app.screen, NewProjectForm)
        app.screen.query_one("#project-slug", Input).value = "mobile"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "mobile" in _cells(screen.projects_table, 0))
        await wait_until(pilot, lambda: screen.detail is not None and screen.detail.slug == "mobile")
        shown = _cells(screen.projects_table, 0)
    slugs = [p["slug"] for p in _cli(run_cli, seeded_db, "projects", "list")["projects"]]
    assert shown == slugs and "mobile" in slugs


# -- what a role allows --------------------------------------------------------------------------
async def test_a_viewer_cannot_create_keys(seeded_db: Path) -> None:
    viewer = _add_user(seeded_db, "vi@example.com", role="viewer")
    before = _all_keys(seeded_db)
    app = _app_as(seeded_db, viewer)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot)
        assert _cells(screen.projects_table, 0) == ["web"]  # only what the viewer may see
        assert _cells(screen.projects_table, 2) == ["viewer"]
        assert screen.detail is not None and screen.detail.keys is None  # viewers do not see keys
        assert "may not" in str(screen.keys_table.border_title)
        for action in ("new_key", "revoke_key", "rotate_key", "share"):  # (leaving, `u` on oneself, is allowed)
            assert screen.check_action(action, ()) is False, action
        await pilot.press("n")
        await pilot.pause()
        assert app.screen is screen  # no form
        titles = {c.title for c in screen.palette_commands()}
        assert "New API key" not in titles and "Share project" not in titles
        screen.action_new_key()  # asked anyway (as the palette could): refused with a notification
        await pilot.pause()
        assert app.screen is screen and any(n.title == "Not allowed" for n in app._notifications)
    assert _all_keys(seeded_db) == before


async def test_a_members_admin_scope_is_refused_by_the_service(seeded_db: Path) -> None:
    member = _add_user(seeded_db, "me@example.com", role="member")
    before = _all_keys(seeded_db)
    app = _app_as(seeded_db, member)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot)
        assert screen.check_action("new_key", ()) is True and screen.check_action("share", ()) is False
        assert screen.check_action("revoke_key", ()) is False  # `ci` is not theirs
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, NewKeyForm))
        form = app.screen
        await pilot.press(*"mine")
        form.query_one("#key-scope-admin", Checkbox).value = True
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: any("cannot create keys with scope admin" in n.message
                                            for n in app._notifications))
        assert app.screen is form
        assert _all_keys(seeded_db) == before
        form.query_one("#key-scope-admin", Checkbox).value = False  # within their reach: created
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, SecretModal))
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen and "mine" in _cells(screen.keys_table, 0))
        row = _cells(screen.keys_table, 0).index("mine")
        screen.keys_table.move_cursor(row=row)
        await pilot.pause()
        assert screen.check_action("revoke_key", ()) is True  # their own key
    assert len(_all_keys(seeded_db)) == len(before) + 1


async def test_palette_commands(seeded_db: Path) -> None:
    app = make_test_app(seeded_db, start="projects")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot)
        await _select(pilot, screen, "web")
        titles = {c.title for c in screen.palette_commands()}
        assert {"New API key", "Revoke key", "Rotate key", "Share project", "New project",
                "Show/hide revoked keys"} <= titles
        app_titles = {c.title for c in app.get_system_commands(screen)}
        assert "New API key" in app_titles
