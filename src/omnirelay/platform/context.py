"""What the platform knows about the request being served, without threading it through
every surface: the client's address (for IP allow-lists) and the rate-limit admission (for
the ``x-ratelimit-*`` headers of whatever answer goes out).

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


_CURRENT: ContextVar[RequestContext | None] = ContextVar("omnirelay_request", default=None)


def current() -> RequestContext | None:
    return _CURRENT.get()


def begin(ip: str | None) -> RequestContext:
    """Open the context of a new request (the middleware's job)."""
    context = RequestContext(ip=ip)
    _CURRENT.set(context)
    return context


def current_group() -> str | None:
    """The group of the key serving the current request, for channel choice."""
    context = _CURRENT.get()
    return context.key.group if context is not None and context.key is not None else None
