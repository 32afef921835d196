"""Bare pass-throughs on other server/client stacks, to compare with the aiohttp one.

A raw ASGI app (no framework) relaying POST bodies to the fake upstream with either an httpx
or an aiohttp client, served by uvicorn (uvloop + httptools) or granian. Run by
benchmarks/stack_choice.sh; set STACK_CLIENT=httpx|aiohttp and STACK_UPSTREAM.
"""

from __future__ import annotations

import os
from typing import Any

UPSTREAM = os.environ.get("STACK_UPSTREAM", "http://127.0.0.1:18080")
CLIENT = os.environ.get("STACK_CLIENT", "httpx")
_state: dict[str, Any] = {}  # one client per worker process, made at lifespan start


async def _client() -> Any:
    if "c" not in _state:
        if CLIENT == "httpx":
            import httpx

            limits = httpx.Limits(max_connections=None, max_keepalive_connections=1000)
            _state["c"] = httpx.AsyncClient(limits=limits, timeout=30)
        else:
            import aiohttp

            _state["c"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    return _state["c"]


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
                await _client()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = await _read_body(receive)
    client = await _client()
    headers = {"Content-Type": "application/json", "Authorization": "Bearer x"}
    url = UPSTREAM + scope["path"]
    if CLIENT == "httpx":
        response = await client.post(url, content=body, headers=headers)
        status, data = response.status_code, response.content
    else:
        async with client.post(url, data=body, headers=headers) as response:
            status, data = response.status, await response.read()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": data})
