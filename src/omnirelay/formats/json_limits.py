"""Cheap checks of a JSON body before it is decoded: how deep it nests, and how large the
largest inlined payload (a base64 image, a data URL) is.

Both are fast on the common case: a body with fewer brackets than the depth limit cannot nest
deeper, and a body shorter than the payload limit cannot hold a larger string, so most requests
cost two ``bytes.count`` calls and a length comparison. Otherwise the string contents are
removed by one regular expression (escapes honoured) before the brackets are counted.
"""

from __future__ import annotations

import re

# A JSON string: quote, runs of ordinary characters and escapes, quote (unrolled: no
# per-character alternation, so megabytes of base64 are skipped at C speed).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_BRACKETS = b"[]{}"
_NOT_BRACKETS = bytes(b for b in range(256) if b not in _BRACKETS)
_OPEN = frozenset(b"[{")


def nesting_exceeds(body: bytes, limit: int) -> bool:
    """True if ``body`` nests arrays and objects more than ``limit`` levels deep."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    depth = 0
    for byte in brackets:
        if byte in _OPEN:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def largest_string(body: bytes, floor: int) -> int:
    """The length of the longest JSON string in ``body`` if one is longer than ``floor``
    characters, else 0 (without looking, when the body itself is not longer)."""
    if len(body) <= floor:
        return 0
    longest = 0
    for match in _STRING.finditer(body):
        size = match.end() - match.start() - 2
        if size > longest:
            longest = size
    return longest if longest > floor else 0


def base64_bytes(characters: int) -> int:
    """What ``characters`` of base64 (a data URL's payload, say) decode to, about."""
    return characters * 3 // 4
