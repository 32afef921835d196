"""Fetching result files a vendor made (images, audio) for a client that wants the bytes.

Only URLs a vendor's answer named are ever fetched, never a URL from a client; the size and
time are bounded so one huge or stalled file cannot hold a worker.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import aiohttp

from omnirelay.errors import UpstreamError

MAX_BYTES = 48 * 1024 * 1024
TIMEOUT = 60.0


async def fetch_result(
    session: aiohttp.ClientSession, url: str, *, limit: int = MAX_BYTES, seconds: float = TIMEOUT
) -> bytes:
    if urlsplit(url).scheme not in ("http", "https"):
        raise UpstreamError("the vendor named a result file that is not an http(s) URL")
    try:
        async with session.get(
            url, timeout=aiohttp.ClientTimeout(total=seconds), max_redirects=3
        ) as response:
            if response.status != 200:
                raise UpstreamError(f"the vendor's result file answered HTTP {response.status}")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(256 * 1024):
                size += len(chunk)
                if size > limit:
                    raise UpstreamError(f"the vendor's result file is larger than {limit} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise UpstreamError(
            f"the vendor's result file could not be fetched ({type(exc).__name__})"
        ) from exc
