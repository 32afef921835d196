"""The sandbox's Kling, served under ``/kling`` (a channel's base URL is ``<sandbox>/kling``).

It checks the JWT as Kling does (HS256 with the account's secret key; ``iss``, ``exp``,
``nbf``; 401 with codes 1001-1004), validates bodies with Kling's rules, and runs tasks on a
clock: ``submitted`` for one step, ``processing`` for another, then ``succeed`` with real
files (an H.264 MP4, or PNGs) or ``failed``. A step is ``OMNIRELAY_SANDBOX_TASK_SECONDS``
(default 1 s).

Task ids are self-describing (base64 of the task's facts), so any sandbox process answers
for any task: a gateway restarted with a new sandbox still finds its tasks.

Test hooks, in the prompt: ``[sandbox-fail]`` makes the task end ``failed`` (with that reason
in ``task_status_msg``); ``[sandbox-reject]`` makes the submission itself fail (HTTP 400,
code 1301, content safety).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
import jwt
from aiohttp import web

from omnirelay.errors import InvalidRequest
from omnirelay.formats import kling as rules
from omnirelay.sandbox import media, video

FAIL_MARKER = "[sandbox-fail]"
REJECT_MARKER = "[sandbox-reject]"
VIDEO_MODELS = ("kling-v1", "kling-v1-5", "kling-v1-6", "kling-v2-master", "kling-v2-1")
IMAGE_MODELS = ("kling-v1", "kling-v1-5", "kling-v2")
_ACTIONS = {"text2video": rules.TEXT2VIDEO, "image2video": rules.IMAGE2VIDEO}
_VIDEO_SIZES = {"16:9": (160, 90), "9:16": (90, 160), "1:1": (128, 128)}
_CACHE_FILES = 64


@dataclass(slots=True)
class KlingState:
    access_key: str
    secret_key: str
    step: float
    session: aiohttp.ClientSession | None = None
    recent: dict[str, deque[str]] = field(default_factory=dict)
    files: OrderedDict[str, tuple[bytes, str]] = field(default_factory=OrderedDict)
    callbacks: set[asyncio.Task[None]] = field(default_factory=set)


KLING_STATE = web.AppKey("kling_state", KlingState)


def _error(status: int, code: int, message: str) -> web.Response:
    body = {"code": code, "message": message, "request_id": secrets.token_urlsafe(12)}
    return web.json_response(body, status=status)


def _check_jwt(request: web.Request, state: KlingState) -> web.Response | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer ") or not header[7:].strip():
        return _error(401, 1001, "Authorization header is empty")
    try:
        claims = jwt.decode(
            header[7:].strip(),
            state.secret_key,
            algorithms=["HS256"],
            options={"require": ["iss", "exp", "nbf"]},
        )
    except jwt.ExpiredSignatureError:
        return _error(401, 1004, "Authorization token has expired")
    except jwt.ImmatureSignatureError:
        return _error(401, 1003, "Authorization token is not yet valid")
    except jwt.InvalidTokenError as exc:
        return _error(401, 1002, f"Authorization is invalid: {exc}")
    if claims.get("iss") != state.access_key:
        return _error(401, 1000, "Authentication failed: unknown access key")
    return None


@dataclass(frozen=True, slots=True)
class SandboxTask:
    """Everything about a task, carried in its id."""

    action: str
    created: int
    model: str
    aspect: str
    duration: str
    n: int
    failure: str
    seed: str

    def file_token(self) -> str:
        """Names the task's files without being its id (result URLs are public, ids are not)."""
        return self._pack([f"file:{self.action}", *self.facts()[1:]])

    def facts(self) -> list[Any]:
        return [
            self.action,
            self.created,
            self.model,
            self.aspect,
            self.duration,
            self.n,
            self.failure,
            self.seed,
        ]

    def encode(self) -> str:
        return self._pack(self.facts())

    @staticmethod
    def _pack(facts: list[Any]) -> str:
        raw = json.dumps(facts, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, task_id: str) -> SandboxTask | None:
        try:
            raw = base64.urlsafe_b64decode(task_id + "=" * (-len(task_id) % 4))
            return cls(*json.loads(raw))
        except (ValueError, TypeError):
            return None


def _status(task: SandboxTask, step: float) -> tuple[str, int]:
    """(status, when it began in ms) from the clock."""
    elapsed = time.time() * 1000 - task.created
    if elapsed < step * 1000:
        return "submitted", task.created
    if elapsed < 2 * step * 1000:
        return "processing", task.created + int(step * 1000)
    return ("failed" if task.failure else "succeed"), task.created + int(2 * step * 1000)


def _task_data(request: web.Request, task_id: str, task: SandboxTask, step: float) -> Any:
    status, updated = _status(task, step)
    data: dict[str, Any] = {
        "task_id": task_id,
        "task_status": status,
        "task_status_msg": task.failure if status == "failed" else "",
        "task_info": {},
        "created_at": task.created,
        "updated_at": updated,
    }
    if status == "succeed":
        base = f"{request.scheme}://{request.host}/kling/files/{task.file_token()}"
        seed = hashlib.sha256(task_id.encode()).hexdigest()[:16]
        if task.action == rules.IMAGES:
            images = [{"index": i, "url": f"{base}/{i}.png"} for i in range(task.n)]
            data["task_result"] = {"images": images}
        else:
            videos = [{"id": seed, "url": f"{base}/0.mp4", "duration": task.duration}]
            data["task_result"] = {"videos": videos}
    return data


def _envelope(data: Any) -> web.Response:
    body = {"code": 0, "message": "SUCCEED", "request_id": secrets.token_urlsafe(12), "data": data}
    return web.json_response(body)


def _parse(body: bytes, action: str) -> tuple[SandboxTask, str | None]:
    """Validate with Kling's rules; the new task and its callback URL."""
    if action == rules.IMAGES:
        images = rules.decode(body, rules.ImageRequest)
        rules.check_images(images, IMAGE_MODELS)
        model, prompt, aspect = images.model_name, images.prompt or "", images.aspect_ratio
        duration, n, callback = "", images.n or 1, images.callback_url
    else:
        clip = rules.decode(body, rules.VideoRequest)
        rules.check_video(clip, action, VIDEO_MODELS)
        model, prompt, aspect = clip.model_name, clip.prompt or "", clip.aspect_ratio
        duration, n, callback = clip.duration or "5", 1, clip.callback_url
    if REJECT_MARKER in prompt:
        raise InvalidRequest("Content security risk detected in the prompt", code="1301")
    failure = (
        f"sandbox: failure requested by {FAIL_MARKER} in the prompt"
        if (FAIL_MARKER in prompt)
        else ""
    )
    task = SandboxTask(
        action,
        int(time.time() * 1000),
        model,
        aspect or "16:9",
        duration,
        n,
        failure,
        secrets.token_hex(4),
    )
    return task, callback


def create(action: str) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        state = request.app[KLING_STATE]
        denied = _check_jwt(request, state)
        if denied is not None:
            return denied
        try:
            task, callback = _parse(await request.read(), action)
        except InvalidRequest as exc:
            return _error(400, int(exc.code or 1201), exc.message)
        task_id = task.encode()
        recent = state.recent.setdefault(action, deque(maxlen=500))
        recent.appendleft(task_id)
        if callback:
            job = asyncio.create_task(_call_back(request, state, task_id, task, callback))
            state.callbacks.add(job)
            job.add_done_callback(state.callbacks.discard)
        return _envelope(_task_data(request, task_id, task, state.step))

    return handler


async def _call_back(
    request: web.Request, state: KlingState, task_id: str, task: SandboxTask, url: str
) -> None:
    """POST the envelope at each status change, like the vendor."""
    for boundary in (1, 2):
        due = task.created / 1000 + boundary * state.step + 0.01
        await asyncio.sleep(max(0.0, due - time.time()))
        body = {
            "code": 0,
            "message": "SUCCEED",
            "request_id": secrets.token_urlsafe(12),
            "data": _task_data(request, task_id, task, state.step),
        }
        if state.session is not None:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with state.session.post(url, json=body) as response:
                    await response.read()


def _lookup(request: web.Request, action: str) -> tuple[KlingState, SandboxTask | None]:
    state = request.app[KLING_STATE]
    task = SandboxTask.decode(request.match_info["task_id"])
    return state, task if task is not None and task.action == action else None


def query(action: str) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        denied = _check_jwt(request, request.app[KLING_STATE])
        if denied is not None:
            return denied
        state, task = _lookup(request, action)
        if task is None:
            return _error(404, 1203, "task not found")
        return _envelope(_task_data(request, request.match_info["task_id"], task, state.step))

    return handler


def listing(action: str) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        state = request.app[KLING_STATE]
        denied = _check_jwt(request, state)
        if denied is not None:
            return denied
        page = int(request.query.get("pageNum", "1"))
        size = int(request.query.get("pageSize", "30"))
        ids = list(state.recent.get(action, ()))[(page - 1) * size : page * size]
        found = [(i, SandboxTask.decode(i)) for i in ids]
        return _envelope([_task_data(request, i, t, state.step) for i, t in found if t])

    return handler


def _render(task: SandboxTask, index: int, seed: str) -> tuple[bytes, str]:
    if task.action == rules.IMAGES:
        width, height = _VIDEO_SIZES.get(task.aspect, (128, 128))
        return media.png_bytes(width * 2, height * 2, f"{seed}#{index}"), "image/png"
    width, height = _VIDEO_SIZES.get(task.aspect, (160, 90))
    return video.mp4_bytes(width, height, int(task.duration or "5"), seed), "video/mp4"


async def serve_file(request: web.Request) -> web.StreamResponse:
    state = request.app[KLING_STATE]
    token, name = request.match_info["token"], request.match_info["name"]
    task = SandboxTask.decode(token)
    index = name.split(".", 1)[0]
    if task is None or not task.action.startswith("file:") or not index.isdigit():
        raise web.HTTPNotFound(text="no such file")
    task = replace(task, action=task.action.removeprefix("file:"))
    if _status(task, state.step)[0] != "succeed":
        raise web.HTTPNotFound(text="no such file")
    cache_key = f"{token}/{name}"
    found = state.files.get(cache_key)
    if found is None:
        found = await asyncio.to_thread(_render, task, int(index), token)
        state.files[cache_key] = found
        while len(state.files) > _CACHE_FILES:
            state.files.popitem(last=False)
    data, content_type = found
    return web.Response(body=data, content_type=content_type)


def add_routes(app: web.Application, access_key: str, secret_key: str, step: float) -> None:
    state = KlingState(access_key=access_key, secret_key=secret_key, step=step)
    app[KLING_STATE] = state

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        state.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        yield
        for job in list(state.callbacks):
            job.cancel()
        await state.session.close()

    app.cleanup_ctx.append(lifespan)
    paths = {
        **{a: f"/kling/v1/videos/{p}" for p, a in _ACTIONS.items()},
        rules.IMAGES: "/kling/v1/images/generations",
    }
    for action, path in paths.items():
        app.router.add_post(path, create(action))
        app.router.add_get(path, listing(action))
        app.router.add_get(path + "/{task_id}", query(action))
    app.router.add_get("/kling/files/{token}/{name}", serve_file)
