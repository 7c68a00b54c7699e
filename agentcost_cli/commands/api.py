"""`agentcost api spec`: the daemon's OpenAPI document, without starting it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import text_target

api_app = typer.Typer(help="The HTTP API: its OpenAPI document.", no_args_is_help=True)


@api_app.command("spec")
def api_spec(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.",
                                                show_default=False)] = None,
) -> None:
    """Print the OpenAPI schema (JSON) of the daemon's API.

    Example: agentcost api spec -o openapi.json
    """
    import orjson

    from ..server.app import create_api
    from ..server.config import ServerConfig

    # Building the app opens nothing: the store and the key file are touched only when it starts.
    app = create_api(ServerConfig(store_path="unused.db"))
    with text_target(output) as target:
        target.write(orjson.dumps(app.openapi(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n")
