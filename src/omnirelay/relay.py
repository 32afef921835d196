"""Sends a request to the channels serving a model, failing over until one answers.

Failover happens only before anything has reached the client: on a connection error, a
timeout, an upstream 5xx or 429, or an upstream that rejects our credential. A 4xx that is
the client's own fault is returned at once (another channel would say the same).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import cast

import aiohttp

from omnirelay.channels import Channel
from omnirelay.errors import GatewayError, NoChannelAvailable, UpstreamError, UpstreamTimeout
from omnirelay.platform.context import current_group
from omnirelay.routing import Router
from omnirelay.vendors import Operation, RelayVendor, Vendor

log = logging.getLogger(__name__)

_FAILOVER_STATUSES = frozenset({401, 403, 408, 429, 500, 502, 503, 504, 520, 522, 524, 529})


@dataclass(slots=True)
class Opened:
    """An upstream response whose status is a success; the caller reads and closes it."""

    channel: Channel
    response: aiohttp.ClientResponse
    # The adapter that answered: its wire format decides whether the answer is translated.
    vendor: RelayVendor


# Builds the upstream body (and its content type) for a channel: model names may be mapped.
BodyBuilder = Callable[[Channel], tuple[bytes, str]]
# Extra headers for a vendor, e.g. a client's ``anthropic-beta`` for vendors of its format.
HeaderBuilder = Callable[[Vendor], Mapping[str, str]]


def channel_timeout(session: aiohttp.ClientSession, channel: Channel) -> aiohttp.ClientTimeout:
    """The channel's own timeouts where it has them, else the session's (the settings)."""
    base = session.timeout
    if channel.connect_timeout is None and channel.read_timeout is None:
        return base
    return aiohttp.ClientTimeout(
        total=base.total,
        connect=channel.connect_timeout if channel.connect_timeout is not None else base.connect,
        sock_read=channel.read_timeout if channel.read_timeout is not None else base.sock_read,
    )


class Relay:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        router: Router,
        vendors: Mapping[str, Vendor],
    ) -> None:
        self._session = session
        self.router = router
        self._vendors = vendors

    async def open(
        self,
        model: str,
        operation: Operation,
        body_for: BodyBuilder,
        *,
        stream: bool = False,
        headers_for: HeaderBuilder | None = None,
    ) -> Opened:
        """POST to the first channel that accepts; raise the last failure if none does.

        Only channels serving the group of the request's key are tried."""
        failure: GatewayError | None = None
        for channel in self.router.candidates(model, current_group()):
            vendor = self._vendors.get(channel.vendor)
            if vendor is None or operation not in vendor.operations:
                continue
            # Declaring a synchronous operation is what makes an adapter a RelayVendor.
            vendor = cast(RelayVendor, vendor)
            call = vendor.prepare(
                channel, operation, model=channel.upstream_model(model), stream=stream
            )
            body, content_type = body_for(channel)
            extra = headers_for(vendor) if headers_for is not None else {}
            headers = {**extra, **call.headers, "Content-Type": content_type}
            try:
                timeout = channel_timeout(self._session, channel)
                response = await self._session.post(
                    call.url, data=body, headers=headers, timeout=timeout
                )
            except TimeoutError:
                failure = UpstreamTimeout(f"the upstream for '{model}' timed out")
                self.router.report_failure(channel, "timed out")
                continue
            except aiohttp.ClientError as exc:
                log.warning("channel %s: %s", channel.name, type(exc).__name__)
                failure = UpstreamError(
                    f"the upstream for '{model}' could not be reached ({type(exc).__name__})"
                )
                self.router.report_failure(channel, f"unreachable: {type(exc).__name__}")
                continue
            if response.status < 400:
                self.router.report_success(channel)
                return Opened(channel=channel, response=response, vendor=vendor)
            try:
                error_body = await asyncio.wait_for(response.read(), 30)
            except (TimeoutError, aiohttp.ClientError):
                error_body = b""
            finally:
                response.release()
            error = vendor.map_error(response.status, error_body)
            if response.status not in _FAILOVER_STATUSES:
                raise error
            log.warning("channel %s answered HTTP %s", channel.name, response.status)
            self.router.report_failure(channel, f"HTTP {response.status}: {error.message}")
            failure = error
        if failure is None:
            raise NoChannelAvailable(f"no channel is available for the model '{model}'")
        raise failure
