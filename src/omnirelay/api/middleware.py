"""The middleware every request passes: it opens the request's context (its address, its id —
the client's ``x-request-id`` if it is a sane one, else a new one —, its surface), refuses
oversized headers in the client's format, wraps the request in a trace span when tracing is
on, and when the answer is done reports it once: the metrics and the access log line."""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from aiohttp import web

from omnirelay.api.common import GATEWAY
from omnirelay.api.limits import check_headers
from omnirelay.api.surfaces import surface_of
from omnirelay.errors import GatewayError
from omnirelay.metering import make_request_id
from omnirelay.platform import context
from omnirelay.platform.limits.admission import headers as ratelimit_headers

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PREPARED = web.RequestKey("prepared", float)  # perf_counter() when the headers went out
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
# Polled by machines all day: counted in the metrics, not written to the log.
_QUIET = frozenset({"/healthz", "/metrics"})


def request_id_of(request: web.Request) -> str:
    given = request.headers.get("x-request-id")
    return given if given is not None and _REQUEST_ID.fullmatch(given) else make_request_id()


def _route_name(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    gateway = request.app[GATEWAY]
    surface = surface_of(request.path)
    found = context.begin(request.remote, request_id_of(request), surface.name)
    started = time.perf_counter()
    status = 500
    tracing = gateway.observer.tracing
    span: AbstractContextManager[Any] = nullcontext()
    if tracing is not None:
        attributes = {
            "http.request.method": request.method,
            "http.route": _route_name(request),
            "omnirelay.surface": surface.name,
            "omnirelay.request_id": found.request_id,
        }
        span = tracing.span(f"{request.method} {_route_name(request)}", attributes, server=True)
    with span as opened:
        try:
            try:
                check_headers(request, gateway.settings)
            except GatewayError as error:
                response: web.StreamResponse = surface.render(error)
            else:
                response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except asyncio.CancelledError:
            status = 499  # the client left (or the server stopped) before the answer
            raise
        finally:
            if tracing is not None and opened is not None:
                _finish_span(tracing, opened, found, status, gateway)
            gateway.observer.request_done(
                found,
                method=request.method,
                path=request.path,
                status_code=status,
                started=started,
                prepared=request.get(PREPARED),
                channel=_channel_name(gateway, found.channel_id),
                quiet=request.path in _QUIET,
            )


def _channel_name(gateway: Any, channel_id: int | None) -> str | None:
    if channel_id is None:
        return None
    channel = gateway.router.channel(channel_id)
    return channel.name if channel is not None else str(channel_id)


def _finish_span(
    tracing: Any, span: Any, found: context.RequestContext, status: int, gateway: Any
) -> None:
    tracing.set_status(span, status)
    if found.key is not None:
        span.set_attribute("omnirelay.key_id", found.key.id)
    if found.model is not None:
        span.set_attribute("omnirelay.model", found.model)
    channel = _channel_name(gateway, found.channel_id)
    if channel is not None:
        span.set_attribute("omnirelay.channel", channel)


async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer: its request id, the rate-limit headers of a limited key, ``Retry-After``
    on a refusal, ``nosniff`` (a JSON answer is never sniffed into a page), and the time its
    first byte left."""
    request[PREPARED] = time.perf_counter()
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    found = context.current()
    if found is None:
        return
    if found.request_id is not None and "x-request-id" not in response.headers:
        response.headers["x-request-id"] = found.request_id
    if found.decision is not None:
        response.headers.update(ratelimit_headers(found.decision))
    if found.retry_after is not None and "Retry-After" not in response.headers:
        response.headers["Retry-After"] = str(max(1, math.ceil(found.retry_after)))
