"""The Midjourney surface: midjourney-proxy's routes under ``/mj`` and the speed-prefixed
``/mj-fast/mj``, ``/mj-relax/mj``, ``/mj-turbo/mj`` (plain ``/mj`` is fast, and a task made
from another keeps its parent's speed unless the path names one).

Authentication is the omnirelay key as ``mj-api-secret`` or ``Authorization: Bearer``. Submit
routes answer the proxy's SubmitResultVO with HTTP 200 whatever the code (1 accepted, 21
waiting for a modal, 3 not found, 4 invalid, 23 queue full, 24 banned prompt, 9 failure), as
the proxy does; 401 for a bad key. Task routes answer the proxy's Task JSON, and 404 with
code 3 for a task that is not this key's. Nothing refused is charged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from omnirelay.api.common import (
    bearer_token,
    gateway_of,
    internal_error,
    read_body,
    with_retry_after,
)
from omnirelay.api.media_proxy import relay_file
from omnirelay.errors import (
    AuthenticationFailed,
    BannedPrompt,
    GatewayError,
    InvalidRequest,
    NoChannelAvailable,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    QuotaExceeded,
    RateLimited,
    UpstreamError,
)
from omnirelay.formats.midjourney import plans
from omnirelay.formats.midjourney import wire as mj
from omnirelay.formats.midjourney.actions import ACTIONS, product
from omnirelay.formats.midjourney.render import task_json
from omnirelay.gateway import Gateway
from omnirelay.keys import KeyRecord
from omnirelay.tasks.engine import Submission
from omnirelay.tasks.model import Task, TaskStatus
from omnirelay.tasks.pricing import PriceKey

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
T = TypeVar("T")

PREFIXES = {"/mj": None, "/mj-fast/mj": "fast", "/mj-relax/mj": "relax", "/mj-turbo/mj": "turbo"}
# Decoding base64 images of a large body takes a while: off the event loop.
_THREAD_BODY_BYTES = 256 * 1024
_CODES: tuple[tuple[type[GatewayError], int], ...] = (
    (BannedPrompt, mj.BANNED_PROMPT),
    (AuthenticationFailed, mj.VALIDATION_ERROR),
    (PayloadTooLarge, mj.VALIDATION_ERROR),
    (NotFound, mj.NOT_FOUND),
    (NoChannelAvailable, mj.NOT_FOUND),  # the proxy: "no account instance is available"
    (PermissionDenied, mj.VALIDATION_ERROR),
    (QuotaExceeded, mj.VALIDATION_ERROR),
    (RateLimited, mj.QUEUE_REJECTED),
    (InvalidRequest, mj.VALIDATION_ERROR),
    (UpstreamError, mj.FAILURE),
)
_KNOWN_CODES = frozenset({"3", "4", "9", "23", "24"})


def mj_code(error: GatewayError) -> int:
    if error.code in _KNOWN_CODES:
        return int(error.code or 0)
    for kind, code in _CODES:
        if isinstance(error, kind):
            return code
    return mj.FAILURE


def _error_response(error: GatewayError, *, task_route: bool) -> web.Response:
    code = mj_code(error)
    if isinstance(error, AuthenticationFailed | PayloadTooLarge | mj.MalformedBody):
        status = error.status
    elif task_route:
        status = 404 if code == mj.NOT_FOUND else error.status
    else:
        status = 200  # the proxy answers every submit outcome with 200 and a code
    properties: dict[str, Any] = {}
    if isinstance(error, BannedPrompt):
        properties["bannedWord"] = error.banned_word
    body = mj.submit_body(code, error.message, None, **properties)
    return web.Response(body=body, status=status, content_type="application/json")


def error_response(error: GatewayError) -> web.Response:
    """An error before any route ran (limits, throttling): as a submission answers it."""
    return _error_response(error, task_route=False)


def mj_errors(*, task_route: bool = False) -> Callable[[Handler], Handler]:
    def wrap(handler: Handler) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except GatewayError as error:
                return with_retry_after(_error_response(error, task_route=task_route), error)
            except Exception as exc:  # noqa: BLE001 - internal_error logs it
                known = internal_error(request, exc)
                return with_retry_after(_error_response(known, task_route=task_route), known)

        return wrapped

    return wrap


def _json(data: Any) -> web.Response:
    return web.Response(body=msgspec.json.encode(data), content_type="application/json")


def _origin(gateway: Gateway, request: web.Request) -> str:
    return gateway.settings.public_url.rstrip("/") or f"{request.scheme}://{request.host}"


async def _begin(request: web.Request) -> tuple[Gateway, KeyRecord, bytes]:
    gateway = gateway_of(request)
    secret = request.headers.get("mj-api-secret", "").strip() or bearer_token(request)
    if not secret:
        raise AuthenticationFailed(
            "missing API key: send it as 'mj-api-secret: <key>' or 'Authorization: Bearer <key>'",
            code="missing_api_key",
        )
    key = await gateway.keys.authenticate(secret)
    return gateway, key, await read_body(request)


async def _decoded(body: bytes, kind: type[T], plan: Callable[[T], Any]) -> Any:
    def run() -> Any:
        return plan(mj.decode(body, kind))

    return await asyncio.to_thread(run) if len(body) > _THREAD_BODY_BYTES else run()


async def _own_task(gateway: Gateway, key: KeyRecord, task_id: str, what: str = "task") -> Task:
    task = await gateway.tasks.store.get(task_id)
    if task is None or task.key_id != key.id or task.action not in ACTIONS or not task.upstream_id:
        raise NotFound(f"the {what} does not exist or has expired: {task_id[:64]}", code="3")
    return task


def _model(gateway: Gateway, mode: str) -> str:
    model = mj.MODES[mode]
    if not gateway.router.has_model(model):
        raise NoChannelAvailable(f"no account instance is available for {mode} mode")
    return model


def _child_mode(mode: str | None, parent: Task) -> str:
    return mode or mj.MODE_OF_MODEL.get(parent.model, mj.DEFAULT_MODE)


async def _submit(
    gateway: Gateway, key: KeyRecord, plan: plans.Plan, mode: str, parent: Task | None = None
) -> web.Response:
    model = _model(gateway, mode)
    key.check_model(model)
    price = gateway.task_prices.price(PriceKey(model, product(plan.action)))
    if price is None:
        raise mj.invalid(f"{product(plan.action)} is not offered in {mode} mode")
    submission = Submission(
        action=plan.action,
        model=model,
        body=msgspec.json.encode(plan.upstream),
        request=msgspec.json.encode(plan.record).decode(),
        price=price,
        callback_url=plan.notify_hook,
        callback_field="notifyHook",
        parent=parent,
    )
    task = await gateway.tasks.submit(key, submission)
    if plan.modal:
        body = mj.submit_body(
            mj.EXISTED,
            "Waiting for window confirm",
            task.id,
            finalPrompt=plan.record.get("prompt", ""),
            remix=True,
        )
    else:
        body = mj.submit_body(mj.SUCCESS, "Submit success", task.id)
    return web.Response(body=body, content_type="application/json")


def _creator(kind: type[Any], plan: Callable[[Any, str], plans.Plan], mode: str | None) -> Handler:
    """imagine, describe, blend, shorten: a new task from the body alone."""
    speed = mode or mj.DEFAULT_MODE

    @mj_errors()
    async def handler(request: web.Request) -> web.StreamResponse:
        gateway, key, body = await _begin(request)
        planned = await _decoded(body, kind, lambda req: plan(req, speed))
        return await _submit(gateway, key, planned, speed)

    return handler


async def _change(
    gateway: Gateway, key: KeyRecord, change: mj.ChangeRequest, mode: str | None
) -> web.Response:
    parent = await _own_task(gateway, key, plans.check_change(change), "parent task")
    speed = _child_mode(mode, parent)
    return await _submit(gateway, key, plans.plan_change(change, parent, speed), speed, parent)


def change_route(mode: str | None) -> Handler:
    @mj_errors()
    async def handler(request: web.Request) -> web.StreamResponse:
        gateway, key, body = await _begin(request)
        return await _change(gateway, key, mj.decode(body, mj.ChangeRequest), mode)

    return handler


def simple_change_route(mode: str | None) -> Handler:
    @mj_errors()
    async def handler(request: web.Request) -> web.StreamResponse:
        gateway, key, body = await _begin(request)
        change = plans.parse_simple_change(mj.decode(body, mj.SimpleChangeRequest))
        return await _change(gateway, key, change, mode)

    return handler


def action_route(mode: str | None) -> Handler:
    @mj_errors()
    async def handler(request: web.Request) -> web.StreamResponse:
        gateway, key, body = await _begin(request)
        action = mj.decode(body, mj.ActionRequest)
        parent = await _own_task(gateway, key, plans.check_action(action), "parent task")
        speed = _child_mode(mode, parent)
        planned = plans.plan_action(action, parent, speed)
        return await _submit(gateway, key, planned, speed, parent)

    return handler


@mj_errors()
async def modal(request: web.Request) -> web.StreamResponse:
    gateway, key, body = await _begin(request)
    modal_request = await _decoded(body, mj.ModalRequest, lambda req: req)
    task = await _own_task(gateway, key, plans.check_modal(modal_request))
    upstream = plans.plan_modal(modal_request, task)
    task = await gateway.tasks.continue_task(task, msgspec.json.encode(upstream))
    body = mj.submit_body(mj.SUCCESS, "Submit success", task.id)
    return web.Response(body=body, content_type="application/json")


@mj_errors(task_route=True)
async def fetch(request: web.Request) -> web.StreamResponse:
    gateway, key, _ = await _begin(request)
    task = await _own_task(gateway, key, request.match_info["task_id"])
    return _json(task_json(task, _origin(gateway, request)))


@mj_errors(task_route=True)
async def list_by_condition(request: web.Request) -> web.StreamResponse:
    gateway, key, body = await _begin(request)
    ids = plans.condition_ids(
        mj.decode(body, mj.ConditionRequest) if body.strip() else mj.ConditionRequest()
    )
    found = await gateway.tasks.store.get_many(ids, key_id=key.id, accepted_only=True)
    origin = _origin(gateway, request)
    return _json([task_json(task, origin) for task in found if task.action in ACTIONS])


@mj_errors(task_route=True)
async def image_seed(request: web.Request) -> web.StreamResponse:
    gateway, key, _ = await _begin(request)
    task = await _own_task(gateway, key, request.match_info["task_id"])
    if task.status is not TaskStatus.SUCCEEDED:
        raise mj.invalid("the task's status is wrong: a seed needs a task in SUCCESS")
    seed = await gateway.tasks.task_fact(task, "seed")
    return web.Response(
        body=mj.submit_body(mj.SUCCESS, "Success", seed), content_type="application/json"
    )


async def image(request: web.Request) -> web.StreamResponse:
    """A finished task's image. The unguessable task id is the capability: browsers fetch
    ``imageUrl`` without credentials, as they would from the vendor's CDN."""
    gateway = gateway_of(request)
    task = await gateway.tasks.store.get(request.match_info["task_id"])
    url = (task.result or {}).get("imageUrl") if task is not None else None
    if task is None or task.action not in ACTIONS or not isinstance(url, str) or not url:
        raise web.HTTPNotFound(text="no such image")
    if not url.startswith(("http://", "https://")):
        raise web.HTTPBadGateway(text="the vendor's image URL is not http(s)")
    return await relay_file(request, gateway.outbound, url)


@mj_errors(task_route=True)
async def unknown_route(request: web.Request) -> web.StreamResponse:
    raise NotFound(f"no such route: {request.method} {request.path}", code="3")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/mj/image/{task_id}", image)
    creators: dict[str, tuple[type[Any], Callable[[Any, str], plans.Plan]]] = {
        "imagine": (mj.ImagineRequest, plans.plan_imagine),
        "describe": (mj.DescribeRequest, plans.plan_describe),
        "blend": (mj.BlendRequest, plans.plan_blend),
        "shorten": (mj.ShortenRequest, plans.plan_shorten),
    }
    for prefix, mode in PREFIXES.items():
        for name, (kind, plan) in creators.items():
            app.router.add_post(f"{prefix}/submit/{name}", _creator(kind, plan, mode))
        app.router.add_post(f"{prefix}/submit/change", change_route(mode))
        app.router.add_post(f"{prefix}/submit/simple-change", simple_change_route(mode))
        app.router.add_post(f"{prefix}/submit/action", action_route(mode))
        app.router.add_post(f"{prefix}/submit/modal", modal)
        app.router.add_get(prefix + "/task/{task_id}/fetch", fetch)
        app.router.add_post(f"{prefix}/task/list-by-condition", list_by_condition)
        app.router.add_get(prefix + "/task/{task_id}/image-seed", image_seed)
        app.router.add_route("*", prefix + "/{tail:.*}", unknown_route)
