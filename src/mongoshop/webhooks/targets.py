"""Where a webhook may be sent: never to the shop's own network (SSRF).

A subscription URL is checked when it is saved (syntax, scheme, and where its
host resolves then), and again at every delivery: the host is resolved, every
address it resolves to must be public, and the request goes to the address
that was checked (the host name is only the ``Host`` header and the TLS name).
A name that resolves to a public address when saved and to ``127.0.0.1``
later (DNS rebinding) is refused at delivery time, before any connection.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

from mongoshop.errors import ValidationFailed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AsyncResolver = Callable[[str, int], Awaitable[list[str]]]
"""(host, port) → the addresses a connection could go to (the async face, the client)."""
Resolver = Callable[[str, int], list[str]]
"""The same, for the sync face."""

DEFAULT_PORTS = {"http": 80, "https": 443}
RESOLVE_TIMEOUT = 5.0
"""Seconds a subscription's host may take to resolve when it is saved."""


class TargetRefused(Exception):
    """The URL's host is (or resolves to) an address deliveries must not reach."""


@dataclass(frozen=True)
class Target:
    """A checked URL, in the parts a pinned connection needs."""

    scheme: str
    host: str
    """The host name as written (lower case; an IPv6 literal without brackets)."""
    port: int
    path: str
    """Path and query, as sent in the request line."""

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    def url_for(self, address: str) -> str:
        """The URL with its host replaced by `address`: the connection goes there."""
        host = f"[{address}]" if ":" in address else address
        return f"{self.scheme}://{host}:{self.port}{self.path}"


def parse_target(url: str, *, require_https: bool) -> Target:
    """Check a URL's form; `ValidationFailed` saying what is wrong with it."""
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in url):
        raise ValidationFailed("url: must not contain spaces or control characters")
    try:
        parts: SplitResult = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValidationFailed(f"url: {exc}") from None
    allowed = ("https",) if require_https else ("https", "http")
    if parts.scheme not in allowed or not url.startswith(f"{parts.scheme}://"):
        raise ValidationFailed(
            "url: must be https" if require_https else "url: must be http or https"
        )
    if parts.username is not None or parts.password is not None:
        raise ValidationFailed("url: must not carry a user name or password")
    if "#" in url:
        raise ValidationFailed("url: must not have a #fragment")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValidationFailed("url: must name a host")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, ascii_host(host), port or DEFAULT_PORTS[parts.scheme], path)


def ascii_host(host: str) -> str:
    """The host as every check, the ``Host`` header and TLS's SNI use it: its IDNA A-label
    (``bücher.example`` → ``xn--bcher-kva.example``), lower case.

    A name that normalisation changes is refused rather than converted: ``localhost``
    written in full-width letters (U+FF4C...) would become ``localhost``, a different
    name from the one that was checked and shown.
    """
    if host.isascii():
        return host.lower()
    try:
        label = host.encode("idna").decode("ascii").lower()
        same = label.encode("ascii").decode("idna") == host.lower()
    except UnicodeError:
        raise ValidationFailed("url: the host name is not valid") from None
    if not same:
        raise ValidationFailed(
            f"url: the host name is not in its normal form (it would become {label})"
        )
    return label


def forbidden_reason(address: IPAddress) -> str | None:
    """Why a delivery must not go to `address` (None: it is a public address)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return forbidden_reason(embedded)
        if address.teredo is not None:
            return "a Teredo tunnel address"
        if address.is_site_local:  # fec0::/10: deprecated, yet routed inside some networks
            return "a site-local address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if address.is_private:
        return "a private address"
    if address.is_multicast or address.is_reserved or address.is_unspecified:
        return "not a unicast address"
    if not address.is_global:
        return "not a public address"
    return None


def _unique_addresses(infos: list[Any]) -> list[str]:
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def async_system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system's resolver gives for `host`, within `RESOLVE_TIMEOUT`
    (a `TimeoutError` is an `OSError`: "does not resolve")."""
    async with asyncio.timeout(RESOLVE_TIMEOUT):
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    return _unique_addresses(infos)


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return _unique_addresses(infos)


def ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check_addresses(host: str, addresses: list[str], *, allow_private: bool) -> list[str]:
    """`addresses` (where `host` resolved), if a delivery may go to them.

    One address that is not public refuses the whole name (a resolver may
    answer a public and a private address, and the connection may try either).
    `TargetRefused` when it must not be called; `OSError` when nothing resolved.
    """
    if not addresses:
        raise OSError(f"{host} does not resolve")
    if not allow_private:
        for address in addresses:
            reason = forbidden_reason(ipaddress.ip_address(address.split("%", 1)[0]))
            if reason is not None:
                raise TargetRefused(f"{host} resolves to {address}: {reason}")
    return addresses


async def checked_addresses(
    target: Target, resolver: AsyncResolver, *, allow_private: bool
) -> list[str]:
    """Where `target` may be reached now: resolved at the time of asking, then checked."""
    addresses = (
        [target.host] if ip_literal(target.host) else await resolver(target.host, target.port)
    )
    return check_addresses(target.host, addresses, allow_private=allow_private)
