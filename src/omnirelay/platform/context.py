"""What the platform knows about the request being served, without threading it through
every surface: the client's address (for IP allow-lists) and the rate-limit admission (for
the ``x-ratelimit-*`` headers of whatever answer goes out).

It also gathers what the request's log line and metrics report (its id, surface, and what the
meter settled: model, channel, tokens, cost, first byte).

The app's middleware opens one ``RequestContext`` per request in a context variable, which is
request-scoped (each request runs in its own asyncio task), not process-global state. Domain
code reads it through ``current()``; outside a request (background tasks, tests) there is
none and the checks that need it are skipped.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from omnirelay.keys import KeyRecord
    from omnirelay.platform.limits.base import Decision


@dataclass(slots=True)
class RequestContext:
    ip: str | None = None
    key: KeyRecord | None = None  # set once the request authenticated
    decision: Decision | None = None  # the rate-limit verdict, for the response headers
    request_id: str | None = None  # the client's x-request-id, or one made for it
    surface: str = "other"
    # What the meter settled (``Meter.finish``), for the log line and the metrics.
    model: str | None = None
    channel_id: int | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: int = 0
    first_byte: float | None = None  # perf_counter() when the answer's first byte left
    retry_after: float | None = None  # seconds, for a refusal that is not a rate-limit decision


_CURRENT: ContextVar[RequestContext | None] = ContextVar("omnirelay_request", default=None)


def current() -> RequestContext | None:
    return _CURRENT.get()


def begin(
    ip: str | None, request_id: str | None = None, surface: str = "other"
) -> RequestContext:
    """Open the context of a new request (the middleware's job)."""
    context = RequestContext(ip=ip, request_id=request_id, surface=surface)
    _CURRENT.set(context)
    return context


def current_group() -> str | None:
    """The group of the key serving the current request, for channel choice."""
    context = _CURRENT.get()
    return context.key.group if context is not None and context.key is not None else None
