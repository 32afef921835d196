"""Serving a task's result file through the gateway: fetched from the vendor, streamed on.

Users of aggregators often cannot reach the vendor's CDN; a result URL on omnirelay always
works. The file is never held whole in memory: chunks go out as they come in.
"""

from __future__ import annotations

import aiohttp
from aiohttp import web

CHUNK = 64 * 1024
FETCH_TIMEOUT = aiohttp.ClientTimeout(total=300, sock_connect=10)
_PASSED_HEADERS = ("Content-Type", "Content-Length", "Last-Modified", "ETag")


async def relay_file(
    request: web.Request, session: aiohttp.ClientSession, url: str
) -> web.StreamResponse:
    """Stream ``url`` to the client; 502 if the vendor does not give it."""
    response = web.StreamResponse(status=200)
    try:
        async with session.get(url, timeout=FETCH_TIMEOUT, allow_redirects=True) as upstream:
            if upstream.status != 200:
                raise web.HTTPBadGateway(text=f"the vendor answered HTTP {upstream.status}")
            for name in _PASSED_HEADERS:
                value = upstream.headers.get(name)
                # A body the client session decompressed no longer has the upstream's length.
                decoded = name == "Content-Length" and "Content-Encoding" in upstream.headers
                if value and not decoded:
                    response.headers[name] = value
            # The URL names a finished task's result, which never changes.
            response.headers["Cache-Control"] = "private, max-age=86400, immutable"
            await response.prepare(request)
            async for chunk in upstream.content.iter_chunked(CHUNK):
                await response.write(chunk)
            await response.write_eof()
            return response
    except (aiohttp.ClientError, TimeoutError) as exc:
        if response.prepared:
            # Cut off mid-file: drop the connection so the client cannot take it as whole.
            if request.transport is not None:
                request.transport.close()
            return response
        reason = type(exc).__name__
        raise web.HTTPBadGateway(text=f"the vendor's file could not be fetched ({reason})") from exc
