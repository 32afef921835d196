"""The sandbox server: every imitated vendor on one port, each under its real paths."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from omnirelay.config import Settings
from omnirelay.sandbox import (
    anthropic,
    flux,
    gemini,
    ideogram,
    kling,
    midjourney,
    openai,
    openai_responses,
    outages,
    suno,
)
from omnirelay.sandbox.caching import PROMPT_CACHE, PromptCache
from omnirelay.sandbox.faults import FAULT_COUNTS
from omnirelay.sandbox.files import FILE_STORE, FileStore, serve_file

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SANDBOX_KEY = web.AppKey("sandbox_key", str)


def _vendor_auth(expected: str) -> Middleware:
    """Each imitated vendor checks credentials its own way (Anthropic ``x-api-key``, Gemini
    ``x-goog-api-key`` or ``?key=``, OpenAI ``Authorization: Bearer``); the first vendor that
    owns the path decides."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        for owns, check in _AUTH:
            if owns(request.path):
                failed = check(request, expected)
                if failed is not None:
                    return failed
                break
        return await handler(request)

    return middleware


def _openai_owns(path: str) -> bool:
    return path.startswith(("/v1/", openai.CHAT_ONLY_PREFIX + "/v1/"))


def _openai_check(request: web.Request, expected: str) -> web.Response | None:
    token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if token != expected and not token.startswith("sk-fault-"):
        return openai.error(
            401,
            "Incorrect API key provided (the sandbox expects its configured key).",
            code="invalid_api_key",
        )
    return None


# Most specific first: Anthropic's /v1/messages lies inside OpenAI's /v1/.
_AUTH: tuple[
    tuple[Callable[[str], bool], Callable[[web.Request, str], web.Response | None]], ...
] = (
    (midjourney.owns, midjourney.check_auth),
    (anthropic.owns, anthropic.check_auth),
    (gemini.owns, gemini.check_auth),
    (_openai_owns, _openai_check),
)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def build_sandbox_app(
    api_key: str,
    *,
    kling_keys: tuple[str, str] | None = None,
    task_seconds: float = 1.0,
) -> web.Application:
    """The simulator; ``api_key`` is the credential it accepts (``sk-fault-NNN`` always fails).

    ``kling_keys`` is the Kling (access key, secret key) pair (default: the settings' sandbox
    pair); ``task_seconds`` one step of a Kling or Midjourney task's clock. Midjourney's
    ``mj-api-secret`` is ``api_key``."""
    app = web.Application(
        client_max_size=64 * 1024 * 1024,
        middlewares=[outages.middleware(), _vendor_auth(api_key)],
    )
    app[SANDBOX_KEY] = api_key
    app[FAULT_COUNTS] = OrderedDict()
    outages.add_routes(app)
    app[FILE_STORE] = FileStore()
    app[PROMPT_CACHE] = PromptCache()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/files/{name}", serve_file)
    anthropic.add_routes(app)
    gemini.add_routes(app)
    openai.add_routes(app)
    openai_responses.add_routes(app)
    if kling_keys is None:
        defaults = Settings()
        kling_keys = (defaults.sandbox_kling_access_key, defaults.sandbox_kling_secret_key)
    kling.add_routes(app, *kling_keys, step=task_seconds)
    suno.add_routes(app, api_key, step=task_seconds)
    ideogram.add_routes(app, api_key)
    flux.add_routes(app, api_key, step=task_seconds)
    midjourney.add_routes(app, api_key, step=task_seconds)
    return app
