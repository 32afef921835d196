"""Bare pass-throughs on other server/client stacks, to compare with the aiohttp one.

No framework and no gateway logic: a POST body relayed to the fake upstream, its answer relayed
back - whole for JSON, chunk by chunk as it arrives for an event stream (each write awaited, so a
slow client holds the upstream read back: the same back-pressure as benchmarks/bare_proxy.py).

- ``app``: a raw ASGI app (uvicorn, or granian --interface asgi).
- ``rsgi_app``: the same on granian's RSGI interface (--interface rsgi), where the request body
  and the response are handed over without ASGI's message dicts.
- ``python stack_choice.py PORT WORKERS``: aiohttp's server with the chosen client.

The client is STACK_CLIENT = aiohttp | httpx | pyreqwest (Rust: reqwest and hyper on tokio);
the upstream STACK_UPSTREAM. Run by benchmarks/stack_choice.sh.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

UPSTREAM = os.environ.get("STACK_UPSTREAM", "http://127.0.0.1:18080")
CLIENT = os.environ.get("STACK_CLIENT", "aiohttp")
HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer x"}
_state: dict[str, Any] = {}  # one client per worker process, made on first use


class Upstream:
    """One relayed exchange: status, content type, then the body whole or as chunks."""

    status: int
    content_type: str

    async def body(self) -> bytes:
        raise NotImplementedError

    def chunks(self) -> AsyncIterator[bytes]:
        raise NotImplementedError


Exchange = Callable[[str, bytes], Awaitable[tuple[Upstream, Callable[[], Awaitable[None]]]]]


def _aiohttp_exchange() -> Exchange:
    import aiohttp

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    class Answer(Upstream):
        def __init__(self, response: aiohttp.ClientResponse) -> None:
            self._r = response
            self.status = response.status
            self.content_type = response.content_type

        async def body(self) -> bytes:
            return await self._r.read()

        async def chunks(self) -> AsyncIterator[bytes]:
            async for chunk in self._r.content.iter_any():
                yield chunk

    async def exchange(path: str, body: bytes) -> tuple[Upstream, Callable[[], Awaitable[None]]]:
        response = await session.post(UPSTREAM + path, data=body, headers=HEADERS)

        async def close() -> None:
            response.release()

        return Answer(response), close

    return exchange


def _httpx_exchange() -> Exchange:
    import httpx

    limits = httpx.Limits(max_connections=None, max_keepalive_connections=1000)
    client = httpx.AsyncClient(limits=limits, timeout=30)

    class Answer(Upstream):
        def __init__(self, response: httpx.Response) -> None:
            self._r = response
            self.status = response.status_code
            self.content_type = response.headers.get("content-type", "").split(";")[0]

        async def body(self) -> bytes:
            return await self._r.aread()

        async def chunks(self) -> AsyncIterator[bytes]:
            async for chunk in self._r.aiter_raw():
                yield chunk

    async def exchange(path: str, body: bytes) -> tuple[Upstream, Callable[[], Awaitable[None]]]:
        request = client.build_request("POST", UPSTREAM + path, content=body, headers=HEADERS)
        response = await client.send(request, stream=True)
        return Answer(response), response.aclose

    return exchange


def _pyreqwest_exchange() -> Exchange:
    from datetime import timedelta

    from pyreqwest.client import ClientBuilder

    client = (
        ClientBuilder()
        .timeout(timedelta(seconds=30))
        .pool_max_idle_per_host(1000)
        .default_headers(HEADERS)
        .build()
    )

    class Answer(Upstream):
        def __init__(self, response: Any) -> None:
            self._r = response
            self.status = response.status
            self.content_type = (response.get_header("content-type") or "").split(";")[0]

        async def body(self) -> bytes:
            return bytes(await self._r.bytes())

        async def chunks(self) -> AsyncIterator[bytes]:
            reader = self._r.body_reader
            while (chunk := await reader.read_chunk()) is not None:
                yield bytes(chunk)

    async def exchange(path: str, body: bytes) -> tuple[Upstream, Callable[[], Awaitable[None]]]:
        streamed = client.post(UPSTREAM + path).body_bytes(body).build_streamed()
        response = await streamed.__aenter__()

        async def close() -> None:
            await streamed.__aexit__(None, None, None)

        return Answer(response), close

    return exchange


def exchange_fn() -> Exchange:
    if "x" not in _state:
        makers = {"aiohttp": _aiohttp_exchange, "httpx": _httpx_exchange}
        makers["pyreqwest"] = _pyreqwest_exchange
        _state["x"] = makers[CLIENT]()
    exchange: Exchange = _state["x"]
    return exchange


# --- ASGI ----------------------------------------------------------------------------------------
async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = await _read_body(receive)
    up, close = await exchange_fn()(scope["path"], body)
    try:
        headers = [(b"content-type", up.content_type.encode())]
        await send({"type": "http.response.start", "status": up.status, "headers": headers})
        if up.content_type != "text/event-stream":
            await send({"type": "http.response.body", "body": await up.body()})
            return
        async for chunk in up.chunks():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    finally:
        await close()


# --- RSGI (granian --interface rsgi) --------------------------------------------------------------
async def rsgi_app(scope: Any, protocol: Any) -> None:
    body = await protocol()
    up, close = await exchange_fn()(scope.path, body)
    try:
        headers = [("content-type", up.content_type)]
        if up.content_type != "text/event-stream":
            protocol.response_bytes(up.status, headers, await up.body())
            return
        transport = protocol.response_stream(up.status, headers)
        async for chunk in up.chunks():
            await transport.send_bytes(chunk)
    finally:
        await close()


# --- aiohttp's server with another client ---------------------------------------------------------
def _serve_aiohttp(port: int) -> None:
    import uvloop
    from aiohttp import web

    async def relay(request: web.Request) -> web.StreamResponse:
        up, close = await exchange_fn()(request.path, await request.read())
        try:
            if up.content_type != "text/event-stream":
                return web.Response(
                    body=await up.body(), status=up.status, content_type=up.content_type
                )
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            async for chunk in up.chunks():
                await response.write(chunk)
            await response.write_eof()
            return response
        finally:
            await close()

    application = web.Application()
    application.router.add_post("/{tail:.*}", relay)
    web.run_app(
        application,
        host="127.0.0.1",
        port=port,
        reuse_port=True,
        access_log=None,
        print=None,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    port, workers = int(sys.argv[1]), int(sys.argv[2])
    procs = [multiprocessing.Process(target=_serve_aiohttp, args=(port,)) for _ in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
