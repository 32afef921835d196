"""Fetches made on a user's behalf, guarded against reaching what the user must not reach
(server-side request forgery): ``OutboundPolicy`` decides, ``GuardedClient`` fetches.

Exceptions: ``UnsafeUrl`` (the policy refused the URL, a redirect or an address; ``reason``
says why) and ``TooLarge`` (an answer over the caller's bound); failures of the fetch itself
are aiohttp's ``ClientError`` or ``TimeoutError``.
"""

from omnirelay.outbound.addresses import AllowRule, blocked_reason, parse_allow_rule
from omnirelay.outbound.client import GuardedClient, TooLarge
from omnirelay.outbound.policy import Destination, Lookup, OutboundPolicy, UnsafeUrl, where

__all__ = [
    "AllowRule",
    "Destination",
    "GuardedClient",
    "Lookup",
    "OutboundPolicy",
    "TooLarge",
    "UnsafeUrl",
    "blocked_reason",
    "parse_allow_rule",
    "where",
]
