"""The sandbox proxy's submit routes: validated as the proxy (and Discord) would, answered in
its SubmitResultVO with its codes and descriptions."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import time
from typing import Any

import aiohttp
from aiohttp import web

from omnirelay.sandbox.midjourney import drawing
from omnirelay.sandbox.midjourney.tasks import (
    BANNED_MARKER,
    CHANGEABLE,
    REJECT_MARKER,
    MjState,
    MjTask,
    buttons_of,
    failure_of,
    new_task,
    status_of,
)

_DATA_URL = re.compile(r"^data:([\w/+.-]+);base64,(.*)$", re.DOTALL)
_ZOOM = re.compile(r"--zoom\s+([0-9.]+)")


def reply(
    code: int, description: str, result: str | None = None, status: int = 200, **props: Any
) -> web.Response:
    body = {"code": code, "description": description, "result": result, "properties": props}
    return web.json_response(body, status=status)


class Refused(Exception):
    def __init__(self, response: web.Response) -> None:
        self.response = response


def refuse(code: int, description: str, status: int = 200, **props: Any) -> Refused:
    return Refused(reply(code, description, status=status, **props))


async def read_fields(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError) as exc:
        raise Refused(web.json_response({"error": "Bad Request"}, status=400)) from exc
    if not isinstance(body, dict):
        raise Refused(web.json_response({"error": "Bad Request"}, status=400))
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
        raise refuse(4, "base64格式错误") from exc
    return data


def _mode(request: web.Request, body: dict[str, Any], default: str = "FAST") -> str:
    for speed in ("fast", "relax", "turbo"):
        if request.path.startswith(f"/mj-{speed}/"):
            return speed.upper()
    modes = (body.get("accountFilter") or {}).get("modes") or []
    return str(modes[0]).upper() if modes else default


def _check_markers(prompt: str) -> None:
    if BANNED_MARKER in prompt:
        raise refuse(24, "可能包含敏感词", promptEn=prompt, bannedWord=BANNED_MARKER)
    if REJECT_MARKER in prompt:
        queue_full = "队列已满\uff0c请稍后尝试"
        raise refuse(23, queue_full, numberOfQueues=10, discordInstanceId="sandbox")


def _target(state: MjState, task_id: str, *, http_404: bool = False) -> MjTask:
    target = state.tasks.get(task_id)
    if target is None:
        raise refuse(3, "关联任务不存在或已失效", status=404 if http_404 else 200)
    if status_of(target, state.step)[0] != "SUCCESS":
        raise refuse(4, "关联任务状态错误")
    return target


def _child(state: MjState, target: MjTask, action: str, mode: str, **extra: Any) -> MjTask:
    return new_task(state, action, target.prompt, mode, target.bot, parent=target.id, **extra)


async def imagine(request: web.Request, state: MjState, body: dict[str, Any]) -> web.Response:
    prompt = _text(body, "prompt")
    if not prompt:
        raise refuse(4, "prompt不能为空")
    given = [*(body.get("base64Array") or []), *([body["base64"]] if body.get("base64") else [])]
    references = [_image(item) for item in given]
    _check_markers(prompt)
    task = new_task(
        state,
        "IMAGINE",
        prompt,
        _mode(request, body),
        _bot(body),
        inputs=references,
        description=f"/imagine {prompt}",
    )
    return reply(1, "提交成功", task.id)


def _bot(body: dict[str, Any]) -> str:
    return "NIJI_JOURNEY" if body.get("botType") in ("NIJI_JOURNEY", "niji") else "MID_JOURNEY"


def _parse_content(content: str) -> tuple[str, str, int]:
    """The proxy's ConvertUtils.convertChangeParams, quirks and all."""
    parts = content.split(" ")
    if len(parts) != 2:
        raise refuse(4, "content参数错误")
    word = parts[1].lower()
    if word == "r":
        return parts[0], "REROLL", 0
    if not word or word[0] not in "uv" or len(word) < 2 or not word[1].isdigit():
        raise refuse(4, "content参数错误")
    index = int(word[1])
    if not 1 <= index <= 4:
        raise refuse(4, "content参数错误")
    return parts[0], "UPSCALE" if word[0] == "u" else "VARIATION", index


def _change(
    request: web.Request, state: MjState, task_id: str, action: Any, index: Any
) -> web.Response:
    if not task_id:
        raise refuse(4, "taskId不能为空")
    if action not in ("UPSCALE", "VARIATION", "REROLL"):
        raise refuse(4, "action参数错误")
    target = _target(state, task_id)
    if target.action not in CHANGEABLE:
        raise refuse(4, "关联任务不允许执行变化")
    if action != "REROLL" and (not isinstance(index, int) or not 1 <= index <= 4):
        raise refuse(4, "index参数错误")
    label = "R" if action == "REROLL" else f"{action[0]}{index}"
    mode = _mode(request, {}, target.mode)
    child = _child(
        state, target, action, mode, index=index or 0, description=f"/up {task_id} {label}"
    )
    return reply(1, "提交成功", child.id)


async def change(request: web.Request, state: MjState, body: dict[str, Any]) -> web.Response:
    return _change(request, state, _text(body, "taskId"), body.get("action"), body.get("index"))


async def simple_change(request: web.Request, state: MjState, body: dict[str, Any]) -> web.Response:
    content = body.get("content")
    if not isinstance(content, str) or not content:
        raise refuse(4, "content参数错误")
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
    raise refuse(4, "未知的 Action 类型")


async def action(request: web.Request, state: MjState, body: dict[str, Any]) -> web.Response:
    task_id, custom_id = _text(body, "taskId"), _text(body, "customId")
    if not task_id or not custom_id:
        raise refuse(4, "参数错误")
    target = _target(state, task_id, http_404=True)
    if custom_id not in {b["customId"] for b in buttons_of(target)}:
        raise refuse(4, "未知的 Action 类型")
    kind = _action_kind(custom_id, target)
    remix = body.get("enableRemix") is True and kind["action"] in ("VARIATION", "PAN", "REROLL")
    modal = bool(kind.pop("modal", False)) or remix
    prompt = str(kind.pop("prompt", target.prompt))
    mode = _mode(request, {}, target.mode)
    child = new_task(
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
        return reply(21, "Waiting for window confirm", child.id, finalPrompt=prompt, remix=True)
    return reply(1, "提交成功", child.id)


async def modal(request: web.Request, state: MjState, body: dict[str, Any]) -> web.Response:
    task_id = _text(body, "taskId")
    if not task_id:
        raise refuse(4, "参数错误")
    task = state.tasks.get(task_id)
    if task is None:
        raise refuse(3, "关联任务不存在或已失效", status=404)
    if task.started is not None:
        raise refuse(4, "关联任务状态错误")
    prompt = _text(body, "prompt") or task.prompt
    if not prompt:
        raise refuse(4, "prompt不能为空")
    if task.variant == "region":
        if not body.get("maskBase64"):
            raise refuse(4, "maskBase64不能为空")
        _image(body["maskBase64"])
    _check_markers(prompt)
    found = _ZOOM.search(prompt)
    if task.variant == "custom":
        task.variant = found.group(1) if found else "2"
    task.prompt, task.description = prompt, f"/action {task.custom_id}"
    task.failure, task.fail_at_100 = failure_of(prompt)
    task.started = time.time()
    return reply(1, "提交成功", task.id)


async def _download(state: MjState, link: str) -> bytes:
    if state.session is None:
        raise refuse(9, "图片下载失败")
    try:
        async with state.session.get(link) as response:
            data = await response.read() if response.status == 200 else b""
        drawing.open_image(data)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise refuse(4, "图片下载失败") from exc
    return data


async def describe(request: web.Request, state: MjState, body: dict[str, Any]) -> web.Response:
    link, given = _text(body, "link"), body.get("base64")
    if not given and not link:
        raise refuse(4, "base64或link不能为空")
    if given:
        data = _image(given)
    elif not re.match(r"^https?://.+", link):
        raise refuse(4, "链接格式错误")
    else:
        data = await _download(state, link)
    prompts = await asyncio.to_thread(lambda: drawing.describe(drawing.open_image(data)))
    task = new_task(
        state,
        "DESCRIBE",
        "",
        _mode(request, body),
        _bot(body),
        inputs=[data],
        prompts=prompts,
        description="/describe",
    )
    return reply(1, "提交成功", task.id)


async def blend(request: web.Request, state: MjState, body: dict[str, Any]) -> web.Response:
    images = body.get("base64Array")
    if not isinstance(images, list) or not 2 <= len(images) <= 5:
        raise refuse(4, "图片参数错误\uff0c2~5张图片")
    dimensions = body.get("dimensions") or "SQUARE"
    if dimensions not in drawing.BLEND_SIZES:
        raise refuse(4, "dimensions参数错误")
    inputs = [_image(item) for item in images]
    task = new_task(
        state,
        "BLEND",
        "",
        _mode(request, body),
        _bot(body),
        inputs=inputs,
        dimensions=dimensions,
        description=f"/blend {len(inputs)}",
    )
    return reply(1, "提交成功", task.id)


async def shorten(request: web.Request, state: MjState, body: dict[str, Any]) -> web.Response:
    prompt = _text(body, "prompt")
    if not prompt:
        raise refuse(4, "prompt不能为空")
    _check_markers(prompt)
    task = new_task(
        state,
        "SHORTEN",
        prompt,
        _mode(request, body),
        _bot(body),
        prompts=drawing.shorten(prompt),
        description=f"/shorten {prompt}",
    )
    return reply(1, "提交成功", task.id)
