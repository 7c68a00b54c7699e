"""Single sign-on (RFC 8628 device flow against an OpenID Connect provider), in-process against a
real local fake provider (tests/server/fake_idp.py), and once through a real `agentcost daemon`.

The daemon is the OAuth client: it starts the device authorization, polls the provider once per
`POST /v1/auth/sso/token`, verifies the ID token, resolves it by its linked (issuer, subject), or
the first time by the same verified email (and links it), and honours the account's MFA, status
and roles."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest

from agentcost_cli.auth.oidc import OidcSettings
from agentcost_cli.server.config import DEFAULT_LIMITS, ServerConfig
from agentcost_cli.services import audit, clock, mfa, sso, users
from agentcost_cli.services.actor import LOCAL
from agentcost_cli.timeutil import format_utc

from .conftest import Api, seed_team, start_daemon
from .fake_idp import CLIENT_ID, CLIENT_SECRET, FakeIdp, SigningKey, hs256_with_public_key, running_idp, unsigned_token

PROBLEM = "application/problem+json"


def is_problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["type"] == f"/problems/{slug}" and body["status"] == status and body["detail"], body
    return body


@pytest.fixture
def idp() -> Iterator[FakeIdp]:
    with running_idp() as provider:
        yield provider


def secret_file(folder: Path, secret: str = CLIENT_SECRET) -> Path:
    path = folder / "sso-client-secret"
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def make_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, idp: FakeIdp) -> Iterator[Callable[..., Api]]:
    """The daemon app in-process, configured with the fake provider; `open_registration=True` etc."""
    from starlette.testclient import TestClient

    from agentcost_cli.server.app import create_app

    monkeypatch.setenv("AGENTCOST_PUBLIC_URL", "https://costs.example.org")
    clients: list[Any] = []

    def make(issuer: str | None = None, **options: Any) -> Api:
        db = tmp_path / f"daemon-{len(clients)}.db"
        sso = OidcSettings(issuer=issuer or idp.issuer, client_id=CLIENT_ID,
                           client_secret_file=str(secret_file(tmp_path)))
        config = ServerConfig(store_path=str(db), public_url="https://costs.example.org", sso=sso,
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


def start(api: Api) -> dict[str, Any]:
    answer = api.client.post("/v1/auth/sso/device")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def poll(api: Api, device_code: str, **extra: Any) -> Any:
    return api.client.post("/v1/auth/sso/token", json={"device_code": device_code, **extra})


def sign_in(api: Api, **extra: Any) -> Any:
    """Start, then poll until the provider stops answering pending."""
    device = start(api)
    for _ in range(10):
        answer = poll(api, device["device_code"], **extra)
        if answer.status_code != 400 or answer.json()["type"] not in ("/problems/authorization-pending",
                                                                      "/problems/slow-down"):
            return answer
    raise AssertionError("still pending")


def login_records(api: Api) -> list[dict[str, Any]]:
    store = api.store()
    try:
        return audit.list_records(store, LOCAL, action="login")
    finally:
        store.close()


def enrol_mfa(api: Api, email: str) -> tuple[str, list[str]]:
    store = api.store()
    try:
        enrolment = mfa.begin_enrolment(store, LOCAL, email)
        codes = mfa.confirm_enrolment(store, LOCAL, pyotp.TOTP(enrolment.secret).at(clock.now()), email)
        return enrolment.secret, codes
    finally:
        store.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- the flow ------------------------------------------------------------------------------------
def test_pending_then_slow_down_then_a_session_like_the_password_login(api: Api, idp: FakeIdp) -> None:
    idp.pending_polls, idp.slow_down_polls = 3, {2}
    device = start(api)
    assert device["user_code"] and device["verification_uri"] == f"{idp.url}/activate"
    assert device["verification_uri_complete"].endswith(device["user_code"])
    assert device["interval"] == 1 and device["expires_in"] == 120

    pending = is_problem(poll(api, device["device_code"]), 400, "authorization-pending")  # the provider said 428
    assert pending["title"] == "Authorization pending"
    is_problem(poll(api, device["device_code"]), 400, "slow-down")
    is_problem(poll(api, device["device_code"]), 400, "authorization-pending")  # the provider said 400
    answer = poll(api, device["device_code"])
    assert answer.status_code == 200, answer.text
    pair = answer.json()
    assert set(pair) == {"access_token", "refresh_token", "token_type", "expires_in", "session_id",
                         "refresh_expires_at"}
    assert pair["token_type"] == "Bearer" and pair["expires_in"] == 900
    assert answer.headers["cache-control"] == "no-store"

    me = api.client.get("/v1/me", headers=bearer(pair["access_token"])).json()
    assert me["email"] == "owner@example.com" and me["projects"] == {"web": "owner"}
    renewed = api.client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert renewed.status_code == 200  # a real session: it refreshes, lists, and logs out like any other
    sessions = api.client.get("/v1/me/sessions", headers=bearer(renewed.json()["access_token"])).json()["sessions"]
    assert [s["mfa"] for s in sessions] == [False]

    # the provider's device code is single use
    is_problem(poll(api, device["device_code"]), 400, "expired-token")
    record = login_records(api)[0]
    assert record["outcome"] == "ok" and record["target"] == "owner@example.com"
    assert record["detail"] == {"session": pair["session_id"], "mfa": False, "method": "sso", "issuer": idp.issuer}

    # The daemon authenticated as a confidential client with HTTP Basic, form-encoded (RFC 6749 2.3.1);
    # the secret never went anywhere else.
    posts = [r for r in idp.requests if r["method"] == "POST"]
    assert {r["path"] for r in posts} == {"/device", "/token"}
    assert all(r["headers"]["authorization"].startswith("Basic ") and "client_secret" not in r["form"]
               for r in posts)
    assert posts[0]["form"]["scope"] == "openid email profile"
    assert CLIENT_SECRET not in answer.text and CLIENT_SECRET not in str(device)


def test_the_secret_goes_in_the_body_when_the_provider_supports_only_that(make_api: Callable[..., Api],
                                                                          idp: FakeIdp) -> None:
    idp.auth_methods = ("client_secret_post",)
    assert sign_in(make_api()).status_code == 200
    posts = [r for r in idp.requests if r["method"] == "POST"]
    assert posts and all(r["form"]["client_secret"] == CLIENT_SECRET and "authorization" not in r["headers"]
                         for r in posts)


def test_an_unverified_email_is_refused(api: Api, idp: FakeIdp) -> None:
    for unverified in (False, "false", None):
        idp.claims = {**idp.claims, "email_verified": unverified}
        body = is_problem(sign_in(api), 401, "unauthenticated")
        assert "not verified" in body["detail"]
    records = login_records(api)
    assert len(records) == 3 and all(r["outcome"] == "failed" for r in records)
    assert records[0]["detail"] == {"method": "sso", "issuer": idp.issuer, "reason": "email not verified"}
    idp.claims = {**idp.claims, "email_verified": "true"}  # Cognito's spelling counts
    assert sign_in(api).status_code == 200


def test_the_email_is_matched_normalised(api: Api, idp: FakeIdp) -> None:
    idp.claims = {**idp.claims, "email": "  Owner@Example.COM "}
    answer = sign_in(api)
    assert answer.status_code == 200, answer.text
    me = api.client.get("/v1/me", headers=bearer(answer.json()["access_token"])).json()
    assert me["email"] == "owner@example.com"


def test_an_unknown_email_is_refused_unless_registration_is_open(make_api: Callable[..., Api], idp: FakeIdp) -> None:
    idp.claims = {"sub": "new-1", "email": "newcomer@example.com", "email_verified": True, "name": "New Comer"}
    closed = make_api()
    body = is_problem(sign_in(closed), 401, "unauthenticated")
    assert "no agentcost account uses newcomer@example.com" in body["detail"]
    assert login_records(closed)[0]["detail"]["reason"] == "no account"
    store = closed.store()
    assert store.find_user("newcomer@example.com") is None
    store.close()

    open_ = make_api(open_registration=True)
    answer = sign_in(open_)
    assert answer.status_code == 200, answer.text
    me = open_.client.get("/v1/me", headers=bearer(answer.json()["access_token"])).json()
    assert me["email"] == "newcomer@example.com" and me["display_name"] == "New Comer"
    assert me["email_verified_utc"] and me["has_password"] is False and me["is_admin"] is False
    assert me["projects"] == {}
    store = open_.store()
    registered = audit.list_records(store, LOCAL, action="user.register")
    store.close()
    assert registered[0]["detail"] == {"method": "sso", "issuer": idp.issuer}
    # an unverified address creates nothing, open registration or not
    idp.claims = {"sub": "new-2", "email": "other@example.com", "email_verified": False}
    is_problem(sign_in(open_), 401, "unauthenticated")
    store = open_.store()
    assert store.find_user("other@example.com") is None
    store.close()


def test_a_missing_email_is_refused(api: Api, idp: FakeIdp) -> None:
    idp.claims = {"sub": "no-mail"}
    body = is_problem(sign_in(api), 401, "unauthenticated")
    assert "email" in body["detail"] and body["hint"]


def test_a_disabled_account_is_refused(api: Api, idp: FakeIdp) -> None:
    store = api.store()
    users.set_status(store, LOCAL, "owner@example.com", active=False)
    store.close()
    body = is_problem(sign_in(api), 401, "unauthenticated")
    assert "disabled" in body["detail"]
    record = login_records(api)[0]
    assert record["outcome"] == "failed" and record["detail"]["reason"] == "account disabled"
    assert record["actor_user_id"] is not None


def test_roles_are_the_accounts_own(api: Api, idp: FakeIdp) -> None:
    idp.claims = {"sub": "v", "email": "viewer@example.com", "email_verified": True}
    token = sign_in(api).json()["access_token"]
    assert api.client.get("/v1/me", headers=bearer(token)).json()["projects"] == {"web": "viewer"}
    assert api.client.get("/v1/projects/web", headers=bearer(token)).status_code == 200
    created = api.client.post("/v1/projects/web/keys", json={"name": "x", "scopes": ["ingest"]},
                              headers=bearer(token))
    is_problem(created, 403, "forbidden")


def test_an_account_with_mfa_needs_its_code(api: Api, idp: FakeIdp) -> None:
    secret, recovery = enrol_mfa(api, "owner@example.com")
    device = start(api)
    is_problem(poll(api, device["device_code"]), 400, "authorization-pending")
    needed = poll(api, device["device_code"])
    body = is_problem(needed, 401, "mfa-required")
    assert needed.headers["www-authenticate"] == "Bearer"
    ticket = body["mfa_ticket"]
    assert ticket and "access_token" not in body

    # the code is checked (and audited); the ticket stays usable for another try
    wrong = poll(api, device["device_code"], mfa_ticket=ticket, code="000000")
    assert "wrong" in is_problem(wrong, 401, "unauthenticated")["detail"]
    assert login_records(api)[0]["detail"] == {"method": "sso", "issuer": idp.issuer, "reason": "second factor"}
    # the ticket is bound to its device code
    is_problem(poll(api, "another-device-code", mfa_ticket=ticket,
                    code=pyotp.TOTP(secret).at(datetime.now(UTC) + timedelta(seconds=30))), 401, "unauthenticated")
    # a ticket without a code is a mistake of the client
    is_problem(poll(api, device["device_code"], mfa_ticket=ticket), 422, "invalid-input")

    code = pyotp.TOTP(secret).at(datetime.now(UTC) + timedelta(seconds=30))  # enrolment used this step
    answer = poll(api, device["device_code"], mfa_ticket=ticket, code=code)
    assert answer.status_code == 200, answer.text
    pair = answer.json()
    sessions = api.client.get("/v1/me/sessions", headers=bearer(pair["access_token"])).json()["sessions"]
    assert [s["mfa"] for s in sessions] == [True]
    assert login_records(api)[0]["detail"] == {"session": pair["session_id"], "mfa": True, "method": "sso",
                                               "issuer": idp.issuer}
    # the same TOTP step cannot be replayed with the ticket
    is_problem(poll(api, device["device_code"], mfa_ticket=ticket, code=code), 401, "unauthenticated")

    # a code sent with the first successful poll is enough (here a recovery code)
    answer = sign_in(api, code=recovery[0])
    assert answer.status_code == 200, answer.text


def test_an_mfa_ticket_expires_and_cannot_be_forged(api: Api, idp: FakeIdp) -> None:
    _, recovery = enrol_mfa(api, "owner@example.com")
    with clock.frozen(datetime.now(UTC)):
        device = start(api)
        body = is_problem(sign_in_with(api, device), 401, "mfa-required")
        clock.advance(timedelta(minutes=5, seconds=1))
        late = poll(api, device["device_code"], mfa_ticket=body["mfa_ticket"], code=recovery[0])
        assert "expired" in is_problem(late, 401, "unauthenticated")["detail"]
    header, payload, signature = body["mfa_ticket"].split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    is_problem(poll(api, device["device_code"], mfa_ticket=forged, code=recovery[1]), 401, "unauthenticated")


def sign_in_with(api: Api, device: dict[str, Any]) -> Any:
    for _ in range(10):
        answer = poll(api, device["device_code"])
        if answer.status_code != 400:
            return answer
    raise AssertionError("still pending")


def test_declined_and_expired_sign_ins(api: Api, idp: FakeIdp) -> None:
    idp.outcome = "deny"
    declined = sign_in(api)
    is_problem(declined, 401, "access-denied")
    idp.outcome = "expire"
    body = is_problem(sign_in(api), 400, "expired-token")
    assert body["hint"]
    is_problem(poll(api, "never-issued"), 400, "expired-token")


# -- the ID token ---------------------------------------------------------------------------------
def _other_key(idp: FakeIdp, claims: dict[str, Any]) -> str:
    return SigningKey.rsa().sign(claims, kid=idp.keys[0].kid)  # the provider's kid, another key


def _unknown_kid(idp: FakeIdp, claims: dict[str, Any]) -> str:
    return SigningKey.rsa().sign(claims)


def _alg_none(idp: FakeIdp, claims: dict[str, Any]) -> str:
    return unsigned_token(claims, idp.keys[0].kid)


def _hs256(idp: FakeIdp, claims: dict[str, Any]) -> str:
    return hs256_with_public_key(claims, idp.keys[0])


def _changed(**changes: Any) -> Callable[[FakeIdp, dict[str, Any]], str]:
    def make(idp: FakeIdp, claims: dict[str, Any]) -> str:
        return idp.keys[0].sign({**claims, **changes})

    return make


NOW = int(time.time())
BAD_TOKENS = {
    "another key": (_other_key, "signature"),
    "an unknown key id": (_unknown_kid, "does not publish"),
    "alg none": (_alg_none, "'none' is not accepted"),
    "HS256 with the public key": (_hs256, "'HS256' is not accepted"),
    "another audience": (_changed(aud="someone-else"), "another client"),
    "another issuer": (_changed(iss="https://evil.example.com"), "another issuer"),
    "expired": (_changed(iat=NOW - 3600, exp=NOW - 600), "expired"),
    "issued in the future": (_changed(iat=NOW + 3600, exp=NOW + 7200), "future"),
    "another authorized party": (_changed(azp="someone-else"), "azp"),
    "no subject": (lambda idp, claims: idp.keys[0].sign({k: v for k, v in claims.items() if k != "sub"}), "sub"),
    "garbage": (lambda idp, claims: "not-a-jwt", "malformed"),
}


@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_a_bad_id_token_is_refused(api: Api, idp: FakeIdp, case: str) -> None:
    factory, reason = BAD_TOKENS[case]
    idp.id_token_factory = factory
    body = is_problem(sign_in(api), 401, "unauthenticated")
    assert body["detail"] == "the identity provider's ID token was refused"
    record = login_records(api)[0]
    assert record["outcome"] == "failed" and record["target"] is None
    assert record["detail"]["method"] == "sso" and reason in record["detail"]["reason"], record["detail"]
    idp.id_token_factory = None
    assert sign_in(api).status_code == 200  # the same flow with a good token works


def test_an_es256_token_and_a_list_audience_with_azp(api: Api, idp: FakeIdp) -> None:
    idp.keys = [SigningKey.ec(), *idp.keys]
    idp.id_token_factory = lambda p, claims: p.keys[0].sign({**claims, "aud": [CLIENT_ID, "other"], "azp": CLIENT_ID})
    assert sign_in(api).status_code == 200


# -- configuration and failures -------------------------------------------------------------------
def test_without_single_sign_on_the_routes_are_not_found(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from agentcost_cli.server.app import create_app

    config = ServerConfig(store_path=str(tmp_path / "plain.db"))
    with TestClient(create_app(config), raise_server_exceptions=False) as client:
        is_problem(client.post("/v1/auth/sso/device"), 404, "not-found")
        is_problem(client.post("/v1/auth/sso/token", json={"device_code": "x"}), 404, "not-found")
        for slug in ("authorization-pending", "slow-down", "expired-token", "access-denied",
                     "identity-provider-error"):
            assert client.get(f"/problems/{slug}").status_code == 200
        paths = client.get("/openapi.json").json()["paths"]
        assert {"400", "401", "502"} <= set(paths["/v1/auth/sso/token"]["post"]["responses"])


def test_an_unreachable_or_wrong_provider_is_a_502(make_api: Callable[..., Api], idp: FakeIdp) -> None:
    from .conftest import free_port

    gone = make_api(issuer=f"http://127.0.0.1:{free_port()}")
    body = is_problem(gone.client.post("/v1/auth/sso/device"), 502, "identity-provider-error")
    assert "cannot be reached" in body["detail"]
    # a discovery document naming another issuer is refused (OIDC Discovery 4.3)
    mismatch = make_api(issuer=idp.issuer + "/")
    body = is_problem(mismatch.client.post("/v1/auth/sso/device"), 502, "identity-provider-error")
    assert "names the issuer" in body["detail"]


def test_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agentcost_cli.errors import ConfigError

    assert ServerConfig.from_settings().sso is None
    monkeypatch.setenv("AGENTCOST_SSO_ISSUER", "https://idp.example.com/realms/x")
    with pytest.raises(ConfigError, match="client_id"):
        ServerConfig.from_settings()
    monkeypatch.setenv("AGENTCOST_SSO_CLIENT_ID", "agentcost")
    assert ServerConfig.from_settings().sso == OidcSettings("https://idp.example.com/realms/x", "agentcost", "",
                                                           "openid email profile")
    monkeypatch.setenv("AGENTCOST_SSO_CLIENT_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="cannot read"):
        ServerConfig.from_settings()
    monkeypatch.setenv("AGENTCOST_SSO_CLIENT_SECRET_FILE", str(secret_file(tmp_path)))
    sso = ServerConfig.from_settings().sso
    assert sso is not None and sso.client_secret() == CLIENT_SECRET and CLIENT_SECRET not in repr(sso)
    for bad, why in (("http://idp.example.com", "https"), ("ftp://x", "https"),
                     ("https://idp.example.com/?a=1", "query")):
        monkeypatch.setenv("AGENTCOST_SSO_ISSUER", bad)
        with pytest.raises(ConfigError, match=why):
            ServerConfig.from_settings()
    monkeypatch.setenv("AGENTCOST_SSO_ISSUER", "http://localhost:8080/realms/dev")  # loopback http is fine
    monkeypatch.setenv("AGENTCOST_SSO_SCOPES", "email profile")
    with pytest.raises(ConfigError, match="openid"):
        ServerConfig.from_settings()


# -- a real daemon ---------------------------------------------------------------------------------
@pytest.mark.subprocess
def test_single_sign_on_through_a_real_daemon(tmp_path: Path, idp: FakeIdp) -> None:
    db = tmp_path / "d.db"
    seed_team(db)
    idp.pending_polls, idp.slow_down_polls = 2, {1}
    daemon = start_daemon(tmp_path, db, env={
        "AGENTCOST_SSO_ISSUER": idp.issuer, "AGENTCOST_SSO_CLIENT_ID": CLIENT_ID,
        "AGENTCOST_SSO_CLIENT_SECRET_FILE": str(secret_file(tmp_path))})
    try:
        with httpx.Client(base_url=daemon.url) as client:
            device = client.post("/v1/auth/sso/device").json()
            kinds = []
            for _ in range(5):
                answer = client.post("/v1/auth/sso/token", json={"device_code": device["device_code"]})
                if answer.status_code == 200:
                    break
                kinds.append(answer.json()["type"])
            assert kinds == ["/problems/slow-down", "/problems/authorization-pending"]
            assert answer.status_code == 200, answer.text
            me = client.get("/v1/me", headers=bearer(answer.json()["access_token"])).json()
            assert me["email"] == "owner@example.com"
    finally:
        daemon.stop()
    log = daemon.log.read_text()
    assert CLIENT_SECRET not in log and device["device_code"] not in log
    assert os.environ.get("AGENTCOST_SSO_ISSUER") is None  # the test's own environment is untouched


# -- linked identities -----------------------------------------------------------------------------
def identities(api: Api, email: str = "owner@example.com") -> list[dict[str, Any]]:
    store = api.store()
    try:
        return sso.list_identities(store, LOCAL, email)
    finally:
        store.close()


def records(api: Api, action: str) -> list[dict[str, Any]]:
    store = api.store()
    try:
        return audit.list_records(store, LOCAL, action=action)
    finally:
        store.close()


def me(api: Api, answer: Any) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    return dict(api.client.get("/v1/me", headers=bearer(answer.json()["access_token"])).json())


def test_the_first_sign_in_links_the_identity_and_later_ones_use_the_link(api: Api, idp: FakeIdp) -> None:
    start_time = datetime.now(UTC).replace(microsecond=0)
    with clock.frozen(start_time):
        token = sign_in(api).json()["access_token"]
    [link] = identities(api)
    assert link == {"issuer": idp.issuer, "subject": "idp-user-1", "email_at_link": "owner@example.com",
                    "created_utc": format_utc(start_time), "last_login_utc": format_utc(start_time)}
    [linked] = records(api, "user.identity.link")
    assert linked["outcome"] == "ok" and linked["target"] == "owner@example.com"
    assert linked["detail"] == {"method": "sso", "issuer": idp.issuer, "subject": "idp-user-1"}
    assert api.client.get("/v1/me/identities", headers=bearer(token)).json()["identities"] == [link]

    # The address changes at the provider (even to one it no longer vouches for): the subject
    # still signs in to the same account, whose own address stays agentcost's.
    for claims in ({"email": "olivia@new-domain.example", "email_verified": True},
                   {"email": "olivia@new-domain.example", "email_verified": False}, {"email": None}):
        idp.claims = {"sub": "idp-user-1", "name": "Olivia", **claims}
        assert me(api, sign_in(api))["email"] == "owner@example.com"
    [again] = identities(api)
    assert again["last_login_utc"] > link["last_login_utc"] and again["email_at_link"] == "owner@example.com"
    assert len(records(api, "user.identity.link")) == 1

    # ...even to the address of another account: the identity is the owner's, not the viewer's
    idp.claims = {"sub": "idp-user-1", "email": "viewer@example.com", "email_verified": True}
    assert me(api, sign_in(api))["email"] == "owner@example.com"
    assert identities(api, "viewer@example.com") == []


def test_a_second_identity_claiming_a_linked_accounts_address_is_refused(api: Api, idp: FakeIdp) -> None:
    assert sign_in(api).status_code == 200  # idp-user-1 links owner@example.com
    # The provider re-issued the address to someone else (or the owner made a new account there).
    idp.claims = {"sub": "idp-user-2", "email": "owner@example.com", "email_verified": True}
    body = is_problem(sign_in(api), 409, "identity-conflict")
    assert body["title"] == "Identity conflict"
    assert "owner@example.com is linked to another identity" in body["detail"]
    assert "DELETE /v1/users/owner@example.com/identities" in body["hint"]
    record = login_records(api)[0]
    assert record["outcome"] == "failed" and record["target"] == "owner@example.com"
    assert record["detail"] == {"method": "sso", "issuer": idp.issuer, "reason": "linked to another identity",
                                "subject": "idp-user-2"}
    assert [i["subject"] for i in identities(api)] == ["idp-user-1"]
    assert api.client.get("/problems/identity-conflict").status_code == 200

    # Only an operator may remove the old link; then the new identity links by address.
    idp.claims = {"sub": "v", "email": "viewer@example.com", "email_verified": True}
    viewer = sign_in(api).json()["access_token"]
    is_problem(api.client.delete("/v1/users/owner@example.com/identities", headers=bearer(viewer)), 403, "forbidden")
    is_problem(api.client.get("/v1/users/owner@example.com/identities", headers=bearer(viewer)), 403, "forbidden")
    store = api.store()
    users.update_user(store, LOCAL, "viewer@example.com", admin=True)
    store.close()
    listed = api.client.get("/v1/users/owner@example.com/identities", headers=bearer(viewer)).json()
    assert [i["subject"] for i in listed["identities"]] == ["idp-user-1"]
    other_issuer = api.client.delete("/v1/users/owner@example.com/identities",
                                     params={"issuer": "https://elsewhere.example"}, headers=bearer(viewer))
    assert other_issuer.json() == {"removed": 0}
    removed = api.client.delete("/v1/users/owner@example.com/identities", headers=bearer(viewer))
    assert removed.status_code == 200 and removed.json() == {"removed": 1}
    [unlinked] = records(api, "user.identity.unlink")
    assert unlinked["actor"] == "user:viewer@example.com" and unlinked["target"] == "owner@example.com"
    assert unlinked["detail"] == {"identities": [{"issuer": idp.issuer, "subject": "idp-user-1"}]}

    idp.claims = {"sub": "idp-user-2", "email": "owner@example.com", "email_verified": True}
    assert me(api, sign_in(api))["email"] == "owner@example.com"
    assert [i["subject"] for i in identities(api)] == ["idp-user-2"]
    idp.claims = {"sub": "idp-user-1", "email": "owner@example.com", "email_verified": True}
    is_problem(sign_in(api), 409, "identity-conflict")  # the old identity is now the stranger


def test_the_link_is_made_only_once_the_second_factor_is_right(api: Api, idp: FakeIdp) -> None:
    _, recovery = enrol_mfa(api, "owner@example.com")
    # Someone holding the owner's address at the provider gets as far as the second factor...
    idp.claims = {"sub": "squatter", "email": "owner@example.com", "email_verified": True}
    device = start(api)
    body = is_problem(sign_in_with(api, device), 401, "mfa-required")
    is_problem(poll(api, device["device_code"], mfa_ticket=body["mfa_ticket"], code="000000"), 401,
               "unauthenticated")
    assert identities(api) == []  # ...and no further: nothing is linked
    # The owner's own identity then links, with the code.
    idp.claims = {"sub": "idp-user-1", "email": "owner@example.com", "email_verified": True}
    device = start(api)
    body = is_problem(sign_in_with(api, device), 401, "mfa-required")
    assert identities(api) == []
    answer = poll(api, device["device_code"], mfa_ticket=body["mfa_ticket"], code=recovery[0])
    assert answer.status_code == 200, answer.text
    assert [(i["subject"], i["email_at_link"]) for i in identities(api)] == [("idp-user-1", "owner@example.com")]
    # A linked identity still needs the account's code.
    idp.claims = {"sub": "idp-user-1", "email": "moved@example.com", "email_verified": True}
    is_problem(sign_in(api), 401, "mfa-required")
    assert sign_in(api, code=recovery[1]).status_code == 200
    idp.claims = {"sub": "squatter", "email": "owner@example.com", "email_verified": True}
    is_problem(sign_in(api, code=recovery[2]), 409, "identity-conflict")  # a right code does not relink


def test_a_linked_but_disabled_account_is_refused(api: Api, idp: FakeIdp) -> None:
    assert sign_in(api).status_code == 200
    store = api.store()
    users.set_status(store, LOCAL, "owner@example.com", active=False)
    store.close()
    idp.claims = {"sub": "idp-user-1", "email": "changed@example.com", "email_verified": True}
    assert "disabled" in is_problem(sign_in(api), 401, "unauthenticated")["detail"]
    assert login_records(api)[0]["detail"]["reason"] == "account disabled"


def test_another_address_does_not_verify_the_accounts_own(api: Api, idp: FakeIdp) -> None:
    assert sign_in(api).status_code == 200
    store = api.store()
    store.update_user(int(store.find_user("owner@example.com")["id"]), {"email_verified_utc": None})
    store.close()
    idp.claims = {"sub": "idp-user-1", "email": "elsewhere@example.com", "email_verified": True}
    assert me(api, sign_in(api))["email_verified_utc"] is None  # the provider vouched for another address
    idp.claims = {"sub": "idp-user-1", "email": "owner@example.com", "email_verified": True}
    assert me(api, sign_in(api))["email_verified_utc"]


def test_deleting_a_user_removes_their_identities(make_api: Callable[..., Api], idp: FakeIdp) -> None:
    api = make_api(open_registration=True)
    idp.claims = {"sub": "new-1", "email": "newcomer@example.com", "email_verified": True}
    assert me(api, sign_in(api))["email"] == "newcomer@example.com"  # registered, and linked
    assert [i["subject"] for i in identities(api, "newcomer@example.com")] == ["new-1"]
    store = api.store()
    users.delete_user(store, LOCAL, "newcomer@example.com")
    assert store.find_identity(idp.issuer, "new-1") is None
    users.create_user(store, LOCAL, email="successor@example.com", password=None, verified=True)
    store.close()
    # The identity is free again: it links by its (new) address to whichever account has it.
    idp.claims = {"sub": "new-1", "email": "successor@example.com", "email_verified": True}
    assert me(api, sign_in(api))["email"] == "successor@example.com"


def test_identities_are_per_issuer(api: Api, idp: FakeIdp) -> None:
    assert sign_in(api).status_code == 200  # idp-user-1 at the fake provider: the owner
    store = api.store()
    try:
        # The same subject at another issuer is another identity (here another person's)...
        sso.link_identity(store, {"iss": "https://other.example", "sub": "idp-user-1", "email": "viewer@example.com",
                                  "email_verified": True})
        # ...and an account may have one identity at each issuer.
        sso.link_identity(store, {"iss": "https://other.example", "sub": "o-2", "email": "owner@example.com",
                                  "email_verified": True})
        owner = sso.list_identities(store, LOCAL, "owner@example.com")
        viewer = sso.list_identities(store, LOCAL, "viewer@example.com")
    finally:
        store.close()
    assert [(i["issuer"], i["subject"]) for i in owner] == [(idp.issuer, "idp-user-1"),
                                                             ("https://other.example", "o-2")]
    assert [(i["issuer"], i["subject"]) for i in viewer] == [("https://other.example", "idp-user-1")]
