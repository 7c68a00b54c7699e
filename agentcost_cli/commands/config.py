"""`agentcost config ...` and `agentcost completions SHELL`."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import output
from ..errors import ConfigError
from ._common import JsonOpt, QuietOpt, settings

config_app = typer.Typer(help="Settings: flags > AGENTCOST_* environment > config.toml > defaults.",
                         no_args_is_help=True)


@config_app.command("show")
def config_show(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Every setting, its value and where that value came from.

    Example: agentcost config show --json
    """
    from ..settings import SPECS

    resolved = settings(ctx).resolved()
    if json_:
        output.write_json({
            spec.key: {"value": resolved[spec.key].value, "source": resolved[spec.key].source,
                       "origin": resolved[spec.key].origin, "env": spec.env, "help": spec.help}
            for spec in SPECS
        })
        return
    output.render_table(
        ["key", "value", "source", "env"],
        ([s.key, str(resolved[s.key].value), resolved[s.key].source, s.env] for s in SPECS),
    )


@config_app.command("get")
def config_get(ctx: typer.Context, key: Annotated[str, typer.Argument(help="Dotted key, e.g. store.path.")]) -> None:
    """Print one resolved value (for scripts).

    Example: agentcost config get store.path
    """
    from ..settings import SPEC_BY_KEY

    if key not in SPEC_BY_KEY:
        raise ConfigError(f"unknown setting {key!r}", hint="run `agentcost config show` to list settings")
    typer.echo(settings(ctx)[key])


@config_app.command("set")
def config_set(
    key: Annotated[str, typer.Argument(help="Dotted key, e.g. report.timezone.")],
    value: Annotated[str, typer.Argument(help="New value (validated before it is written).")],
    quiet: QuietOpt = False,
) -> None:
    """Write a value to config.toml.

    Example: agentcost config set report.timezone Europe/Paris
    """
    from .. import paths
    from ..settings import write_config_value

    write_config_value(paths.config_file(), key, value)
    if not quiet:
        output.info(f"set {key} in {paths.config_file()}")


@config_app.command("unset")
def config_unset(key: Annotated[str, typer.Argument(help="Dotted key.")], quiet: QuietOpt = False) -> None:
    """Remove a value from config.toml (the default applies again).

    Example: agentcost config unset report.timezone
    """
    from .. import paths
    from ..settings import write_config_value

    write_config_value(paths.config_file(), key, None)
    if not quiet:
        output.info(f"removed {key} from {paths.config_file()}")


@config_app.command("path")
def config_path(
    which: Annotated[str, typer.Argument(help="config, data, cache, logs or db.")] = "config",
) -> None:
    """Print where agentcost keeps a kind of file.

    Example: cd "$(agentcost config path data)"
    """
    from .. import paths

    places = {"config": paths.config_file, "data": paths.data_dir, "cache": paths.cache_dir,
              "logs": paths.log_dir, "db": paths.default_db_path}
    if which not in places:
        raise ConfigError(f"unknown path {which!r}", hint=f"choose one of: {', '.join(places)}")
    typer.echo(str(places[which]()))


SHELLS = ("bash", "zsh", "fish")


def completion_script(shell: str) -> str:
    from typer._completion_shared import get_completion_script

    return str(get_completion_script(prog_name="agentcost", complete_var="_AGENTCOST_COMPLETE", shell=shell))


def register_completions(app: typer.Typer) -> None:
    @app.command("completions")
    def completions(shell: Annotated[str, typer.Argument(help="bash, zsh or fish.")]) -> None:
        """Print a shell completion script.

        Example: agentcost completions bash > ~/.local/share/bash-completion/completions/agentcost
        """
        if shell not in SHELLS:
            raise ConfigError(f"unsupported shell {shell!r}", hint=f"choose one of: {', '.join(SHELLS)}")
        typer.echo(completion_script(shell), nl=False)
