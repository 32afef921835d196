"""Relays an OpenAI-format event stream event by event, billing what was really used.

The upstream is asked for usage (``stream_options.include_usage``); its usage-only chunk is
dropped again when the client did not ask for it. If the client goes away, the upstream
request is closed at once and the tokens streamed so far are still billed. If the upstream
breaks mid-stream, the client gets an error event (the OpenAI SDK raises on it).
"""

from __future__ import annotations

from collections.abc import Awaitable

import aiohttp
import msgspec
from aiohttp import web

from omnirelay.billing import Usage
from omnirelay.errors import UpstreamError
from omnirelay.formats.openai import StreamChunk, encode_error
from omnirelay.formats.sse import DONE, EventSplitter, data_of, encode_data
from omnirelay.metering import Meter
from omnirelay.relay import Opened

_USAGE_MARK = b'"usage":{'


class _ClientGone(Exception):
    pass


class _StreamState:
    __slots__ = ("chunks", "done", "usage")

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self.chunks = 0
        self.done = False

    def keep(self, event: bytes, keep_usage_chunk: bool) -> bool:
        """Note what ``event`` says; False if it must not reach the client."""
        if event == DONE:
            self.done = True
            return True
        self.chunks += 1
        if _USAGE_MARK not in event.replace(b'"usage": {', _USAGE_MARK):
            return True
        payload = data_of(event)
        if payload is None:
            return True
        try:
            chunk = msgspec.json.decode(payload, type=StreamChunk)
        except msgspec.MsgspecError:
            return True
        if chunk.usage is not None:
            self.usage = Usage(
                prompt_tokens=chunk.usage.prompt_tokens,
                completion_tokens=chunk.usage.completion_tokens,
            )
            if not keep_usage_chunk and not chunk.choices:
                self.chunks -= 1
                return False
        return True


async def relay_sse(
    request: web.Request,
    opened: Opened,
    meter: Meter,
    *,
    request_id: str,
    keep_usage_chunk: bool,
    prompt_estimate: int,
) -> web.StreamResponse:
    upstream = opened.response
    response = web.StreamResponse(
        status=200,
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
            "x-request-id": request_id,
        },
    )
    state = _StreamState()
    status, error = 200, None
    try:
        await _write(response.prepare(request))
        splitter = EventSplitter()
        try:
            async for raw in upstream.content.iter_any():
                events = [e for e in splitter.feed(raw) if state.keep(e, keep_usage_chunk)]
                if events:
                    await _write(response.write(b"".join(events)))
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = f"upstream stream broke: {type(exc).__name__}"
        if error is None and not state.done:
            error = "upstream stream ended before it was complete"
        if error is not None:
            status = 502
            failure = UpstreamError(f"the upstream stream was interrupted ({error})")
            await _write(response.write(encode_data(encode_error(failure))))
        await _write(response.write_eof())
    except _ClientGone:
        status, error = 499, "client disconnected"
    finally:
        upstream.close()
        usage = state.usage or Usage(prompt_tokens=prompt_estimate, completion_tokens=state.chunks)
        meter.finish(status, usage, channel_id=opened.channel.id, error=error)
    return response


async def _write(operation: Awaitable[object]) -> None:
    try:
        await operation
    except (ConnectionError, aiohttp.ClientConnectionResetError) as exc:
        raise _ClientGone from exc
