"""`agentcost projects list|create|show|rename|allow-ip|delete|share|unshare|transfer`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .. import output
from ._common import CsvOpt, JsonOpt, QuietOpt, YesOpt, backend, confirm, emit_listing, one_format, plain

projects_app = typer.Typer(help="Projects and who may use them: create, rename, delete, share with users "
                           "(owner, admin, member, viewer), transfer.", no_args_is_help=True)

SlugArg = Annotated[str, typer.Argument(help="The project's name (slug), as `agentcost projects list` shows it.",
                                        show_default=False)]
EmailArg = Annotated[str, typer.Argument(help="The user's email address.", show_default=False)]
PROJECT_COLUMNS = ("slug", "name", "role", "members", "events", "created_utc", "retention_days")


@projects_app.command("list")
def projects_list(ctx: typer.Context, json_: JsonOpt = False, csv_: CsvOpt = False) -> None:
    """Every project with its member count and stored events.

    Example: agentcost projects list --csv
    """

    fmt = one_format(json=json_, csv=csv_)
    rows = backend(ctx).list_projects()
    if emit_listing(fmt, "projects", PROJECT_COLUMNS, rows,
                    "no projects yet; create one with `agentcost projects create SLUG`"):
        return
    output.render_table(["project", "name", "members", "events", "created"],
                        ([r["slug"], r["name"], f"{r['members']:,}", f"{r['events']:,}", r["created_utc"][:10]]
                         for r in rows), right=["members", "events"])


@projects_app.command("create")
def projects_create(
    ctx: typer.Context,
    slug: Annotated[str, typer.Argument(help="Short name: lower-case letters, digits, '.', '_' or '-'.",
                                        show_default=False)],
    name: Annotated[str | None, typer.Option("--name", help="Display name (default: the slug).",
                                             show_default=False)] = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Create a project (it has no members until you share it).

    Example: agentcost projects create web-app --name "Web app"
    """

    project = backend(ctx).create_project(slug, name=name)
    if json_:
        output.write_json(project)
    if not quiet:
        output.info(f"created project {project['slug']}; share it with `agentcost projects share "
                    f"{project['slug']} EMAIL --role owner`")


def _render_project(project: dict[str, Any]) -> None:
    con = output.console()
    for label, value in (("project", project["slug"]), ("name", project["name"]),
                         ("created", project["created_utc"]), ("events", f"{project['events']:,}"),
                         ("active keys", project.get("keys", "")),
                         ("retention", f"{project['retention_days']} days" if project["retention_days"]
                          else "keep everything")):
        con.print(f"{label + ':':<13}{value}", markup=False)
    members = project.get("member_list", [])
    if not members:
        con.print(f"{'members:':<13}none", markup=False)
        return
    con.print(f"members ({len(members)}):", markup=False)
    output.render_table(["email", "name", "role", "since"],
                        ([m["email"], plain(m["display_name"]), m["role"], (m["created_utc"] or "")[:10]]
                         for m in members))


@projects_app.command("show")
def projects_show(ctx: typer.Context, slug: SlugArg, json_: JsonOpt = False) -> None:
    """One project: its events, active keys and members with their roles.

    Example: agentcost projects show web-app --json
    """

    project = backend(ctx).show_project(slug)
    if json_:
        output.write_json(project)
        return
    _render_project(project)


@projects_app.command("rename")
def projects_rename(
    ctx: typer.Context,
    slug: SlugArg,
    to: Annotated[str | None, typer.Option("--to", help="New slug.", show_default=False)] = None,
    name: Annotated[str | None, typer.Option("--name", help="New display name.", show_default=False)] = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Change a project's slug and/or display name (events, keys and members follow it).

    Example: agentcost projects rename web-app --to website --name "Website"
    """

    project = backend(ctx).rename_project(slug, new_slug=to, name=name)
    if json_:
        output.write_json(project)
    if not quiet:
        output.info(f"renamed {slug} to {project['slug']} ({project['name']})" if project["slug"] != slug
                    else f"{slug} is now named {project['name']!r}")


@projects_app.command("allow-ip")
def projects_allow_ip(
    ctx: typer.Context,
    slug: Annotated[str, typer.Argument(help="The project.", show_default=False)],
    networks: Annotated[list[str] | None, typer.Argument(help="Networks (CIDR) or addresses its API keys may be "
                                                         "used from.", show_default=False)] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Allow every address again.")] = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Limit where the project's API keys work (others get 403), or lift the limit with --clear.

    Example: agentcost projects allow-ip web-app 10.0.0.0/8 203.0.113.7
    """
    from ..errors import InvalidInput

    if clear == bool(networks):
        raise InvalidInput("give networks, or --clear", hint="e.g. agentcost projects allow-ip SLUG 10.0.0.0/8")
    project = backend(ctx).set_allowed_networks(slug, [] if clear else list(networks or []))
    if json_:
        output.write_json(project)
    if not quiet:
        allowed = project["allowed_networks"]
        output.info(f"{slug}: API keys work from " + (", ".join(allowed) if allowed else "anywhere"))


@projects_app.command("delete")
def projects_delete(ctx: typer.Context, slug: SlugArg, yes: YesOpt = False, quiet: QuietOpt = False) -> None:
    """Delete a project with all its events, API keys and memberships.

    Example: agentcost projects delete old-prototype --yes
    """

    api = backend(ctx)
    if not yes:
        events = api.show_project(slug)["events"]  # also: an unknown slug fails before the question
        confirm(f"Delete project {slug} with its {events:,} event(s), API keys and memberships?", yes)
    deleted = api.delete_project(slug)
    if not quiet:
        output.info(f"deleted project {slug} and {deleted:,} event(s)")


@projects_app.command("share")
def projects_share(
    ctx: typer.Context,
    slug: SlugArg,
    email: EmailArg,
    role: Annotated[str, typer.Option("--role", "-r", help="owner, admin, member or viewer.")] = "member",
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Give a user a role in a project, or change their role.

    Example: agentcost projects share web-app ana@example.com --role admin

    viewer: read usage. member: also ingest and manage their own keys. admin: also manage keys,
    budgets and members. owner: also rename, delete and transfer the project.
    """

    change = backend(ctx).share_project(slug, email, role.strip().lower())
    if json_:
        output.write_json(change)
    if not quiet:
        previous = f" (was {change['previous']})" if change["previous"] else ""
        output.info(f"{change['email']} is now {change['role']} of {change['project']}{previous}")


@projects_app.command("unshare")
def projects_unshare(ctx: typer.Context, slug: SlugArg, email: EmailArg, yes: YesOpt = False,
                     quiet: QuietOpt = False) -> None:
    """Remove a user from a project (the last owner cannot be removed: transfer first).

    Example: agentcost projects unshare web-app bo@example.com --yes
    """

    confirm(f"Remove {email} from project {slug}?", yes)
    backend(ctx).unshare_project(slug, email)
    if not quiet:
        output.info(f"removed {email} from {slug}")


@projects_app.command("transfer")
def projects_transfer(ctx: typer.Context, slug: SlugArg, email: EmailArg, yes: YesOpt = False,
                      json_: JsonOpt = False, quiet: QuietOpt = False) -> None:
    """Make a user an owner of the project.

    Example: agentcost projects transfer web-app ana@example.com --yes

    Run locally (as the store's owner) nobody is demoted: change the previous owner's role
    with `agentcost projects share SLUG EMAIL --role admin` if needed.
    """

    confirm(f"Make {email} an owner of project {slug}?", yes)
    project = backend(ctx).transfer_project(slug, email)
    if json_:
        output.write_json(project)
    if not quiet:
        output.info(f"{email} is now an owner of {slug}")
