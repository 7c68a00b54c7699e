"""Single sign-on through GitHub (`sso.provider = github`), in-process against a real local fake
GitHub (tests/server/fake_github.py): the same `/v1/auth/sso/*` routes, the identity read from
GitHub's API, linked by the numeric user id, and the account's own rules (MFA, status)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentcost_cli.auth.oidc import OidcSettings
from agentcost_cli.server.config import DEFAULT_LIMITS, ServerConfig
from agentcost_cli.services import audit, sso, users
from agentcost_cli.services.actor import LOCAL

from .conftest import Api, seed_team
from .fake_github import GITHUB_CLIENT_ID, GITHUB_SECRET, FakeGitHub, running_github
from .test_sso import bearer, enrol_mfa, is_problem, poll, sign_in, start


@pytest.fixture
def gh() -> Iterator[FakeGitHub]:
    with running_github() as github:
        yield github


@pytest.fixture
def make_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gh: FakeGitHub) -> Iterator[Callable[..., Api]]:
    from starlette.testclient import TestClient

    from agentcost_cli.server.app import create_app

    monkeypatch.setenv("AGENTCOST_PUBLIC_URL", "https://costs.example.org")
    clients: list[Any] = []

    def make(*, secret: bool = True, **options: Any) -> Api:
        secret_file = ""
        if secret:
            path = tmp_path / "github-secret"
            path.write_text(GITHUB_SECRET + "\n")
            secret_file = str(path)
        db = tmp_path / f"daemon-{len(clients)}.db"
        settings = OidcSettings(issuer=gh.url, client_id=GITHUB_CLIENT_ID, client_secret_file=secret_file,
                                scopes="read:user user:email", provider="github", api_url=gh.api)
        config = ServerConfig(store_path=str(db), public_url="https://costs.example.org", sso=settings,
                              limits={**DEFAULT_LIMITS, "auth_ip": "1000/minute"}, **options)
        client = TestClient(create_app(config), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        seed_team(db)
        return Api(client, db)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def api(make_api: Callable[..., Api]) -> Api:
    return make_api()


def identities(api: Api, email: str = "owner@example.com") -> list[tuple[str, str]]:
    store = api.store()
    try:
        return [(i["issuer"], i["subject"]) for i in sso.list_identities(store, LOCAL, email)]
    finally:
        store.close()


def who(api: Api, answer: Any) -> str:
    assert answer.status_code == 200, answer.text
    return str(api.client.get("/v1/me", headers=bearer(answer.json()["access_token"])).json()["email"])


def test_a_github_sign_in_links_the_numeric_id(api: Api, gh: FakeGitHub) -> None:
    gh.slow_down_polls, gh.pending_polls = {1}, 2
    device = start(api)
    assert device["verification_uri"] == f"{gh.url}/login/device" and device["verification_uri_complete"] is None
    is_problem(poll(api, device["device_code"]), 400, "slow-down")
    is_problem(poll(api, device["device_code"]), 400, "authorization-pending")
    answer = poll(api, device["device_code"])
    assert who(api, answer) == "owner@example.com"
    assert answer.headers["cache-control"] == "no-store"
    assert identities(api) == [(gh.url, "583231")]
    store = api.store()
    [login] = audit.list_records(store, LOCAL, action="login")
    store.close()
    assert login["detail"]["method"] == "sso" and login["detail"]["issuer"] == gh.url
    # the daemon read the identity, then revoked GitHub's token: nothing of it is left usable
    assert list(gh.tokens.values()) == ["revoked"]
    is_problem(poll(api, device["device_code"]), 400, "expired-token")  # single use
    assert GITHUB_SECRET not in answer.text


def test_a_renamed_login_or_a_changed_address_keeps_the_account(api: Api, gh: FakeGitHub) -> None:
    assert who(api, sign_in(api)) == "owner@example.com"
    gh.user = {"id": 583231, "login": "renamed", "name": None}
    gh.emails = [{"email": "olivia@new.example", "primary": True, "verified": True}]
    assert who(api, sign_in(api)) == "owner@example.com"
    gh.emails_status = 404  # even without the email scope now: the link is by id
    assert who(api, sign_in(api)) == "owner@example.com"

    # Another GitHub user who now holds the owner's address, or the old login name, gets nothing.
    gh.emails_status = 200
    gh.user = {"id": 999001, "login": "octo-owner", "name": "Someone Else"}
    gh.emails = [{"email": "owner@example.com", "primary": True, "verified": True}]
    is_problem(sign_in(api), 409, "identity-conflict")
    assert identities(api) == [(gh.url, "583231")]


def test_github_addresses_must_be_primary_and_verified(api: Api, gh: FakeGitHub) -> None:
    gh.emails = [{"email": "owner@example.com", "primary": True, "verified": False}]
    assert "not verified" in is_problem(sign_in(api), 401, "unauthenticated")["detail"]
    gh.emails = [{"email": "owner@example.com", "primary": False, "verified": True},
                 {"email": "other@example.com", "primary": True, "verified": True}]
    assert "no agentcost account uses other@example.com" in is_problem(sign_in(api), 401, "unauthenticated")["detail"]
    gh.emails_status = 404
    body = is_problem(sign_in(api), 401, "unauthenticated")
    assert "no usable email address" in body["detail"] and "user:email" in body["hint"]
    assert identities(api) == []


def test_github_sign_ins_keep_the_accounts_own_rules(api: Api, gh: FakeGitHub) -> None:
    _, recovery = enrol_mfa(api, "owner@example.com")
    is_problem(sign_in(api), 401, "mfa-required")
    assert identities(api) == []
    assert who(api, sign_in(api, code=recovery[0])) == "owner@example.com"
    assert identities(api) == [(gh.url, "583231")]
    gh.user = {"id": 7, "login": "viewer"}
    gh.emails = [{"email": "viewer@example.com", "primary": True, "verified": True}]
    token = sign_in(api).json()["access_token"]
    assert api.client.get("/v1/me", headers=bearer(token)).json()["projects"] == {"web": "viewer"}
    store = api.store()
    users.set_status(store, LOCAL, "viewer@example.com", active=False)
    store.close()
    assert "disabled" in is_problem(sign_in(api), 401, "unauthenticated")["detail"]


def test_a_public_github_app_keeps_no_secret(make_api: Callable[..., Api], gh: FakeGitHub) -> None:
    api = make_api(secret=False)
    assert who(api, sign_in(api)) == "owner@example.com"
    assert not [r for r in gh.requests if r["method"] == "DELETE"]
    assert all("client_secret" not in r["form"] for r in gh.requests if r["method"] == "POST")


def test_the_daemon_settings_select_github(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTCOST_SSO_PROVIDER", "github")
    monkeypatch.setenv("AGENTCOST_SSO_CLIENT_ID", GITHUB_CLIENT_ID)
    sso_settings = ServerConfig.from_settings().sso
    assert sso_settings is not None and (sso_settings.provider, sso_settings.issuer, sso_settings.api_url) == (
        "github", "https://github.com", "https://api.github.com")
