"""`agentcost login`, `logout`, `whoami`: signing in to an agentcost daemon (remote mode).

A login is kept per profile (`--profile`, default "default"): the server and email in
`<config dir>/profiles.toml`, the refresh token in the OS keyring (or a 0600 file when there
is none). Passwords and codes come from a prompt, stdin or a file, never from a flag value.
AGENTCOST_TOKEN / AGENTCOST_SERVER / AGENTCOST_PROFILE override the stored login (CI).

Nothing heavy at import: httpx and keyring load inside the commands.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .. import output
from ._common import JsonOpt, QuietOpt
from ._secrets import CodeStdinOpt, PasswordFileOpt, PasswordStdinOpt

if TYPE_CHECKING:
    from ..auth.credentials import CredentialStore, Profile
    from ..client.session import RemoteSession, SsoStep

ServerOpt = Annotated[str | None, typer.Option(
    "--server", help="The daemon's URL (default: the profile's server, AGENTCOST_SERVER, or http://127.0.0.1:8787).",
    show_default=False)]
ProfileOpt = Annotated[str | None, typer.Option(
    "--profile", help="Which saved login to use (default: AGENTCOST_PROFILE, or the default profile).",
    show_default=False)]
EmailOpt = Annotated[str | None, typer.Option(
    "--email", help="Sign in as this address (asked on a terminal; default: the profile's).", show_default=False)]
SsoOpt = Annotated[bool, typer.Option(
    "--sso", help="Sign in through the server's single sign-on provider (OpenID Connect, or GitHub), in a browser.")]
NoBrowserOpt = Annotated[bool, typer.Option(
    "--no-browser", help="With --sso: only print the sign-in page and code; do not open a browser.")]

SSO_GRACE_SECONDS = 5  # polls go on this long past the device code's expiry (clock skew, a slow provider)
_sleep = time.sleep  # tests replace it


def _warn_file_fallback(store: CredentialStore) -> None:
    if store.used_file_fallback:
        output.warn(f"no OS keyring is available, so the login is kept in {store.path} (readable only by you); "
                    "install a keyring service to keep it there instead")


def _email(given: str | None, saved: str | None) -> str:
    from ..errors import InvalidInput
    from ._secrets import interactive

    if given:
        return given.strip()
    if interactive():
        answer: str = typer.prompt("Email", default=saved, err=True)
        return answer.strip()
    if saved:
        return saved
    raise InvalidInput("no email given and stdin is not a terminal to ask on", hint="use --email EMAIL")


def _login_with_code(session: RemoteSession, email: str, password: str, code_stdin: bool, reason: str) -> None:
    """The second step: the code from the authenticator app (or a recovery code), then the login again."""
    from ..errors import AuthError, InvalidInput, MfaRequired
    from ._secrets import PROMPT_ATTEMPTS, interactive, read_secret

    if not code_stdin and not interactive():
        raise InvalidInput(f"{email} has two-factor authentication, and no code was given nor a terminal to ask on",
                           hint="pipe the code as the line after the password with --code-stdin")
    prompting = interactive() and not code_stdin
    if prompting:
        output.info(reason)
    attempts = PROMPT_ATTEMPTS if prompting else 1
    for attempt in range(attempts):
        code = read_secret("code", from_stdin=code_stdin, stdin_flag="--code-stdin", hidden=False).strip()
        try:
            session.login(email, password, code)
            return
        except AuthError as exc:
            if attempt == attempts - 1 or isinstance(exc, MfaRequired):
                raise
            output.error(exc.title, exc.message, exc.hint)


def _leave_old_server(store: CredentialStore, profile: str, previous: Profile | None, server: str) -> None:
    """When a login moves a profile to another server, end the session it had on the old one."""
    from ..auth.credentials import normalize_server
    from ..client.session import REVOKE_TIMEOUT, RemoteSession
    from ..errors import AgentcostError

    if previous is None:
        return
    try:
        old_server = normalize_server(previous.server)
    except AgentcostError:
        return  # a hand-edited URL that never worked: nothing could have been stored under it
    if old_server == server:
        return
    try:
        with RemoteSession(old_server, profile, store, timeout=REVOKE_TIMEOUT) as old:
            result = old.logout()
    except AgentcostError as exc:
        result = None
        output.warn(f"could not end the previous login of profile {profile} at {old_server}: {exc.message}")
    if result is not None and result.warning:
        output.warn(f"the previous login of profile {profile} at {old_server} was removed here, but the server "
                    f"could not confirm it ended ({result.warning})")


def login(
    server: ServerOpt = None,
    profile: ProfileOpt = None,
    email: EmailOpt = None,
    password_stdin: PasswordStdinOpt = False,
    password_file: PasswordFileOpt = None,
    code_stdin: CodeStdinOpt = False,
    sso: SsoOpt = False,
    no_browser: NoBrowserOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Sign in to an agentcost daemon and keep the login for later commands.

    Example: agentcost login --server https://agentcost.example.com --email ana@example.com

    The password is asked for (hidden), or read from stdin or a file.

    With two-factor authentication the code is asked for next (--code-stdin: the next stdin line).

    With --sso, sign in at the server's identity provider instead: open the page shown (a browser
    opens on a terminal) and enter the code shown; the account linked to that identity is signed
    in (the first time, the account with the same verified email, which is then linked), and its
    two-factor code is asked for when it has one.
    """
    from ..auth.credentials import CredentialStore, get_profile, is_plain_http_remote, resolve, save_profile
    from ..client.session import RemoteSession
    from ..errors import InvalidInput, MfaRequired
    from ._secrets import read_secret, require_source

    store = CredentialStore()
    if store.env_token:
        raise InvalidInput("AGENTCOST_TOKEN is set, and it would take precedence over a new login",
                           hint="unset AGENTCOST_TOKEN to log in")
    target = resolve(profile, server)
    if sso:
        if email or password_stdin or password_file is not None:
            raise InvalidInput("--sso signs in at the identity provider: it takes no --email or password",
                               hint="drop --email / --password-stdin / --password-file")
        _login_sso(store, target.server, target.profile, code_stdin=code_stdin, no_browser=no_browser, quiet=quiet)
        return
    if no_browser:
        raise InvalidInput("--no-browser goes with --sso")
    require_source("password", from_stdin=password_stdin, from_file=password_file, stdin_flag="--password-stdin",
                   file_flag="--password-file")
    address = _email(email, target.email)
    if not address:
        raise InvalidInput("the email is empty")
    if is_plain_http_remote(target.server):
        output.warn(f"{target.server} is plain http: the password and tokens cross the network unencrypted; "
                    "use https://")
    password = read_secret("password", from_stdin=password_stdin, from_file=password_file,
                           stdin_flag="--password-stdin", file_flag="--password-file")
    with RemoteSession(target.server, target.profile, store) as session:
        try:
            session.login(address, password)
        except MfaRequired as exc:
            _login_with_code(session, address, password, code_stdin, exc.message)
    _leave_old_server(store, target.profile, get_profile(target.profile), target.server)
    save_profile(target.profile, target.server, address)
    if not quiet:
        output.info(f"logged in to {target.server} as {address} (profile {target.profile})")
    _warn_file_fallback(store)


def _login_sso(store: CredentialStore, server: str, profile: str, *, code_stdin: bool, no_browser: bool,
               quiet: bool) -> None:
    """RFC 8628 through the daemon: show the page and the code, poll until the user approves, then
    the second factor when the account has one; the refresh token is kept as by the password login."""
    from ..auth.credentials import get_profile, is_plain_http_remote, save_profile
    from ..client.session import RemoteSession

    if is_plain_http_remote(server):
        output.warn(f"{server} is plain http: tokens cross the network unencrypted; use https://")
    previous = get_profile(profile)
    with RemoteSession(server, profile, store) as session:
        started = session.sso_start()
        _show_sso_page(started, no_browser=no_browser)
        step = _poll_until_approved(session, started)
        if step.state == "mfa":
            _sso_code(session, started["device_code"], step, code_stdin)
        user = session.me()
    address = str(user.get("email") or "")
    _leave_old_server(store, profile, previous, server)
    save_profile(profile, server, address or None)
    if not quiet:
        output.info(f"logged in to {server} as {address} (profile {profile}) through single sign-on")
    _warn_file_fallback(store)


def _show_sso_page(started: dict[str, Any], *, no_browser: bool) -> None:
    """The page and the code on stderr (even with --quiet: the user must act on them); a browser
    opens on the page only when a person is at a terminal."""
    from ._secrets import interactive

    complete = started.get("verification_uri_complete")
    lines = [f"To sign in, open {started['verification_uri']} and enter the code {started['user_code']}"]
    if complete:
        lines.append(f"(or open {complete}, which fills the code in)")
    lines.append("Waiting for the sign-in to be approved...")
    output.err_console().print("\n".join(lines), markup=False, highlight=False)
    if not no_browser and interactive():
        import webbrowser

        try:
            webbrowser.open(str(complete or started["verification_uri"]))
        except Exception:  # no browser is fine: the page is printed
            pass


def _poll_until_approved(session: RemoteSession, started: dict[str, Any]) -> SsoStep:
    """Poll every `interval` seconds, 5 more after each slow-down (RFC 8628 3.5), and after a 429
    as long as Retry-After says, until the sign-in is approved ("done", or "mfa") or expires."""
    from ..errors import AuthError, Throttled

    interval = float(started["interval"])
    deadline = time.monotonic() + float(started["expires_in"]) + SSO_GRACE_SECONDS
    wait = interval
    while True:
        if time.monotonic() + wait >= deadline:
            raise AuthError("the sign-in was not approved in time", hint="start again: agentcost login --sso")
        _sleep(wait)
        try:
            step = session.sso_poll(started["device_code"])
        except Throttled as exc:
            wait = max(interval, float(exc.retry_after))
            continue
        if step.state in ("done", "mfa"):
            return step
        if step.state == "slow_down":
            interval += 5
        wait = interval


def _sso_code(session: RemoteSession, device_code: str, step: SsoStep, code_stdin: bool) -> None:
    """The account's second factor, sent with the ticket the daemon gave (the provider's part is done)."""
    from ..errors import AuthError, InvalidInput, RemoteError
    from ._secrets import PROMPT_ATTEMPTS, interactive, read_secret

    if not code_stdin and not interactive():
        raise InvalidInput("the account has two-factor authentication, and no code was given nor a terminal to "
                           "ask on", hint="pipe the code in with --code-stdin")
    prompting = interactive() and not code_stdin
    if prompting:
        output.info(step.message)
    attempts = PROMPT_ATTEMPTS if prompting else 1
    for attempt in range(attempts):
        code = read_secret("code", from_stdin=code_stdin, stdin_flag="--code-stdin", hidden=False).strip()
        try:
            result = session.sso_poll(device_code, code=code, mfa_ticket=step.mfa_ticket)
        except AuthError as exc:
            if attempt == attempts - 1:
                raise
            output.error(exc.title, exc.message, exc.hint)
            continue
        if result.state != "done":
            raise RemoteError(f"unexpected answer from {session.server} to the two-factor code ({result.state})")
        return


def logout(
    profile: ProfileOpt = None,
    forget: Annotated[bool, typer.Option("--forget", help="Also forget the profile (its server and email).")] = False,
    quiet: QuietOpt = False,
) -> None:
    """End the login: the server revokes the session, and the token is deleted here.

    Example: agentcost logout --profile work

    The token is deleted here even when the server cannot be reached (a warning says so).
    """
    from ..auth.credentials import CredentialStore, remove_profile, resolve
    from ..client.session import RemoteSession

    target = resolve(profile)
    store = CredentialStore()
    with RemoteSession(target.server, target.profile, store) as session:
        result = session.logout()
    if forget:
        remove_profile(target.profile)
    where = f"{target.server} (profile {target.profile})"
    if result.warning:
        output.warn(f"logged out here, but {target.server} could not confirm that the session ended "
                    f"({result.warning}); it stays valid there until it expires")
    elif not quiet:
        output.info(f"logged out of {where}" if result.had_token else f"not logged in to {where}; nothing to do")
    if target.token_from_env and not quiet:
        output.info("AGENTCOST_TOKEN is still set in this environment; unset it")


def whoami(profile: ProfileOpt = None, json_: JsonOpt = False) -> None:
    """Show the server, the profile and the signed-in user.

    Example: agentcost whoami --json

    Exit code 8 when not logged in (or the session has ended).
    """
    from ..auth.credentials import CredentialStore, resolve
    from ..client.session import RemoteSession

    target = resolve(profile)
    store = CredentialStore()
    with RemoteSession(target.server, target.profile, store) as session:
        user = session.me()
    credentials = "AGENTCOST_TOKEN" if target.token_from_env else store.backend_name
    if json_:
        output.write_json({"server": target.server, "profile": target.profile, "credentials": credentials,
                           "user": user})
        return
    rows: list[tuple[str, Any]] = [
        ("server", target.server),
        ("profile", target.profile),
        ("user", user.get("email")),
        ("name", user.get("display_name")),
        ("admin", "yes" if user.get("is_admin") else "no"),
        ("2fa", "on" if user.get("mfa") else "off"),
        ("credentials", credentials),
    ]
    output.console().print("\n".join(f"{label:<12}{value}" for label, value in rows if value), markup=False,
                           highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("login")(login)
    app.command("logout")(logout)
    app.command("whoami")(whoami)
