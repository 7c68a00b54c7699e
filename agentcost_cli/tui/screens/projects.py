"""Projects & keys: the projects you can see with your role in each; for the selected one its
members and its API keys. New keys (the key itself shown once, with a copy action), revoking
and rotating keys, sharing and unsharing, new projects: each action shows only when your role
allows it, and the service still decides (a refusal becomes a notification)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Footer, Header, Static, Tab, Tabs

from ...errors import AgentcostError, PermissionDenied
from ...services.permissions import Op
from ..formatting import count, local_time
from ..widgets.confirm import ConfirmModal
from ..widgets.nav import NavBar
from .base import DataScreen, describe_error
from .project_forms import NewKeyForm, NewProjectForm, SecretModal, ShareForm, role_allows

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ...services.backend import Backend

WIDE = 150  # columns from which members and keys sit beside the projects
_ROTATE_OVERLAP_HOURS = 24


@dataclass(frozen=True)
class ProjectDetail:
    slug: str
    project: dict[str, Any]  # show_project
    members: list[dict[str, Any]] | None  # None: the role may not see them
    keys: list[dict[str, Any]] | None  # None: the role may not see them
    keys_note: str | None = None


@dataclass(frozen=True)
class ProjectsData:
    projects: list[dict[str, Any]]
    me: dict[str, Any] | None  # show_user(); None for the local store owner (or a key)
    detail: ProjectDetail | None


def load_detail(backend: Backend, slug: str, *, include_revoked: bool) -> ProjectDetail:
    project = backend.show_project(slug)
    members = project.get("member_list")
    keys: list[dict[str, Any]] | None
    note = None
    try:
        keys = backend.list_keys(slug, include_revoked=include_revoked)
    except PermissionDenied as exc:  # viewers see members, not keys
        keys, note = None, exc.message
    return ProjectDetail(slug, project, members, keys, note)


class ProjectsScreen(DataScreen[ProjectsData]):
    TITLE = "Projects & keys"
    HELP = ("The projects you can see, your role in each, their members and stored events. For the selected "
            "project (arrows or click): its members with their roles, and its API keys by display prefix "
            "(the key itself is never listed: it is shown once, when created, with a copy action). "
            "n: new key, d: revoke the selected key (asks first), o: rotate it (the old key keeps working "
            "for 24 hours), s: share the project, u: remove the selected member (asks first), p: new project, "
            "a: include revoked keys. Actions appear only when your role allows them: viewers read usage; "
            "members also manage their own keys (scopes ingest and read); admins manage every key and the "
            "members; owners also transfer and delete the project. On a narrow terminal, t switches between "
            "keys and members.")
    CSS_PATH = "../styles/projects.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new_key", "New key", tooltip="Create an API key for this project (shown once)",
                id="projects.new_key"),
        Binding("d", "revoke_key", "Revoke", tooltip="Revoke the selected key at once (asks first)",
                id="projects.revoke_key"),
        Binding("o", "rotate_key", "Rotate", tooltip="Issue a successor; the old key works 24h more (asks first)",
                id="projects.rotate_key"),
        Binding("s", "share", "Share", tooltip="Give a user a role in this project", id="projects.share"),
        Binding("u", "unshare", "Unshare", tooltip="Remove the selected member (asks first)",
                id="projects.unshare"),
        Binding("p", "new_project", "New project", tooltip="Create a project", id="projects.new_project"),
        Binding("a", "toggle_revoked", "Revoked", tooltip="Show or hide revoked keys", id="projects.revoked"),
        Binding("t", "toggle_pane", "Keys/Members", tooltip="Switch between keys and members (narrow screens)",
                id="projects.pane"),
    ]

    data: ProjectsData | None = None
    detail: ProjectDetail | None = None
    selected_slug: str | None = None
    show_revoked = False
    pane = "keys"  # on a narrow screen: "keys" or "members"

    def compose(self) -> ComposeResult:
        yield Header()
        yield NavBar("projects")
        yield Static("", id="projects-whoami", classes="filter-line")
        with Vertical(id="projects-body"):
            with Vertical(id="projects-left"):
                projects: DataTable[Any] = DataTable(id="projects-table", cursor_type="row", zebra_stripes=True)
                projects.border_title = "Projects"
                yield projects
                yield Tabs(Tab("Keys", id="pane-keys"), Tab("Members", id="pane-members"), id="detail-tabs")
                members: DataTable[Any] = DataTable(id="members-table", cursor_type="row", zebra_stripes=True)
                members.border_title = "Members"
                yield members
            keys: DataTable[Any] = DataTable(id="keys-table", cursor_type="row", zebra_stripes=True)
            keys.border_title = "Keys"
            yield keys
        yield Footer()

    def on_mount(self) -> None:
        self.projects_table.add_column("project", key="slug")
        self.projects_table.add_columns("name", "your role", "members", "events")
        self.members_table.add_columns("email", "name", "role", "since")
        self.keys_table.add_column("name", key="name")
        self.keys_table.add_column("key", key="display")
        self.keys_table.add_columns("state", "scopes", "expires", "last used", "created")
        self.detail_tabs.can_focus = False
        self._fit(self.app.size.width)
        self.set_class(True, "-pane-keys")
        self.projects_table.focus()
        super().on_mount()

    # -- accessors ---------------------------------------------------------------------------
    @property
    def projects_table(self) -> DataTable[Any]:
        return self.query_one("#projects-table", DataTable)

    @property
    def members_table(self) -> DataTable[Any]:
        return self.query_one("#members-table", DataTable)

    @property
    def keys_table(self) -> DataTable[Any]:
        return self.query_one("#keys-table", DataTable)

    @property
    def detail_tabs(self) -> Tabs:
        return self.query_one("#detail-tabs", Tabs)

    # -- layout ------------------------------------------------------------------------------
    def on_resize(self, event: events.Resize) -> None:
        self._fit(event.size.width)

    def _fit(self, width: int) -> None:
        self.set_class(width < WIDE, "-narrow")
        self.refresh_bindings()

    @property
    def narrow(self) -> bool:
        return self.has_class("-narrow")

    def action_toggle_pane(self) -> None:
        self._set_pane("members" if self.pane == "keys" else "keys")

    def _set_pane(self, pane: str) -> None:
        self.pane = pane
        self.set_class(pane == "keys", "-pane-keys")
        self.set_class(pane == "members", "-pane-members")
        if self.detail_tabs.active != f"pane-{pane}":
            self.detail_tabs.active = f"pane-{pane}"

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        if event.tabs.id == "detail-tabs":
            event.stop()
            pane = (event.tab.id or "pane-keys").removeprefix("pane-")
            if pane != self.pane:
                self._set_pane(pane)

    # -- loading -----------------------------------------------------------------------------
    def fetch(self, backend: Backend) -> ProjectsData:
        projects = backend.list_projects()
        try:
            me: dict[str, Any] | None = backend.show_user()
        except AgentcostError:  # the local store owner (or a key) is no user account
            me = None
        slugs = [p["slug"] for p in projects]
        slug = self.selected_slug if self.selected_slug in slugs else (slugs[0] if slugs else None)
        detail = load_detail(backend, slug, include_revoked=self.show_revoked) if slug else None
        return ProjectsData(projects, me, detail)

    @work(exclusive=True, group="project-detail", exit_on_error=False)
    async def _load_detail(self, slug: str) -> None:
        include_revoked = self.show_revoked
        try:
            detail = await self.agentcost.runner.call(lambda b: load_detail(b, slug, include_revoked=include_revoked))
        except Exception as exc:
            self.notify(describe_error(exc), title=f"Could not load {slug}", severity="error", timeout=8)
            return
        if slug == self.selected_slug:
            self._show_detail(detail)

    # -- showing -----------------------------------------------------------------------------
    def show(self, data: ProjectsData) -> None:
        self.data = data
        self.detail = data.detail
        self.selected_slug = data.detail.slug if data.detail else None
        self._show_whoami()
        table = self.projects_table
        table.clear()
        for p in data.projects:
            table.add_row(p["slug"], p["name"], p["role"] or "-", Text(count(p["members"]), justify="right"),
                          Text(count(p["events"]), justify="right"), key=p["slug"])
        if self.selected_slug is not None:
            table.move_cursor(row=table.get_row_index(self.selected_slug), scroll=True)
        self._show_detail(data.detail)

    def _show_whoami(self) -> None:
        me = self.data.me if self.data else None
        who = f"You: {me['email']}" + (" (server admin: every action)" if me.get("is_admin") else "") if me \
            else "You: the store's owner (local: every action)"
        role = self.role
        if self.selected_slug is not None and role is not None:
            who += f" · your role in {self.selected_slug}: {role}"
        self.query_one("#projects-whoami", Static).update(Text(who))

    def _show_detail(self, detail: ProjectDetail | None) -> None:
        self.detail = detail
        members, keys = self.members_table, self.keys_table
        members.clear()
        keys.clear()
        if detail is None:
            members.border_title = "Members"
            keys.border_title = "Keys"
            self.refresh_bindings()
            return
        slug = detail.slug
        if detail.members is None:
            members.border_title = f"Members of {slug}: your role may not see them"
        else:
            members.border_title = f"Members of {slug} ({len(detail.members)})" if detail.members else \
                f"Members of {slug}: none yet (s shares it)"
            for m in detail.members:
                members.add_row(m["email"], m.get("display_name") or "", m["role"], (m.get("created_utc") or "")[:10],
                                key=m["email"])
        zone = self.agentcost.zone
        if detail.keys is None:
            keys.border_title = f"Keys of {slug}: {detail.keys_note or 'your role may not see them'}"
        else:
            shown = "with revoked" if self.show_revoked else "a shows revoked"
            keys.border_title = f"Keys of {slug} ({len(detail.keys)}, {shown})" if detail.keys else \
                f"Keys of {slug}: none ({shown}; n creates one)"
            for k in detail.keys:
                dim = "dim" if k["state"] != "active" else ""
                keys.add_row(Text(k["name"], style=dim), k["display"],
                             Text(k["state"], style="bold" if k["state"] == "active" else dim),
                             ",".join(k["scopes"]),
                             local_time(k["expires_utc"], zone) if k["expires_utc"] else "never",
                             local_time(k["last_used_utc"], zone) if k["last_used_utc"] else "never",
                             local_time(k["created_utc"], zone), key=str(k["id"]))
        self._show_whoami()
        self.refresh_bindings()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "projects-table" and event.row_key.value is not None:
            slug = str(event.row_key.value)
            if slug != self.selected_slug:
                self.selected_slug = slug
                self._load_detail(slug)
        self.refresh_bindings()

    # -- what the role allows ----------------------------------------------------------------
    @property
    def role(self) -> str | None:
        """Your role in the selected project ("operator" for the local owner)."""
        if self.data is None or self.selected_slug is None:
            return None
        return next((p["role"] for p in self.data.projects if p["slug"] == self.selected_slug), None)

    @property
    def operator(self) -> bool:
        me = self.data.me if self.data else None
        return bool(me and me.get("is_admin"))

    def allows(self, op: Op) -> bool:
        return self.selected_slug is not None and role_allows(self.role, op, operator=self.operator)

    def selected_key(self) -> dict[str, Any] | None:
        if self.detail is None or not self.detail.keys or self.keys_table.row_count == 0:
            return None
        row = self.keys_table.cursor_row
        if not 0 <= row < len(self.detail.keys):
            return None
        return self.detail.keys[row]

    def selected_member(self) -> dict[str, Any] | None:
        if self.detail is None or not self.detail.members or self.members_table.row_count == 0:
            return None
        row = self.members_table.cursor_row
        return self.detail.members[row] if 0 <= row < len(self.detail.members) else None

    def _may_manage_key(self, key: dict[str, Any] | None) -> bool:
        if key is None or key["state"] == "revoked":
            return False
        if self.allows(Op.KEYS_MANAGE):
            return True
        me = self.data.me if self.data else None
        return self.allows(Op.KEYS_MANAGE_OWN) and me is not None and key["created_by_user_id"] == me.get("id")

    def _may_unshare(self, member: dict[str, Any] | None) -> bool:
        if member is None:
            return False
        me = self.data.me if self.data else None
        return self.allows(Op.MEMBERS_MANAGE) or (me is not None and member["email"] == me.get("email"))

    def _may_create_project(self) -> bool:
        # Any signed-in user or the local owner; a key's session is refused by the service.
        return role_allows(None, Op.PROJECT_CREATE, operator=self.operator)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        checks = {
            "new_key": lambda: self.allows(Op.KEYS_MANAGE_OWN),
            "revoke_key": lambda: self._may_manage_key(self.selected_key()),
            "rotate_key": lambda: self._may_manage_key(self.selected_key()),
            "share": lambda: self.allows(Op.MEMBERS_MANAGE),
            "unshare": lambda: self._may_unshare(self.selected_member()),
            "new_project": self._may_create_project,
            "toggle_revoked": lambda: self.detail is not None and self.detail.keys is not None,
            "toggle_pane": lambda: self.narrow,
        }
        check = checks.get(action)
        if check is None:
            return True
        return self.data is not None and bool(check())

    def _refuse(self, what: str) -> bool:
        """Whether an action may not run now; says why (the palette can ask for a hidden action)."""
        if self.check_action(what, ()):
            return False
        role = self.role or "no role"
        self.notify(f"Your role in {self.selected_slug or 'this project'} ({role}) does not allow this, or nothing "
                    "is selected.", title="Not allowed", severity="warning")
        return True

    # -- actions -----------------------------------------------------------------------------
    def action_new_key(self) -> None:
        if self._refuse("new_key") or self.selected_slug is None:
            return
        app = self.agentcost
        form = NewKeyForm(self.selected_slug, role=None if self.operator else self.role, now=app.clock(),
                          zone=app.zone)
        self.app.push_screen(form, self._key_created)

    def _key_created(self, result: tuple[dict[str, Any], str] | None) -> None:
        """The form's answer: show the key once (never kept here), then reload the lists."""
        if result is None:
            return
        self.notify(f"created key {result[0]['display']} (id {result[0]['id']}) for {result[0]['project']}",
                    title="Key created")
        self.app.push_screen(SecretModal(*result))
        self.reload()

    def action_revoke_key(self) -> None:
        key = self.selected_key()
        if self._refuse("revoke_key") or key is None:
            return
        ref, display = str(key["id"]), key["display"]
        self.app.push_screen(
            ConfirmModal(f"Revoke key {display} ({key['name']})?\nAnything using it stops working at once.",
                         confirm_label="Revoke"),
            lambda yes: self.act(lambda b: b.revoke_key(ref), success=f"revoked key {display}") if yes else None)

    def action_rotate_key(self) -> None:
        key = self.selected_key()
        if self._refuse("rotate_key") or key is None:
            return
        from datetime import timedelta

        ref, display = str(key["id"]), key["display"]
        overlap = timedelta(hours=_ROTATE_OVERLAP_HOURS)
        self.app.push_screen(
            ConfirmModal(f"Rotate key {display} ({key['name']})?\nA new key replaces it; the old one\n"
                         f"keeps working for {_ROTATE_OVERLAP_HOURS} hours.", confirm_label="Rotate"),
            lambda yes: self.act(lambda b: b.rotate_key(ref, overlap=overlap), done=self._show_secret,
                                 success=f"rotated key {display}: the old key works {_ROTATE_OVERLAP_HOURS}h more")
            if yes else None)

    def _show_secret(self, result: tuple[dict[str, Any], str]) -> None:
        self.app.push_screen(SecretModal(*result))

    def action_share(self) -> None:
        if self._refuse("share") or self.selected_slug is None:
            return
        self.app.push_screen(ShareForm(self.selected_slug), self._shared)

    def _shared(self, change: dict[str, Any] | None) -> None:
        if change is None:
            return
        previous = f" (was {change['previous']})" if change["previous"] else ""
        self.notify(f"{change['email']} is now {change['role']} of {change['project']}{previous}", title="Shared")
        self.reload()

    def action_unshare(self) -> None:
        member = self.selected_member()
        slug = self.selected_slug
        if self._refuse("unshare") or member is None or slug is None:
            return
        email = str(member["email"])
        self.app.push_screen(
            ConfirmModal(f"Remove {email} ({member['role']}) from project {slug}?", confirm_label="Remove"),
            lambda yes: self.act(lambda b: b.unshare_project(slug, email), success=f"removed {email} from {slug}")
            if yes else None)

    def action_new_project(self) -> None:
        if self._refuse("new_project"):
            return
        self.app.push_screen(NewProjectForm(), self._project_created)

    def _project_created(self, project: dict[str, Any] | None) -> None:
        if project is None:
            return
        self.notify(f"created project {project['slug']}; press s to share it", title="Project created")
        self.selected_slug = project["slug"]
        self.reload()

    def action_toggle_revoked(self) -> None:
        self.show_revoked = not self.show_revoked
        if self.selected_slug is not None:
            self._load_detail(self.selected_slug)

    # -- command palette ---------------------------------------------------------------------
    def palette_commands(self) -> Iterable[SystemCommand]:
        commands = (
            ("new_key", "New API key", "Create a key for the selected project, shown once (key n)",
             self.action_new_key),
            ("revoke_key", "Revoke key", "Revoke the selected API key (key d)", self.action_revoke_key),
            ("rotate_key", "Rotate key", "Replace the selected API key; the old one works 24h more (key o)",
             self.action_rotate_key),
            ("share", "Share project", "Give a user a role in the selected project (key s)", self.action_share),
            ("unshare", "Remove member", "Remove the selected member from the project (key u)", self.action_unshare),
            ("new_project", "New project", "Create a project (key p)", self.action_new_project),
            ("toggle_revoked", "Show/hide revoked keys", "Include revoked keys in the list (key a)",
             self.action_toggle_revoked),
        )
        for action, title, help_text, callback in commands:
            if self.check_action(action, ()):
                yield SystemCommand(title, help_text, callback)
