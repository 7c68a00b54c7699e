"""The daemon's OpenID Connect client (agentcost_cli.auth.oidc) against the local fake provider:
caching, key rotation, client authentication, and the device-flow answers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agentcost_cli.auth.oidc import (
    DeviceDenied,
    DeviceExpired,
    DevicePending,
    IdTokenInvalid,
    OidcClient,
    OidcSettings,
    ProviderError,
)

from ..server.fake_idp import CLIENT_ID, CLIENT_SECRET, FakeIdp, SigningKey, running_idp


@pytest.fixture
def idp() -> Iterator[FakeIdp]:
    with running_idp(pending_polls=0) as provider:
        yield provider


def client_for(idp: FakeIdp, tmp_path, *, secret: str | None = CLIENT_SECRET, **options) -> OidcClient:
    secret_file = ""
    if secret is not None:
        path = tmp_path / "secret"
        path.write_text(secret + "\n")
        secret_file = str(path)
    return OidcClient(OidcSettings(idp.issuer, CLIENT_ID, secret_file), **options)


def test_discovery_and_keys_are_cached_and_a_rotated_key_is_fetched(idp, tmp_path) -> None:
    client = client_for(idp, tmp_path, jwks_min_refresh=0)
    first = idp.keys[0]
    assert client.verify_id_token(first.sign(idp.id_claims()))["email"] == "owner@example.com"
    assert client.verify_id_token(first.sign(idp.id_claims()))["sub"] == "idp-user-1"
    assert idp.jwks_fetches == 1
    assert sum(r["path"] == "/.well-known/openid-configuration" for r in idp.requests) == 1

    idp.keys = [SigningKey.rsa()]  # the provider rotates: an unknown kid makes the client look again
    assert client.verify_id_token(idp.keys[0].sign(idp.id_claims()))["sub"] == "idp-user-1"
    assert idp.jwks_fetches == 2
    with pytest.raises(IdTokenInvalid, match="does not publish"):
        client.verify_id_token(first.sign(idp.id_claims()))  # the retired key is gone


def test_unknown_kids_do_not_refetch_the_keys_more_than_every_so_often(idp, tmp_path) -> None:
    client = client_for(idp, tmp_path)  # default: at most every 30 s
    client.verify_id_token(idp.keys[0].sign(idp.id_claims()))
    for _ in range(5):
        with pytest.raises(IdTokenInvalid, match="does not publish"):
            client.verify_id_token(SigningKey.rsa().sign(idp.id_claims()))
    assert idp.jwks_fetches == 1


def test_the_key_must_fit_the_algorithm(idp, tmp_path) -> None:
    client = client_for(idp, tmp_path)
    rsa = idp.keys[0]
    # An ES256 header naming the RSA key's kid: no EC key by that id, so nothing to verify with.
    ec_claiming_rsa_kid = SigningKey.ec().sign(idp.id_claims(), kid=rsa.kid)
    with pytest.raises(IdTokenInvalid, match="does not publish"):
        client.verify_id_token(ec_claiming_rsa_kid)


def test_a_public_client_sends_its_id_and_no_secret(idp, tmp_path) -> None:
    idp.client_secret = None
    client = client_for(idp, tmp_path, secret=None)
    started = client.start_device_authorization()
    assert started.interval == 1 and started.expires_in == 120
    answer = client.poll_token(started.device_code)
    assert client.verify_id_token(answer["id_token"])["email"] == "owner@example.com"
    posts = [r for r in idp.requests if r["method"] == "POST"]
    assert all(r["form"]["client_id"] == CLIENT_ID and "authorization" not in r["headers"]
               and "client_secret" not in r["form"] for r in posts)


def test_a_wrong_secret_is_a_provider_error(idp, tmp_path) -> None:
    client = client_for(idp, tmp_path, secret="not the secret")
    with pytest.raises(ProviderError, match="invalid_client"):
        client.start_device_authorization()


def test_the_device_flow_answers(idp, tmp_path) -> None:
    client = client_for(idp, tmp_path)
    idp.pending_polls, idp.slow_down_polls = 2, {2}
    code = client.start_device_authorization().device_code
    with pytest.raises(DevicePending) as pending:
        client.poll_token(code)
    assert not pending.value.slow_down
    with pytest.raises(DevicePending) as slow:
        client.poll_token(code)
    assert slow.value.slow_down
    assert "id_token" in client.poll_token(code)
    with pytest.raises(DeviceExpired):
        client.poll_token(code)  # single use
    idp.outcome = "deny"
    idp.pending_polls, idp.slow_down_polls = 0, set()
    with pytest.raises(DeviceDenied):
        client.poll_token(client.start_device_authorization().device_code)
    idp.outcome = "expire"
    with pytest.raises(DeviceExpired):
        client.poll_token(client.start_device_authorization().device_code)


def test_an_https_issuer_must_not_point_at_plain_http_endpoints(idp, tmp_path) -> None:
    client = client_for(idp, tmp_path)
    doc = idp.discovery()
    doc["token_endpoint"] = "http://idp.example.com/token"
    with pytest.raises(ProviderError, match="not an https"):
        client._check_endpoint(doc["token_endpoint"], "token_endpoint")
    assert client._check_endpoint(f"{idp.url}/token", "token_endpoint")  # loopback http is fine


def test_importing_the_module_loads_neither_httpx_nor_pyjwt() -> None:
    import subprocess
    import sys

    script = ("import sys, agentcost_cli.auth.oidc, agentcost_cli.auth.github, agentcost_cli.services.sso\n"
              "print(','.join(sorted({m.split('.')[0] for m in sys.modules} & {'httpx', 'jwt', 'cryptography'})))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
