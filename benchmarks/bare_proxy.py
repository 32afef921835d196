"""The Python ceiling: a bare aiohttp pass-through (no auth, billing or records), N workers.

python bare_proxy.py PORT UPSTREAM_BASE WORKERS
"""

from __future__ import annotations

import multiprocessing
import sys

import aiohttp
import uvloop
from aiohttp import web


def build(upstream: str) -> web.Application:
    app = web.Application()

    async def session_ctx(app: web.Application):  # type: ignore[no-untyped-def]
        app["s"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        yield
        await app["s"].close()

    async def relay(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {"Content-Type": "application/json", "Authorization": "Bearer x"}
        async with app["s"].post(upstream + request.path, data=body, headers=headers) as up:
            if up.content_type != "text/event-stream":
                data = await up.read()
                return web.Response(body=data, status=up.status, content_type=up.content_type)
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            async for chunk in up.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response

    app.cleanup_ctx.append(session_ctx)
    app.router.add_post("/{tail:.*}", relay)
    return app


def serve(port: int, upstream: str) -> None:
    web.run_app(
        build(upstream),
        host="127.0.0.1",
        port=port,
        reuse_port=True,
        access_log=None,
        print=None,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    port, upstream, workers = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    procs = [multiprocessing.Process(target=serve, args=(port, upstream)) for _ in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
