"""Suno through a Suno-API server (the protocol aggregators relay): Bearer auth,
``POST {base}/suno/submit/{music|lyrics}``, and batched polling ``POST {base}/suno/fetch
{"ids": [...]}`` answered by ``{"code": "success", "data": [Task, ...]}``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

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
from omnirelay.formats import suno
from omnirelay.formats.upstream_errors import retry_after
from omnirelay.tasks.model import TaskUpdate
from omnirelay.vendors.base import ChannelForm, Operation, SecretPart, TaskRequest

log = logging.getLogger(__name__)

_SUBMIT_PATHS = {suno.MUSIC: "/suno/submit/music", suno.LYRICS: "/suno/submit/lyrics"}


def map_suno_error(status: int, code: str, message: str) -> GatewayError:
    if status in (401, 403):
        return UpstreamError(
            f"the Suno server rejected this gateway's credential (HTTP {status})",
            code="upstream_auth_failed",
        )
    if status == 429:
        return RateLimited("the Suno server is rate limiting this channel")
    if status == 404:
        return NotFound(message or "not found on the Suno server")
    if 400 <= status < 500:
        return InvalidRequest(
            message or f"Suno rejected the request ({code})", code=code or "invalid_request"
        )
    if status == 504:
        return UpstreamTimeout("the Suno server timed out")
    return UpstreamError(f"the Suno server failed (HTTP {status}, {code}): {message[:200]}")


class SunoVendor:
    name = "suno"
    form = ChannelForm(
        "Suno (Suno-API server)",
        "",
        (SecretPart("api_key", "API key"),),
        note="The host of a server speaking the Suno-API protocol (/suno/submit, /suno/fetch).",
    )
    families = frozenset({"suno"})
    wire_format = "suno"
    operations: frozenset[Operation] = frozenset()
    task_actions = frozenset(_SUBMIT_PATHS)
    poll_batch_size = 20

    def map_error(self, status: int, body: bytes) -> GatewayError:
        try:
            envelope = msgspec.json.decode(body, type=suno.UpstreamEnvelope)
        except msgspec.MsgspecError:
            return map_suno_error(status, "", body[:200].decode("utf-8", "replace"))
        return map_suno_error(status, str(envelope.code or ""), envelope.message)

    async def _call(
        self, session: aiohttp.ClientSession, channel: Channel, path: str, body: bytes
    ) -> Any:
        headers = {"Authorization": f"Bearer {channel.secret}", "Content-Type": "application/json"}
        try:
            async with session.post(
                channel.base_url + path, data=body, headers=headers
            ) as response:
                data = await response.read()
                status = response.status
                wait = retry_after(response.headers) if status in (429, 503) else None
        except TimeoutError as exc:
            raise UpstreamTimeout("the Suno server did not answer in time") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError(
                f"the Suno server could not be reached ({type(exc).__name__})"
            ) from exc
        try:
            envelope = msgspec.json.decode(data, type=suno.UpstreamEnvelope)
        except msgspec.MsgspecError:
            envelope = suno.UpstreamEnvelope(message=data[:200].decode("utf-8", "replace"))
        if status >= 400 or envelope.code != "success":
            error = map_suno_error(
                status if status >= 400 else 502, str(envelope.code or ""), envelope.message
            )
            if error.code == "upstream_auth_failed":
                log.error("Suno channel %s: credential rejected (HTTP %s)", channel.name, status)
            error.retry_after = wait
            raise error
        return envelope.data

    async def submit_task(
        self, session: aiohttp.ClientSession, channel: Channel, task: TaskRequest
    ) -> str:
        body = task.body
        if task.action == suno.MUSIC:
            upstream_model = channel.upstream_model(task.model)
            if upstream_model != task.model:
                fields = msgspec.json.decode(body)
                fields["mv"] = upstream_model
                body = msgspec.json.encode(fields)
        data = await self._call(session, channel, _SUBMIT_PATHS[task.action], body)
        if not isinstance(data, str) or not data:
            raise UpstreamError("the Suno server accepted the task but sent no task id")
        return data

    async def poll_tasks(
        self, session: aiohttp.ClientSession, channel: Channel, upstream_ids: Sequence[str]
    ) -> Mapping[str, TaskUpdate]:
        data = await self._call(
            session, channel, "/suno/fetch", msgspec.json.encode({"ids": list(upstream_ids)})
        )
        try:
            found = msgspec.convert(data or [], type=list[suno.UpstreamTask])
        except msgspec.ValidationError as exc:
            raise UpstreamError("the Suno server answered a fetch without tasks") from exc
        return {task.task_id: suno.read_update(task) for task in found}

    async def poll_task(
        self, session: aiohttp.ClientSession, channel: Channel, action: str, upstream_id: str
    ) -> TaskUpdate:
        updates = await self.poll_tasks(session, channel, [upstream_id])
        if upstream_id not in updates:
            raise NotFound("the Suno server no longer knows this task")
        return updates[upstream_id]
