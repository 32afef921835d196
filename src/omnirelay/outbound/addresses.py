"""Which addresses a fetch made on a user's behalf may reach, and how hosts are read.

The table below is explicit (not ``ipaddress``'s ``is_global``, whose ranges change between
Python versions) so that a refusal names its reason. IPv6 forms that carry an IPv4 address
(mapped ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::a.b.c.d``) are judged by the IPv4 address inside;
the deprecated IPv4-compatible ``::a.b.c.d`` and 6to4 ``2002::/16`` are refused whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    ip_network,
)

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network


def _table(rows: tuple[tuple[str, str], ...]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ip_network(cidr), reason) for cidr, reason in rows)


BLOCKED_V4 = _table(
    (
        ("0.0.0.0/8", "'this network' (0.0.0.0/8)"),
        ("10.0.0.0/8", "private (10.0.0.0/8)"),
        ("100.64.0.0/10", "carrier-grade NAT (100.64.0.0/10)"),
        ("127.0.0.0/8", "loopback (127.0.0.0/8)"),
        ("169.254.0.0/16", "link-local, where cloud metadata lives (169.254.0.0/16)"),
        ("172.16.0.0/12", "private (172.16.0.0/12)"),
        ("192.0.0.0/24", "IETF protocol assignments (192.0.0.0/24)"),
        ("192.0.2.0/24", "documentation (192.0.2.0/24)"),
        ("192.88.99.0/24", "6to4 relay anycast (192.88.99.0/24)"),
        ("192.168.0.0/16", "private (192.168.0.0/16)"),
        ("198.18.0.0/15", "benchmarking (198.18.0.0/15)"),
        ("198.51.100.0/24", "documentation (198.51.100.0/24)"),
        ("203.0.113.0/24", "documentation (203.0.113.0/24)"),
        ("224.0.0.0/4", "multicast (224.0.0.0/4)"),
        ("240.0.0.0/4", "reserved or broadcast (240.0.0.0/4)"),
    )
)
BLOCKED_V6 = _table(
    (
        ("::/96", "unspecified, loopback or IPv4-compatible (::/96)"),
        ("::ffff:0:0:0/96", "IPv4-translated (::ffff:0:0:0/96)"),
        ("64:ff9b:1::/48", "local-use NAT64 (64:ff9b:1::/48)"),
        ("100::/64", "discard-only (100::/64)"),
        ("2001::/23", "IETF protocol assignments: Teredo, ORCHID, benchmarking (2001::/23)"),
        ("2001:db8::/32", "documentation (2001:db8::/32)"),
        ("2002::/16", "6to4 (2002::/16)"),
        ("3fff::/20", "documentation (3fff::/20)"),
        ("5f00::/16", "segment routing (5f00::/16)"),
        ("fc00::/7", "unique local, private (fc00::/7)"),
        ("fe80::/10", "link-local (fe80::/10)"),
        ("fec0::/10", "site-local (fec0::/10)"),
        ("ff00::/8", "multicast (ff00::/8)"),
    )
)
_NAT64 = ip_network("64:ff9b::/96")

# Names that mean this machine (RFC 6761, and the aliases Debian's /etc/hosts gives it), and
# the cloud metadata service's names. Their addresses are refused anyway; naming them gives a
# clearer answer, and refuses them without a lookup.
LOCAL_NAMES = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "localhost6",
        "localhost6.localdomain6",
        "ip6-localhost",
        "ip6-loopback",
        "metadata",
        "metadata.google.internal",
        "instance-data",
    }
)

_INET_ATON_PART = re.compile(r"^(0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*)$")


def embedded_v4(address: IPAddress) -> IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped or NAT64), if it is one."""
    if isinstance(address, IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def blocked_reason(address: IPAddress) -> str | None:
    """Why ``address`` may not be fetched, or None if it is a public address."""
    inner = embedded_v4(address)
    if inner is not None:
        return blocked_reason(inner)
    table = BLOCKED_V4 if isinstance(address, IPv4Address) else BLOCKED_V6
    for network, reason in table:
        if address in network:
            return reason
    return None


def parse_inet_aton(host: str) -> IPv4Address | None:
    """An IPv4 address in any form the C library's ``inet_aton`` reads, which ``getaddrinfo``
    accepts too: ``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``127.1``. None if not one."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_INET_ATON_PART.match(p) for p in parts):
        return None
    values = [int(p, 16) if p[:2].lower() == "0x" and len(p) > 2 else _number(p) for p in parts]
    if any(v is None for v in values):
        return None
    numbers = [v for v in values if v is not None]
    *head, last = numbers
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    value = 0
    for v in head:
        value = value * 256 + v
    value = value * 256 ** (4 - len(head)) + last
    return IPv4Address(value)


def _number(part: str) -> int | None:
    if part.lower() == "0x":
        return None  # "0x" alone is no number for inet_aton
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8)
    return int(part)


def looks_numeric(host: str) -> bool:
    """A host made of digits, dots and hex prefixes only: an address, or nothing valid."""
    return bool(host) and all(
        label and re.fullmatch(r"[0-9]+|0[xX][0-9a-fA-F]*", label) for label in host.split(".")
    )


def literal_address(host: str) -> IPAddress | None:
    """The address a URL's host names literally (``[::1]``, ``127.0.0.1``, ``0x7f.1``...)."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if ":" in bare:
        try:
            return ip_address(bare)
        except ValueError:
            return None
    return parse_inet_aton(bare)


@dataclass(frozen=True, slots=True)
class AllowRule:
    """An operator's exception: a network, and optionally one port on it."""

    network: IPNetwork
    port: int | None = None

    def admits(self, address: IPAddress, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        candidates = [address]
        inner = embedded_v4(address)
        if inner is not None:
            candidates.append(inner)
        return any(c.version == self.network.version and c in self.network for c in candidates)


def parse_allow_rule(text: str) -> AllowRule:
    """``10.0.0.0/8``, ``127.0.0.1``, ``127.0.0.1:8100``, ``[::1]:8100`` or ``fd00::/8``."""
    entry = text.strip()
    port: int | None = None
    if entry.startswith("["):
        address, _, rest = entry[1:].partition("]")
        if rest.startswith(":"):
            port = int(rest[1:])
        entry = address
    elif entry.count(":") == 1:
        entry, _, raw_port = entry.partition(":")
        port = int(raw_port)
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"outbound allow-list entry '{text}': the port is out of range")
    try:
        network = ip_network(entry, strict=False)
    except ValueError as exc:
        raise ValueError(
            f"outbound allow-list entry '{text}' is not an address, a CIDR block, or either "
            "with ':port'"
        ) from exc
    return AllowRule(network, port)
