"""Midjourney through a midjourney-proxy server (novicezk's, or a fork with /submit/action).

A channel's base URL is the proxy's host (paths are ``{base}/mj/submit/imagine``…; a base of
``https://proxy/mj-relax`` reaches a fork's relax accounts) and its secret the proxy's
``mj-api-secret``. The proxy's task ids stay here: clients only ever see ours. Polling is
batched: one ``list-by-condition`` call answers for all of a channel's due tasks.

The proxy's codes map onto our errors in one place (``map_reply``): 1/21/22 accepted, 24
banned prompt, 4 validation, 23 queue full, 3 not found (no account, or no such task), 9 a
failure. A task it reports ``FAILURE`` is a failure whatever its ``progress`` says (some
relays report ``"100%"`` on failures, which a peer once charged as successes).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
import msgspec

from omnirelay.channels import Channel
from omnirelay.errors import (
    BannedPrompt,
    GatewayError,
    InvalidRequest,
    NotFound,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from omnirelay.formats.upstream_errors import retry_after
from omnirelay.tasks.model import TaskStatus, TaskUpdate
from omnirelay.vendors.base import ChannelForm, Operation, SecretPart, TaskRequest

log = logging.getLogger(__name__)

_CREATE_PATHS = {
    "mj.imagine": "/mj/submit/imagine",
    "mj.describe": "/mj/submit/describe",
    "mj.blend": "/mj/submit/blend",
    "mj.shorten": "/mj/submit/shorten",
}
_ACTIONS = frozenset(
    {
        *_CREATE_PATHS,
        "mj.upscale",
        "mj.variation",
        "mj.reroll",
        "mj.zoom",
        "mj.pan",
        "mj.upscale_hd",
    }
)
_ACCEPTED = frozenset({1, 21, 22})
_KEYCAPS = tuple(f"{n}\ufe0f\u20e3" for n in range(1, 10))


class _Reply(msgspec.Struct):
    code: int = -1
    description: str = ""
    result: Any = None
    properties: dict[str, Any] | None = None


class _Button(msgspec.Struct):
    customId: str = ""
    emoji: str = ""
    label: str = ""
    type: int = 2
    style: int = 2


class _Task(msgspec.Struct):
    id: str = ""
    action: str | None = None
    status: str | None = None
    prompt: str | None = None
    promptEn: str | None = None
    description: str | None = None
    imageUrl: str | None = None
    progress: str | None = None
    failReason: str | None = None
    startTime: int | None = None
    finishTime: int | None = None
    properties: dict[str, Any] | None = None
    buttons: list[_Button] | None = None


def map_reply(status: int, reply: _Reply) -> GatewayError:
    """A refused call (HTTP status, the proxy's SubmitResultVO) as our error."""
    description = reply.description[:300]
    if status in (401, 403):
        return UpstreamError(
            f"midjourney-proxy rejected this gateway's mj-api-secret (HTTP {status})",
            code="upstream_auth_failed",
        )
    if reply.code == 24:
        word = str((reply.properties or {}).get("bannedWord") or "")
        return BannedPrompt(
            f"the prompt may contain a banned word: {word or description}",
            banned_word=word,
            code="24",
        )
    if reply.code == 4:
        return InvalidRequest(f"the upstream refused the request: {description}", code="4")
    if reply.code == 23 or status == 429:
        return RateLimited(f"the upstream's queue is full: {description}", code="23")
    if reply.code == 3:
        # No account to run it, or no such (parent) task: another channel may do better.
        return UpstreamError(f"the upstream found nothing to run it: {description}", code="3")
    return UpstreamError(
        f"midjourney-proxy failed (HTTP {status}, code {reply.code}): {description[:200]}",
        code="9",
    )


def _percent(progress: str | None) -> int:
    digits = (progress or "").strip().rstrip("%")
    try:
        return max(0, min(100, int(float(digits))))
    except ValueError:
        return 0


def _prompts(text: str) -> list[str]:
    """Describe's and shorten's numbered prompts (``1️⃣ …``), one per entry."""
    found = []
    for line in text.splitlines():
        line = line.strip()
        for cap in _KEYCAPS:
            if line.startswith(cap):
                found.append(line.removeprefix(cap).strip())
                break
    return found


def _result(task: _Task) -> dict[str, Any]:
    properties = task.properties or {}
    final = str(properties.get("finalPrompt") or task.promptEn or "")
    return {
        "imageUrl": task.imageUrl,
        "buttons": [msgspec.structs.asdict(b) for b in task.buttons or []],
        "prompt": task.prompt or "",
        "promptEn": task.promptEn or "",
        "description": task.description or "",
        "finalPrompt": final,
        "messageHash": properties.get("messageHash"),
        "prompts": _prompts(final or task.promptEn or ""),
        "startTime": task.startTime,
        "finishTime": task.finishTime,
    }


def task_update(task: _Task) -> TaskUpdate:
    """The proxy's Task as our update; its status decides, never its progress."""
    status = (task.status or "").upper()
    progress = _percent(task.progress)
    if status in ("FAILURE", "CANCEL"):
        reason = task.failReason or f"midjourney-proxy reported {status}"
        return TaskUpdate(TaskStatus.FAILED, min(progress, 99), failure=reason)
    if status == "SUCCESS":
        return TaskUpdate(TaskStatus.SUCCEEDED, 100, result=_result(task))
    if status == "MODAL":
        return TaskUpdate(TaskStatus.WAITING, progress)
    if status == "IN_PROGRESS":
        return TaskUpdate(TaskStatus.RUNNING, min(progress, 99))
    return TaskUpdate(TaskStatus.QUEUED, min(progress, 99))


class MidjourneyVendor:
    name = "midjourney"
    form = ChannelForm(
        "Midjourney (midjourney-proxy)",
        "",
        (SecretPart("api_key", "mj-api-secret"),),
        note="The proxy's host; a base ending in /mj-relax reaches a fork's relax accounts.",
    )
    families = frozenset({"midjourney"})
    wire_format = "midjourney"
    operations: frozenset[Operation] = frozenset()
    task_actions = _ACTIONS
    poll_batch_size = 100

    def map_error(self, status: int, body: bytes) -> GatewayError:
        try:
            reply = msgspec.json.decode(body, type=_Reply)
        except msgspec.MsgspecError:
            reply = _Reply(description=body[:200].decode("utf-8", "replace"))
        return map_reply(status, reply)

    def _refused(self, channel: Channel, status: int, body: bytes) -> GatewayError:
        error = self.map_error(status, body)
        if error.code == "upstream_auth_failed":
            log.error("midjourney channel %s: mj-api-secret rejected", channel.name)
        return error

    async def _call(
        self,
        session: aiohttp.ClientSession,
        channel: Channel,
        method: str,
        path: str,
        body: Any = None,
    ) -> tuple[int, bytes, float | None]:
        headers = {"mj-api-secret": channel.secret}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = msgspec.json.encode(body)
        try:
            async with session.request(
                method, channel.base_url + path, data=data, headers=headers
            ) as response:
                wait = retry_after(response.headers) if response.status in (429, 503) else None
                return response.status, await response.read(), wait
        except TimeoutError as exc:
            raise UpstreamTimeout("midjourney-proxy did not answer in time") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError(
                f"midjourney-proxy could not be reached ({type(exc).__name__})"
            ) from exc

    async def _submit(
        self, session: aiohttp.ClientSession, channel: Channel, path: str, body: Any
    ) -> _Reply:
        status, data, wait = await self._call(session, channel, "POST", path, body)
        try:
            reply = msgspec.json.decode(data, type=_Reply)
        except msgspec.MsgspecError:
            reply = _Reply(description=data[:200].decode("utf-8", "replace"))
        if status >= 400 or reply.code not in _ACCEPTED:
            error = self._refused(channel, status, data)
            error.retry_after = wait
            raise error
        return reply

    async def submit_task(
        self, session: aiohttp.ClientSession, channel: Channel, task: TaskRequest
    ) -> str:
        fields = msgspec.json.decode(task.body)
        if task.parent_upstream_id is not None:
            fields["taskId"] = task.parent_upstream_id
            path = "/mj/submit/action" if "customId" in fields else "/mj/submit/change"
        else:
            path = _CREATE_PATHS[task.action]
        reply = await self._submit(session, channel, path, fields)
        if not isinstance(reply.result, str | int) or not str(reply.result):
            raise UpstreamError("midjourney-proxy accepted the task but sent no task id")
        return str(reply.result)

    async def poll_task(
        self, session: aiohttp.ClientSession, channel: Channel, action: str, upstream_id: str
    ) -> TaskUpdate:
        status, data, _ = await self._call(session, channel, "GET", f"/mj/task/{upstream_id}/fetch")
        if status == 404 or data.strip() in (b"", b"null"):
            raise NotFound("midjourney-proxy does not know this task", code="3")
        if status >= 400:
            raise self._refused(channel, status, data)
        try:
            return task_update(msgspec.json.decode(data, type=_Task))
        except msgspec.MsgspecError as exc:
            raise UpstreamError("midjourney-proxy answered a fetch without a task") from exc

    async def poll_tasks(
        self,
        session: aiohttp.ClientSession,
        channel: Channel,
        upstream_ids: Sequence[str],
    ) -> Mapping[str, TaskUpdate]:
        path = "/mj/task/list-by-condition"
        status, data, _ = await self._call(
            session, channel, "POST", path, {"ids": list(upstream_ids)}
        )
        if status >= 400:
            raise self._refused(channel, status, data)
        try:
            found = msgspec.json.decode(data, type=list[_Task])
        except msgspec.MsgspecError as exc:
            raise UpstreamError(
                "midjourney-proxy answered list-by-condition without a list"
            ) from exc
        return {task.id: task_update(task) for task in found if task.id}

    async def continue_task(
        self, session: aiohttp.ClientSession, channel: Channel, upstream_id: str, body: bytes
    ) -> None:
        fields = msgspec.json.decode(body)
        fields["taskId"] = upstream_id
        await self._submit(session, channel, "/mj/submit/modal", fields)

    async def task_fact(
        self, session: aiohttp.ClientSession, channel: Channel, upstream_id: str, name: str
    ) -> str:
        if name != "seed":
            raise InvalidRequest(f"midjourney-proxy has no '{name}' for a task", code="4")
        path = f"/mj/task/{upstream_id}/image-seed"
        status, data, _ = await self._call(session, channel, "GET", path)
        try:
            reply = msgspec.json.decode(data, type=_Reply)
        except msgspec.MsgspecError:
            reply = _Reply(description=data[:200].decode("utf-8", "replace"))
        if status == 404:
            raise NotFound("midjourney-proxy does not know this task", code="3")
        if status >= 400 or reply.code != 1 or reply.result in (None, ""):
            raise map_reply(status, reply)
        return str(reply.result)
