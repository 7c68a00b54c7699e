"""client/session.py against a real local HTTP server speaking the daemon's auth contract."""

from __future__ import annotations

import contextlib
import threading
import time

import httpx
import pytest

from agentcost_cli.auth.credentials import CredentialStore
from agentcost_cli.client import problems
from agentcost_cli.client import session as session_mod
from agentcost_cli.client.session import RemoteSession, open_session
from agentcost_cli.errors import (
    AuthError,
    Conflict,
    InvalidInput,
    MfaRequired,
    NotFound,
    PermissionDenied,
    RemoteError,
    Throttled,
)

from .contract_server import ContractAuthServer, free_port_url, running_contract_server
from .fixtures import TEST_PASSWORD, seed_users


def new_session(server: ContractAuthServer | str, profile: str = "default", **kw) -> RemoteSession:
    url = server if isinstance(server, str) else server.url
    return RemoteSession(url, profile, CredentialStore(), **kw)


def stored(server: ContractAuthServer, profile: str = "default") -> str | None:
    return CredentialStore().get(profile, server.url)


# -- the fake is faithful: it detects reuse ----------------------------------------------
def test_contract_server_kills_the_family_on_refresh_token_reuse(auth_server):
    with httpx.Client(base_url=auth_server.url) as http:
        first = http.post("/v1/auth/login", json={"email": "ana@example.com", "password": TEST_PASSWORD}).json()
        second = http.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}).json()
        assert second["refresh_token"] != first["refresh_token"]
        reused = http.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert reused.status_code == 401
        assert reused.headers["content-type"] == "application/problem+json"
        # The whole family died: the current token and its access token stop working too.
        assert http.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}).status_code == 401
        me = http.get("/v1/me", headers={"Authorization": f"Bearer {second['access_token']}"})
        assert me.status_code == 401
    assert auth_server.reuse_detections() == 1


# -- login ----------------------------------------------------------------------------------
def test_login_saves_the_refresh_token_and_returns_no_secrets(auth_server, memory_keyring):
    with new_session(auth_server) as s:
        info = s.login("ana@example.com", TEST_PASSWORD)
        assert "refresh_token" not in info and "access_token" not in info
        assert info["token_type"] == "Bearer" and info["expires_in"] == 900 and "session_id" in info
        assert stored(auth_server) == auth_server.last_refresh_token()
        me = s.me()
    assert me["email"] == "ana@example.com" and me["is_admin"] is True
    assert auth_server.count("refresh") == 0  # the access token from the login was reused


def test_mfa_required_then_the_code(auth_server):
    with new_session(auth_server) as s:
        with pytest.raises(MfaRequired) as caught:
            s.login("mfa@example.com", TEST_PASSWORD)
        assert "authenticator" in caught.value.message
        assert stored(auth_server) is None
        with pytest.raises(AuthError) as wrong:
            s.login("mfa@example.com", TEST_PASSWORD, "000000" if auth_server.mfa_code("mfa@example.com")
                    != "000000" else "111111")
        assert not isinstance(wrong.value, MfaRequired)
        s.login("mfa@example.com", TEST_PASSWORD, auth_server.mfa_code("mfa@example.com"))
        assert s.me()["mfa"] is True


def test_wrong_password_is_an_auth_error(auth_server):
    with new_session(auth_server) as s, pytest.raises(AuthError) as caught:
        s.login("ana@example.com", "nope")
    assert type(caught.value) is AuthError
    assert caught.value.message == "wrong email or password"
    assert stored(auth_server) is None


def test_rate_limited_login_is_throttled_with_retry_after(auth_server):
    auth_server.rate_limit_logins(42)
    with new_session(auth_server) as s, pytest.raises(Throttled) as caught:
        s.login("ana@example.com", TEST_PASSWORD)
    assert 40 <= caught.value.retry_after <= 42
    assert caught.value.hint == f"try again in {caught.value.retry_after} s"


def test_unreachable_server_is_a_remote_error_naming_it():
    url = free_port_url()
    with new_session(url) as s, pytest.raises(RemoteError) as caught:
        s.login("ana@example.com", TEST_PASSWORD)
    assert url in caught.value.message


def test_a_new_login_revokes_the_previous_session(auth_server):
    with new_session(auth_server) as s:
        s.login("ana@example.com", TEST_PASSWORD)
    first = stored(auth_server)
    with new_session(auth_server) as s:
        s.login("ana@example.com", TEST_PASSWORD)
    assert stored(auth_server) != first
    assert not auth_server.session_alive(first)


def test_login_refuses_while_agentcost_token_is_set(auth_server, monkeypatch):
    monkeypatch.setenv("AGENTCOST_TOKEN", "rt-whatever")
    with new_session(auth_server) as s, pytest.raises(InvalidInput, match="AGENTCOST_TOKEN"):
        s.login("ana@example.com", TEST_PASSWORD)


# -- refresh and rotation ---------------------------------------------------------------------
def test_each_refresh_rotates_and_persists_before_the_access_token_is_used(auth_server, monkeypatch):
    with new_session(auth_server) as s:
        s.login("ana@example.com", TEST_PASSWORD)
    seen = [stored(auth_server)]
    order: list[str] = []
    real_set = CredentialStore.set

    def spying_set(self, profile, server, token):
        order.append("saved")
        real_set(self, profile, server, token)

    monkeypatch.setattr(CredentialStore, "set", spying_set)
    for _ in range(3):
        with new_session(auth_server) as s:  # a new process: nothing cached
            token = s.access_token()
            order.append("returned")
            assert s.access_token() == token  # cached in memory
        seen.append(stored(auth_server))
    assert len(set(seen)) == 4 and seen[-1] == auth_server.last_refresh_token()
    assert order == ["saved", "returned"] * 3
    assert auth_server.count("refresh_ok") == 3 and auth_server.reuse_detections() == 0


def test_access_token_is_reused_until_a_minute_before_it_expires():
    with running_contract_server(access_ttl=60.3) as server:
        seed_users(server)
        with new_session(server) as s:
            s.login("ana@example.com", TEST_PASSWORD)
            s.access_token()
            assert server.count("refresh") == 0
            time.sleep(0.4)  # now within 60 s of expiry
            s.access_token()
            assert server.count("refresh") == 1


def test_a_rejected_access_token_is_refreshed_once_and_the_request_retried(auth_server):
    with new_session(auth_server) as s:
        s.login("ana@example.com", TEST_PASSWORD)
        auth_server.expire_access_tokens()  # e.g. the daemon restarted with a new key
        assert s.me()["email"] == "ana@example.com"
    assert auth_server.count("refresh_ok") == 1


def test_an_ended_session_is_an_auth_error_and_the_dead_token_is_dropped(auth_server):
    with new_session(auth_server) as s:
        s.login("ana@example.com", TEST_PASSWORD)
    auth_server.revoke_all_sessions()
    with new_session(auth_server) as s, pytest.raises(AuthError) as caught:
        s.me()
    assert "has ended" in caught.value.message and "agentcost login" in (caught.value.hint or "")
    assert stored(auth_server) is None


def test_not_logged_in(auth_server):
    with new_session(auth_server, "work") as s, pytest.raises(AuthError) as caught:
        s.access_token()
    assert caught.value.hint == "run `agentcost login` --profile work"
    assert auth_server.count("refresh") == 0


def _race(server: ContractAuthServer, sessions: int) -> list[BaseException]:
    barrier = threading.Barrier(sessions)
    errors: list[BaseException] = []

    def one() -> None:
        with new_session(server) as s:
            barrier.wait()
            try:
                s.me()
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_concurrent_refreshes_are_serialised_by_the_profile_lock(memory_keyring):
    with running_contract_server(refresh_delay=0.05) as server:
        seed_users(server)
        with new_session(server) as s:
            s.login("ana@example.com", TEST_PASSWORD)
        assert _race(server, 6) == []
        assert server.reuse_detections() == 0
        assert server.count("refresh_ok") == 6
        assert stored(server) == server.last_refresh_token()


def test_without_the_lock_the_same_race_trips_reuse_detection(memory_keyring, monkeypatch):
    """The control for the test above: it is the lock that keeps the session alive."""
    monkeypatch.setattr(session_mod, "exclusive_lock", lambda *a, **k: contextlib.nullcontext())
    with running_contract_server(refresh_delay=0.2) as server:
        seed_users(server)
        with new_session(server) as s:
            s.login("ana@example.com", TEST_PASSWORD)
        errors = _race(server, 4)
        assert server.reuse_detections() >= 1
        assert errors and all(isinstance(e, AuthError) for e in errors)


# -- AGENTCOST_TOKEN ----------------------------------------------------------------------------
def test_env_token_is_used_and_its_rotations_chain(auth_server, monkeypatch):
    with new_session(auth_server) as s:
        s.login("ana@example.com", TEST_PASSWORD)
    token = stored(auth_server)
    CredentialStore().delete("default", auth_server.url)  # CI has nothing stored, only the variable
    monkeypatch.setenv("AGENTCOST_TOKEN", token)
    monkeypatch.setenv("AGENTCOST_SERVER", auth_server.url)
    for _ in range(3):
        session, target = open_session()
        with session:
            assert session.me()["email"] == "ana@example.com"
        assert target.token_from_env and target.server == auth_server.url
    assert auth_server.reuse_detections() == 0 and auth_server.count("refresh_ok") == 3


# -- logout -------------------------------------------------------------------------------------
def test_logout_revokes_then_deletes(auth_server):
    with new_session(auth_server) as s:
        s.login("ana@example.com", TEST_PASSWORD)
        token = stored(auth_server)
        result = s.logout()
    assert (result.had_token, result.revoked, result.warning) == (True, True, None)
    assert stored(auth_server) is None and not auth_server.session_alive(token)
    with new_session(auth_server) as s:
        assert s.logout().had_token is False


def test_logout_deletes_locally_when_the_server_is_gone(auth_server):
    with new_session(auth_server) as s:
        s.login("ana@example.com", TEST_PASSWORD)
    auth_server.stop()
    with new_session(auth_server) as s:
        result = s.logout()
        assert s.server_revoke_failed
    assert result.had_token and not result.revoked and auth_server.url in (result.warning or "")
    assert stored(auth_server) is None


# -- problem+json -> errors -----------------------------------------------------------------------
def _response(status: int, body: dict | None = None, headers: dict | None = None,
              content_type: str = "application/problem+json") -> httpx.Response:
    request = httpx.Request("GET", "http://srv.example/v1/things")
    h = {"content-type": content_type, **(headers or {})} if body is not None else dict(headers or {})
    return httpx.Response(status, json=body, headers=h, request=request) if body is not None else httpx.Response(
        status, headers=h, request=request)


@pytest.mark.parametrize(("status", "slug", "cls"), [
    (401, "unauthenticated", AuthError), (401, "mfa-required", MfaRequired), (403, "forbidden", PermissionDenied),
    (404, "not-found", NotFound), (409, "conflict", Conflict), (422, "invalid-input", InvalidInput),
    (400, "malformed-json", InvalidInput), (413, "payload-too-large", InvalidInput),
    (500, "internal-error", RemoteError), (503, "unavailable", RemoteError),
])
def test_problem_statuses_map_to_errors(status, slug, cls):
    error = problems.error_for(_response(status, {"type": f"/problems/{slug}", "title": "T", "status": status,
                                                  "detail": "what happened", "hint": "do this"}), "http://srv")
    assert type(error) is cls
    assert "what happened" in error.message
    if status >= 500:
        assert "http://srv" in error.message


def test_absolute_problem_types_and_field_errors():
    error = problems.error_for(_response(401, {"type": "https://agentcost.dev/problems/mfa-required"}), "s")
    assert isinstance(error, MfaRequired)
    invalid = problems.error_for(_response(422, {"type": "/problems/validation-error", "detail": "2 invalid",
                                                 "errors": [{"pointer": "/email", "detail": "required"}]}), "s")
    assert invalid.message == "2 invalid (/email: required)"


def test_retry_after_forms():
    assert problems.error_for(_response(429, {"detail": "slow"}, {"Retry-After": "7"}), "s").retry_after == 7
    later = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 120))
    assert 100 < problems.retry_after(_response(429, None, {"Retry-After": later})) <= 121
    assert problems.retry_after(_response(429, None, {"Retry-After": "soon"})) == 1
    assert problems.retry_after(_response(429, None)) == 1


def test_non_problem_answers():
    html = _response(502, None, {"content-type": "text/html"})
    error = problems.error_for(html, "http://srv")
    assert isinstance(error, RemoteError) and "502" in error.message
    moved = problems.error_for(_response(308, None, {"location": "https://srv.example/v1/things"}), "http://srv")
    assert isinstance(moved, RemoteError) and "https://srv.example" in moved.message
    assert isinstance(problems.error_for(_response(418, {"detail": "teapot"}), "s"), RemoteError)


def test_request_maps_errors_and_adds_the_bearer(auth_server):
    with new_session(auth_server) as s:
        s.login("ana@example.com", TEST_PASSWORD)
        with pytest.raises(NotFound, match="no route"):
            s.request("GET", "/v1/nothing-here")


def test_a_server_that_is_not_agentcost():
    with running_contract_server() as server:
        with httpx.Client() as http:
            assert http.get(server.url + "/v1/me").status_code == 401
        s = RemoteSession(server.url, "default", CredentialStore(),
                          transport=httpx.MockTransport(lambda r: httpx.Response(200, text="<html>hello</html>")))
        with s, pytest.raises(RemoteError, match="no tokens"):
            s.login("ana@example.com", TEST_PASSWORD)
