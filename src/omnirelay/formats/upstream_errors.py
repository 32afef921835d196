"""Upstream HTTP status → our error tree, shared by the adapters whose vendors agree on it.

Each adapter extracts its vendor's message; this decides what the client may see. An upstream
401/403 concerns the channel's credential (ours, not the client's), so its text is never echoed:
it may quote part of the secret.
"""

from __future__ import annotations

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
