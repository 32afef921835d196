"""The console's session as a credential: a request that carries the session cookie and no
``Authorization`` header is served as the key the session signed in with.

One middleware does it for every surface (the admin API, a user's own data, the relay
endpoints the playground calls), so no surface knows about cookies. A request that carries a
key of its own is left alone: an explicit credential always wins. Requests that change
something must prove they come from the console's own page: the session's CSRF token in
``X-CSRF-Token`` and, where the browser says where it comes from, our own origin. Safe
requests (GET, HEAD) need neither, so a ``<video src>`` of a task's file works with the cookie
alone; SameSite=Strict keeps the cookie off every request another site starts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web
from multidict import CIMultiDict

from omnirelay.api.common import gateway_of
from omnirelay.api.openai import openai_errors
from omnirelay.errors import PermissionDenied
from omnirelay.platform import sessions
from omnirelay.platform.sessions import COOKIE, CSRF_HEADER, Session

SESSION = web.RequestKey("console_session", Session)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Signing in carries its key in the body: a session the browser still has plays no part.
LOGIN_PATH = "/console/api/login"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return origin is None  # "null": a sandboxed frame or a redirect, never our page
    return urlsplit(origin).netloc == request.host


@openai_errors
async def _refused(request: web.Request) -> web.StreamResponse:
    raise PermissionDenied(
        "this change was not made from the console's page (missing or wrong X-CSRF-Token)",
        code="csrf_failed",
    )


@web.middleware
async def session_credentials(request: web.Request, handler: Handler) -> web.StreamResponse:
    # Parsing the cookies costs a request that has none (every API client's) ~1 µs.
    token = request.cookies.get(COOKIE) if "Cookie" in request.headers else None
    if not token or "Authorization" in request.headers or request.path == LOGIN_PATH:
        return await handler(request)
    gateway = gateway_of(request)
    session = await sessions.find(gateway.db, gateway.box, token)
    if session is None:
        return await handler(request)  # the endpoint says what is missing
    if request.method not in SAFE_METHODS and not (
        session.csrf_matches(request.headers.get(CSRF_HEADER)) and _same_origin(request)
    ):
        return await _refused(request)
    headers = CIMultiDict(request.headers)
    headers["Authorization"] = f"Bearer {session.raw_key}"
    signed_in = request.clone(headers=headers)
    signed_in[SESSION] = session
    return await handler(signed_in)


def session_of(request: web.Request) -> Session | None:
    return request.get(SESSION)
