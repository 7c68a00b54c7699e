"""`agentcost tui` as a user runs it: a real process in a real pseudo-terminal, and `--web`
serving the same app to a browser's websocket."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import pty
import select
import socket
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from agentcost_cli.tui.web import is_loopback

pytestmark = pytest.mark.subprocess


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCOST_") and k != "NO_COLOR"}
    env.update({"AGENTCOST_HOME": str(tmp_path / "home"), "TZ": "UTC", "TERM": "xterm-256color"})
    return env


def _read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{needle!r} not drawn within {timeout}s; got {seen[-400:]!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
    return seen


def test_tui_draws_the_overview_in_a_terminal_and_q_quits(seeded_db: Path, tmp_path: Path) -> None:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 110, 0, 0))
    process = subprocess.Popen([sys.executable, "-m", "agentcost_cli", "--db", str(seeded_db), "tui", "--tz", "UTC"],
                               stdin=slave, stdout=slave, stderr=slave, env=_env(tmp_path), close_fds=True)
    os.close(slave)
    try:
        screen = _read_until(master, b"This month", 30)
        screen += _read_until(master, b"Daily spend", 30)  # the first load finished (on a worker) and was drawn
        # (Which store it shows is test_app's business: a terminal gets the header in pieces.)
        assert b"Overview" in screen and b"Forecast" in screen
        os.write(master, b"q")
        deadline = time.monotonic() + 15
        tail = b""
        while process.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    tail = (tail + os.read(master, 65536))[-3000:]  # keep draining: a full terminal blocks the app
                except OSError:
                    break
        assert process.wait(timeout=5) == 0, tail
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_web_serves_the_same_app_on_loopback(seeded_db: Path, tmp_path: Path) -> None:
    import aiohttp
    import httpx

    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "agentcost_cli", "--db", str(seeded_db), "tui", "--web",
                                "--port", str(port), "--tz", "UTC"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(tmp_path))
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        assert page.status_code == 200 and "textual.js" in page.text

        async def dashboard_over_websocket() -> bytes:
            seen = b""
            deadline = time.monotonic() + 30
            async with aiohttp.ClientSession() as session, session.ws_connect(
                    f"http://127.0.0.1:{port}/ws?width=110&height=30") as ws:
                await ws.send_str(json.dumps(["resize", {"width": 110, "height": 30}]))
                # The app keeps drawing (and so sending), so the deadline is overall, not per message.
                while b"Daily spend" not in seen and time.monotonic() < deadline:
                    msg = await asyncio.wait_for(ws.receive(), max(0.1, deadline - time.monotonic()))
                    if msg.type not in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
                        break
                    seen += msg.data if isinstance(msg.data, bytes) else msg.data.encode()
            return seen

        drawn = asyncio.run(dashboard_over_websocket())
        assert b"This month" in drawn and b"Daily spend" in drawn and b"Overview" in drawn
        # Listening on loopback only: the port is not open on another local address.
        other = socket.gethostbyname(socket.gethostname())
        if not other.startswith("127."):
            with socket.socket() as sock, pytest.raises(OSError):
                sock.settimeout(2)
                sock.connect((other, port))
    finally:
        process.terminate()
        out, err = process.communicate(timeout=15)
    assert b"serving the dashboard at http://127.0.0.1:" in err
    assert b"Serving" not in out  # textual-serve's own banner does not land on stdout


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("::1", True), ("localhost", True), ("127.8.0.1", True),
    ("0.0.0.0", False), ("192.168.1.4", False), ("example.org", False),
])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
