"""`agentcost tui`: the terminal dashboard (Textual), or with --web the same in a browser."""

from __future__ import annotations

import shlex
import sys
from typing import Annotated

import typer

from .. import output
from ..errors import InvalidInput
from ._common import TzOpt, backend, remote_mode, settings, state, zone


def register(app: typer.Typer) -> None:
    @app.command("tui")
    def tui(
        ctx: typer.Context,
        refresh: Annotated[float, typer.Option("--refresh", min=0, help="Reload the visible screen every N "
                                               "seconds (0: only when you press r).")] = 30.0,
        tz: TzOpt = None,
        screen: Annotated[str, typer.Option("--screen", help="Open on this screen: overview, explore, events, "
                                            "budgets, pricing or projects.")] = "overview",
        web: Annotated[bool, typer.Option("--web", help="Serve the dashboard to a browser (textual-serve) "
                                          "instead of drawing it here.")] = False,
        host: Annotated[str, typer.Option("--host", help="With --web: the address to listen on. Anything "
                                          "but loopback lets others on the network use it as you.")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", min=1, max=65535, help="With --web: the port.")] = 8566,
    ) -> None:
        """A live dashboard of spend, budgets, events, alerts, pricing and keys.

        Example: agentcost tui          (or: agentcost tui --web, then open http://127.0.0.1:8566)
        """
        from ..tui.widgets.nav import SCREENS

        if screen not in dict(SCREENS):
            raise InvalidInput(f"no screen named {screen!r}", hint=f"choose from: {', '.join(dict(SCREENS))}")
        if web:
            _serve_web(ctx, refresh=refresh, tz=tz, host=host, port=port, screen=screen)
            return
        from ..tui.factory import make_app

        tzinfo, tz_label = zone(ctx, tz)
        if remote_mode(ctx):
            remote = backend(ctx)
            app = make_app(lambda: remote, location=f"remote · {remote.location}", shared=True,
                           zone=tzinfo, zone_name=tz_label, refresh_seconds=refresh, start=screen)
        else:
            from ..tui.backends import local_opener
            from ._common import open_store

            open_store(ctx)  # once here: create and migrate it, and fail early with a clear error
            location = str(settings(ctx)["store.path"])
            app = make_app(local_opener(location, synchronous=settings(ctx)["store.synchronous"]),
                           location=f"local · {location}", zone=tzinfo, zone_name=tz_label, refresh_seconds=refresh,
                           start=screen)
        app.run()


def _serve_web(ctx: typer.Context, *, refresh: float, tz: str | None, host: str, port: int, screen: str) -> None:
    from ..tui.web import is_loopback, serve

    st = state(ctx)
    argv = [sys.executable, "-m", "agentcost_cli"]
    if st.db:
        argv += ["--db", st.db]
    if st.profile:
        argv += ["--profile", st.profile]
    if st.local:
        argv.append("--local")
    argv += ["tui", "--refresh", str(refresh), "--screen", screen]
    if tz:
        argv += ["--tz", tz]
    if not is_loopback(host):
        output.warn(f"listening on {host}: anyone who can reach it uses the dashboard with your access")
    shown = f"[{host}]" if ":" in host else host
    output.info(f"serving the dashboard at http://{shown}:{port} (ctrl+c stops)")
    serve(shlex.join(argv), host=host, port=port)
