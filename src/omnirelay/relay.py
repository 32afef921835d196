"""Sends a request to the channels serving a model, failing over until one answers.

Failover happens only before anything has reached the client: on a connection error, a
timeout, an upstream 5xx or 429, or an upstream that rejects our credential. A 4xx that is
the client's own fault is returned at once (another channel would say the same).

An operation may have a fallback (a Responses API request sent as a chat completion): it
serves the channels whose vendor lacks the operation, and a channel whose upstream answered the
operation's URL with 404/405 (no such route) is tried again at once with the fallback, and sent
the fallback for a while without asking again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator, Mapping
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
# How long a channel that lacks an operation's route is sent the fallback before asking again.
_MISSING_ROUTE_SECONDS = 3600.0


@dataclass(slots=True)
class Opened:
    """An upstream response whose status is a success; the caller reads and closes it."""

    channel: Channel
    response: aiohttp.ClientResponse
    # The adapter that answered: its wire format decides whether the answer is translated.
    vendor: RelayVendor
    # The operation it served: the one asked for, or its fallback.
    operation: Operation


# Builds the upstream body (and its content type) for a channel: model names may be mapped.
BodyBuilder = Callable[[Channel], tuple[bytes, str]]
# Extra headers for a vendor, e.g. a client's ``anthropic-beta`` for vendors of its format.
HeaderBuilder = Callable[[Vendor], Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class Fallback:
    """What to send a channel that cannot serve the operation asked for."""

    operation: Operation
    body_for: BodyBuilder


class _MissingRoute(Exception):
    """The upstream has no URL for this operation (it answered 404/405)."""


def _route_missing(status: int, body: bytes) -> bool:
    # A 404 that names the model is the model's absence, not the route's.
    return status in (404, 405) and b"model_not_found" not in body


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
        # (channel id, operation) → until when that channel is known to lack the route.
        self._missing: dict[tuple[int, Operation], float] = {}

    async def open(
        self,
        model: str,
        operation: Operation,
        body_for: BodyBuilder,
        *,
        stream: bool = False,
        headers_for: HeaderBuilder | None = None,
        fallback: Fallback | None = None,
    ) -> Opened:
        """POST to the first channel that accepts; raise the last failure if none does.

        Only channels serving the group of the request's key are tried."""
        failure: GatewayError | None = None
        for channel in self.router.candidates(model, current_group()):
            vendor = self._vendors.get(channel.vendor)
            if vendor is None:
                continue
            # Declaring a synchronous operation is what makes an adapter a RelayVendor.
            relay_vendor = cast(RelayVendor, vendor)
            for op, build in self._plans(channel, relay_vendor, operation, body_for, fallback):
                try:
                    return await self._send(
                        channel,
                        relay_vendor,
                        op,
                        build,
                        model,
                        stream,
                        headers_for,
                        may_lack_route=op is operation and fallback is not None,
                    )
                except _MissingRoute:
                    self._missing[(channel.id, op)] = time.monotonic() + _MISSING_ROUTE_SECONDS
                    continue
                except _Retryable as retry:
                    failure = retry.error
                    break
        if failure is None:
            raise NoChannelAvailable(f"no channel is available for the model '{model}'")
        raise failure

    def _plans(
        self,
        channel: Channel,
        vendor: RelayVendor,
        operation: Operation,
        body_for: BodyBuilder,
        fallback: Fallback | None,
    ) -> Iterator[tuple[Operation, BodyBuilder]]:
        """The operations to try on this channel, in order."""
        missing = self._missing.get((channel.id, operation))
        if missing is not None and missing < time.monotonic():
            del self._missing[(channel.id, operation)]
            missing = None
        if operation in vendor.operations and missing is None:
            yield operation, body_for
        if fallback is not None and fallback.operation in vendor.operations:
            yield fallback.operation, fallback.body_for

    async def _send(
        self,
        channel: Channel,
        vendor: RelayVendor,
        operation: Operation,
        body_for: BodyBuilder,
        model: str,
        stream: bool,
        headers_for: HeaderBuilder | None,
        *,
        may_lack_route: bool,
    ) -> Opened:
        """One attempt on one channel: the opened response, or ``_Retryable`` for failover (a
        client's own fault is raised as is)."""
        upstream_model = channel.upstream_model(model)
        call = vendor.prepare(channel, operation, model=upstream_model, stream=stream)
        body, content_type = body_for(channel)
        extra = headers_for(vendor) if headers_for is not None else {}
        headers = {**extra, **call.headers, "Content-Type": content_type}
        try:
            timeout = channel_timeout(self._session, channel)
            response = await self._session.post(
                call.url, data=body, headers=headers, timeout=timeout
            )
        except TimeoutError as exc:
            self.router.report_failure(channel, "timed out")
            raise _Retryable(UpstreamTimeout(f"the upstream for '{model}' timed out")) from exc
        except aiohttp.ClientError as exc:
            log.warning("channel %s: %s", channel.name, type(exc).__name__)
            self.router.report_failure(channel, f"unreachable: {type(exc).__name__}")
            raise _Retryable(
                UpstreamError(
                    f"the upstream for '{model}' could not be reached ({type(exc).__name__})"
                )
            ) from exc
        if response.status < 400:
            self.router.report_success(channel)
            return Opened(channel=channel, response=response, vendor=vendor, operation=operation)
        try:
            error_body = await asyncio.wait_for(response.read(), 30)
        except (TimeoutError, aiohttp.ClientError):
            error_body = b""
        finally:
            response.release()
        if may_lack_route and _route_missing(response.status, error_body):
            log.info("channel %s has no %s route; using the fallback", channel.name, operation)
            raise _MissingRoute
        error = vendor.map_error(response.status, error_body)
        if response.status not in _FAILOVER_STATUSES:
            raise error
        log.warning("channel %s answered HTTP %s", channel.name, response.status)
        self.router.report_failure(channel, f"HTTP {response.status}: {error.message}")
        raise _Retryable(error)


class _Retryable(Exception):
    """An attempt failed in a way another channel may not: try the next one."""

    def __init__(self, error: GatewayError) -> None:
        super().__init__(error.message)
        self.error = error
