"""Black Forest Labs (Flux): ``POST {base}/v1/{model}`` with ``x-key``, then poll.

A submission answers ``{id, polling_url}``; the task's private upstream id keeps both (as
``"<id> <polling_url>"``), since regional hosts hand out polling URLs of their own. The key is
sent to a polling URL only on the channel's own host or a BFL host; any other polling URL is
ignored in favour of ``{base}/v1/get_result?id=``.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import msgspec

from omnirelay.channels import Channel
from omnirelay.errors import (
    GatewayError,
    InvalidRequest,
    NotFound,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from omnirelay.formats import flux
from omnirelay.formats.upstream_errors import retry_after
from omnirelay.tasks.model import CONTENT_POLICY, TaskStatus, TaskUpdate
from omnirelay.vendors.base import ChannelForm, Operation, SecretPart, TaskRequest

log = logging.getLogger(__name__)

_BFL_HOSTS = (".bfl.ai", ".bfl.ml")
_MODERATED = ("Request Moderated", "Content Moderated")


class _Detail(msgspec.Struct):
    detail: Any = None


def _detail_text(body: bytes) -> str:
    try:
        detail = msgspec.json.decode(body, type=_Detail).detail
    except msgspec.MsgspecError:
        return body[:200].decode("utf-8", "replace")
    if isinstance(detail, list):
        parts = []
        for item in detail[:5]:
            if isinstance(item, dict):
                where = ".".join(str(p) for p in item.get("loc", [])[1:]) or "body"
                parts.append(f"{where}: {item.get('msg', '')}")
        return "; ".join(parts)
    return str(detail or "")[:300]


def map_bfl_error(status: int, body: bytes) -> GatewayError:
    text = _detail_text(body)
    if status in (401, 403):
        return UpstreamError(
            f"BFL rejected this gateway's credential (HTTP {status})", code="upstream_auth_failed"
        )
    if status == 402:
        return UpstreamError(
            "the BFL account behind this channel has no credits left", code="upstream_account"
        )
    if status in (400, 422):
        return InvalidRequest(f"Flux rejected the request: {text}", status=400)
    if status == 404:
        return NotFound(f"not found at BFL: {text}")
    if status == 429:
        return RateLimited("BFL is rate limiting this channel (too many active tasks)")
    if status == 504:
        return UpstreamTimeout("BFL timed out")
    return UpstreamError(f"BFL failed (HTTP {status}): {text}")


def _progress(value: float | None) -> int:
    if value is None:
        return 50
    return int(value * 100) if value <= 1 else int(value)


class FluxVendor:
    name = "bfl"
    form = ChannelForm(
        "Black Forest Labs (Flux)",
        "https://api.bfl.ai",
        (SecretPart("api_key", "x-key"),),
    )
    families = frozenset({"bfl"})
    wire_format = "bfl"
    operations: frozenset[Operation] = frozenset()
    task_actions = frozenset({flux.ACTION})

    def map_error(self, status: int, body: bytes) -> GatewayError:
        return map_bfl_error(status, body)

    async def _call(
        self, session: aiohttp.ClientSession, channel: Channel, method: str, url: str, body: bytes
    ) -> bytes:
        headers = {"x-key": channel.secret, "accept": "application/json"}
        if body:
            headers["Content-Type"] = "application/json"
        try:
            async with session.request(method, url, data=body or None, headers=headers) as response:
                data = await response.read()
                status = response.status
                wait = retry_after(response.headers) if status in (429, 503) else None
        except TimeoutError as exc:
            raise UpstreamTimeout("BFL did not answer in time") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError(f"BFL could not be reached ({type(exc).__name__})") from exc
        if status >= 400:
            error = map_bfl_error(status, data)
            if error.code == "upstream_auth_failed":
                log.error("BFL channel %s: credential rejected (HTTP %s)", channel.name, status)
            error.retry_after = wait
            raise error
        return data

    async def submit_task(
        self, session: aiohttp.ClientSession, channel: Channel, task: TaskRequest
    ) -> str:
        model = channel.upstream_model(task.model)
        url = f"{channel.base_url}/v1/{quote(model, safe='')}"
        data = await self._call(session, channel, "POST", url, task.body)
        try:
            answer = msgspec.json.decode(data, type=flux.SubmitAnswer)
        except msgspec.MsgspecError as exc:
            raise UpstreamError("BFL accepted the job but sent no id") from exc
        return f"{answer.id} {answer.polling_url or ''}".strip()

    def _poll_url(self, channel: Channel, upstream_id: str) -> str:
        job_id, _, polling_url = upstream_id.partition(" ")
        if polling_url:
            host = urlsplit(polling_url).hostname or ""
            own = urlsplit(channel.base_url).hostname or ""
            if urlsplit(polling_url).scheme in ("http", "https") and (
                host == own or host.endswith(_BFL_HOSTS)
            ):
                return polling_url
        return f"{channel.base_url}/v1/get_result?id={quote(job_id, safe='')}"

    async def poll_task(
        self, session: aiohttp.ClientSession, channel: Channel, action: str, upstream_id: str
    ) -> TaskUpdate:
        data = await self._call(session, channel, "GET", self._poll_url(channel, upstream_id), b"")
        try:
            answer = msgspec.json.decode(data, type=flux.PollAnswer)
        except msgspec.MsgspecError as exc:
            raise UpstreamError("BFL answered a poll without a status") from exc
        if answer.status == "Ready":
            return TaskUpdate(TaskStatus.SUCCEEDED, 100, result=answer.result or {})
        if answer.status in _MODERATED:
            return TaskUpdate(
                TaskStatus.FAILED,
                failure=f"Flux refused the job: {answer.status.lower()} by its safety filter",
                failure_code=CONTENT_POLICY,
                failure_status=400,
            )
        if answer.status == "Error":
            detail = (answer.result or {}).get("error") if answer.result else None
            return TaskUpdate(
                TaskStatus.FAILED, failure=f"Flux failed the job: {detail or 'Error'}"
            )
        if answer.status == "Task not found":
            raise NotFound("BFL no longer knows this job")
        return TaskUpdate(TaskStatus.RUNNING, min(_progress(answer.progress), 99))
