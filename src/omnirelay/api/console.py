"""The web console's site: its files under ``/console/`` (with a strict Content-Security-Policy)
and signing in and out.

``POST /console/api/login {"key"}`` checks the key as any request would (enabled, not
expired, from an allowed address) and opens a session (``platform.sessions``): an HttpOnly,
SameSite=Strict cookie, and a CSRF token in the answer, which the page keeps in memory and
sends back on every change. ``GET /console/api/session`` tells a page that was reloaded who is
signed in and its CSRF token again (204: nobody); ``POST /console/api/logout`` ends the
session. The key never reaches a URL or the browser's storage.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import msgspec
from aiohttp import web

from omnirelay.api.common import decode_json, gateway_of, read_body
from omnirelay.api.openai import openai_errors
from omnirelay.api.session import LOGIN_PATH, session_of
from omnirelay.errors import InvalidRequest
from omnirelay.keys import KeyRecord
from omnirelay.platform import sessions
from omnirelay.platform.sessions import COOKIE
from omnirelay.platform.users import get_user

SITE = Path(__file__).resolve().parent.parent / "console"

# No inline script or style anywhere, nothing from another origin: what the console shows
# (task previews included) comes from the gateway itself.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


class Login(msgspec.Struct):
    key: str


class Who(msgspec.Struct):
    """Who a session is: the key, and its user (none for an admin key)."""

    key_id: int
    key_name: str
    is_admin: bool
    user_id: int | None
    user_name: str | None
    group: str


class SessionInfo(msgspec.Struct):
    csrf_token: str  # send it back as X-CSRF-Token on every change
    expires_at: datetime
    who: Who


def _json(value: object, status: int = 200) -> web.Response:
    return web.Response(
        body=msgspec.json.encode(value), status=status, content_type="application/json"
    )


async def _who(request: web.Request, key: KeyRecord) -> Who:
    name = None
    if key.user_id is not None:
        name = (await get_user(gateway_of(request).db, key.user_id)).name
    return Who(key.id, key.name, key.is_admin, key.user_id, name, key.group)


def _secure(request: web.Request) -> bool:
    public = gateway_of(request).settings.public_url
    return request.secure or public.startswith("https://")


@openai_errors
async def login(request: web.Request) -> web.StreamResponse:
    if request.content_type != "application/json":
        # A form another site posts cannot send JSON without asking first (CORS).
        raise InvalidRequest('send the key as JSON: {"key": "sk-or-..."}')
    spec = decode_json(await read_body(request), Login)
    raw = spec.key.strip()
    if not raw:
        raise InvalidRequest("'key' must not be empty", param="key")
    gateway = gateway_of(request)
    key = await gateway.keys.authenticate(raw)
    lifetime = timedelta(hours=gateway.settings.console_session_hours)
    opened = await sessions.open_session(
        gateway.db,
        gateway.box,
        raw_key=raw,
        key_id=key.id,
        lifetime=lifetime,
        ip=request.remote,
        user_agent=request.headers.get("User-Agent"),
    )
    response = _json(SessionInfo(opened.csrf_token, opened.expires_at, await _who(request, key)))
    response.set_cookie(
        COOKIE,
        opened.token,
        max_age=int(lifetime.total_seconds()),
        path="/",
        httponly=True,
        samesite="Strict",
        secure=_secure(request),
    )
    return response


@openai_errors
async def current(request: web.Request) -> web.StreamResponse:
    session = session_of(request)
    if session is None:
        return web.Response(status=204)  # not signed in: the page shows its sign-in form
    key = await gateway_of(request).keys.authenticate(session.raw_key)
    return _json(SessionInfo(session.csrf_token, session.expires_at, await _who(request, key)))


@openai_errors
async def logout(request: web.Request) -> web.StreamResponse:
    token = request.cookies.get(COOKIE)
    if token and session_of(request) is not None:  # the middleware checked its CSRF token
        await sessions.close(gateway_of(request).db, token)
    response = web.Response(status=204)
    response.del_cookie(COOKIE, path="/")
    return response


async def index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(SITE / "index.html")


async def to_console(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/console/")


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer under /console/ gets the console's policy (``on_response_prepare``)."""
    if request.path.startswith("/console"):
        response.headers.update(SECURITY_HEADERS)
        # Answers about the session are never kept; the files are checked again each time
        # (their ETag), so a new release is seen at the next load.
        api = request.path.startswith("/console/api/")
        response.headers["Cache-Control"] = "no-store" if api else "no-cache"


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", to_console)
    app.router.add_get("/console", to_console)
    app.router.add_post(LOGIN_PATH, login)
    app.router.add_get("/console/api/session", current)
    app.router.add_post("/console/api/logout", logout)
    app.router.add_get("/console/", index)
    app.router.add_static("/console/", SITE)
    app.on_response_prepare.append(security_headers)


__all__ = ["CONTENT_SECURITY_POLICY", "LOGIN_PATH", "Login", "SessionInfo", "add_routes"]
