"""The admin API under ``/admin`` (admin keys only), one module per resource, and its OpenAPI
document at ``/admin/openapi.json``. Errors use the OpenAI envelope, like the relay endpoints,
so one client library reads both; every mutating call is written to the audit log."""

from __future__ import annotations

from aiohttp import web

from omnirelay.api import account, console, me
from omnirelay.api.admin import (
    audit,
    channels,
    codes,
    keys,
    models,
    overview,
    status,
    tasks,
    usage,
    users,
    webhooks,
)
from omnirelay.api.admin.base import Route, encode, endpoint
from omnirelay.api.admin.openapi import Documented, document
from omnirelay.api.openai import error_response, openai_errors
from omnirelay.errors import InvalidRequest, NotFound

ROUTES: tuple[Route, ...] = (
    *overview.ROUTES,
    *keys.ROUTES,
    *users.ROUTES,
    *codes.ROUTES,
    *channels.ROUTES,
    *models.ROUTES,
    *usage.ROUTES,
    *tasks.ROUTES,
    *audit.ROUTES,
    *webhooks.ROUTES,
    *status.ROUTES,
)

# The user-facing account endpoints, described in the same document.
ACCOUNT = (
    Documented(
        "GET",
        "/v1/dashboard/billing/subscription",
        "The key's limit, as OpenAI's old dashboard API answered",
        "account",
        response=account.Subscription,
    ),
    Documented(
        "GET",
        "/v1/dashboard/billing/usage",
        "What the key spent (cents)",
        "account",
        query=account.UsageDates,
        response=account.UsageTotal,
    ),
    Documented(
        "POST",
        "/api/redeem",
        "Redeem a code into the key's user's balance",
        "account",
        body=account.Redeem,
        response=account.Redeemed,
    ),
    Documented(
        "POST",
        console.LOGIN_PATH,
        "Sign the console in with a key: sets an HttpOnly session cookie, answers the CSRF "
        "token to send back as X-CSRF-Token on every change",
        "console",
        body=console.Login,
        response=console.SessionInfo,
    ),
    Documented(
        "GET",
        "/console/api/session",
        "Who the session cookie signs in (and its CSRF token); 204 if nobody",
        "console",
        response=console.SessionInfo,
    ),
    Documented("POST", "/console/api/logout", "End the console's session", "console", status=204),
)


async def openapi(request: web.Request) -> web.StreamResponse:
    return encode(document((*ROUTES, *me.ROUTES), ACCOUNT))


async def _methods_elsewhere(request: web.Request) -> set[str]:
    """The methods another route allows on this path (none: the path itself is unknown)."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource is request.match_info.route.resource:
            continue
        found, methods = await resource.resolve(request)
        if found is None:
            allowed |= methods
    return allowed


@openai_errors
async def unknown_route(request: web.Request) -> web.StreamResponse:
    allowed = await _methods_elsewhere(request)
    if allowed:  # a known path asked with the wrong method: 405 and what it takes
        error = InvalidRequest(
            f"{request.method} is not allowed on {request.path}"[:300],
            code="method_not_allowed",
            status=405,
        )
        response = error_response(error)
        response.headers["Allow"] = ", ".join(sorted(allowed))
        return response
    raise NotFound(f"no such route: {request.method} {request.path}"[:300])


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin/openapi.json", openapi)
    for route in ROUTES:
        app.router.add_route(route.method, route.path, endpoint(route))


def add_fallback(app: web.Application) -> None:
    """Any other path of the admin API, or of the console's and users' own (``/api/``,
    ``/console/api/``; an id that is not one too): a 404 in the envelope (registered after
    every other route)."""
    for prefix in ("/admin", "/api", "/console/api"):
        app.router.add_route("*", prefix, unknown_route)  # where "x/.." normalises to
        # [\s\S]: a path may hold a (percent-encoded) newline, which "." does not match.
        app.router.add_route("*", prefix + "/{tail:[\\s\\S]*}", unknown_route)


__all__ = ["ROUTES", "add_fallback", "add_routes"]
