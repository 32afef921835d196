"""Thinking signatures the sandbox's vendors hand out with a model's thinking, and check when a
client sends the thinking back (Claude's ``signature``, Gemini's ``thoughtSignature``).

The real vendors encrypt the thinking into the signature; here it is only authenticated, so
the sandbox refuses a signature it did not make, or one sent back with other thinking.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

_SIGNING_KEY = b"omnirelay-sandbox-thinking-v1"


def sign(thinking: str) -> str:
    payload = thinking.encode()
    mac = hmac.new(_SIGNING_KEY, payload, hashlib.sha256).digest()[:16]
    return base64.b64encode(b"\x01" + mac + payload).decode()


def signed_thinking(signature: str) -> str | None:
    """The thinking a signature was made for, or None if the sandbox did not make it."""
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return None
    mac, payload = raw[1:17], raw[17:]
    expected = hmac.new(_SIGNING_KEY, payload, hashlib.sha256).digest()[:16]
    if raw[:1] != b"\x01" or not hmac.compare_digest(mac, expected):
        return None
    return payload.decode(errors="replace")
