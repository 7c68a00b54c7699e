"""`agentcost tui --web`: the same app in a browser, through textual-serve.

textual-serve starts one `agentcost tui` process per browser tab and relays its screen over a
websocket, so the browser sees exactly what the terminal would, with the same backend and the
same access as the user who started it. That is why it listens on loopback unless told
otherwise."""

from __future__ import annotations

import ipaddress
from typing import Any


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(command: str, *, host: str, port: int) -> None:
    """Serve `command` (an `agentcost tui` command line) at http://host:port until interrupted."""
    from rich.console import Console
    from textual_serve.server import Server

    class QuietServer(Server):
        """textual-serve prints a banner and its log on stdout; ours are messages: stderr."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.console = Console(stderr=True)

        async def on_startup(self, app: Any) -> None:
            return None

    QuietServer(command, host=host, port=port, title="agentcost").serve()
