"""`agentcost account ...`: passwords, two-factor authentication, sessions, email links.

In local mode the CLI acts as the store's owner, so it needs to be told whose account
to change (`--user EMAIL`), and it does not ask for that user's current password.
Against a daemon (after `agentcost login`) it acts on the signed-in user's own account,
and changing the password needs the current one. The codes from emails (password reset,
email verification) go to wherever the email came from: the daemon in remote mode (no
sign-in needed), this machine's store in local mode.
Secrets (passwords, codes, tokens from emails) are read from a hidden prompt, stdin or
a file: never from a command-line value.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .. import output
from ..errors import InvalidInput
from ._common import CsvOpt, JsonOpt, QuietOpt, one_format
from ._secrets import CodeStdinOpt, PasswordFileOpt, PasswordStdinOpt, TokenStdinOpt

account_app = typer.Typer(help="Account security: password, two-factor authentication, recovery codes, "
                          "sessions, password reset and email verification.", no_args_is_help=True)
mfa_app = typer.Typer(help="Two-factor authentication (TOTP authenticator apps).", no_args_is_help=True)
account_app.add_typer(mfa_app, name="mfa")

UserOpt = Annotated[str | None, typer.Option("--user", "-u", help="Whose account (required in local mode, where "
                                             "agentcost acts as the store's owner).", show_default=False)]
SESSION_COLUMNS = ("id", "created_utc", "last_used_utc", "expires_utc", "source_addr", "user_agent", "mfa", "active",
                   "current", "revoked_utc", "revoked_reason")
CurrentPasswordStdinOpt = Annotated[bool, typer.Option(
    "--current-password-stdin", help="Against a daemon: read your current password from stdin (one line; with "
    "--password-stdin too, the current password is the first line and the new one the second).")]
RECOVERY_WARNING = ("store these recovery codes somewhere safe (a password manager): each works once in place of "
                    "an authenticator code, and they will not be shown again")


def _user(user: str | None) -> str:
    if not user:
        raise InvalidInput("say whose account with --user EMAIL",
                           hint="in local mode agentcost acts as the store's owner and manages any account")
    return user


def _account(ctx: typer.Context, user: str | None) -> tuple[Any, str | None, dict[str, Any]]:
    """(backend, whose account to pass it, the user as shown). Locally the CLI acts as the store's
    owner and needs --user; against a daemon it acts on the signed-in user (--user refused there).
    An unknown address fails before any prompt."""
    from ._common import backend, remote_mode

    api = backend(ctx)
    if remote_mode(ctx):
        if user:
            raise InvalidInput("against a daemon, `account` acts on your own account",
                               hint="omit --user; administrators manage other accounts with `agentcost users`")
        return api, None, api.show_user(None)
    email = _user(user)
    return api, email, api.show_user(email)


def _print_codes(email: str, codes: list[str], json_: bool) -> None:
    if json_:
        output.write_json({"email": email, "recovery_codes": codes})
    else:
        output.console().print("\n".join(codes), markup=False, highlight=False, soft_wrap=True)
    output.warn(RECOVERY_WARNING)


def _code_source(code_stdin: bool) -> None:
    from ._secrets import require_source

    require_source("code", from_stdin=code_stdin, stdin_flag="--code-stdin")


def _code(code_stdin: bool, *, hidden: bool) -> str:
    from ._secrets import read_secret

    return read_secret("code", from_stdin=code_stdin, stdin_flag="--code-stdin", hidden=hidden)


@account_app.command("password")
def account_password(
    ctx: typer.Context,
    user: UserOpt = None,
    current_password_stdin: CurrentPasswordStdinOpt = False,
    password_stdin: PasswordStdinOpt = False,
    password_file: PasswordFileOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Set a new password (asked twice on a terminal, or from stdin or a file).

    Example: agentcost account password --user ana@example.com --password-file ./new.pw

    Locally the store's owner sets any user's password (--user) and every session of that user
    ends. Against a daemon you change your own: your current password is asked for first (or
    read with --current-password-stdin), and your other sessions end. The user is told by email.
    """
    from ._secrets import new_password, read_secret, require_source

    api, whose, shown = _account(ctx, user)
    email = shown["email"]
    own = whose is None  # against a daemon: the signed-in user's own account
    if not own and current_password_stdin:
        raise InvalidInput("--current-password-stdin is for changing your own password against a daemon",
                           hint="locally the store's owner sets a password without the current one")
    if own:  # every source is checked before anything is asked
        require_source("current password", from_stdin=current_password_stdin, stdin_flag="--current-password-stdin")
    require_source("password", from_stdin=password_stdin, from_file=password_file, stdin_flag="--password-stdin",
                   file_flag="--password-file")
    current = read_secret("current password", from_stdin=current_password_stdin,
                          stdin_flag="--current-password-stdin") if own else None
    password = new_password(from_stdin=password_stdin, from_file=password_file)
    api.change_password(password, current_password=current, email=whose)
    if not quiet:
        ended = "your other sessions have" if own else "their sessions have"
        output.info(f"password changed for {email}; {ended} ended and a notice is queued (`agentcost outbox list`)")


@account_app.command("email")
def account_email(
    ctx: typer.Context,
    new_email: Annotated[str, typer.Argument(help="The new sign-in address.", show_default=False)],
    user: UserOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Change an account's sign-in address; the new one must be verified again, the old one is told.

    Example: agentcost account email ana@new.example --user ana@example.com
    """
    api, whose, shown = _account(ctx, user)
    email = shown["email"]
    changed = api.change_email(new_email, whose)
    if json_:
        output.write_json(changed)
    if not quiet:
        output.info(f"{email} now signs in as {changed['email']}; a verification email is queued "
                    "and the old address is told (`agentcost outbox list`)")


@mfa_app.command("enable")
def account_mfa_enable(
    ctx: typer.Context,
    user: UserOpt = None,
    code_stdin: CodeStdinOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Turn on two-factor authentication: scan the QR code, type the first code, keep the recovery codes.

    Example: agentcost account mfa enable --user ana@example.com

    The QR code and the secret go to stderr; the code is then asked for (or read from stdin with
    --code-stdin, after the secret is printed). The 10 recovery codes are printed once on stdout.
    """
    from ..auth.totp import qr_text
    from ..errors import AuthError
    from ._secrets import PROMPT_ATTEMPTS, interactive

    api, whose, shown = _account(ctx, user)
    email = shown["email"]
    _code_source(code_stdin)  # no secret is made when no code could follow
    enrolment = api.begin_mfa(whose)
    err = output.err_console()
    err.print(qr_text(enrolment["uri"]), markup=False, highlight=False, soft_wrap=True)
    err.print(f"Scan this QR code with an authenticator app for {email}, or type the secret in by hand.",
              markup=False)
    err.print(f"secret: {enrolment['secret']}", markup=False, highlight=False)
    err.print(f"uri: {enrolment['uri']}", markup=False, highlight=False, soft_wrap=True)
    attempts = PROMPT_ATTEMPTS if interactive() and not code_stdin else 1
    for attempt in range(attempts):
        try:
            codes = api.confirm_mfa(_code(code_stdin, hidden=False), whose)
            break
        except AuthError as exc:
            if attempt == attempts - 1:
                raise
            output.error(exc.title, exc.message, exc.hint)
    output.info(f"two-factor authentication is on for {email}")
    _print_codes(email, codes, json_)


@mfa_app.command("disable")
def account_mfa_disable(
    ctx: typer.Context,
    user: UserOpt = None,
    code_stdin: CodeStdinOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Turn off two-factor authentication; needs a current authenticator code or a recovery code.

    Example: agentcost account mfa disable --user ana@example.com
    """
    from ..errors import Conflict

    api, whose, shown = _account(ctx, user)
    email = shown["email"]
    if not shown["mfa"]:
        raise Conflict(f"two-factor authentication is not on for {shown['email']}")
    api.disable_mfa(_code(code_stdin, hidden=True), whose)
    if not quiet:
        output.info(f"two-factor authentication is off for {email}; its recovery codes no longer work")


@account_app.command("recovery-codes")
def account_recovery_codes(
    ctx: typer.Context,
    user: UserOpt = None,
    code_stdin: CodeStdinOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Replace a user's recovery codes (the old ones stop working); needs a current or recovery code.

    Example: agentcost account recovery-codes --user ana@example.com > codes.txt
    """
    from ..errors import Conflict

    api, whose, shown = _account(ctx, user)
    email = shown["email"]
    if not shown["mfa"]:
        raise Conflict(f"two-factor authentication is not on for {shown['email']}",
                       hint="turn it on with `agentcost account mfa enable`")
    codes = api.regenerate_recovery_codes(_code(code_stdin, hidden=True), whose)
    output.info(f"new recovery codes for {email}; the old ones no longer work")
    _print_codes(email, codes, json_)


def _session_state(row: dict[str, Any]) -> str:
    if row["revoked_utc"]:
        return f"revoked ({row['revoked_reason']})" if row["revoked_reason"] else "revoked"
    return "active" if row["active"] else "expired"


@account_app.command("sessions")
def account_sessions(ctx: typer.Context, user: UserOpt = None, json_: JsonOpt = False, csv_: CsvOpt = False) -> None:
    """A user's sign-in sessions: where from, when last used, whether still active.

    Example: agentcost account sessions --user ana@example.com --json
    """
    fmt = one_format(json=json_, csv=csv_)
    api, whose, shown = _account(ctx, user)
    email = shown["email"]
    rows = api.list_sessions(whose)
    if fmt == "json":
        output.write_json({"email": email, "sessions": rows})
        return
    if fmt == "csv":
        output.write_csv(SESSION_COLUMNS, rows)
        return
    if not rows:
        output.info(f"{email} has no sessions")
        return

    def when(stamp: str | None) -> str:
        return stamp[:16].replace("T", " ") if stamp else ""

    output.render_table(
        ["id", "created", "last used", "expires", "from", "client", "2fa", "state"],
        ([r["id"], when(r["created_utc"]), when(r["last_used_utc"]), when(r["expires_utc"]), r["source_addr"] or "",
          r["user_agent"] or "", "yes" if r["mfa"] else "", _session_state(r)] for r in rows),
        right=["id"], droppable=["id", "state", "last used", "from", "created", "expires", "2fa", "client"],
    )


@account_app.command("revoke-session")
def account_revoke_session(
    ctx: typer.Context,
    session_id: Annotated[int, typer.Argument(help="The session id, from `agentcost account sessions`.",
                                              show_default=False)],
    quiet: QuietOpt = False,
) -> None:
    """End a session at once (its tokens stop working).

    Example: agentcost account revoke-session 42
    """
    from ._common import backend

    backend(ctx).revoke_session(session_id)
    if not quiet:
        output.info(f"session {session_id} revoked")


def _email_link(ctx: typer.Context, exc: Exception) -> None:
    """A code from an email was refused by this machine's store: when the user also has a login,
    the email more likely came from that daemon."""
    from .. import paths
    from ..errors import AuthError
    from ._common import remote_mode

    if isinstance(exc, AuthError) and not remote_mode(ctx) and (paths.config_dir() / "profiles.toml").exists():
        exc.hint = (f"{exc.hint}; " if exc.hint else "") + ("if the email came from an agentcost server, run "
                                                              "this with --profile NAME (see `agentcost login`)")


@account_app.command("reset-password")
def account_reset_password(
    ctx: typer.Context,
    token_stdin: TokenStdinOpt = False,
    password_stdin: PasswordStdinOpt = False,
    password_file: PasswordFileOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Choose a new password with the code from a reset or invitation email.

    Example: agentcost account reset-password

    With both --token-stdin and --password-stdin, the token is the first line and the password the second.
    Against a daemon this needs no sign-in: use --profile NAME (or AGENTCOST_SERVER) when logged out.
    """
    from ._common import backend
    from ._secrets import new_password, read_secret, require_source

    require_source("password", from_stdin=password_stdin, from_file=password_file, stdin_flag="--password-stdin",
                   file_flag="--password-file")  # before the token is asked for
    token = read_secret("token", from_stdin=token_stdin, stdin_flag="--token-stdin")
    password = new_password(from_stdin=password_stdin, from_file=password_file)
    try:
        backend(ctx).reset_password(token, password)
    except Exception as exc:
        _email_link(ctx, exc)
        raise
    if not quiet:
        output.info("password set; every session of the account has ended: sign in with the new password")


@account_app.command("verify-email")
def account_verify_email(ctx: typer.Context, token_stdin: TokenStdinOpt = False, quiet: QuietOpt = False) -> None:
    """Confirm an email address with the code from the verification email.

    Example: agentcost account verify-email --token-stdin < code.txt

    Against a daemon this needs no sign-in: use --profile NAME (or AGENTCOST_SERVER) when logged out.
    """
    from ._common import backend
    from ._secrets import read_secret

    token = read_secret("token", from_stdin=token_stdin, stdin_flag="--token-stdin")
    try:
        email = backend(ctx).verify_email(token)
    except Exception as exc:
        _email_link(ctx, exc)
        raise
    if not quiet:
        output.info(f"verified {email}")
