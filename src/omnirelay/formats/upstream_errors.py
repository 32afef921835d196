"""Upstream HTTP status → our error tree, shared by the adapters whose vendors agree on it.

Each adapter extracts its vendor's message; this decides what the client may see. An upstream
401/403 concerns the channel's credential (ours, not the client's), so its text is never echoed:
it may quote part of the secret.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping

from omnirelay.errors import (
    GatewayError,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)


def credential_rejected(status: int) -> UpstreamError:
    return UpstreamError(
        f"the upstream rejected this gateway's credential (HTTP {status})",
        code="upstream_auth_failed",
    )


MALFORMED = "upstream_malformed"


def malformed(what: str = "answer") -> UpstreamError:
    """The upstream sent something that is not JSON (cut short, garbled): never relayed."""
    return UpstreamError(f"the upstream sent a malformed {what} (not JSON)", code=MALFORMED)


def account_exhausted(status: int) -> UpstreamError:
    """The vendor account behind the channel cannot pay: the channel is broken, not the request."""
    return UpstreamError(
        f"the vendor account behind this channel is out of balance (HTTP {status})",
        code="upstream_account",
    )


def map_status(status: int, message: str) -> GatewayError:
    """The error for an upstream answering ``status`` with ``message`` (already secret-free)."""
    if status in (401, 403):
        return credential_rejected(status)
    if status == 402 or (status in (400, 429) and "credit balance" in message.lower()):
        return account_exhausted(status)
    if status == 404:
        return NotFound(message or "not found upstream")
    if status == 413:
        return PayloadTooLarge(message or "request too large for the upstream")
    if status in (408, 504):
        return UpstreamTimeout(f"the upstream timed out (HTTP {status})")
    if 400 <= status < 500 and status != 429:
        return InvalidRequest(
            message or f"the upstream rejected the request (HTTP {status})",
            status=status if status in (400, 409, 422) else 400,
        )
    if status == 429:
        return RateLimited(
            f"the upstream is rate limiting this gateway: {message[:200]}".rstrip(": "),
            code="upstream_rate_limited",
        )
    code = "upstream_overloaded" if status == 529 else "upstream_error"
    return UpstreamError(
        f"the upstream failed (HTTP {status}): {message[:200]}".rstrip(": "), code=code
    )


# The longest Retry-After honoured: an upstream asking for more is cooled this long.
MAX_RETRY_AFTER = 3600.0


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds an upstream asks to wait: ``retry-after-ms``, or ``Retry-After`` (seconds or an
    HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return min(max(float(millis) / 1000, 0.0), MAX_RETRY_AFTER)
        except ValueError:
            pass
    raw = headers.get("Retry-After")
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)
