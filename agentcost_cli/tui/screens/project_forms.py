"""The Projects screen's modals: a new API key (then its secret, shown once), sharing a project,
a new project; and what a role allows, to show only the actions that can work.

The forms call the backend themselves (in a worker): when the service refuses (a blank name, a
scope beyond the role, an unknown user...) the form stays open with what was typed and says why;
nothing is created. The service stays the authority: the role checks here only hide actions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, RadioButton, RadioSet, Static

from ...errors import InvalidInput
from ...services.permissions import RANK, ROLES, RULES, SCOPES, Op, Role
from .base import describe_error

if TYPE_CHECKING:
    from ...services.backend import Backend
    from ..app import AgentcostApp

# The CLI's words (commands/keys.py SHOWN_ONCE), kept here so the TUI does not import the CLI layer.
SHOWN_ONCE = ("This key is shown only once and cannot be recovered: store it now (e.g. in your secret "
              "manager). It will not be shown again.")
ENVIRONMENTS = ("live", "test")
ROLE_HELP = ("viewer: read usage. member: also ingest and manage their own keys. admin: also manage keys, "
             "budgets and members. owner: also rename, delete and transfer the project.")


def role_allows(role: str | None, op: Op, *, operator: bool = False) -> bool:
    """Whether a project role may perform `op` (RULES from services/permissions).

    `operator` (the local store owner, a server admin) may do everything; an unknown role (None:
    e.g. an API key's session) shows the action and lets the service decide."""
    if operator or role == "operator" or role is None:
        return True
    rule = RULES[op]
    if rule.role is None:
        return rule.any_user
    try:
        return RANK[Role(role)] >= RANK[rule.role]
    except ValueError:
        return False


def parse_expiry(text: str, *, now: datetime, zone: tzinfo) -> datetime | None:
    """The key form's expiry, read as `agentcost keys create --expires` reads it."""
    from ...timeutil import parse_expiry as read_expiry

    return read_expiry(text, zone, now=now, option="the expiry")


async def _call(app: AgentcostApp, fn: Callable[[Backend], Any]) -> Any:
    return await app.runner.call(fn)


CSS_PATH = "../styles/projects.tcss"


class _Form(ModalScreen[Any]):
    """A modal form: escape cancels; `submit` runs the call; a refusal keeps the form open."""

    CSS_PATH = CSS_PATH
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="projects.form.cancel"),
        Binding("ctrl+s", "submit", "Save", id="projects.form.submit"),
    ]
    busy = False

    @property
    def agentcost(self) -> AgentcostApp:
        from ..app import AgentcostApp

        assert isinstance(self.app, AgentcostApp)
        return self.app

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "form-cancel":
            self.dismiss(None)
        else:
            self.action_submit()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def action_submit(self) -> None:
        if self.busy:
            return
        try:
            call = self.build_call()
        except InvalidInput as exc:
            self.notify(describe_error(exc), title="Check the form", severity="error", timeout=8)
            return
        self.busy = True
        self._submit(call)

    def build_call(self) -> Callable[[Backend], Any]:
        """Every form answers this: the backend call its fields make (abstract; raises InvalidInput)."""
        raise NotImplementedError

    @work(exclusive=True, group="projects-form", exit_on_error=False)
    async def _submit(self, call: Callable[[Backend], Any]) -> None:
        try:
            result = await _call(self.agentcost, call)
        except Exception as exc:  # refused: say why, keep what was typed
            self.busy = False
            self.notify(describe_error(exc), title="Not saved", severity="error", timeout=10)
            return
        self.busy = False
        self.dismiss(result)


class NewKeyForm(_Form):
    """Name, scopes (checkboxes), optional expiry, live/test. Dismisses with
    `(listing, secret)` from `create_key`, or None when cancelled."""

    def __init__(self, project: str, *, role: str | None, now: datetime, zone: tzinfo) -> None:
        super().__init__()
        self.project = project
        self.role = role
        self.now = now
        self.zone = zone

    def compose(self) -> ComposeResult:
        member_only = self.role is not None and self.role not in ("operator", "owner", "admin")
        with Vertical(classes="project-form"):
            yield Label(f"New API key for project {self.project}", classes="form-title")
            yield Label("Name (what uses the key)")
            yield Input(placeholder="e.g. ci, laptop-ana", id="key-name", compact=True)
            yield Label("Scopes")
            with Horizontal(classes="form-row"):
                for scope in SCOPES:
                    label = scope.value + (" (admins only)" if member_only and scope != "ingest"
                                           and scope != "read" else "")
                    yield Checkbox(label, value=scope == "ingest", id=f"key-scope-{scope.value}", compact=True)
            yield Label("Expires (empty: never; 30d, 12h, 2w or a date such as 2027-01-31)")
            yield Input(placeholder="never", id="key-expires", compact=True)
            yield Label("Environment (part of the key: ac_live_..., ac_test_...)")
            with RadioSet(id="key-env", compact=True):
                for env in ENVIRONMENTS:
                    yield RadioButton(env, value=env == "live", id=f"key-env-{env}")
            yield Static("", id="key-summary", classes="muted")
            with Horizontal(classes="form-buttons"):
                yield Button("Create key (ctrl+s)", variant="primary", id="form-submit", compact=True)
                yield Button("Cancel (esc)", id="form-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#key-name", Input).focus()
        self._summarize()

    def on_checkbox_changed(self) -> None:
        self._summarize()

    def on_radio_set_changed(self) -> None:
        self._summarize()

    def _summarize(self) -> None:
        # The choices in words: checkboxes and radio buttons show their state only by colour.
        _, scopes, _, env = self.values()
        self.query_one("#key-summary", Static).update(
            f"Chosen: scopes {', '.join(scopes) or 'none'} · environment {env}")

    def values(self) -> tuple[str, tuple[str, ...], str, str]:
        name = self.query_one("#key-name", Input).value
        scopes = tuple(s.value for s in SCOPES if self.query_one(f"#key-scope-{s.value}", Checkbox).value)
        expires = self.query_one("#key-expires", Input).value
        pressed = self.query_one("#key-env", RadioSet).pressed_button
        env = (pressed.id or "").removeprefix("key-env-") if pressed is not None else "live"
        return name, scopes, expires, env

    def build_call(self) -> Callable[[Backend], Any]:
        from ...services.keys import parse_scopes

        name, scopes, expires_text, env = self.values()
        scopes = parse_scopes(scopes)
        expires = parse_expiry(expires_text, now=self.now, zone=self.zone)
        project = self.project
        return lambda b: b.create_key(project, name=name, scopes=scopes, expires=expires, env=env)


class SecretModal(ModalScreen[None]):
    """The new key, shown this once, with a copy action. It forgets the key when it closes."""

    CSS_PATH = CSS_PATH
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "copy", "Copy key", tooltip="Copy the key to the clipboard", id="projects.secret.copy"),
        Binding("escape,enter", "close", "Done", id="projects.secret.close"),
    ]

    def __init__(self, listing: dict[str, Any], secret: str) -> None:
        super().__init__()
        self._listing = listing
        self._secret: str | None = secret

    def compose(self) -> ComposeResult:
        listing = self._listing
        with Vertical(classes="project-form secret-form"):
            yield Label(f"New key {listing['name']!r} for project {listing['project']} "
                        f"(scopes {', '.join(listing['scopes'])})", classes="form-title")
            yield Static(self._secret or "", id="secret-value", markup=False)
            yield Static(SHOWN_ONCE, id="secret-warning")
            with Horizontal(classes="form-buttons"):
                yield Button("Copy (c)", variant="primary", id="secret-copy", compact=True)
                yield Button("Done (esc)", id="secret-close", compact=True)

    def on_mount(self) -> None:
        self.query_one("#secret-close", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "secret-copy":
            self.action_copy()
        else:
            self.action_close()

    def action_copy(self) -> None:
        if self._secret:
            self.app.copy_to_clipboard(self._secret)
            self.notify("Copied the key to the clipboard. It will not be shown again.", title="Copied")

    def action_close(self) -> None:
        # Forget the key before the screen goes: nothing on screen or in memory here keeps it.
        self._secret = None
        self.query_one("#secret-value", Static).update("")
        self.dismiss(None)


class ShareForm(_Form):
    """A user's email and a role. Dismisses with `share_project`'s answer, or None."""

    def __init__(self, project: str) -> None:
        super().__init__()
        self.project = project

    def compose(self) -> ComposeResult:
        with Vertical(classes="project-form"):
            yield Label(f"Share project {self.project}", classes="form-title")
            yield Label("User's email (the account must exist)")
            yield Input(placeholder="ana@example.com", id="share-email", compact=True)
            yield Label("Role")
            with RadioSet(id="share-role", compact=True):
                for role in ROLES:
                    yield RadioButton(role.value, value=role == Role.MEMBER, id=f"share-role-{role.value}")
            yield Static("", id="share-summary")
            yield Static(ROLE_HELP, classes="muted")
            with Horizontal(classes="form-buttons"):
                yield Button("Share (ctrl+s)", variant="primary", id="form-submit", compact=True)
                yield Button("Cancel (esc)", id="form-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#share-email", Input).focus()
        self.on_radio_set_changed()

    def on_radio_set_changed(self) -> None:
        pressed = self.query_one("#share-role", RadioSet).pressed_button
        role = (pressed.id or "").removeprefix("share-role-") if pressed is not None else "none"
        self.query_one("#share-summary", Static).update(f"Chosen role: {role}")

    def build_call(self) -> Callable[[Backend], Any]:
        email = self.query_one("#share-email", Input).value.strip()
        if not email:
            raise InvalidInput("give the user's email")
        pressed = self.query_one("#share-role", RadioSet).pressed_button
        role = (pressed.id or "").removeprefix("share-role-") if pressed is not None else Role.MEMBER.value
        project = self.project
        return lambda b: b.share_project(project, email, role)


class NewProjectForm(_Form):
    """A slug and an optional display name. Dismisses with `create_project`'s answer, or None."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="project-form"):
            yield Label("New project", classes="form-title")
            yield Label("Short name: lower-case letters, digits, '.', '_' or '-'")
            yield Input(placeholder="web-app", id="project-slug", compact=True)
            yield Label("Display name (default: the short name)")
            yield Input(placeholder="Web app", id="project-name", compact=True)
            with Horizontal(classes="form-buttons"):
                yield Button("Create (ctrl+s)", variant="primary", id="form-submit", compact=True)
                yield Button("Cancel (esc)", id="form-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#project-slug", Input).focus()

    def build_call(self) -> Callable[[Backend], Any]:
        slug = self.query_one("#project-slug", Input).value.strip()
        name = self.query_one("#project-name", Input).value.strip() or None
        return lambda b: b.create_project(slug, name=name)
