"""The Suno surface: ``POST /suno/submit/{music|lyrics}``, ``GET /suno/fetch/{id}`` and
``POST /suno/fetch {ids}``, in Suno's envelope ``{"code": "success" | "<error word>", ...}``.

A submission is checked (HTTP 400 naming the field, nothing held or sent), its price held,
and it is submitted upstream; the reply's ``data`` is our task id. Fetches read our store only.
A continuation (``continue_clip_id`` + ``task_id``) must name one of the key's succeeded music
tasks and one of its clips; it runs on the channel that made the clip.
"""

from __future__ import annotations

from aiohttp import web

from omnirelay.api.common import bearer_token, gateway_of, read_body, renders_errors
from omnirelay.errors import GatewayError, InvalidRequest, NoChannelAvailable, NotFound
from omnirelay.formats import suno
from omnirelay.gateway import Gateway
from omnirelay.keys import KeyRecord
from omnirelay.tasks.engine import Submission
from omnirelay.tasks.model import Task, TaskStatus
from omnirelay.tasks.pricing import PriceKey

MAX_FETCH_IDS = 200


def error_response(error: GatewayError) -> web.Response:
    code = error.code if error.code and not error.code.isdigit() else error.kind
    return web.Response(
        body=suno.error_body(code, error.message),
        status=error.status,
        content_type="application/json",
    )


suno_errors = renders_errors(error_response)


def _ok(data: object) -> web.Response:
    return web.Response(body=suno.envelope(data), content_type="application/json")


async def _authenticate(request: web.Request) -> tuple[Gateway, KeyRecord]:
    gateway = gateway_of(request)
    return gateway, await gateway.keys.authenticate(bearer_token(request))


def _music_models(gateway: Gateway) -> list[str]:
    routable = gateway.router.models()
    return [m for m in gateway.task_prices.models("music") if m in routable]


async def _parent(gateway: Gateway, key: KeyRecord, req: suno.SubmitRequest) -> Task:
    """The task a continuation extends: the key's own, a succeeded music task with that clip."""
    assert req.task_id is not None and req.continue_clip_id is not None
    parent = await gateway.tasks.store.get(req.task_id)
    if parent is None or parent.key_id != key.id or parent.action != suno.MUSIC:
        raise suno.invalid("task_id", f"'{req.task_id}' is not one of your music tasks")
    if parent.status is not TaskStatus.SUCCEEDED:
        raise suno.invalid("task_id", f"the task '{req.task_id}' has not succeeded")
    if suno.clip_of(parent, req.continue_clip_id) is None:
        raise suno.invalid(
            "continue_clip_id", f"'{req.continue_clip_id}' is not a clip of task '{req.task_id}'"
        )
    return parent


async def _submission(gateway: Gateway, key: KeyRecord, action: str, body: bytes) -> Submission:
    req: suno.SubmitRequest = suno.decode(body, suno.SubmitRequest)
    parent: Task | None = None
    if action == suno.MUSIC:
        model = suno.check_music(req, _music_models(gateway))
        if req.continue_clip_id:
            parent = await _parent(gateway, key, req)
        price = gateway.task_prices.price(PriceKey(model, "music"))
    else:
        suno.check_lyrics(req)
        model = suno.LYRICS_MODEL
        if not gateway.router.has_model(model):
            raise NoChannelAvailable("no channel serves Suno lyrics here")
        price = gateway.task_prices.price(PriceKey(model, "lyrics"))
    if price is None:
        raise InvalidRequest(f"'{model}' has no price here", code="invalid_request", param="mv")
    key.check_model(model)
    return Submission(
        action=action,
        model=model,
        body=suno.upstream_body(body, parent.upstream_id if parent else None),
        request=body.decode("utf-8"),
        price=price,
        callback_url=req.notify_hook,
        callback_field="notify_hook",
        channel_id=parent.channel_id if parent else None,
    )


@suno_errors
async def submit(request: web.Request) -> web.StreamResponse:
    gateway, key = await _authenticate(request)
    word = request.match_info["action"].lower()
    action = suno.ACTIONS.get(word)
    if action is None:
        raise InvalidRequest(
            f"'{request.match_info['action']}' is not an action; use music or lyrics",
            code="invalid_action",
        )
    submission = await _submission(gateway, key, action, await read_body(request))
    task = await gateway.tasks.submit(key, submission)
    return _ok(task.id)


def _visible(task: Task | None, key: KeyRecord) -> bool:
    # A submission the vendor refused was answered with an error, never with an id.
    return (
        task is not None
        and task.key_id == key.id
        and task.action in suno.ACTION_WORDS
        and task.upstream_id is not None
    )


@suno_errors
async def fetch_one(request: web.Request) -> web.StreamResponse:
    gateway, key = await _authenticate(request)
    task = await gateway.tasks.store.get(request.match_info["task_id"])
    if not _visible(task, key):
        raise NotFound("task not found", code="task_not_exist")
    assert task is not None
    return _ok(suno.task_json(task))


@suno_errors
async def fetch_many(request: web.Request) -> web.StreamResponse:
    gateway, key = await _authenticate(request)
    req: suno.FetchRequest = suno.decode(await read_body(request), suno.FetchRequest)
    if len(req.ids) > MAX_FETCH_IDS:
        raise suno.invalid("ids", f"at most {MAX_FETCH_IDS} ids a call")
    wanted = None
    if req.action:
        wanted = f"suno.{req.action.lower()}"
        if wanted not in suno.ACTION_WORDS:
            raise suno.invalid("action", "must be MUSIC or LYRICS")
    found = await gateway.tasks.store.get_many(list(dict.fromkeys(req.ids))) if req.ids else []
    order = {task_id: i for i, task_id in enumerate(req.ids)}
    tasks = sorted(
        (t for t in found if _visible(t, key) and wanted in (None, t.action)),
        key=lambda t: order[t.id],
    )
    return _ok([suno.task_json(t) for t in tasks])


@suno_errors
async def unknown_route(request: web.Request) -> web.StreamResponse:
    raise NotFound(f"no such method: {request.method} {request.path}", code="not_found")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/suno/submit/{action}", submit)
    app.router.add_get("/suno/fetch/{task_id}", fetch_one)
    app.router.add_post("/suno/fetch", fetch_many)
    app.router.add_route("*", "/suno/{tail:.*}", unknown_route)
