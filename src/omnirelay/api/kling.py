"""The Kling surface: ``/kling/v1/videos/{text2video,image2video}`` and
``/kling/v1/images/generations``, with their queries, in Kling's own envelope.

Creating a task validates the body (HTTP 400, code 1201, before anything is charged or sent),
reserves its price and submits it upstream; queries read our store only, never the vendor.
Task ids are ours; the vendor's never leave the gateway.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from omnirelay.api.common import (
    bearer_token,
    gateway_of,
    internal_error,
    read_body,
    with_retry_after,
)
from omnirelay.errors import (
    AuthenticationFailed,
    GatewayError,
    InvalidRequest,
    NoChannelAvailable,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from omnirelay.formats import kling
from omnirelay.gateway import Gateway
from omnirelay.keys import KeyRecord
from omnirelay.tasks.engine import Submission
from omnirelay.tasks.pricing import PriceKey

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Validating a large base64 image decodes megabytes: do that off the event loop.
_THREAD_BODY_BYTES = 256 * 1024
_AUTH_CODES = {"missing_api_key": 1001, "invalid_api_key": 1002, "api_key_expired": 1004}
# Kling's HTTP status for each of its server-side codes.
_UPSTREAM_STATUS = {5000: 500, 5001: 503, 5002: 504}
# Error classes in the order they must be tested (subclasses before their bases).
_CODES: tuple[tuple[type[GatewayError], int], ...] = (
    (PermissionDenied, 1103),
    (NotFound, 1203),
    (QuotaExceeded, 1102),
    (RateLimited, 1302),
    (NoChannelAvailable, 5001),
    (UpstreamTimeout, 5002),
    (UpstreamError, 5000),
)
_PATHS = {
    kling.TEXT2VIDEO: "/kling/v1/videos/text2video",
    kling.IMAGE2VIDEO: "/kling/v1/videos/image2video",
    kling.IMAGES: "/kling/v1/images/generations",
}


def new_request_id() -> str:
    return secrets.token_urlsafe(16)


def kling_code(error: GatewayError) -> tuple[int, int]:
    """(HTTP status, Kling code) for one of our errors."""
    if error.code is not None and error.code.isdigit():
        return error.status, int(error.code)
    if isinstance(error, AuthenticationFailed):
        return 401, _AUTH_CODES.get(error.code or "", 1000)
    for kind, code in _CODES:
        if isinstance(error, kind):
            return _UPSTREAM_STATUS.get(code, error.status), code
    return error.status, 1201 if error.status < 500 else 5000


def error_response(error: GatewayError) -> web.Response:
    status, code = kling_code(error)
    body = kling.error_body(code, error.message, new_request_id())
    return web.Response(body=body, status=status, content_type="application/json")


def kling_errors(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except GatewayError as error:
            return with_retry_after(error_response(error), error)
        except Exception as exc:  # noqa: BLE001 - internal_error logs it
            known = internal_error(request, exc)
            return with_retry_after(error_response(known), known)

    return wrapped


def _ok(data: object) -> web.Response:
    return web.Response(
        body=kling.envelope(data, new_request_id()), content_type="application/json"
    )


def _allowed(gateway: Gateway, product: str) -> list[str]:
    routable = gateway.router.models()
    return [m for m in gateway.task_prices.models(product) if m in routable]


def _validate(gateway: Gateway, action: str, body: bytes) -> Submission:
    if action == kling.IMAGES:
        images = kling.decode(body, kling.ImageRequest)
        kling.check_images(images, _allowed(gateway, "image"))
        n = images.n or 1
        key = PriceKey(images.model_name, "image")
        model, callback, external = images.model_name, images.callback_url, images.external_task_id
    else:
        video = kling.decode(body, kling.VideoRequest)
        kling.check_video(video, action, _allowed(gateway, "video"))
        n = 1
        key = PriceKey(video.model_name, "video", video.mode or "std", video.duration or "5")
        model, callback, external = video.model_name, video.callback_url, video.external_task_id
    price = gateway.task_prices.price(key, n)
    if price is None:
        raise kling.invalid(
            "mode", f"{model} has no price for mode/duration {key.mode}/{key.duration}"
        )
    return Submission(
        action=action,
        model=model,
        body=kling.upstream_body(body),
        request=body.decode("utf-8"),
        price=price,
        callback_url=callback,
        external_task_id=external,
    )


async def _authenticate(request: web.Request) -> tuple[Gateway, KeyRecord]:
    gateway = gateway_of(request)
    return gateway, await gateway.keys.authenticate(bearer_token(request))


def create(action: str) -> Handler:
    @kling_errors
    async def handler(request: web.Request) -> web.StreamResponse:
        gateway, key = await _authenticate(request)
        body = await read_body(request)
        if len(body) > _THREAD_BODY_BYTES:
            submission = await asyncio.to_thread(_validate, gateway, action, body)
        else:
            submission = _validate(gateway, action, body)
        key.check_model(submission.model)
        task = await gateway.tasks.submit(key, submission)
        return _ok(kling.task_data(task, brief=True))

    return handler


def query(action: str) -> Handler:
    @kling_errors
    async def handler(request: web.Request) -> web.StreamResponse:
        gateway, key = await _authenticate(request)
        task = await gateway.tasks.store.get(request.match_info["task_id"])
        if task is None or task.key_id != key.id or task.action != action:
            raise NotFound("task not found", code="1203")
        return _ok(kling.task_data(task))

    return handler


def _page_param(request: web.Request, name: str, default: int, top: int) -> int:
    raw = request.query.get(name, str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= top:
        raise InvalidRequest(f"{name}: must be an integer between 1 and {top}", code="1201")
    return int(raw)


def listing(action: str) -> Handler:
    @kling_errors
    async def handler(request: web.Request) -> web.StreamResponse:
        gateway, key = await _authenticate(request)
        page = _page_param(request, "pageNum", 1, 1000)
        size = _page_param(request, "pageSize", 30, 500)
        found = await gateway.tasks.store.list_for_key(key.id, [action], page, size)
        return _ok([kling.task_data(task) for task in found])

    return handler


@kling_errors
async def unknown_route(request: web.Request) -> web.StreamResponse:
    raise NotFound(f"no such method: {request.method} {request.path}", code="1202")


def add_routes(app: web.Application) -> None:
    for action, path in _PATHS.items():
        app.router.add_post(path, create(action))
        app.router.add_get(path, listing(action))
        app.router.add_get(path + "/{task_id}", query(action))
    app.router.add_route("*", "/kling/{tail:.*}", unknown_route)
