"""The daemon's GitHub client (agentcost_cli.auth.github) against a local fake GitHub
(tests/server/fake_github.py), and the `sso.*` settings that select it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agentcost_cli.auth.github import GitHubClient
from agentcost_cli.auth.oidc import (
    DeviceDenied,
    DeviceExpired,
    DevicePending,
    OidcClient,
    OidcSettings,
    ProviderError,
    client_for,
)

from ..server.fake_github import GITHUB_CLIENT_ID, GITHUB_SECRET, FakeGitHub, running_github


@pytest.fixture
def gh() -> Iterator[FakeGitHub]:
    with running_github(pending_polls=0) as github:
        yield github


def settings_for(gh: FakeGitHub, tmp_path: Path, *, secret: bool = False, **changes: str) -> OidcSettings:
    secret_file = ""
    if secret:
        path = tmp_path / "github-secret"
        path.write_text(GITHUB_SECRET + "\n")
        secret_file = str(path)
    values = {"issuer": gh.url, "client_id": GITHUB_CLIENT_ID, "client_secret_file": secret_file,
              "scopes": "read:user user:email", "provider": "github", "api_url": gh.api, **changes}
    return OidcSettings(**values)


def approved(client: GitHubClient) -> dict[str, object]:
    return client.poll_token(client.start_device_authorization().device_code)


def test_the_device_flow_and_who_signed_in(gh: FakeGitHub, tmp_path: Path) -> None:
    client = client_for(settings_for(gh, tmp_path))
    assert isinstance(client, GitHubClient)
    started = client.start_device_authorization()
    assert started.verification_uri == f"{gh.url}/login/device" and started.verification_uri_complete is None
    assert (started.interval, started.expires_in) == (1, 900)
    answer = client.poll_token(started.device_code)
    assert str(answer["access_token"]).startswith("gho_")
    claims = client.identity(answer, now=0)
    assert claims == {"iss": gh.url, "sub": "583231", "preferred_username": "octo-owner", "name": "Olivia Owner",
                      "email": "owner@example.com", "email_verified": True}

    posts = [r for r in gh.requests if r["method"] == "POST"]
    assert [r["path"] for r in posts] == ["/login/device/code", "/login/oauth/access_token"]
    assert posts[0]["form"] == {"client_id": GITHUB_CLIENT_ID, "scope": "read:user user:email"}
    assert posts[1]["form"] == {"client_id": GITHUB_CLIENT_ID, "device_code": started.device_code,
                                "grant_type": "urn:ietf:params:oauth:grant-type:device_code"}
    assert all(r["headers"]["accept"] == "application/json" and "authorization" not in r["headers"] for r in posts)
    gets = [r for r in gh.requests if r["method"] == "GET"]
    assert [r["path"] for r in gets] == ["/api/v3/user", "/api/v3/user/emails"]
    assert all(r["headers"]["authorization"] == f"Bearer {answer['access_token']}"
               and r["headers"]["accept"] == "application/vnd.github+json"
               and r["headers"]["x-github-api-version"] == "2022-11-28" for r in gets)
    assert gh.tokens[str(answer["access_token"])] == "live"  # no secret: nothing to revoke with


def test_with_the_apps_secret_the_access_token_is_revoked_once_read(gh: FakeGitHub, tmp_path: Path) -> None:
    client = client_for(settings_for(gh, tmp_path, secret=True))
    answer = approved(client)  # type: ignore[arg-type]
    assert client.identity(answer, now=0)["sub"] == "583231"
    assert gh.tokens[str(answer["access_token"])] == "revoked"
    [delete] = [r for r in gh.requests if r["method"] == "DELETE"]
    assert delete["path"] == f"/api/v3/applications/{GITHUB_CLIENT_ID}/token"
    assert delete["json"] == {"access_token": answer["access_token"]}
    posts = [r for r in gh.requests if r["method"] == "POST"]
    assert all("client_secret" not in r["form"] for r in posts)  # the device flow needs no secret

    gh.client_secret = "rotated"  # a failed revocation is logged, not fatal
    answer = approved(client)  # type: ignore[arg-type]
    assert client.identity(answer, now=0)["sub"] == "583231"


@pytest.mark.parametrize(("emails", "status", "expected"), [
    ([{"email": "Owner@Example.com", "primary": True, "verified": False}], 200,
     {"email": "Owner@Example.com", "email_verified": False}),  # an unverified primary is not verified
    ([{"email": "a@example.com", "primary": False, "verified": True},
      {"email": "b@example.com", "primary": True, "verified": "true"}], 200,
     {"email": "b@example.com", "email_verified": False}),  # only GitHub's boolean counts; only the primary
    ([{"email": "a@example.com", "primary": False, "verified": True}], 200, {}),  # no primary: no address
    ([], 404, {}),  # the user:email scope was not granted
])
def test_only_the_primary_verified_address_counts(gh: FakeGitHub, tmp_path: Path, emails: list[dict[str, object]],
                                                  status: int, expected: dict[str, object]) -> None:
    gh.emails, gh.emails_status = emails, status
    client = client_for(settings_for(gh, tmp_path))
    claims = client.identity(approved(client), now=0)  # type: ignore[arg-type]
    assert {k: v for k, v in claims.items() if k in ("email", "email_verified")} == expected
    assert claims["sub"] == "583231"


def test_githubs_answers_with_http_200_errors(gh: FakeGitHub, tmp_path: Path) -> None:
    client = client_for(settings_for(gh, tmp_path))
    gh.pending_polls, gh.slow_down_polls = 2, {2}
    code = client.start_device_authorization().device_code
    with pytest.raises(DevicePending) as pending:
        client.poll_token(code)
    assert not pending.value.slow_down
    with pytest.raises(DevicePending) as slow:
        client.poll_token(code)
    assert slow.value.slow_down
    assert client.poll_token(code)["access_token"]
    with pytest.raises(DeviceExpired):
        client.poll_token(code)  # single use: incorrect_device_code
    gh.pending_polls, gh.slow_down_polls = 0, set()
    gh.outcome = "deny"
    with pytest.raises(DeviceDenied):
        approved(client)  # type: ignore[arg-type]
    gh.outcome = "expire"
    with pytest.raises(DeviceExpired):
        approved(client)  # type: ignore[arg-type]


def test_provider_failures(gh: FakeGitHub, tmp_path: Path) -> None:
    wrong_id = client_for(settings_for(gh, tmp_path, client_id="Iv1.unknown"))
    with pytest.raises(ProviderError, match="refused the device authorization") as refused:
        wrong_id.start_device_authorization()
    assert "device flow" in (refused.value.hint or "")
    with pytest.raises(ProviderError, match="incorrect_client_credentials"):
        wrong_id.poll_token("whatever")
    client = client_for(settings_for(gh, tmp_path))
    with pytest.raises(ProviderError, match="HTTP 401"):
        client.identity({"access_token": "gho_forged"}, now=0)  # GitHub refuses a token it did not issue
    gh.user = {"login": "ghost"}
    with pytest.raises(ProviderError, match="without an id"):
        client.identity(approved(client), now=0)  # type: ignore[arg-type]
    gone = client_for(settings_for(gh, tmp_path, issuer="http://127.0.0.1:9", api_url="http://127.0.0.1:9"))
    with pytest.raises(ProviderError, match="cannot be reached"):
        gone.start_device_authorization()
    plain = client_for(settings_for(gh, tmp_path, api_url="http://api.github.example"))
    with pytest.raises(ProviderError, match="not an https"):
        plain.identity({"access_token": "x"}, now=0)


# -- settings -----------------------------------------------------------------------------------------------
def resolved(monkeypatch: pytest.MonkeyPatch, **env: str) -> OidcSettings | None:
    from agentcost_cli.settings import Settings

    for name, value in env.items():
        monkeypatch.setenv(f"AGENTCOST_SSO_{name.upper()}", value)
    return OidcSettings.from_settings(Settings.load())


def test_the_github_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from agentcost_cli.errors import ConfigError

    assert resolved(monkeypatch) is None  # off by default
    assert resolved(monkeypatch, provider="oidc") is None
    with pytest.raises(ConfigError, match="client_id"):
        resolved(monkeypatch, provider="github")
    github = resolved(monkeypatch, provider="GitHub", client_id="Iv1.abc")
    assert github == OidcSettings(issuer="https://github.com", client_id="Iv1.abc", client_secret_file="",
                                  scopes="read:user user:email", provider="github", api_url="https://api.github.com")
    assert isinstance(client_for(github), GitHubClient)
    enterprise = resolved(monkeypatch, issuer="https://github.example.com/")
    assert enterprise is not None and enterprise.issuer == "https://github.example.com"
    assert enterprise.api_url == "https://github.example.com/api/v3"
    explicit = resolved(monkeypatch, api_url="https://github.example.com/api/v3/", scopes="user:email")
    assert explicit is not None and explicit.api_url == "https://github.example.com/api/v3"
    assert explicit.scopes == "user:email"  # no openid needed: GitHub is not OpenID Connect
    for bad in ("http://api.github.example", "ftp://x"):
        with pytest.raises(ConfigError, match="https"):
            resolved(monkeypatch, api_url=bad)
    monkeypatch.delenv("AGENTCOST_SSO_API_URL")
    with pytest.raises(ConfigError, match="oidc or github"):
        resolved(monkeypatch, provider="gitlab")
    oidc = resolved(monkeypatch, provider="oidc", scopes="")
    assert oidc is not None and oidc.scopes == "openid email profile" and oidc.api_url == ""
    assert isinstance(client_for(oidc), OidcClient)
