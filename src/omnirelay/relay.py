"""Sends a request to the channels serving a model, failing over until one answers.

Failover happens only before anything has reached the client: on a connection error, a
timeout, an upstream 5xx or 429, or an answer that says the channel itself is broken (its
credential rejected, its account out of balance, the model unknown upstream: that channel, or
that model on it, is disabled at once, see ``health.broken_reason``). A 4xx that is the
client's own fault is returned at once (another channel would say the same).

A request has a retry budget (``RetryPolicy.attempts``): a channel not tried yet is tried at
once; trying one again (after a connection error, a 5xx or a 429 without ``Retry-After``)
waits a jittered, growing backoff first. A 429 with ``Retry-After`` cools that channel for
that long. Before every attempt the router is asked again whether the channel may be used, so
a channel disabled or opened meanwhile (by this request or another) is never sent to.

Each channel has four timeouts (``Timeouts``): connecting, the first byte (the response
headers; for a stream, its first chunk too), the idle time between two reads, and the whole
request.

An operation may have a fallback (a Responses API request sent as a chat completion): it
serves the channels whose vendor lacks the operation, and a channel whose upstream answered the
operation's URL with 404/405 (no such route) is tried again at once with the fallback, and sent
the fallback for a while without asking again.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import cast

import aiohttp

from omnirelay.channels import Channel
from omnirelay.deadlines import Deadlines
from omnirelay.errors import (
    GatewayError,
    NoChannelAvailable,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from omnirelay.formats.upstream_errors import retry_after
from omnirelay.health import broken_reason
from omnirelay.platform.context import current_group
from omnirelay.routing import Router
from omnirelay.vendors import Operation, RelayVendor, Vendor

log = logging.getLogger(__name__)

_FAILOVER_STATUSES = frozenset({401, 403, 408, 429, 500, 502, 503, 504, 520, 522, 524, 529})
# Failures worth sending the same channel again (after a backoff): the next try may succeed.
_TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 520, 522, 529})
# How long a channel that lacks an operation's route is sent the fallback before asking again.
_MISSING_ROUTE_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds (None: no limit): connecting, the first byte, idle between reads, in all."""

    connect: float | None = 10.0
    first_byte: float | None = 300.0
    idle: float | None = 300.0
    total: float | None = None

    def of(self, channel: Channel) -> Timeouts:
        """The channel's own timeouts where it has them, else these."""
        if (
            channel.connect_timeout is None
            and channel.read_timeout is None
            and channel.first_byte_timeout is None
            and channel.total_timeout is None
        ):
            return self
        return Timeouts(
            connect=_either(channel.connect_timeout, self.connect),
            first_byte=_either(channel.first_byte_timeout, self.first_byte),
            idle=_either(channel.read_timeout, self.idle),
            total=_either(channel.total_timeout, self.total),
        )

    # aiohttp's part, made once: connect and total. The first byte and idle limits are ours
    # (asyncio timers): aiohttp's sock_read would also bound the wait for the headers, which
    # is the first byte's to bound.
    client: aiohttp.ClientTimeout = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        client = aiohttp.ClientTimeout(total=self.total, connect=self.connect, sock_read=None)
        object.__setattr__(self, "client", client)


def _either(own: float | None, default: float | None) -> float | None:
    return own if own is not None else default


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Attempts per request (over all channels) and the backoff before trying one again."""

    attempts: int = 3
    backoff: float = 0.2
    backoff_max: float = 2.0

    def delay(self, retry: int, rng: random.Random) -> float:
        """The jittered wait before the ``retry``-th attempt on a channel already tried."""
        base: float = min(self.backoff_max, self.backoff * 2.0 ** max(retry - 1, 0))
        return base * (0.5 + rng.random())


@dataclass(slots=True)
class Opened:
    """An upstream response whose status is a success; the caller reads and closes it."""

    channel: Channel
    response: aiohttp.ClientResponse
    # The adapter that answered: its wire format decides whether the answer is translated.
    vendor: RelayVendor
    # The operation it served: the one asked for, or its fallback.
    operation: Operation
    timeouts: Timeouts = field(default_factory=Timeouts)
    # The event loop's clock when the request was sent (the first byte is due from then).
    started: float = 0.0
    # The relay's shared timer for the idle timeout (None: one of asyncio's own).
    deadlines: Deadlines | None = None

    async def read(self) -> bytes:
        """The whole body, within the idle timeout."""
        if self.deadlines is None:
            async with asyncio.timeout(self.timeouts.idle):
                return await self.response.read()
        async with self.deadlines.within(self.timeouts.idle):
            return await self.response.read()

    def first_byte_deadline(self) -> float | None:
        first = self.timeouts.first_byte
        return self.started + first if first is not None else None


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


class _Retryable(Exception):
    """An attempt failed in a way another channel may not: try the next one (and this one
    again, after a backoff, if ``again``)."""

    def __init__(self, error: GatewayError, *, again: bool = False) -> None:
        super().__init__(error.message)
        self.error = error
        self.again = again


def _route_missing(status: int, body: bytes) -> bool:
    # A 404 that names the model is the model's absence, not the route's.
    return status in (404, 405) and b"model_not_found" not in body


def channel_timeout(session: aiohttp.ClientSession, channel: Channel) -> aiohttp.ClientTimeout:
    """The channel's own connect and read timeouts where it has them, else the session's (for
    one-off calls such as an operator's channel test)."""
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
        *,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._session = session
        self.router = router
        self._vendors = vendors
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self._rng = rng or random.Random()  # noqa: S311 - backoff jitter, not security
        # (channel id, operation) → until when that channel is known to lack the route.
        self._missing: dict[tuple[int, Operation], float] = {}
        # One timer for every request's first-byte and body timeouts (asyncio.timeout arms
        # one each time, ~4 µs a use on uvloop).
        self._deadlines = Deadlines()

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
        group = current_group()
        queue = self.router.candidates(model, group)
        failure: GatewayError | None = None
        tries: dict[int, int] = {}
        attempts = 0
        while queue and attempts < self.retry.attempts:
            channel = queue.pop(0)
            vendor = self._vendors.get(channel.vendor)
            if vendor is None:
                continue
            # Declaring a synchronous operation is what makes an adapter a RelayVendor.
            relay_vendor = cast(RelayVendor, vendor)
            plans = list(self._plans(channel, relay_vendor, operation, body_for, fallback))
            if not plans:
                continue
            tried = tries.get(channel.id, 0)
            if tried:
                await asyncio.sleep(self.retry.delay(tried, self._rng))
            if not self.router.acquire(channel, model):
                continue
            tries[channel.id] = tried + 1
            attempts += 1
            try:
                return await self._attempt(
                    channel, relay_vendor, plans, operation, model, stream, headers_for, fallback
                )
            except _Retryable as retry:
                failure = retry.error
                if retry.again:
                    queue.append(channel)
        if failure is None:
            wait = self.router.wait_for(model, group)
            error = NoChannelAvailable(
                f"no channel is available for the model '{model}'"
                + (f"; retry in {math.ceil(wait)} s" if wait else "")
            )
            error.retry_after = max(wait, 1.0) if wait is not None else None
            raise error
        raise failure

    async def _attempt(
        self,
        channel: Channel,
        vendor: RelayVendor,
        plans: list[tuple[Operation, BodyBuilder]],
        operation: Operation,
        model: str,
        stream: bool,
        headers_for: HeaderBuilder | None,
        fallback: Fallback | None,
    ) -> Opened:
        """The channel's plans in order: the operation, then its fallback if it lacks a route."""
        for op, build in plans:
            try:
                return await self._send(
                    channel,
                    vendor,
                    op,
                    build,
                    model,
                    stream,
                    headers_for,
                    may_lack_route=op is operation and fallback is not None,
                )
            except _MissingRoute:
                self._missing[(channel.id, op)] = time.monotonic() + _MISSING_ROUTE_SECONDS
        raise _Retryable(NoChannelAvailable(f"the channel for '{model}' has no route for it"))

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
        timeouts = self.timeouts.of(channel)
        started = asyncio.get_running_loop().time()
        try:
            async with self._deadlines.within(timeouts.first_byte):
                response = await self._session.post(
                    call.url, data=body, headers=headers, timeout=timeouts.client
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
                ),
                again=True,
            ) from exc
        if response.status < 400:
            self.router.report_success(channel)
            return Opened(channel, response, vendor, operation, timeouts, started, self._deadlines)
        try:
            error_body = await asyncio.wait_for(response.read(), 30)
        except (TimeoutError, aiohttp.ClientError):
            error_body = b""
        finally:
            response.release()
        if may_lack_route and _route_missing(response.status, error_body):
            log.info("channel %s has no %s route; using the fallback", channel.name, operation)
            raise _MissingRoute
        raise self._refused(channel, vendor, model, response, error_body)

    def _refused(
        self,
        channel: Channel,
        vendor: RelayVendor,
        model: str,
        response: aiohttp.ClientResponse,
        body: bytes,
    ) -> Exception:
        """What an error answer means: the client's fault (raised as is), a broken channel
        (disabled, then failover), or a failure worth another channel or another try."""
        status = response.status
        error = vendor.map_error(status, body)
        broken = broken_reason(error, model)
        if broken is not None:
            log.error("channel %s disabled: %s", channel.name, broken.reason)
            self.router.disable(channel, broken.reason, broken.model)
            return _Retryable(error)
        if status not in _FAILOVER_STATUSES:
            return error
        log.warning("channel %s answered HTTP %s", channel.name, status)
        wait = retry_after(response.headers) if status in (429, 503) else None
        if wait:
            self.router.cool(channel, wait, f"HTTP {status}: retry after {wait:g} s")
            error = _rate_limited(error, status)
            error.retry_after = wait
            return _Retryable(error)
        self.router.report_failure(channel, f"HTTP {status}: {error.message}")
        if status == 429:
            error = _rate_limited(error, status)
        return _Retryable(error, again=status in _TRANSIENT_STATUSES)


def _rate_limited(error: GatewayError, status: int) -> GatewayError:
    """An upstream's 429 reaches the client as a 429 (an SDK then waits and retries)."""
    if status != 429 or isinstance(error, RateLimited):
        return error
    return RateLimited(error.message, code="upstream_rate_limited")
