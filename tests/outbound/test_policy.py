"""The guard's decision, checked directly against a table of hostile URLs.

Names are looked up in a table (``TABLE_DNS``), never on the network: these tests send no
packet, whatever the guard decides (and the network fence would stop one if they tried).
"""

from __future__ import annotations

import asyncio
from ipaddress import ip_address

import pytest
from yarl import URL

from omnirelay.outbound import OutboundPolicy, UnsafeUrl, blocked_reason, parse_allow_rule

# What the test resolver answers; any other name does not resolve.
TABLE_DNS: dict[str, list[str]] = {
    "loopback.example.test": ["127.0.0.1"],  # a public-looking name that resolves to loopback
    "metadata.example.test": ["169.254.169.254"],
    "mixed.example.test": ["93.184.216.34", "10.1.2.3"],  # public and private at once
    "v6-local.example.test": ["::1"],
    "mapped.example.test": ["::ffff:192.168.1.1"],
    "public.example.test": ["93.184.216.34"],
    "public6.example.test": ["2606:2800:220:1:248:1893:25c8:1946"],
}


async def table_lookup(host: str, port: int) -> list[str]:
    found = TABLE_DNS.get(host)
    if found is None:
        raise OSError(f"{host} does not resolve (test table)")
    return found


def decide(url: str, allow: tuple[str, ...] = ()) -> str | None:
    """None if the guard admits ``url``, else its reason."""
    policy = OutboundPolicy(allow, lookup=table_lookup)
    try:
        asyncio.run(policy.admit(url))
    except UnsafeUrl as refused:
        return refused.reason
    return None


HOSTILE = [
    # Cloud metadata and link-local.
    ("http://169.254.169.254/latest/meta-data", "link-local"),
    ("http://[fd00:ec2::254]/latest/meta-data", "unique local"),
    ("http://100.100.100.200/latest/meta-data", "carrier-grade NAT"),
    ("http://metadata.google.internal/computeMetadata/v1/", "names this machine"),
    ("http://[fe80::1]/", "link-local"),
    # Loopback in every spelling the C library reads.
    ("http://127.0.0.1/", "loopback"),
    ("http://127.0.0.2:8080/", "loopback"),
    ("http://2130706433/", "loopback"),  # decimal
    ("http://017700000001/", "loopback"),  # octal
    ("http://0x7f000001/", "loopback"),  # hex
    ("http://0x7f.0.0.1/", "loopback"),  # dotted hex
    ("http://0177.0.0.01/", "loopback"),  # dotted octal
    ("http://127.1/", "loopback"),  # short form
    ("http://0x5db8d822/", "write addresses as a.b.c.d"),  # a public address, in hex
    ("http://0/", "'this network'"),
    ("http://0.0.0.0:8000/", "'this network'"),
    ("http://%31%32%37.0.0.1/", "percent-encoded"),  # percent-encoded digits
    ("http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/", "loopback"),  # fullwidth digits
    # IPv6 forms.
    ("http://[::1]/", "loopback"),
    ("http://[::]/", "unspecified"),
    ("http://[::ffff:127.0.0.1]/", "loopback"),  # IPv4-mapped
    ("http://[::ffff:7f00:1]/", "loopback"),  # IPv4-mapped, hex
    ("http://[0:0:0:0:0:ffff:a9fe:a9fe]/", "link-local"),  # mapped metadata
    ("http://[::127.0.0.1]/", "IPv4-compatible"),  # IPv4-compatible
    ("http://[64:ff9b::a9fe:a9fe]/", "link-local"),  # NAT64 of the metadata address
    ("http://[2002:7f00:1::]/", "6to4"),
    ("http://[fe80::1%25eth0]/", "zone"),
    ("http://[ff02::1]/", "multicast"),
    ("http://[fc00::1]/", "unique local"),
    # localhost spellings.
    ("http://localhost/", "names this machine"),
    ("http://LOCALHOST./", "names this machine"),
    ("http://localhost.localdomain/", "names this machine"),
    ("http://api.localhost/", "names this machine"),
    ("http://ip6-localhost/", "names this machine"),
    # Private, CGNAT, multicast, reserved, broadcast.
    ("http://10.0.0.1/", "private"),
    ("http://172.16.5.4/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://100.64.0.1/", "carrier-grade NAT"),
    ("http://224.0.0.1/", "multicast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://255.255.255.255/", "reserved"),
    ("http://198.18.0.1/", "benchmarking"),
    # Names that resolve somewhere refused (the test resolver answers).
    ("http://loopback.example.test/", "loopback"),
    ("https://metadata.example.test/", "link-local"),
    ("http://mixed.example.test/", "private"),
    ("http://v6-local.example.test/", "loopback"),
    ("http://mapped.example.test/", "private"),
    ("http://nowhere.example.test/", "cannot be resolved"),
    # Forms that are refused before any address is looked at.
    ("ftp://93.184.216.34/", "only http and https"),
    ("file:///etc/passwd", "only http and https"),
    ("gopher://93.184.216.34:70/", "only http and https"),
    ("http://user:pw@93.184.216.34/", "user name or password"),
    ("http://93.184.216.34@127.0.0.1/", "user name or password"),
    ("http://08.0.0.1/", "not a valid IP address"),
    ("http://1.2.3.4.5/", "not a valid IP address"),
    ("http://exa mple.com/", "spaces"),
    ("http:\\\\127.0.0.1\\", "backslashes"),
    ("http:///path-only", "no host"),
    ("http://93.184.216.34:0/", "out of range"),
]


def test_the_table_is_long_enough() -> None:
    assert len(HOSTILE) >= 25


@pytest.mark.parametrize(("url", "why"), HOSTILE)
def test_hostile_urls_are_refused_with_their_reason(url: str, why: str) -> None:
    reason = decide(url)
    assert reason is not None, f"{url} was admitted"
    assert why in reason, reason


@pytest.mark.parametrize(
    "url",
    [
        "https://93.184.216.34/hook",
        "http://public.example.test:8080/hook?token=x",
        "https://public6.example.test/",
        "http://[2606:4700:4700::1111]/",
        "http://[::ffff:93.184.216.34]/",  # mapped, but a public address inside
        "https://public.example.test./",  # the trailing dot of a fully qualified name
    ],
)
def test_public_destinations_are_admitted(url: str) -> None:
    assert decide(url) is None


def test_the_operator_allow_list_admits_exactly_what_it_names() -> None:
    assert decide("http://127.0.0.1:8100/", allow=("127.0.0.1:8100",)) is None
    assert decide("http://127.0.0.1:8101/", allow=("127.0.0.1:8100",)) is not None
    assert decide("http://127.0.0.2/", allow=("127.0.0.1",)) is not None
    assert decide("http://10.9.8.7/", allow=("10.0.0.0/8",)) is None
    assert decide("http://[::ffff:10.9.8.7]/", allow=("10.0.0.0/8",)) is None  # mapped form
    assert decide("http://loopback.example.test/", allow=("127.0.0.1",)) is None
    assert decide("http://[::1]:9/", allow=("[::1]:9",)) is None
    # The allow-list admits addresses, never this machine's names.
    assert decide("http://localhost/", allow=("127.0.0.0/8",)) is not None


@pytest.mark.parametrize("bad", ["nonsense", "10.0.0.0/33", "127.0.0.1:0", "[::1]:99999"])
def test_bad_allow_rules_are_refused_at_start(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_allow_rule(bad)


def test_redirects_are_judged_like_first_requests() -> None:
    policy = OutboundPolicy(lookup=table_lookup)
    here = URL("https://public.example.test/start")
    assert policy.follow(here, "/next").url == URL("https://public.example.test/next")
    for location in (
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:10.0.0.1]/",
        "//127.0.0.1/",  # scheme-relative
        "http://0x7f.1/",
        "file:///etc/passwd",
        "http://localhost:8000/",
    ):
        with pytest.raises(UnsafeUrl):
            policy.follow(here, location)


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("8.8.8.8", False),
        ("1.1.1.1", False),
        ("192.0.0.171", True),
        ("192.88.99.1", True),
        ("203.0.113.9", True),
        ("2001:db8::1", True),
        ("2001::1", True),  # Teredo
        ("2606:4700::6810:85e5", False),
        ("::ffff:8.8.8.8", False),
    ],
)
def test_address_table(address: str, refused: bool) -> None:
    assert (blocked_reason(ip_address(address)) is not None) is refused
