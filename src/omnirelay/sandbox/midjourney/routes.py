"""The sandbox proxy's routes: authentication, task queries, the pictures, and the wiring."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
from aiohttp import web
from PIL import Image

from omnirelay.sandbox.midjourney import drawing
from omnirelay.sandbox.midjourney.submit import (
    Refused,
    action,
    blend,
    change,
    describe,
    imagine,
    modal,
    read_fields,
    reply,
    shorten,
    simple_change,
)
from omnirelay.sandbox.midjourney.tasks import (
    MAX_PICTURES,
    MJ_STATE,
    PREFIXES,
    MjState,
    MjTask,
    status_of,
    task_json,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def owns(path: str) -> bool:
    return path.startswith(tuple(p + "/" for p in PREFIXES)) and "/attachments/" not in path


def check_auth(request: web.Request, expected: str) -> web.Response | None:
    if request.headers.get("mj-api-secret") != expected:
        return web.Response(status=401)  # the proxy's interceptor: 401 and nothing else
    return None


async def fetch(request: web.Request, state: MjState) -> web.Response:
    task = state.tasks.get(request.match_info["task_id"])
    if task is None:
        return web.Response(status=200)  # the proxy answers null: an empty body
    return web.json_response(task_json(request, task, state.step))


async def list_by_condition(request: web.Request, state: MjState) -> web.Response:
    body = await read_fields(request)
    ids = body.get("ids") or []
    if not isinstance(ids, list):
        raise Refused(web.json_response({"error": "Bad Request"}, status=400))
    state.stats["list-by-condition.ids"] += len(ids)
    found = [state.tasks[i] for i in ids if isinstance(i, str) and i in state.tasks]
    return web.json_response([task_json(request, t, state.step) for t in found])


async def image_seed(request: web.Request, state: MjState) -> web.Response:
    task = state.tasks.get(request.match_info["task_id"])
    if task is None:
        return reply(3, "关联任务不存在或已失效", status=404)
    if status_of(task, state.step)[0] != "SUCCESS" or task.action == "SHORTEN":
        return reply(4, "关联任务状态错误", status=400)
    return reply(1, "成功", str(task.seed))


def _picture(state: MjState, task_id: str, depth: int = 0) -> Image.Image:
    """A task's picture, drawn from its parent's where it has one (cached as PNG)."""
    with state.lock:
        cached = state.pictures.get(task_id)
    if cached is not None:
        return drawing.open_image(cached)
    task = state.tasks[task_id]
    parent = task.parent if task.parent in state.tasks and depth < 20 else None
    source = _picture(state, parent, depth + 1) if parent else None
    picture = _draw(task, source)
    with state.lock:
        state.pictures[task_id] = drawing.png(picture)
        while len(state.pictures) > MAX_PICTURES:
            state.pictures.popitem(last=False)
    return picture


def _draw(task: MjTask, source: Image.Image | None) -> Image.Image:
    inputs = [drawing.open_image(data) for data in task.inputs]
    if task.action == "DESCRIBE":
        return inputs[0]
    if task.action == "BLEND":
        return drawing.blend(inputs, task.dimensions)
    if source is None or task.action in ("IMAGINE", "REROLL"):
        return drawing.imagine(task.prompt, task.seed, inputs)
    if task.action == "UPSCALE":
        return drawing.upscale(source, task.index or 1)
    if task.action == "UPSCALE_HD":
        return source.resize((source.width * 2, source.height * 2), Image.Resampling.LANCZOS)
    if task.action == "VARIATION":
        base = drawing.quadrant(source, task.index) if task.index else source
        return drawing.variations(base, task.seed, 0.3 if task.variant == "low" else 0.6)
    if task.action == "ZOOM":
        try:
            factor = float(task.variant)
        except ValueError:
            factor = 2.0
        return drawing.zoom_out(source, factor, task.seed)
    return drawing.pan(source, task.variant, task.seed)


async def attachment(request: web.Request) -> web.StreamResponse:
    state = request.app[MJ_STATE]
    state.stats["attachments"] += 1
    task_id = state.by_hash.get(request.match_info["name"].removesuffix(".png"))
    task = state.tasks.get(task_id) if task_id else None
    if task is None or status_of(task, state.step)[0] != "SUCCESS" or task.action == "SHORTEN":
        raise web.HTTPNotFound(text="no such attachment")
    picture = await asyncio.to_thread(_picture, state, task.id)
    with state.lock:
        data = state.pictures.get(task.id)
    return web.Response(body=data or drawing.png(picture), content_type="image/png")


async def stats(request: web.Request) -> web.Response:
    return web.json_response(dict(request.app[MJ_STATE].stats))


def _route(
    name: str, run: Callable[..., Awaitable[web.Response]], with_body: bool = True
) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        state = request.app[MJ_STATE]
        state.stats[name] += 1
        try:
            if with_body:
                return await run(request, state, await read_fields(request))
            return await run(request, state)
        except Refused as refused:
            return refused.response

    return handler


def add_routes(app: web.Application, secret: str, step: float) -> None:
    state = MjState(secret=secret, step=step)
    app[MJ_STATE] = state

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        state.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20))
        yield
        await state.session.close()

    app.cleanup_ctx.append(lifespan)
    submits = {
        "imagine": imagine,
        "change": change,
        "simple-change": simple_change,
        "action": action,
        "modal": modal,
        "describe": describe,
        "blend": blend,
        "shorten": shorten,
    }
    for prefix in PREFIXES:
        for name, run in submits.items():
            app.router.add_post(f"{prefix}/submit/{name}", _route(f"submit.{name}", run))
        app.router.add_get(prefix + "/task/{task_id}/fetch", _route("fetch", fetch, False))
        app.router.add_post(
            f"{prefix}/task/list-by-condition",
            _route("list-by-condition", list_by_condition, False),
        )
        app.router.add_get(
            prefix + "/task/{task_id}/image-seed", _route("image-seed", image_seed, False)
        )
    app.router.add_get("/mj/attachments/{name}", attachment)
    app.router.add_get("/mj/sandbox/stats", stats)
