"""How the stream relay writes to the client: the response's headers go with what the upstream
has already sent (one write for a stream the upstream sent whole), but never wait for the
upstream: a client whose upstream has sent nothing yet has its headers at once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from omnirelay.api.streaming import relay_stream
from omnirelay.billing import Usage
from omnirelay.channels import Channel
from omnirelay.formats.openai.stream import UsageChunkFilter
from omnirelay.formats.sse import DONE
from omnirelay.relay import Opened, Timeouts


def _data(payload: object) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


EVENTS = [
    _data({"id": "c", "choices": [{"index": 0, "delta": {"content": f" w{i}"}}]}) for i in range(40)
]
USAGE = _data({"id": "c", "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 40}})
BODY = b"".join(EVENTS) + USAGE + DONE


class _Meter:
    """What ``relay_stream`` asks of a meter: the first byte, and one settlement."""

    def __init__(self) -> None:
        self.first_byte = False
        self.settled: list[tuple[int, Usage | None, str | None]] = []

    def mark_first_byte(self) -> None:
        self.first_byte = True

    def finish(self, status: int, usage: Usage | None = None, **fields: Any) -> int:
        self.settled.append((status, usage, fields.get("error")))
        return 0


@asynccontextmanager
async def _servers(
    upstream: Callable[[web.Request], Any],
) -> AsyncIterator[tuple[TestServer, list[bytes], _Meter]]:
    up_app = web.Application()
    up_app.router.add_post("/", upstream)
    up = TestServer(up_app)
    await up.start_server()
    session = aiohttp.ClientSession()
    writes: list[bytes] = []
    meter = _Meter()
    channel = Channel(
        id=1,
        name="c",
        vendor="openai",
        base_url="http://x",
        secret="s",
        models=frozenset({"m"}),
        model_map={},
        priority=0,
    )

    async def relay(request: web.Request) -> web.StreamResponse:
        transport = request.transport
        assert transport is not None
        write = transport.write

        def counted(data: Any) -> None:
            writes.append(bytes(data))
            write(data)

        transport.write = counted  # type: ignore[method-assign]
        loop = asyncio.get_running_loop()
        started = loop.time()
        upstream_response = await session.post(up.make_url("/"), data=b"{}")
        opened = Opened(
            channel=channel,
            response=upstream_response,
            vendor=None,  # type: ignore[arg-type]
            operation=None,  # type: ignore[arg-type]
            timeouts=Timeouts(connect=5, first_byte=5, idle=5, total=None),
            started=started,
        )
        return await relay_stream(
            request,
            opened,
            meter,  # type: ignore[arg-type]
            UsageChunkFilter(keep_usage_chunk=True),
            error_event=lambda error: b"data: {}\n\n",
            headers={},
            prompt_estimate=1,
        )

    app = web.Application()
    app.router.add_post("/", relay)
    gateway = TestServer(app)
    await gateway.start_server()
    try:
        yield gateway, writes, meter
    finally:
        await gateway.close()
        await session.close()
        await up.close()


def test_a_stream_sent_whole_goes_out_in_one_write() -> None:
    asyncio.run(_sent_whole())


async def _sent_whole() -> None:
    async def upstream(request: web.Request) -> web.Response:
        return web.Response(body=BODY, content_type="text/event-stream")

    async with _servers(upstream) as (gateway, writes, meter):
        async with aiohttp.ClientSession() as client:
            async with client.post(gateway.make_url("/")) as response:
                assert response.status == 200
                assert response.content_type == "text/event-stream"
                assert await response.read() == BODY
        assert len(writes) == 1  # headers, every event and the chunked end
        assert writes[0].startswith(b"HTTP/1.1 200") and writes[0].endswith(b"0\r\n\r\n")
        assert meter.first_byte
        assert [(status, usage) for status, usage, _ in meter.settled] == [
            (200, Usage(prompt_tokens=7, completion_tokens=40))
        ]


def test_headers_do_not_wait_for_a_slow_upstream() -> None:
    asyncio.run(_slow_upstream())


async def _slow_upstream() -> None:
    release = asyncio.Event()

    async def upstream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await release.wait()  # nothing sent until the client has its headers
        for event in EVENTS:
            await response.write(event)
        await response.write(USAGE + DONE)
        await response.write_eof()
        return response

    async with _servers(upstream) as (gateway, writes, meter):
        async with aiohttp.ClientSession() as client:
            opening = client.post(gateway.make_url("/"))
            response = await asyncio.wait_for(opening, 5)
            assert response.status == 200
            assert not meter.first_byte
            release.set()
            assert await response.read() == BODY
            response.release()
        assert writes[0].startswith(b"HTTP/1.1 200") and writes[0].endswith(b"\r\n\r\n")
        assert b"data:" not in writes[0]
        assert meter.settled[0][0] == 200
