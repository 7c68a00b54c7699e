"""AU-03: the breached-password check, against a local stand-in for the HIBP range API."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agentcost_cli.auth.breached import breach_count
from agentcost_cli.errors import InvalidInput
from agentcost_cli.services import users
from agentcost_cli.services.actor import LOCAL
from agentcost_cli.services.auth_config import auth_config
from agentcost_cli.store.base import Store

BREACHED = "tr0ub4dor&3-but-leaked"


class RangeApi:
    def __init__(self) -> None:
        self.requests: list[str] = []
        digest = hashlib.sha1(BREACHED.encode()).hexdigest().upper()
        self.prefix, self.suffix = digest[:5], digest[5:]
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                api.requests.append(self.path)
                asked = self.path.rsplit("/", 1)[1]
                lines = ["0018A45C4D1DEF81644B54AB7F969B88D65:0"]  # padding, as the real API adds
                if asked == api.prefix:
                    lines.append(f"{api.suffix}:4213")
                body = "\r\n".join(lines).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/range/"


@pytest.fixture
def range_api() -> Iterator[RangeApi]:
    api = RangeApi()
    thread = threading.Thread(target=api.httpd.serve_forever, daemon=True)
    thread.start()
    yield api
    api.httpd.shutdown()


def test_a_known_hash_is_flagged_and_only_its_prefix_is_sent(range_api: RangeApi) -> None:
    assert breach_count(BREACHED, url=range_api.url) == 4213
    assert breach_count("a passphrase nobody has leaked", url=range_api.url) == 0
    assert range_api.requests[0] == f"/range/{range_api.prefix}"
    assert all(len(path.rsplit("/", 1)[1]) == 5 for path in range_api.requests)


def test_registration_refuses_a_breached_password(store: Store, range_api: RangeApi) -> None:
    auth_config(store).breach_check_url = range_api.url
    with pytest.raises(InvalidInput, match="4,213 known data breaches"):
        users.create_user(store, LOCAL, email="a@example.com", password=BREACHED)
    assert store.find_user("a@example.com") is None
    users.create_user(store, LOCAL, email="a@example.com", password="a passphrase nobody has leaked")


def test_offline_the_password_is_allowed_with_a_warning(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    auth_config(store).breach_check_url = "http://127.0.0.1:9/range/"  # nothing listens on the discard port
    with caplog.at_level("WARNING", logger="agentcost_cli"):
        users.create_user(store, LOCAL, email="b@example.com", password=BREACHED)
    assert store.find_user("b@example.com") is not None
    assert "could not be reached" in caplog.text


def test_the_cli_shows_the_offline_warning(tmp_path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from agentcost_cli.cli import run

    monkeypatch.setenv("AGENTCOST_BREACH_CHECK_URL", "http://127.0.0.1:9/range/")
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.StringIO("a passphrase nobody has leaked\n"))
    code = run(["--db", str(tmp_path / "s.db"), "users", "create", "c@example.com", "--password-stdin"])
    assert code == 0
    assert "warning: the breached-password service could not be reached" in capsys.readouterr().err
