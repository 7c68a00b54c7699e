"""The root command: global options, sub-command registration and the error boundary.

Only Typer and the light command modules are imported here; each command
imports what it needs (stores, pricing, servers) inside its own function.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer

from . import __version__, output
from .commands import account as account_cmd
from .commands import alerts as alerts_cmd
from .commands import api as api_cmd
from .commands import audit as audit_cmd
from .commands import budgets as budgets_cmd
from .commands import channels as channels_cmd
from .commands import config as config_cmd
from .commands import daemon as daemon_cmd
from .commands import data as data_cmd
from .commands import db as db_cmd
from .commands import demo as demo_cmd
from .commands import events as events_cmd
from .commands import ingest as ingest_cmd
from .commands import keys as keys_cmd
from .commands import login as login_cmd
from .commands import outbox as outbox_cmd
from .commands import pricing as pricing_cmd
from .commands import projects as projects_cmd
from .commands import report as report_cmd
from .commands import tui as tui_cmd
from .commands import users as users_cmd
from .commands._common import AppState
from .errors import AgentcostError, ExitCode

app = typer.Typer(
    name="agentcost",
    help="Know what your LLM and AI-agent usage costs: ingest usage logs, price them exactly, report and export.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"agentcost {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    home: Annotated[Path | None, typer.Option("--home", help="Keep config, data and cache under this folder "
                                              "(same as AGENTCOST_HOME).", show_default=False)] = None,
    db: Annotated[str | None, typer.Option("--db", help="Store file to use (overrides store.path).",
                                           show_default=False)] = None,
    no_color: Annotated[bool, typer.Option("--no-color", help="Plain output (also NO_COLOR=1 or TERM=dumb).")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks for unexpected errors.")] = False,
    profile: Annotated[str | None, typer.Option("--profile", help="Work against the daemon of this login "
                                                "(see `agentcost login`).", show_default=False)] = None,
    local: Annotated[bool, typer.Option("--local", help="Use this machine's store even when logged in "
                                        "to a daemon.")] = False,
    version: Annotated[bool, typer.Option("--version", "-V", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """agentcost: exact cost tracking for LLM and agent usage."""
    if home is not None:
        os.environ["AGENTCOST_HOME"] = str(home.expanduser())
    output.configure(no_color=no_color)
    output.configure_logging(debug=debug)
    ctx.obj = AppState(db=db, debug=debug, profile=profile, local=local)


ingest_cmd.register(app)
app.add_typer(ingest_cmd.import_app, name="import")
report_cmd.register(app)
app.add_typer(data_cmd.export_app, name="export")
app.add_typer(events_cmd.events_app, name="events")
app.add_typer(pricing_cmd.pricing_app, name="pricing")
app.add_typer(config_cmd.config_app, name="config")
app.add_typer(db_cmd.db_app, name="db")
app.add_typer(users_cmd.users_app, name="users")
app.add_typer(projects_cmd.projects_app, name="projects")
app.add_typer(keys_cmd.keys_app, name="keys")
app.add_typer(account_cmd.account_app, name="account")
app.add_typer(audit_cmd.audit_app, name="audit")
app.add_typer(budgets_cmd.budgets_app, name="budgets")
app.add_typer(alerts_cmd.alerts_app, name="alerts")
app.add_typer(channels_cmd.channels_app, name="channels")
app.add_typer(channels_cmd.webhooks_app, name="webhooks")
app.add_typer(outbox_cmd.outbox_app, name="outbox")
app.add_typer(daemon_cmd.daemon_app, name="daemon")
app.add_typer(api_cmd.api_app, name="api")
demo_cmd.register(app)
tui_cmd.register(app)
login_cmd.register(app)
config_cmd.register_completions(app)


def _crash_report(exc: BaseException) -> Path | None:
    from . import paths
    from .timeutil import now_utc

    try:
        folder = paths.log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"crash-{now_utc().replace(':', '')}.log"
        target.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
        return target
    except OSError:
        return None


def run(args: list[str]) -> int:
    """Run the CLI and map every outcome onto a documented exit code.

    Typer's standalone mode prints usage errors (exit 2) and help itself and ends
    with SystemExit; our own errors and crashes pass through it to the handlers here.
    """
    if os.environ.get("_AGENTCOST_COMPLETE"):
        # Shell completion asks through this variable; Typer registers the shells only on request.
        from typer._completion_classes import completion_init

        completion_init()
    command = typer.main.get_command(app)
    debug = "--debug" in args
    try:
        command.main(args=args, prog_name="agentcost", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else int(ExitCode.UNEXPECTED))
    except AgentcostError as exc:
        output.error(exc.title, exc.message, exc.hint)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        output.err_console().print("interrupted")
        return 130
    except Exception as exc:
        if debug:
            traceback.print_exception(exc, file=sys.stderr)
        else:
            where = _crash_report(exc)
            output.error("unexpected error", f"{type(exc).__name__}: {exc}",
                         f"details in {where}; rerun with --debug for the traceback" if where else None)
        return int(ExitCode.UNEXPECTED)
    return 0
