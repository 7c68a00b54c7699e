"""Webhook target validation against SSRF (WH-14).

:func:`validate_target` checks the scheme, resolves the host once and refuses any address in a
blocked range (loopback, RFC 1918, link-local including cloud metadata 169.254.169.254, CGNAT,
IPv6 loopback/ULA/link-local, unspecified, multicast, reserved, and IPv4 embedded in IPv6).
Every resolved address must pass: one bad record rejects the name.

DNS rebinding: the check is only worth something if the connection goes to an address that was
checked. The sender (:mod:`agentcost_cli.notify.webhook_send`) therefore never lets the HTTP
client resolve the name again: it rewrites the request URL to the checked IP, sends the original
``Host`` header, and for https sets the ``sni_hostname`` request extension so TLS SNI and
certificate verification still use the real host name. Redirects are never followed, so there
is no second hop to re-check. Validate again on every attempt (cheap; names change).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from agentcost_cli.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]
"""``(host, port) -> IP address strings``; the default wraps :func:`socket.getaddrinfo`."""

_BLOCKED: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.ip_network(net), why)
    for net, why in (
        ("0.0.0.0/8", "unspecified ('this network')"),
        ("10.0.0.0/8", "private (RFC 1918)"),
        ("100.64.0.0/10", "carrier-grade NAT (RFC 6598)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local (includes cloud metadata)"),
        ("172.16.0.0/12", "private (RFC 1918)"),
        ("192.0.0.0/24", "IETF protocol assignments"),
        ("192.168.0.0/16", "private (RFC 1918)"),
        ("198.18.0.0/15", "benchmarking (RFC 2544)"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),  # includes 255.255.255.255 broadcast
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("fc00::/7", "unique local (ULA)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local (deprecated)"),
        ("ff00::/8", "multicast"),
    )
)
_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeTargetError(InvalidInput):
    """The webhook URL is not allowed: wrong scheme, no host, or a blocked address."""

    title = "unsafe webhook target"


class UnresolvableTargetError(UnsafeTargetError):
    """The host name did not resolve; unlike a blocked address, this may be transient."""


@dataclass(frozen=True)
class Target:
    """A checked webhook URL and the addresses it may be connected to."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[IPAddress, ...]


def blocked_reason(address: IPAddress) -> str | None:
    """Return why ``address`` must not be contacted, or ``None`` if it is a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            inner = blocked_reason(embedded)
            return f"IPv4-embedded {embedded}: {inner}" if inner else None
    for network, why in _BLOCKED:
        if address.version == network.version and address in network:
            return f"{why}, in {network}"
    return None


def check_address(address: IPAddress, *, allow_private: bool = False) -> None:
    """Raise :class:`UnsafeTargetError` naming ``address`` if it is blocked and not allowed."""
    if allow_private:
        return
    why = blocked_reason(address)
    if why:
        raise UnsafeTargetError(
            f"refusing to send a webhook to {address}: {why}",
            hint="webhook URLs must reach a public address; for local development enable the private-targets flag",
        )


def default_resolver(host: str, port: int) -> list[str]:
    """Resolve ``host`` with :func:`socket.getaddrinfo`, returning unique address strings."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[str] = []
    for info in infos:
        addr = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 zone id
        if addr not in found:
            found.append(addr)
    return found


def validate_target(
    url: str,
    *,
    allow_insecure: bool = False,
    allow_private: bool = False,
    resolver: Resolver | None = None,
) -> Target:
    """Check a webhook URL and resolve its host once (WH-14).

    Args:
        url: the endpoint URL.
        allow_insecure: accept ``http://`` (local development flag only).
        allow_private: accept blocked addresses such as loopback (local development/tests only).
        resolver: ``(host, port) -> [ip, ...]``; defaults to :func:`default_resolver`.

    Returns:
        A :class:`Target` with the resolved addresses; the sender must connect to one of these.

    Raises:
        UnsafeTargetError: bad scheme, no host, or a blocked address.
        UnresolvableTargetError: the resolver failed (a subclass of UnsafeTargetError).
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    allowed = ("https", "http") if allow_insecure else ("https",)
    if scheme not in allowed:
        raise UnsafeTargetError(
            f"webhook URL must use https, got {scheme or 'no'} scheme: {url!r}",
            hint="plain http is accepted only with the local development flag",
        )
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise UnsafeTargetError(f"webhook URL has an invalid port: {url!r}") from exc
    if not host:
        raise UnsafeTargetError(f"webhook URL has no host: {url!r}")
    port = port or (443 if scheme == "https" else 80)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        raw: Sequence[str] = [str(literal)]
    else:
        try:
            raw = (resolver or default_resolver)(host, port)
        except OSError as exc:
            raise UnresolvableTargetError(f"cannot resolve webhook host {host!r}: {exc}") from exc
    addresses: list[IPAddress] = []
    for text in raw:
        try:
            address = ipaddress.ip_address(text)
        except ValueError as exc:
            raise UnsafeTargetError(f"resolver returned a non-IP address {text!r} for {host!r}") from exc
        check_address(address, allow_private=allow_private)
        addresses.append(address)
    if not addresses:
        raise UnsafeTargetError(f"webhook host {host!r} resolved to no addresses")
    return Target(url=url, scheme=scheme, host=host, port=port, addresses=tuple(addresses))
