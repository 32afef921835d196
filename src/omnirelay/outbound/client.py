"""The one HTTP client for fetches made on a user's behalf (webhooks, result downloads, the
Midjourney image proxy). Upstream vendor calls, to base URLs the operator set, use the
gateway's ordinary session instead.

Its own connection pool resolves each name once, through ``GuardedResolver``, and connects to
the addresses that were checked (a name that changes its answer between check and connect —
DNS rebinding — gains nothing). Addresses written in the URL are checked before the request,
since they are never resolved. Redirects are followed here, each hop checked like the first;
sizes and times are bounded; no proxy from the environment is used (it would hide where a
request really goes).
"""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from ipaddress import IPv6Address

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from omnirelay.outbound.policy import Destination, OutboundPolicy, UnsafeUrl

REDIRECTS = frozenset({301, 302, 303, 307, 308})
CHUNK = 64 * 1024


class TooLarge(Exception):
    """The answer is larger than the caller accepts."""


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver hook: the policy resolves and checks; refusals raise ``UnsafeUrl``
    (not an ``OSError``, so aiohttp passes it through unchanged)."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self._policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await self._policy.resolve(host.rstrip(".").lower(), port)
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=socket.AF_INET6 if isinstance(address, IPv6Address) else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        return None


class GuardedClient:
    """``post`` (webhooks; never redirected), ``fetch`` (bytes, bounded) and ``stream`` (a
    response to relay chunk by chunk). All raise ``UnsafeUrl`` for a refused destination,
    ``aiohttp.ClientError`` or ``TimeoutError`` for a failed one."""

    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        connect_timeout: float = 10.0,
        max_connections: int = 100,
    ) -> None:
        self.policy = policy
        self._connect_timeout = connect_timeout
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(policy),
            limit=max_connections,
            limit_per_host=16,
            use_dns_cache=False,  # every connection is resolved (and checked) afresh
            keepalive_timeout=30,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            trust_env=False,
            auto_decompress=True,
            headers={"User-Agent": "omnirelay"},
        )

    async def close(self) -> None:
        await self._session.close()

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(
            total=max(seconds, 0.001), sock_connect=min(self._connect_timeout, seconds)
        )

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], *, seconds: float
    ) -> int:
        """POST ``body``; the answer's status (a redirect is an answer, not followed)."""
        destination = self.policy.parse(url)
        async with self._session.post(
            destination.url,
            data=body,
            headers=dict(headers),
            timeout=self._timeout(seconds),
            allow_redirects=False,
        ) as response:
            await response.content.readany()  # a receiver's body is never needed in full
            return response.status

    @asynccontextmanager
    async def stream(
        self, url: str, *, seconds: float, max_redirects: int = 3
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """GET ``url``, following up to ``max_redirects`` checked redirects, within ``seconds``
        in all; yields the final response (any status) to be read by the caller."""
        deadline = time.monotonic() + seconds
        destination: Destination = self.policy.parse(url)
        for hop in range(max_redirects + 1):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the fetch took too long")
            response = await self._session.get(
                destination.url, timeout=self._timeout(left), allow_redirects=False
            )
            try:
                location = response.headers.get("Location")
                if response.status in REDIRECTS and location:
                    if hop == max_redirects:
                        raise UnsafeUrl(f"more than {max_redirects} redirects")
                    destination = self.policy.follow(URL(str(response.url)), location)
                    continue
                yield response
                return
            finally:
                response.release()
        raise AssertionError("unreachable")  # pragma: no cover

    async def fetch(
        self, url: str, *, max_bytes: int, seconds: float, max_redirects: int = 3
    ) -> tuple[int, bytes]:
        """(status, body) of a GET, the body at most ``max_bytes`` (else ``TooLarge``)."""
        async with self.stream(url, seconds=seconds, max_redirects=max_redirects) as response:
            declared = response.content_length
            if declared is not None and declared > max_bytes:
                raise TooLarge(f"the file is larger than {max_bytes} bytes")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"the file is larger than {max_bytes} bytes")
                chunks.append(chunk)
            return response.status, b"".join(chunks)


__all__ = ["GuardedClient", "GuardedResolver", "TooLarge", "UnsafeUrl"]
