"""SSRF protection: which destinations an outgoing request may reach, enforced at connect time.

Every outgoing request (endpoint deliveries, tests, job completion webhooks)
goes through :class:`GuardedTransport`, an httpx transport whose network
backend resolves the host itself, refuses the request when *any* resolved
address is not public, and then connects to an address it checked. TLS still
uses the URL's host name (SNI and certificate verification) and the Host
header is untouched. Because the check and the connection use the same
resolution, a name cannot resolve to a public address for the check and to an
internal one for the connection (DNS rebinding). Redirects are never followed
(see :mod:`spooled_webhooks.sending.sender`), and proxies from the
environment are ignored (a proxy would make its own, unchecked, connection).

Refused (:func:`is_public` is False): loopback, private (RFC 1918, IPv6 ULA
``fc00::/7``), link-local (``169.254.0.0/16``, so cloud metadata at
``169.254.169.254``, and ``fe80::/10``), CGNAT ``100.64.0.0/10``, unspecified,
multicast, and every reserved, documentation or benchmarking range: whatever
``ipaddress`` does not call global. IPv6 forms that carry an IPv4 address
(IPv4-mapped ``::ffff:0:0/96``, 6to4 ``2002::/16``, NAT64 ``64:ff9b::/96``) are
judged by the IPv4 address they carry.

The allow-list (``WEBHOOKS_ALLOWED_HOSTS``) is for development: a plain entry
(host name or IP) admits URLs whose host is exactly that; a CIDR entry admits
any resolved address inside it. ``make run`` and the test stack allow
``127.0.0.1``, so a receiver at ``http://127.0.0.1:<port>`` works while
``http://localhost:<port>`` (which resolves to loopback) is still refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import typing
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: (host, port) -> resolved addresses; injectable so tests need no DNS.
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SCHEMES = ("http", "https")


class Refused(Exception):
    """The destination is not allowed (not public and not on the allow-list)."""


class ResolutionFailed(Exception):
    """The host name did not resolve (may be transient: the delivery is retried)."""


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: IPAddress) -> bool:
    """Whether a webhook may be sent to ``ip`` without an allow-list entry."""
    if isinstance(ip, ipaddress.IPv6Address):
        v4 = _embedded_v4(ip)
        if v4 is not None:
            return is_public(v4)
    return ip.is_global and not ip.is_multicast


def _host_key(host: str) -> str:
    """Normalized URL host: lower case, no brackets or trailing dot, canonical IPs."""
    host = host.strip().strip("[]").rstrip(".").lower()
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


@dataclass(frozen=True, slots=True)
class AllowList:
    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, raw: str) -> AllowList:
        """``WEBHOOKS_ALLOWED_HOSTS``: comma- or space-separated hosts, IPs and CIDRs.

        Raises:
            SystemExit: for an entry that is neither a host name nor a network.
        """
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in raw.replace(",", " ").split():
            if "/" in entry:
                try:
                    networks.append(ipaddress.ip_network(entry, strict=False))
                except ValueError:
                    raise SystemExit(f"WEBHOOKS_ALLOWED_HOSTS: {entry!r} is not a CIDR") from None
            else:
                hosts.add(_host_key(entry))
        return cls(frozenset(hosts), tuple(networks))

    def host_allowed(self, host: str) -> bool:
        return _host_key(host) in self.hosts

    def address_allowed(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.networks)


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """Every address the system resolver gives for ``host`` (A and AAAA)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ResolutionFailed(f"{host} could not be resolved ({exc})") from None
    out: list[IPAddress] = []
    for *_, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in out:
            out.append(ip)
    return out


class DestinationGuard:
    """Decides whether a URL may be called and which addresses to connect to."""

    def __init__(
        self,
        allow: AllowList | None = None,
        *,
        require_https: bool = False,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.allow = allow or AllowList()
        self.require_https = require_https
        self._resolve = resolver

    def check_url(self, url: str) -> tuple[str, int]:
        """Static checks of a URL; returns (host, port).

        Raises:
            Refused: not http(s), https required, no host, or credentials in it.
        """
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise Refused(f"invalid URL ({exc})") from None
        scheme = parts.scheme.lower()
        if scheme not in _SCHEMES:
            raise Refused("only http and https URLs are allowed")
        if self.require_https and scheme != "https":
            raise Refused("only https URLs are allowed in production")
        if not parts.hostname:
            raise Refused("the URL has no host")
        if parts.username is not None or parts.password is not None:
            raise Refused("credentials in the URL are not allowed")
        return parts.hostname, port or (443 if scheme == "https" else 80)

    async def addresses(self, host: str, port: int) -> list[str]:
        """The addresses to connect to, all of them checked.

        Raises:
            Refused: some address the host resolves to is not allowed.
            ResolutionFailed: the name does not resolve.
        """
        key = _host_key(host)
        try:
            literal: IPAddress | None = ipaddress.ip_address(key)
        except ValueError:
            literal = None
        found = [literal] if literal is not None else await self._resolve(key, port)
        if not found:
            raise ResolutionFailed(f"{host} resolves to no address")
        if not self.allow.host_allowed(key):
            for ip in found:
                if not (is_public(ip) or self.allow.address_allowed(ip)):
                    raise Refused(f"{host} resolves to a non-public address ({ip})")
        return [str(ip) for ip in found]

    async def check(self, url: str) -> None:
        """Static checks plus resolution: what endpoint creation validates."""
        host, port = self.check_url(url)
        await self.addresses(host, port)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore backend that connects only to addresses the guard approved."""

    def __init__(
        self, guard: DestinationGuard, inner: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self._guard = guard
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._guard.addresses(host, port)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise Refused("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with the connection pool on :class:`GuardedBackend`.

    Guarded by tests/unit/test_webhooks_ssrf.py (a loopback receiver is refused
    through this transport unless allow-listed).
    """

    def __init__(self, guard: DestinationGuard, *, limits: httpx.Limits) -> None:
        super().__init__(trust_env=False, limits=limits)
        # httpx builds its pool without a backend hook; the replacement is the
        # same pool with ours (the one httpx made has opened nothing yet).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(guard),
        )
