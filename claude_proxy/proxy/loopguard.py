"""Refuse to start when the upstream URL is this proxy's own listen address.

The per-request hop header catches loops at run time (508); this check catches the
common misconfiguration (``--upstream http://127.0.0.1:8082`` on port 8082) at start.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from yarl import URL

WILDCARDS = {"", "0.0.0.0", "::"}


class UpstreamLoopError(Exception):
    """The upstream URL points back at the proxy."""


def _is_local_address(ip: str) -> bool:
    """Whether this machine owns ``ip`` (it can bind to it)."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((ip, 0))
        return True
    except OSError:
        return False


async def check_upstream_not_self(upstream_url: str, listening: list[tuple[str, int]]) -> None:
    """Raise `UpstreamLoopError` if ``upstream_url`` resolves to one of our listen sockets."""
    url = URL(upstream_url)
    if url.host is None or url.port is None:
        return
    ports = {port for _, port in listening}
    if url.port not in ports:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(url.host, url.port, type=socket.SOCK_STREAM)
    except OSError:
        return
    targets = {str(info[4][0]) for info in infos}
    for host, port in listening:
        if port != url.port:
            continue
        for ip in targets:
            if ip == host or ipaddress.ip_address(ip).is_loopback and (
                    host in WILDCARDS or ipaddress.ip_address(host).is_loopback) or (
                    host in WILDCARDS and _is_local_address(ip)):
                raise UpstreamLoopError(
                    f"upstream {upstream_url} is this proxy's own address ({host}:{port}); "
                    "that would loop forever: set --upstream / upstream.base_url to the real API")
