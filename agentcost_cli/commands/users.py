"""`agentcost users list|create|show|update|disable|enable|delete|identities|unlink-identity`: accounts.

Locally the CLI acts as the store's owner (whoever can open the file manages every account in
it); after `agentcost login` the same commands ask the daemon, where a server admin may.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .. import output
from ..errors import InvalidInput
from ._common import CsvOpt, JsonOpt, QuietOpt, YesOpt, backend, confirm, emit_listing, one_format, plain
from ._secrets import PasswordFileOpt, PasswordStdinOpt

users_app = typer.Typer(help="User accounts: create (or invite), list, show, update, disable, enable, delete, and "
                        "their single sign-on identities.",
                        no_args_is_help=True)

EmailArg = Annotated[str, typer.Argument(help="The account's email address.", show_default=False)]
USER_COLUMNS = ("id", "email", "display_name", "status", "is_admin", "email_verified_utc", "mfa",
                "has_password", "created_utc", "last_login_utc", "password_changed_utc", "mfa_enabled_utc")


def _day(stamp: str | None) -> str:
    return stamp[:10] if stamp else ""


def _yes(flag: Any) -> str:
    return "yes" if flag else ""


@users_app.command("list")
def users_list(ctx: typer.Context, json_: JsonOpt = False, csv_: CsvOpt = False) -> None:
    """Every account with its status, admin flag, verification and two-factor state.

    Example: agentcost users list --json
    """

    fmt = one_format(json=json_, csv=csv_)
    rows = backend(ctx).list_users()
    if emit_listing(fmt, "users", USER_COLUMNS, rows, "no users yet; add one with `agentcost users create EMAIL`"):
        return
    output.render_table(
        ["email", "name", "status", "admin", "verified", "2fa", "password", "created", "last login"],
        ([r["email"], plain(r["display_name"]), r["status"], _yes(r["is_admin"]), _day(r["email_verified_utc"]),
          _yes(r["mfa"]), "set" if r["has_password"] else "invited", _day(r["created_utc"]),
          (r["last_login_utc"] or "")[:16].replace("T", " ")] for r in rows),
        droppable=["email", "status", "admin", "2fa", "name", "verified", "password", "last login", "created"],
    )
    output.info(f"{len(rows):,} user(s)")


@users_app.command("create")
def users_create(
    ctx: typer.Context,
    email: EmailArg,
    name: Annotated[str | None, typer.Option("--name", help="Display name.", show_default=False)] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Server administrator: may manage every user and "
                                        "project.")] = False,
    verified: Annotated[bool, typer.Option("--verified", help="Mark the address verified (no verification "
                                           "email).")] = False,
    invite: Annotated[bool, typer.Option("--invite", help="Set no password: email the user a link to choose "
                                         "one.")] = False,
    password_stdin: PasswordStdinOpt = False,
    password_file: PasswordFileOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Create an account: the password is asked twice on a terminal, or read from stdin or a file.

    Example: agentcost users create ana@example.com --name "Ana" --password-file ./ana.pw

    Example: agentcost users create bo@example.com --invite   (queues an invitation email)

    A password is never accepted as a command-line value.
    """
    from ..services.users import normalize_email
    from ._secrets import new_password

    if invite and (password_stdin or password_file is not None):
        raise InvalidInput("--invite creates the account without a password",
                           hint="drop --invite, or drop --password-stdin / --password-file")
    normalize_email(email)  # a typo fails before the password prompt
    password = None if invite else new_password(from_stdin=password_stdin, from_file=password_file)
    user = backend(ctx).create_user(email=email, password=password, name=name, admin=admin, verified=verified)
    if json_:
        output.write_json(user)
    if quiet:
        return
    output.info(f"created {'administrator' if admin else 'user'} {user['email']} (id {user['id']})")
    if invite:
        output.info(f"an invitation email for {user['email']} is queued with a link to choose a password; "
                    "read it with `agentcost outbox list`")
    elif not verified:
        output.info(f"a verification email for {user['email']} is queued; see `agentcost outbox list`")


@users_app.command("show")
def users_show(
    ctx: typer.Context,
    email: Annotated[str | None, typer.Argument(help="The account's email address.", show_default=False)] = None,
    json_: JsonOpt = False,
) -> None:
    """One account: status, verification, two-factor state, and its projects and roles.

    Example: agentcost users show ana@example.com --json
    """

    if email is None:
        raise InvalidInput("say which user: agentcost users show EMAIL",
                           hint="list them with `agentcost users list`")
    user = backend(ctx).show_user(email)
    if json_:
        output.write_json(user)
        return
    con = output.console()
    lines = [
        ("email", user["email"]), ("name", plain(user["display_name"])), ("id", user["id"]),
        ("status", user["status"]), ("administrator", "yes" if user["is_admin"] else "no"),
        ("verified", user["email_verified_utc"] or "no"),
        ("password", f"set {user['password_changed_utc']}" if user["has_password"] else "none (invited)"),
        ("two-factor", f"on since {user['mfa_enabled_utc']}, {user['recovery_codes_left']} recovery code(s) left"
         if user["mfa"] else "off"),
        ("created", user["created_utc"]), ("last login", user["last_login_utc"] or "never"),
    ]
    for label, value in lines:
        con.print(f"{label + ':':<15}{value}", markup=False)
    projects = user["projects"]
    if projects:
        con.print("projects:", markup=False)
        for slug, role in sorted(projects.items()):
            con.print(f"  {slug:<30} {role}", markup=False)
    else:
        con.print(f"{'projects:':<15}none", markup=False)


@users_app.command("disable")
def users_disable(ctx: typer.Context, email: EmailArg, yes: YesOpt = False, json_: JsonOpt = False,
                  quiet: QuietOpt = False) -> None:
    """Disable an account: it can no longer sign in, its sessions end and its API keys are revoked.

    Example: agentcost users disable bo@example.com --yes
    """

    confirm(f"Disable {email} (ends their sessions, revokes the API keys they created)?", yes)
    user = backend(ctx).set_user_status(email, active=False)
    if json_:
        output.write_json(user)
    if not quiet:
        output.info(f"disabled {user['email']}: sessions ended, API keys revoked, the user is told by email")


@users_app.command("enable")
def users_enable(ctx: typer.Context, email: EmailArg, json_: JsonOpt = False, quiet: QuietOpt = False) -> None:
    """Enable a disabled account again (revoked keys stay revoked).

    Example: agentcost users enable bo@example.com
    """

    user = backend(ctx).set_user_status(email, active=True)
    if json_:
        output.write_json(user)
    if not quiet:
        output.info(f"enabled {user['email']}")


@users_app.command("update")
def users_update(
    ctx: typer.Context,
    email: EmailArg,
    name: Annotated[str | None, typer.Option("--name", help="New display name ('' clears it).",
                                             show_default=False)] = None,
    admin: Annotated[bool | None, typer.Option("--admin/--no-admin", help="Grant or remove the server-admin flag.",
                                               show_default=False)] = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Change a display name or the server-admin flag.

    Example: agentcost users update bo@example.com --admin
    """

    user = backend(ctx).update_user(email, name=name, admin=admin)
    if json_:
        output.write_json(user)
    if not quiet:
        output.info(f"updated {user['email']}" + (" (server admin)" if user["is_admin"] else ""))


@users_app.command("delete")
def users_delete(ctx: typer.Context, email: EmailArg, yes: YesOpt = False, quiet: QuietOpt = False) -> None:
    """Delete an account with its sessions and memberships; the API keys it created are revoked.

    Example: agentcost users delete bo@example.com --yes

    Refused while the user is the last owner of a project: transfer or delete that project first.
    """

    confirm(f"Delete the account {email} (cannot be undone)?", yes)
    backend(ctx).delete_user(email)
    if not quiet:
        output.info(f"deleted {email}")


IDENTITY_COLUMNS = ("issuer", "subject", "email_at_link", "created_utc", "last_login_utc")


@users_app.command("identities")
def users_identities(
    ctx: typer.Context,
    email: Annotated[str | None, typer.Argument(help="Whose (server admins); default: your own account.",
                                                show_default=False)] = None,
    json_: JsonOpt = False,
    csv_: CsvOpt = False,
) -> None:
    """The single sign-on identities (provider issuer and subject) linked to an account.

    Example: agentcost users identities bo@example.com
    """

    fmt = one_format(json=json_, csv=csv_)
    rows = backend(ctx).list_identities(email)
    if emit_listing(fmt, "identities", IDENTITY_COLUMNS, rows, "no single sign-on identity is linked"):
        return
    output.render_table(
        ["issuer", "subject", "address when linked", "linked", "last sign-in"],
        ([r["issuer"], r["subject"], plain(r["email_at_link"]), _day(r["created_utc"]),
          (r["last_login_utc"] or "")[:16].replace("T", " ")] for r in rows),
        droppable=["address when linked", "last sign-in", "linked"],
    )


@users_app.command("unlink-identity")
def users_unlink_identity(
    ctx: typer.Context,
    email: EmailArg,
    issuer: Annotated[str | None, typer.Option("--issuer", help="Only the link at this provider (its issuer URL).",
                                               show_default=False)] = None,
    yes: YesOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Remove an account's single sign-on links, so its next sign-in links by verified address.

    For when the provider refused a sign-in as an identity conflict and you have checked that
    the new identity is the same person. Example: agentcost users unlink-identity bo@example.com --yes
    """

    where = f" at {issuer}" if issuer else ""
    confirm(f"Remove the single sign-on links of {email}{where}?", yes)
    removed = backend(ctx).unlink_identities(email, issuer=issuer)
    if not quiet:
        output.info(f"removed {removed} link(s) of {email}{where}")
