"""Which URLs WebFetch may reach: schemes, host allow/deny lists, and address ranges (SSRF).

A host is checked by name first (deny list, then allow list), then every address it
resolves to must be public unless settings allow private ranges; one refused address
refuses the host (fail closed). The addresses checked are the ones connected to:
`PinnedResolver` hands aiohttp exactly those, so DNS cannot change its answer between
the check and the connection.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from claude_proxy.settings import WebToolSettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class URLRefused(Exception):
    """A URL the policy does not allow; the message says why."""


def host_matches(host: str, pattern: str) -> bool:
    """``example.com`` matches itself; ``*.example.com`` and ``.example.com`` match its subdomains too."""
    host, pattern = host.lower().rstrip("."), pattern.lower().rstrip(".")
    if pattern.startswith("*."):
        pattern = pattern[1:]
    if pattern.startswith("."):
        return host == pattern[1:] or host.endswith(pattern)
    return host == pattern


def _as_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None


NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64), each checked too."""
    found = [a for a in (ip.ipv4_mapped, ip.sixtofour) if a is not None]
    if ip.teredo is not None:
        found.append(ip.teredo[1])
    if ip in NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def address_refusal(ip: IPAddress, settings: WebToolSettings) -> str | None:
    """What makes ``ip`` unreachable (e.g. ``10.0.0.1 (a private address)``), or None when it may be reached."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        else:
            for inner in embedded:
                reason = address_refusal(inner, settings)
                if reason:
                    return f"{ip}, which carries {reason}"
    for net in settings.allowed_networks:
        if ip in ipaddress.ip_network(net, strict=False):
            return None
    if settings.allow_private_addresses:
        return None
    if ip.is_loopback:
        kind = "loopback"
    elif ip.is_link_local:
        kind = "link-local"
    elif ip.is_private:
        kind = "private"
    elif ip.is_multicast or ip.is_unspecified or ip.is_reserved or not ip.is_global:
        kind = "non-public"
    else:
        return None
    return f"{ip} (a {kind} address)"


def check_url(url: URL, settings: WebToolSettings) -> None:
    """Refuse a URL by scheme and host name (addresses are checked by `resolve_checked`)."""
    if url.scheme not in ("http", "https"):
        raise URLRefused(f"only http and https URLs can be fetched, not {url.scheme or 'a relative URL'}")
    host = url.host
    if not host:
        raise URLRefused(f"{url} has no host")
    if url.user or url.password:
        raise URLRefused("URLs with credentials are refused")
    for pattern in settings.deny_hosts:
        if host_matches(host, pattern):
            raise URLRefused(f"host {host} is denied by tools.web.deny_hosts ({pattern})")
    if settings.allow_hosts and not any(host_matches(host, p) for p in settings.allow_hosts):
        raise URLRefused(f"host {host} is not in tools.web.allow_hosts")


async def resolve_checked(host: str, port: int, settings: WebToolSettings) -> list[ResolveResult]:
    """Resolve ``host`` and check every address; the results are in aiohttp's resolver format."""
    literal = _as_ip(host)
    infos: list[tuple[Any, ...]]
    if literal is not None:
        infos = [(socket.AF_INET6 if literal.version == 6 else socket.AF_INET, 0, 0, "", (str(literal), port))]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise URLRefused(f"cannot resolve {host}: {exc.strerror}") from None
    results: list[ResolveResult] = []
    for family, _, proto, _, sockaddr in infos:
        ip = ipaddress.ip_address(sockaddr[0].split("%")[0])
        reason = address_refusal(ip, settings)
        if reason:
            where = f"{host} resolves to {reason}" if literal is None else reason
            raise URLRefused(f"{where}; such addresses are refused unless settings allow them "
                             "(tools.web.allow_private_addresses or tools.web.allowed_networks)")
        results.append(ResolveResult(hostname=host, host=sockaddr[0], port=port, family=family,
                                     proto=proto, flags=socket.AI_NUMERICHOST))
    if not results:
        raise URLRefused(f"{host} has no addresses")
    return results


class PinnedResolver(AbstractResolver):
    """Gives aiohttp only addresses that were checked; anything unchecked fails to resolve."""

    def __init__(self) -> None:
        self.pinned: dict[tuple[str, int], list[ResolveResult]] = {}

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        try:
            return self.pinned[(host, port)]
        except KeyError:
            raise OSError(f"{host}:{port} was not checked by the URL policy") from None

    async def close(self) -> None:
        return None
