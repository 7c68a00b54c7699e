"""WH-14: webhook targets must be https and public, checked after DNS resolution."""

from __future__ import annotations

import ipaddress

import pytest

from agentcost_cli.notify.targets import UnsafeTargetError, blocked_reason, validate_target


class FakeResolver:
    """A fake resolver answering every lookup with fixed addresses and recording the calls."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = list(addresses)
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        return self.addresses


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.1.2.3",
        "10.0.0.5",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "169.254.1.1",
        "100.64.0.1",
        "100.127.255.254",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "::ffff:10.0.0.5",
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    ],
)
def test_blocked_addresses_are_refused_naming_the_address(address: str) -> None:
    with pytest.raises(UnsafeTargetError) as err:
        validate_target("https://hooks.example.com/x", resolver=FakeResolver(address))
    assert str(ipaddress.ip_address(address)) in err.value.message


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "100.128.0.1", "172.32.0.1", "2606:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    resolve = FakeResolver(address)
    target = validate_target("https://hooks.example.com:8443/x?y=1", resolver=resolve)
    assert target.addresses == (ipaddress.ip_address(address),)
    assert (target.scheme, target.host, target.port) == ("https", "hooks.example.com", 8443)
    assert resolve.calls == [("hooks.example.com", 8443)]


def test_one_bad_record_rejects_the_name() -> None:
    """A rebinding-style name with a public and a private record is refused."""
    with pytest.raises(UnsafeTargetError, match=r"10\.0\.0\.5"):
        validate_target("https://rebind.example/x", resolver=FakeResolver("93.184.216.34", "10.0.0.5"))


def test_rebinding_name_is_checked_on_every_call() -> None:
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])

    def flipping(host: str, port: int) -> list[str]:
        return next(answers)

    assert validate_target("https://rebind.example/", resolver=flipping).addresses[0].exploded == "93.184.216.34"
    with pytest.raises(UnsafeTargetError, match=r"127\.0\.0\.1"):
        validate_target("https://rebind.example/", resolver=flipping)


@pytest.mark.parametrize("url", ["https://127.0.0.1/x", "https://[::1]/x", "https://[::ffff:a9fe:a9fe]/x"])
def test_ip_literals_are_checked_without_resolving(url: str) -> None:
    resolve = FakeResolver("93.184.216.34")
    with pytest.raises(UnsafeTargetError):
        validate_target(url, resolver=resolve)
    assert resolve.calls == []


def test_private_allowed_with_flag() -> None:
    target = validate_target("https://internal.example/", allow_private=True, resolver=FakeResolver("10.0.0.5"))
    assert target.addresses == (ipaddress.ip_address("10.0.0.5"),)


@pytest.mark.parametrize("url", ["http://hooks.example.com/x", "ftp://hooks.example.com/x", "hooks.example.com/x"])
def test_only_https_without_dev_flag(url: str) -> None:
    with pytest.raises(UnsafeTargetError, match="https"):
        validate_target(url, resolver=FakeResolver("93.184.216.34"))


def test_http_allowed_with_insecure_flag_and_default_port_80() -> None:
    target = validate_target("http://hooks.example.com/x", allow_insecure=True, resolver=FakeResolver("8.8.8.8"))
    assert (target.scheme, target.port) == ("http", 80)


@pytest.mark.parametrize("url", ["https:///nohost", "https://hooks.example.com:99999/"])
def test_malformed_urls(url: str) -> None:
    with pytest.raises(UnsafeTargetError):
        validate_target(url, resolver=FakeResolver("8.8.8.8"))


def test_resolution_failure_and_empty_answers() -> None:
    def fails(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(UnsafeTargetError, match="cannot resolve"):
        validate_target("https://nowhere.invalid/", resolver=fails)
    with pytest.raises(UnsafeTargetError, match="no addresses"):
        validate_target("https://empty.example/", resolver=FakeResolver())


def test_default_resolver_resolves_localhost_and_refuses_it() -> None:
    with pytest.raises(UnsafeTargetError, match="loopback"):
        validate_target("https://localhost/")


def test_blocked_reason_says_why() -> None:
    assert blocked_reason(ipaddress.ip_address("169.254.169.254")) is not None
    assert "link-local" in (blocked_reason(ipaddress.ip_address("169.254.169.254")) or "")
    assert "IPv4-embedded" in (blocked_reason(ipaddress.ip_address("::ffff:192.168.0.1")) or "")
    assert blocked_reason(ipaddress.ip_address("::ffff:8.8.8.8")) is None
