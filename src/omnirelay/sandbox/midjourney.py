"""The sandbox's midjourney-proxy, under ``/mj`` and ``/mj-{fast,relax,turbo}/mj`` (a channel's
base URL is the sandbox's root), with the proxy's routes, codes and Chinese descriptions.

It checks ``mj-api-secret`` (401 with an empty body otherwise, as the proxy), validates as the
proxy does (and as Midjourney would: an action must name one of its task's buttons), and runs
tasks on a clock of ``step`` seconds: ``SUBMITTED`` for one step, ``IN_PROGRESS`` through
rising percentages for three, then ``SUCCESS`` with a real PNG (``sandbox/drawing.py``) and
Discord's buttons. Custom zoom and Vary (Region) wait in ``MODAL`` until ``/submit/modal``.

Markers in a prompt: ``[sandbox-fail]`` ends the task in ``FAILURE`` with a reason;
``[sandbox-fail-100]`` does so reporting ``progress: "100%"`` (as some relays do);
``[sandbox-reject]`` refuses the submission (code 23, queue full); ``[sandbox-banned]`` answers
code 24 with the banned word. ``GET /mj/sandbox/stats`` counts the requests served, so tests can
see how the gateway polls. Tasks live in this process's memory (bounded).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import random
import re
import threading
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from PIL import Image

from omnirelay.sandbox import drawing

FAIL_MARKER = "[sandbox-fail]"
FAIL_AT_100_MARKER = "[sandbox-fail-100]"
REJECT_MARKER = "[sandbox-reject]"
BANNED_MARKER = "[sandbox-banned]"
PREFIXES = ("/mj", "/mj-fast/mj", "/mj-relax/mj", "/mj-turbo/mj")
MAX_TASKS = 5000
MAX_PICTURES = 48
GRID_ACTIONS = frozenset({"IMAGINE", "VARIATION", "REROLL", "ZOOM", "PAN"})
CHANGEABLE = frozenset({"IMAGINE", "VARIATION", "REROLL", "BLEND"})
_KEYCAPS = [f"{n}\ufe0f\u20e3" for n in range(1, 10)]
_DATA_URL = re.compile(r"^data:([\w/+.-]+);base64,(.*)$", re.DOTALL)
_ZOOM = re.compile(r"--zoom\s+([0-9.]+)")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(slots=True)
class MjTask:
    id: str
    action: str  # the proxy's TaskAction
    prompt: str
    submitted: float
    started: float | None  # None while MODAL
    mode: str
    bot: str
    seed: int
    hash: str  # Discord's message hash, in the image's name and the buttons
    parent: str | None = None
    index: int = 0
    variant: str = ""
    custom_id: str = ""
    failure: str = ""
    fail_at_100: bool = False
    inputs: list[bytes] = field(default_factory=list)
    dimensions: str = "SQUARE"
    prompts: list[str] = field(default_factory=list)
    description: str = ""


@dataclass(slots=True)
class MjState:
    secret: str
    step: float
    tasks: OrderedDict[str, MjTask] = field(default_factory=OrderedDict)
    by_hash: dict[str, str] = field(default_factory=dict)
    pictures: OrderedDict[str, bytes] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stats: Counter[str] = field(default_factory=Counter)
    session: aiohttp.ClientSession | None = None

    def add(self, task: MjTask) -> MjTask:
        self.tasks[task.id] = task
        self.by_hash[task.hash] = task.id
        while len(self.tasks) > MAX_TASKS:
            _, old = self.tasks.popitem(last=False)
            self.by_hash.pop(old.hash, None)
        return task

    def new_id(self) -> str:
        while True:  # the proxy's ids: epoch milliseconds and three random digits
            candidate = f"{int(time.time() * 1000)}{random.randint(0, 999):03d}"  # noqa: S311
            if candidate not in self.tasks:
                return candidate


MJ_STATE = web.AppKey("mj_state", MjState)


def owns(path: str) -> bool:
    return path.startswith(tuple(p + "/" for p in PREFIXES)) and "/attachments/" not in path


def check_auth(request: web.Request, expected: str) -> web.Response | None:
    if request.headers.get("mj-api-secret") != expected:
        return web.Response(status=401)  # the proxy's interceptor: 401 and nothing else
    return None


def _reply(
    code: int, description: str, result: str | None = None, status: int = 200, **props: Any
) -> web.Response:
    body = {"code": code, "description": description, "result": result, "properties": props}
    return web.json_response(body, status=status)


class _Refused(Exception):
    def __init__(self, response: web.Response) -> None:
        self.response = response


def _refuse(code: int, description: str, status: int = 200, **props: Any) -> _Refused:
    return _Refused(_reply(code, description, status=status, **props))


async def _fields(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Refused(web.json_response({"error": "Bad Request"}, status=400)) from exc
    if not isinstance(body, dict):
        raise _Refused(web.json_response({"error": "Bad Request"}, status=400))
    return body


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    return value.strip() if isinstance(value, str) else ""


def _image(value: Any) -> bytes:
    """A data URL's bytes, which Pillow must read (the proxy's DataUrl, then Discord)."""
    found = _DATA_URL.match(value) if isinstance(value, str) else None
    try:
        data = base64.b64decode(found.group(2), validate=True) if found else b""
        drawing.open_image(data)
    except (binascii.Error, ValueError) as exc:
        raise _refuse(4, "base64格式错误") from exc
    return data


def _mode(request: web.Request, body: dict[str, Any], default: str = "FAST") -> str:
    for speed in ("fast", "relax", "turbo"):
        if request.path.startswith(f"/mj-{speed}/"):
            return speed.upper()
    modes = (body.get("accountFilter") or {}).get("modes") or []
    return str(modes[0]).upper() if modes else default


def _check_markers(prompt: str) -> None:
    if BANNED_MARKER in prompt:
        raise _refuse(24, "可能包含敏感词", promptEn=prompt, bannedWord=BANNED_MARKER)
    if REJECT_MARKER in prompt:
        queue_full = "队列已满\uff0c请稍后尝试"
        raise _refuse(23, queue_full, numberOfQueues=10, discordInstanceId="sandbox")


def _failure(prompt: str) -> tuple[str, bool]:
    if FAIL_AT_100_MARKER in prompt:
        return f"sandbox: failure requested by {FAIL_AT_100_MARKER} in the prompt", True
    if FAIL_MARKER in prompt:
        return f"sandbox: failure requested by {FAIL_MARKER} in the prompt", False
    return "", False


def _new(state: MjState, action: str, prompt: str, mode: str, bot: str, **extra: Any) -> MjTask:
    failure, at_100 = _failure(prompt)
    now = time.time()
    task = MjTask(
        id=state.new_id(),
        action=action,
        prompt=prompt,
        submitted=now,
        started=extra.pop("started", now),
        mode=mode,
        bot=bot,
        seed=random.randint(0, 2**31 - 1),  # noqa: S311
        hash=str(uuid.uuid4()),
        failure=failure,
        fail_at_100=at_100,
        **extra,
    )
    return state.add(task)


# --- where a task is on the clock, and what the proxy shows of it ---


def status_of(task: MjTask, step: float) -> tuple[str, str, int | None]:
    """(status, progress, finish time in ms)."""
    if task.started is None:
        return "MODAL", "0%", None
    elapsed = time.time() - task.started
    end = int((task.started + 4 * step) * 1000)
    if task.failure and not task.fail_at_100 and elapsed >= 2.5 * step:
        return "FAILURE", "", int((task.started + 2.5 * step) * 1000)
    if elapsed >= 4 * step:
        return ("FAILURE", "100%", end) if task.failure else ("SUCCESS", "100%", end)
    if elapsed < step:
        return "SUBMITTED", "0%", None
    return "IN_PROGRESS", f"{max(1, min(99, int((elapsed - step) / (3 * step) * 100)))}%", None


def _button(custom_id: str, label: str = "", emoji: str = "") -> dict[str, Any]:
    return {"customId": custom_id, "emoji": emoji, "label": label, "type": 2, "style": 2}


def buttons_of(task: MjTask) -> list[dict[str, Any]]:
    h = task.hash
    if task.action in GRID_ACTIONS:
        ups = [_button(f"MJ::JOB::upsample::{i}::{h}", f"U{i}") for i in range(1, 5)]
        reroll = _button(f"MJ::JOB::reroll::0::{h}::SOLO", emoji="\U0001f504")
        return [
            *ups,
            reroll,
            *(_button(f"MJ::JOB::variation::{i}::{h}", f"V{i}") for i in range(1, 5)),
        ]
    if task.action == "DESCRIBE":
        readers = [_button(f"MJ::Job::PicReader::{n}", emoji=_KEYCAPS[n - 1]) for n in range(1, 5)]
        return [*readers, _button("MJ::Picread::Retry", emoji="\U0001f504")]
    if task.action not in ("UPSCALE", "UPSCALE_HD", "BLEND"):
        return []
    hd = [
        _button(f"MJ::JOB::upsample_v6r1_2x_{kind}::1::{h}::SOLO", f"Upscale ({kind.title()})")
        for kind in ("subtle", "creative")
    ]
    wand = "\U0001fa84"
    return [
        *(hd if task.action != "UPSCALE_HD" else []),
        _button(f"MJ::JOB::low_variation::1::{h}::SOLO", "Vary (Subtle)", wand),
        _button(f"MJ::JOB::high_variation::1::{h}::SOLO", "Vary (Strong)", wand),
        _button(f"MJ::Inpaint::1::{h}::SOLO", "Vary (Region)", "\U0001f58c\ufe0f"),
        _button(f"MJ::Outpaint::50::1::{h}::SOLO", "Zoom Out 2x", "\U0001f50d"),
        _button(f"MJ::Outpaint::75::1::{h}::SOLO", "Zoom Out 1.5x", "\U0001f50d"),
        _button(f"MJ::CustomZoom::{h}", "Custom Zoom", "\U0001f50d"),
        *(
            _button(f"MJ::JOB::pan_{way}::1::{h}::SOLO", emoji=arrow)
            for way, arrow in (("left", "⬅️"), ("right", "➡️"), ("up", "⬆️"), ("down", "⬇️"))
        ),
        _button(f"MJ::JOB::reroll::0::{h}::SOLO", emoji="\U0001f504"),
    ]


def _final_prompt(task: MjTask) -> str:
    if task.prompts:
        return "\n\n".join(f"{_KEYCAPS[i]} {p}" for i, p in enumerate(task.prompts))
    return f"{task.prompt} --v 6.1" if task.prompt else ""


def task_json(request: web.Request, task: MjTask, step: float) -> dict[str, Any]:
    status, progress, finished = status_of(task, step)
    done = status == "SUCCESS"
    image = None
    if done and task.action != "SHORTEN":
        image = f"{request.scheme}://{request.host}/mj/attachments/{task.hash}.png"
    final = _final_prompt(task)
    return {
        "id": task.id,
        "action": task.action,
        "status": status,
        "prompt": task.prompt,
        "promptEn": final if task.prompts else task.prompt,
        "description": task.description,
        "state": None,
        "submitTime": int(task.submitted * 1000),
        "startTime": int(task.started * 1000) if task.started else None,
        "finishTime": finished,
        "imageUrl": image,
        "progress": progress,
        "failReason": task.failure if status == "FAILURE" else None,
        "properties": {
            "finalPrompt": final,
            "messageHash": task.hash if done else None,
            "discordInstanceId": "sandbox",
            "flags": 0,
        },
        "buttons": buttons_of(task) if done else [],
        "mode": task.mode,
        "botType": task.bot,
        "parentId": task.parent,
    }


# --- submit routes ---


def _target(state: MjState, task_id: str, *, http_404: bool = False) -> MjTask:
    target = state.tasks.get(task_id)
    if target is None:
        raise _refuse(3, "关联任务不存在或已失效", status=404 if http_404 else 200)
    if status_of(target, state.step)[0] != "SUCCESS":
        raise _refuse(4, "关联任务状态错误")
    return target


def _child(state: MjState, target: MjTask, action: str, mode: str, **extra: Any) -> MjTask:
    return _new(state, action, target.prompt, mode, target.bot, parent=target.id, **extra)


async def imagine(request: web.Request, state: MjState, body: dict[str, Any]) -> web.Response:
    prompt = _text(body, "prompt")
    if not prompt:
        raise _refuse(4, "prompt不能为空")
    given = [*(body.get("base64Array") or []), *([body["base64"]] if body.get("base64") else [])]
    references = [_image(item) for item in given]
    _check_markers(prompt)
    task = _new(
        state,
        "IMAGINE",
        prompt,
        _mode(request, body),
        _bot(body),
        inputs=references,
        description=f"/imagine {prompt}",
    )
    return _reply(1, "提交成功", task.id)


def _bot(body: dict[str, Any]) -> str:
    return "NIJI_JOURNEY" if body.get("botType") in ("NIJI_JOURNEY", "niji") else "MID_JOURNEY"


def _parse_content(content: str) -> tuple[str, str, int]:
    """The proxy's ConvertUtils.convertChangeParams, quirks and all."""
    parts = content.split(" ")
    if len(parts) != 2:
        raise _refuse(4, "content参数错误")
    word = parts[1].lower()
    if word == "r":
        return parts[0], "REROLL", 0
    if not word or word[0] not in "uv" or len(word) < 2 or not word[1].isdigit():
        raise _refuse(4, "content参数错误")
    index = int(word[1])
    if not 1 <= index <= 4:
        raise _refuse(4, "content参数错误")
    return parts[0], "UPSCALE" if word[0] == "u" else "VARIATION", index


def _change(
    request: web.Request, state: MjState, task_id: str, action: Any, index: Any
) -> web.Response:
    if not task_id:
        raise _refuse(4, "taskId不能为空")
    if action not in ("UPSCALE", "VARIATION", "REROLL"):
        raise _refuse(4, "action参数错误")
    target = _target(state, task_id)
    if target.action not in CHANGEABLE:
        raise _refuse(4, "关联任务不允许执行变化")
    if action != "REROLL" and (not isinstance(index, int) or not 1 <= index <= 4):
        raise _refuse(4, "index参数错误")
    label = "R" if action == "REROLL" else f"{action[0]}{index}"
    mode = _mode(request, {}, target.mode)
    child = _child(
        state, target, action, mode, index=index or 0, description=f"/up {task_id} {label}"
    )
    return _reply(1, "提交成功", child.id)


async def change(request: web.Request, state: MjState, body: dict[str, Any]) -> web.Response:
    return _change(request, state, _text(body, "taskId"), body.get("action"), body.get("index"))


async def simple_change(request: web.Request, state: MjState, body: dict[str, Any]) -> web.Response:
    content = body.get("content")
    if not isinstance(content, str) or not content:
        raise _refuse(4, "content参数错误")
    task_id, action, index = _parse_content(content)
    return _change(request, state, task_id, action, index)


def _action_kind(custom_id: str, target: MjTask) -> dict[str, Any]:
    """What pressing a button makes: the child's action and how it is drawn."""
    parts = custom_id.split("::")
    number = int(parts[3]) if len(parts) > 3 and parts[3].isdigit() else 0
    if custom_id.startswith("MJ::JOB::upsample::"):
        return {"action": "UPSCALE", "index": number}
    if custom_id.startswith("MJ::JOB::upsample_"):
        return {"action": "UPSCALE_HD", "variant": parts[2]}
    if custom_id.startswith("MJ::JOB::variation::"):
        return {"action": "VARIATION", "index": number}
    if custom_id.startswith(("MJ::JOB::low_variation::", "MJ::JOB::high_variation::")):
        return {"action": "VARIATION", "variant": parts[2].split("_")[0]}
    if custom_id.startswith("MJ::JOB::reroll::"):
        return {"action": "IMAGINE" if target.action == "UPSCALE" else "REROLL"}
    if custom_id.startswith("MJ::Outpaint::"):
        return {"action": "ZOOM", "variant": "2" if parts[2] == "50" else "1.5"}
    if custom_id.startswith("MJ::CustomZoom::"):
        return {"action": "ZOOM", "variant": "custom", "modal": True}
    if custom_id.startswith("MJ::JOB::pan_"):
        return {"action": "PAN", "variant": parts[2]}
    if custom_id.startswith("MJ::Inpaint::"):
        return {"action": "VARIATION", "variant": "region", "modal": True}
    if custom_id.startswith("MJ::Job::PicReader::"):
        reader = int(parts[-1]) if parts[-1].isdigit() else 1
        prompts = target.prompts or [target.prompt]
        return {"action": "IMAGINE", "prompt": prompts[min(reader, len(prompts)) - 1]}
    if custom_id == "MJ::Picread::Retry":
        return {"action": "DESCRIBE", "inputs": target.inputs, "prompts": target.prompts}
    raise _refuse(4, "未知的 Action 类型")


async def action(request: web.Request, state: MjState, body: dict[str, Any]) -> web.Response:
    task_id, custom_id = _text(body, "taskId"), _text(body, "customId")
    if not task_id or not custom_id:
        raise _refuse(4, "参数错误")
    target = _target(state, task_id, http_404=True)
    if custom_id not in {b["customId"] for b in buttons_of(target)}:
        raise _refuse(4, "未知的 Action 类型")
    kind = _action_kind(custom_id, target)
    remix = body.get("enableRemix") is True and kind["action"] in ("VARIATION", "PAN", "REROLL")
    modal = bool(kind.pop("modal", False)) or remix
    prompt = str(kind.pop("prompt", target.prompt))
    mode = _mode(request, {}, target.mode)
    child = _new(
        state,
        kind.pop("action"),
        prompt,
        mode,
        target.bot,
        parent=target.id,
        custom_id=custom_id,
        started=None if modal else time.time(),
        description="Waiting for window confirm" if modal else f"/action {custom_id}",
        **kind,
    )
    if modal:
        return _reply(21, "Waiting for window confirm", child.id, finalPrompt=prompt, remix=True)
    return _reply(1, "提交成功", child.id)


async def modal(request: web.Request, state: MjState, body: dict[str, Any]) -> web.Response:
    task_id = _text(body, "taskId")
    if not task_id:
        raise _refuse(4, "参数错误")
    task = state.tasks.get(task_id)
    if task is None:
        raise _refuse(3, "关联任务不存在或已失效", status=404)
    if task.started is not None:
        raise _refuse(4, "关联任务状态错误")
    prompt = _text(body, "prompt") or task.prompt
    if not prompt:
        raise _refuse(4, "prompt不能为空")
    if task.variant == "region":
        if not body.get("maskBase64"):
            raise _refuse(4, "maskBase64不能为空")
        _image(body["maskBase64"])
    _check_markers(prompt)
    found = _ZOOM.search(prompt)
    if task.variant == "custom":
        task.variant = found.group(1) if found else "2"
    task.prompt, task.description = prompt, f"/action {task.custom_id}"
    task.failure, task.fail_at_100 = _failure(prompt)
    task.started = time.time()
    return _reply(1, "提交成功", task.id)


async def _download(state: MjState, link: str) -> bytes:
    if state.session is None:
        raise _refuse(9, "图片下载失败")
    try:
        async with state.session.get(link) as response:
            data = await response.read() if response.status == 200 else b""
        drawing.open_image(data)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise _refuse(4, "图片下载失败") from exc
    return data


async def describe(request: web.Request, state: MjState, body: dict[str, Any]) -> web.Response:
    link, given = _text(body, "link"), body.get("base64")
    if not given and not link:
        raise _refuse(4, "base64或link不能为空")
    if given:
        data = _image(given)
    elif not re.match(r"^https?://.+", link):
        raise _refuse(4, "链接格式错误")
    else:
        data = await _download(state, link)
    prompts = await asyncio.to_thread(lambda: drawing.describe(drawing.open_image(data)))
    task = _new(
        state,
        "DESCRIBE",
        "",
        _mode(request, body),
        _bot(body),
        inputs=[data],
        prompts=prompts,
        description="/describe",
    )
    return _reply(1, "提交成功", task.id)


async def blend(request: web.Request, state: MjState, body: dict[str, Any]) -> web.Response:
    images = body.get("base64Array")
    if not isinstance(images, list) or not 2 <= len(images) <= 5:
        raise _refuse(4, "图片参数错误\uff0c2~5张图片")
    dimensions = body.get("dimensions") or "SQUARE"
    if dimensions not in drawing.BLEND_SIZES:
        raise _refuse(4, "dimensions参数错误")
    inputs = [_image(item) for item in images]
    task = _new(
        state,
        "BLEND",
        "",
        _mode(request, body),
        _bot(body),
        inputs=inputs,
        dimensions=dimensions,
        description=f"/blend {len(inputs)}",
    )
    return _reply(1, "提交成功", task.id)


async def shorten(request: web.Request, state: MjState, body: dict[str, Any]) -> web.Response:
    prompt = _text(body, "prompt")
    if not prompt:
        raise _refuse(4, "prompt不能为空")
    _check_markers(prompt)
    task = _new(
        state,
        "SHORTEN",
        prompt,
        _mode(request, body),
        _bot(body),
        prompts=drawing.shorten(prompt),
        description=f"/shorten {prompt}",
    )
    return _reply(1, "提交成功", task.id)


# --- task routes and files ---


async def fetch(request: web.Request, state: MjState) -> web.Response:
    task = state.tasks.get(request.match_info["task_id"])
    if task is None:
        return web.Response(status=200)  # the proxy answers null: an empty body
    return web.json_response(task_json(request, task, state.step))


async def list_by_condition(request: web.Request, state: MjState) -> web.Response:
    body = await _fields(request)
    ids = body.get("ids") or []
    if not isinstance(ids, list):
        raise _Refused(web.json_response({"error": "Bad Request"}, status=400))
    state.stats["list-by-condition.ids"] += len(ids)
    found = [state.tasks[i] for i in ids if isinstance(i, str) and i in state.tasks]
    return web.json_response([task_json(request, t, state.step) for t in found])


async def image_seed(request: web.Request, state: MjState) -> web.Response:
    task = state.tasks.get(request.match_info["task_id"])
    if task is None:
        return _reply(3, "关联任务不存在或已失效", status=404)
    if status_of(task, state.step)[0] != "SUCCESS" or task.action == "SHORTEN":
        return _reply(4, "关联任务状态错误", status=400)
    return _reply(1, "成功", str(task.seed))


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
                return await run(request, state, await _fields(request))
            return await run(request, state)
        except _Refused as refused:
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
