"""The decision: may omnirelay fetch this URL on a user's behalf?

``OutboundPolicy.admit(url)`` is the whole decision (form, then every address the name resolves
to), and the guarded client's resolver makes the same check on the addresses it connects to,
so what was checked is what is reached. Names are looked up through a ``Lookup``: the system's
resolver in the gateway, a table in tests (which never send a packet).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from ipaddress import ip_address

from yarl import URL

from omnirelay.outbound.addresses import (
    LOCAL_NAMES,
    AllowRule,
    IPAddress,
    blocked_reason,
    literal_address,
    looks_numeric,
    parse_allow_rule,
)

MAX_URL = 2048
# A name resolving to more addresses than this is refused (no one needs that many).
MAX_ADDRESSES = 32

# host, port -> the addresses it resolves to (text), or raises OSError.
Lookup = Callable[[str, int], Awaitable[list[str]]]


class UnsafeUrl(Exception):
    """A URL the policy refuses; ``reason`` says why, in words a user can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def system_lookup(host: str, port: int) -> list[str]:
    """The C library's resolver, in a thread (``socket.getaddrinfo``: one lookup, every
    address; going through the socket module keeps the lookup visible to audit hooks)."""
    loop = asyncio.get_running_loop()
    infos = await loop.run_in_executor(
        None, socket.getaddrinfo, host, port, socket.AF_UNSPEC, socket.SOCK_STREAM
    )
    return [str(info[4][0]) for info in infos]


def where(url: str) -> str:
    """A URL for a log line: scheme, host and port only (paths and queries may hold tokens)."""
    try:
        parsed = URL(url)
        return f"{parsed.scheme}://{parsed.raw_host}:{parsed.port}"
    except (ValueError, UnicodeError):
        return "(an unreadable URL)"


@dataclass(frozen=True, slots=True)
class Destination:
    """A URL that passed the form checks: where it goes, and the address if it names one."""

    url: URL
    host: str  # as the connection uses it: IDNA-encoded, brackets removed, no trailing dot
    port: int
    literal: IPAddress | None


class OutboundPolicy:
    """http(s) only; no address in a private, loopback, link-local, CGNAT, multicast, reserved
    or metadata range unless an operator's ``allow`` rule admits it."""

    def __init__(self, allow: Iterable[str | AllowRule] = (), lookup: Lookup = system_lookup):
        self.allow: tuple[AllowRule, ...] = tuple(
            rule if isinstance(rule, AllowRule) else parse_allow_rule(rule) for rule in allow
        )
        self._lookup = lookup

    def parse(self, url: str | URL) -> Destination:
        """Check the URL's form (and its address, if it names one); no lookup."""
        parsed, host, port = _read(url)
        literal = literal_address(host)
        if literal is None and (looks_numeric(host) or ":" in host):
            raise UnsafeUrl(f"'{host}' is not a valid IP address")
        if literal is not None:
            self.check_address(literal, port)
            if literal.version == 4 and str(literal) != host:
                # 2130706433, 0x7f.1, 0177.0.0.1: legacy forms no real URL needs, read
                # differently by different parsers; only a.b.c.d is accepted.
                raise UnsafeUrl(f"'{host}' stands for {literal}: write addresses as a.b.c.d")
        elif host in LOCAL_NAMES or host.endswith(".localhost"):
            raise UnsafeUrl(f"'{host}' names this machine (loopback), which is not allowed")
        return Destination(parsed, host, port, literal)

    def check_address(self, address: IPAddress, port: int) -> None:
        """Refuse ``address`` unless it is public or an allow rule admits it."""
        reason = blocked_reason(address)
        if reason is None or any(rule.admits(address, port) for rule in self.allow):
            return
        raise UnsafeUrl(f"{address} is not allowed: {reason}")

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Every address ``host`` resolves to, each checked; refused if any is refused (a name
        that mixes public and private addresses is an attack or a mistake)."""
        literal = literal_address(host)
        if literal is not None:
            self.check_address(literal, port)
            return [literal]
        try:
            found = await self._lookup(host, port)
        except OSError as exc:
            raise UnsafeUrl(f"the host '{host}' cannot be resolved") from exc
        addresses = _unique(ip_address(a.split("%", 1)[0]) for a in found)
        if not addresses:
            raise UnsafeUrl(f"the host '{host}' resolves to no address")
        if len(addresses) > MAX_ADDRESSES:
            raise UnsafeUrl(f"the host '{host}' resolves to too many addresses")
        for address in addresses:
            try:
                self.check_address(address, port)
            except UnsafeUrl as exc:
                raise UnsafeUrl(f"the host '{host}' resolves to {exc.reason}") from None
        return addresses

    async def admit(self, url: str | URL) -> Destination:
        """The decision function: the URL's form, then every address its host resolves to."""
        destination = self.parse(url)
        if destination.literal is None:
            await self.resolve(destination.host, destination.port)
        return destination

    def follow(self, current: URL, location: str) -> Destination:
        """Where a redirect from ``current`` to ``location`` leads, if its form is acceptable
        (its name is checked when the client connects, as every name is)."""
        try:
            target = current.join(URL(location))
        except (ValueError, UnicodeError) as exc:
            raise UnsafeUrl(f"the redirect's Location cannot be read ({exc})") from exc
        return self.parse(target)


def _read(url: str | URL) -> tuple[URL, str, int]:
    """The URL, its host as connections use it, and its port; or why it cannot be fetched."""
    text = str(url)
    if len(text) > MAX_URL:
        raise UnsafeUrl(f"the URL is longer than {MAX_URL} characters")
    if any(c.isspace() or ord(c) < 0x20 or c == "\\" for c in text):
        raise UnsafeUrl("the URL contains spaces, control characters or backslashes")
    try:
        parsed = url if isinstance(url, URL) else URL(text)
        raw_host = parsed.raw_host
        port = parsed.port
    except (ValueError, UnicodeError) as exc:
        raise UnsafeUrl(f"the URL cannot be read ({exc})") from exc
    if parsed.scheme not in ("http", "https"):
        raise UnsafeUrl("only http and https URLs are accepted")
    if parsed.raw_user is not None or parsed.raw_password is not None:
        raise UnsafeUrl("URLs with a user name or password are not accepted")
    if not raw_host or port is None:
        raise UnsafeUrl("the URL has no host")
    if not 0 < port < 65536:
        raise UnsafeUrl("the URL's port is out of range")
    host = raw_host.rstrip(".").lower()
    if "%" in host:
        what = "IPv6 zone identifiers" if ":" in host else "percent-encoded host names"
        raise UnsafeUrl(f"{what} are not accepted")
    return parsed, host, port


def _unique(addresses: Iterable[IPAddress]) -> list[IPAddress]:
    return list(dict.fromkeys(addresses))
