"""The tests' second line behind the outbound guard: this interpreter may reach loopback only.

Loaded at start-up by every Python process the tests launch (``PYTHONPATH`` names this folder:
the gateway, its spawned workers, the sandbox) and installed in the test process itself by
``tests/conftest.py``. An audit hook sees every ``connect`` and ``sendto`` made through Python
sockets — every aiohttp connection, uvloop's included — and every name lookup through
``socket.getaddrinfo``; it refuses any destination that is not a loopback address (or a Unix
socket) and any name but this machine's own, before a packet is sent. So even a broken guard
cannot make a test reach another machine; a refusal shows up as a ``ConnectionRefusedError``
naming the fence, and a line on stderr.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from typing import Any

_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


def _loopback(host: object) -> bool:
    if not isinstance(host, str):
        return False
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def _refuse(what: str) -> None:
    message = f"netfence: a test tried to reach {what}; only loopback is allowed"
    print(message, file=sys.stderr, flush=True)
    raise ConnectionRefusedError(message)


def _name_allowed(host: object) -> bool:
    if host is None:
        return True  # getaddrinfo(None, port): the wildcard address of a server socket
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    bare = host.rstrip(".").lower()
    if bare in _LOCAL_NAMES or bare == "":
        return True
    try:
        ipaddress.ip_address(bare.split("%", 1)[0])
    except ValueError:
        return False
    return True  # a numeric address: no lookup; the connect is judged on its own


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        sock, address = args[0], args[1]
        if event == "socket.sendmsg" and address is None:
            return  # a connected socket, already judged at connect
        if getattr(sock, "family", None) == socket.AF_UNIX:
            return
        host = address[0] if isinstance(address, tuple) and address else address
        if not _loopback(host):
            _refuse(repr(address))
    elif event == "socket.getaddrinfo":
        if not _name_allowed(args[0]):
            _refuse(f"the name {args[0]!r} (a DNS lookup)")
    elif event == "socket.gethostbyname" and not _name_allowed(args[0]):
        _refuse(f"the name {args[0]!r} (a DNS lookup)")


_INSTALLED: list[bool] = []


def install() -> None:
    """Idempotent: the hook goes in once per interpreter (audit hooks cannot be removed)."""
    if not _INSTALLED:
        _INSTALLED.append(True)
        sys.addaudithook(_hook)


if __name__ == "sitecustomize":
    install()
