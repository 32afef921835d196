"""Vendors misbehaving as a whole, and the task vendors' submissions misbehaving on request.

``POST /sandbox/outages`` takes a vendor (a path prefix) down for a while::

    {"prefix": "/kling", "seconds": 3, "mode": "status", "status": 503, "methods": ["GET"]}

``mode`` is ``status`` (answer ``status``, as a load balancer in front of a dead service does),
``reset`` (close the connection without an answer), ``malformed`` (answer 200 with a body that
is not JSON) or ``hang`` (answer nothing for ``seconds``); ``methods`` limits it (polls are
GETs, or POSTs for batch polls). ``DELETE /sandbox/outages`` ends them all; ``GET`` lists them.

The task vendors (Kling, Suno, Flux, midjourney-proxy) also obey a submission's own fault
(``faults.py``: a ``[sandbox-fault …]`` marker in its prompt), answered in the vendor's shape.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

from omnirelay.sandbox.faults import MALFORMED_BODY, apply_before, fault_for

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Render = Callable[[int, str], web.Response]


@dataclass(frozen=True, slots=True)
class Outage:
    prefix: str
    until: float  # time.monotonic()
    mode: str = "status"
    status: int = 503
    methods: frozenset[str] | None = None

    def covers(self, request: web.Request, now: float) -> bool:
        return (
            now < self.until
            and request.path.startswith(self.prefix)
            and (self.methods is None or request.method in self.methods)
        )


OUTAGES = web.AppKey("outages", list)
_MODES = frozenset({"status", "reset", "malformed", "hang"})


def _kling(status: int, message: str) -> web.Response:
    code = {429: 1302, 401: 1000, 400: 1201, 404: 1203}.get(status, 5000)
    body = {"code": code, "message": message, "request_id": secrets.token_urlsafe(12)}
    return web.json_response(body, status=status)


def _suno(status: int, message: str) -> web.Response:
    word = {429: "rate_limited", 400: "invalid_request"}.get(status, "error")
    return web.json_response({"code": word, "message": message, "data": None}, status=status)


def _bfl(status: int, message: str) -> web.Response:
    return web.json_response({"detail": message}, status=status)


def _midjourney(status: int, message: str) -> web.Response:
    code = 23 if status == 429 else 9
    body = {"code": code, "description": message, "result": None, "properties": {}}
    return web.json_response(body, status=status)


# Where each task vendor submits, and how it renders an error.
_SUBMISSIONS: tuple[tuple[tuple[str, ...], Render], ...] = (
    (("/kling/v1/",), _kling),
    (("/suno/submit/",), _suno),
    (("/bfl/v1/",), _bfl),
    (
        ("/mj/submit/", "/mj-fast/mj/submit/", "/mj-relax/mj/submit/", "/mj-turbo/mj/submit/"),
        _midjourney,
    ),
)


def _render_for(request: web.Request) -> Render | None:
    if request.method != "POST":
        return None
    for prefixes, render in _SUBMISSIONS:
        if request.path.startswith(prefixes):
            return render
    return None


async def _outage_answer(request: web.Request, outage: Outage) -> web.StreamResponse:
    if outage.mode == "reset":
        if request.transport is not None:
            request.transport.close()  # nothing is sent: the connection is gone
        return web.Response(status=500)
    if outage.mode == "hang":
        await asyncio.sleep(max(0.0, outage.until - time.monotonic()))
    if outage.mode == "malformed":
        return web.Response(body=MALFORMED_BODY, content_type="application/json")
    return web.Response(
        status=outage.status,
        text="<html><body>upstream unavailable</body></html>",
        content_type="text/html",
    )


@web.middleware
async def misbehave(request: web.Request, handler: Handler) -> web.StreamResponse:
    outages: list[Outage] = request.app[OUTAGES]
    if outages:
        now = time.monotonic()
        outages[:] = [o for o in outages if o.until > now]
        for outage in outages:
            if outage.covers(request, now):
                return await _outage_answer(request, outage)
    render = _render_for(request)
    if render is not None:
        try:
            body = json.loads(await request.read() or b"null")
        except ValueError:
            body = None
        fault = fault_for(request, body if isinstance(body, dict) else None)
        failed = await apply_before(fault, render)
        if failed is not None:
            return failed
    return await handler(request)


async def start_outage(request: web.Request) -> web.Response:
    try:
        spec = json.loads(await request.read())
        mode = str(spec.get("mode", "status"))
        outage = Outage(
            prefix=str(spec["prefix"]),
            until=time.monotonic() + float(spec["seconds"]),
            mode=mode,
            status=int(spec.get("status", 503)),
            methods=frozenset(spec["methods"]) if spec.get("methods") else None,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return web.json_response({"error": "prefix and seconds are required"}, status=400)
    if mode not in _MODES:
        return web.json_response({"error": f"mode must be one of {sorted(_MODES)}"}, status=400)
    request.app[OUTAGES].append(outage)
    return web.json_response({"prefix": outage.prefix, "mode": outage.mode}, status=201)


async def list_outages(request: web.Request) -> web.Response:
    now = time.monotonic()
    found = [
        {"prefix": o.prefix, "mode": o.mode, "seconds_left": round(o.until - now, 3)}
        for o in request.app[OUTAGES]
        if o.until > now
    ]
    return web.json_response({"data": found})


async def end_outages(request: web.Request) -> web.Response:
    request.app[OUTAGES].clear()
    return web.Response(status=204)


def middleware() -> Middleware:
    return misbehave


def add_routes(app: web.Application) -> None:
    app[OUTAGES] = []
    app.router.add_post("/sandbox/outages", start_outage)
    app.router.add_get("/sandbox/outages", list_outages)
    app.router.add_delete("/sandbox/outages", end_outages)
