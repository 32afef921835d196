"""Fetching result files a vendor made (images, audio) for a client that wants the bytes.

Only URLs a vendor's answer named are ever fetched, never a URL from a client; they still go
through the guarded client (a vendor's answer is not ours to trust), and the size and time are
bounded so one huge or stalled file cannot hold a worker.
"""

from __future__ import annotations

import aiohttp

from omnirelay.errors import UpstreamError
from omnirelay.outbound import GuardedClient, TooLarge, UnsafeUrl

MAX_BYTES = 48 * 1024 * 1024
TIMEOUT = 60.0


async def fetch_result(
    client: GuardedClient, url: str, *, limit: int = MAX_BYTES, seconds: float = TIMEOUT
) -> bytes:
    try:
        status, body = await client.fetch(url, max_bytes=limit, seconds=seconds)
    except UnsafeUrl as exc:
        reason = exc.reason
        raise UpstreamError(f"the vendor named a result file that is refused: {reason}") from exc
    except TooLarge as exc:
        raise UpstreamError(f"the vendor's result file is larger than {limit} bytes") from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise UpstreamError(
            f"the vendor's result file could not be fetched ({type(exc).__name__})"
        ) from exc
    if status != 200:
        raise UpstreamError(f"the vendor's result file answered HTTP {status}")
    return body
