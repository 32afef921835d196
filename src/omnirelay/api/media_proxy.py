"""Serving a task's result file through the gateway: fetched from the vendor, streamed on.

Users of aggregators often cannot reach the vendor's CDN; a result URL on omnirelay always
works. The file is never held whole in memory: chunks go out as they come in. The URL came
from a vendor's answer, and is fetched through the guarded client all the same.
"""

from __future__ import annotations

import aiohttp
from aiohttp import web

from omnirelay.outbound import GuardedClient, UnsafeUrl

CHUNK = 64 * 1024
FETCH_SECONDS = 300.0
MAX_BYTES = 256 * 1024 * 1024
_PASSED_HEADERS = ("Content-Length", "Last-Modified", "ETag")
_MEDIA = ("image/", "video/", "audio/")
# The file is served from the gateway's own origin (where the console lives): whatever a
# vendor sends, it is never run as a page there.
_SAFE = {
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self' data:; media-src 'self'; sandbox"
    ),
    "X-Content-Type-Options": "nosniff",
}


async def relay_file(request: web.Request, client: GuardedClient, url: str) -> web.StreamResponse:
    """Stream ``url`` to the client; 502 if the vendor does not give it."""
    response = web.StreamResponse(status=200)
    try:
        async with client.stream(url, seconds=FETCH_SECONDS) as upstream:
            if upstream.status != 200:
                raise web.HTTPBadGateway(text=f"the vendor answered HTTP {upstream.status}")
            declared = upstream.content_length
            if declared is not None and declared > MAX_BYTES:
                raise web.HTTPBadGateway(text="the vendor's file is too large to relay")
            kind = upstream.headers.get("Content-Type", "")
            if kind.startswith(_MEDIA):
                response.content_type = kind.split(";", 1)[0].strip()
            else:  # not a picture, sound or film: a download, never a page
                response.content_type = "application/octet-stream"
                response.headers["Content-Disposition"] = "attachment"
            response.headers.update(_SAFE)
            for name in _PASSED_HEADERS:
                value = upstream.headers.get(name)
                # A body the client session decompressed no longer has the upstream's length.
                decoded = name == "Content-Length" and "Content-Encoding" in upstream.headers
                if value and not decoded:
                    response.headers[name] = value
            # The URL names a finished task's result, which never changes.
            response.headers["Cache-Control"] = "private, max-age=86400, immutable"
            await response.prepare(request)
            sent = 0
            async for chunk in upstream.content.iter_chunked(CHUNK):
                sent += len(chunk)
                if sent > MAX_BYTES:
                    raise aiohttp.ClientPayloadError("the vendor's file is too large to relay")
                await response.write(chunk)
            await response.write_eof()
            return response
    except UnsafeUrl as exc:
        raise web.HTTPBadGateway(text=f"the vendor's file URL is refused: {exc.reason}") from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        if response.prepared:
            # Cut off mid-file: drop the connection so the client cannot take it as whole.
            if request.transport is not None:
                request.transport.close()
            return response
        reason = type(exc).__name__
        raise web.HTTPBadGateway(text=f"the vendor's file could not be fetched ({reason})") from exc
