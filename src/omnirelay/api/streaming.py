"""The one event-stream relay of every surface: upstream events go through a transform
(a translation, a pass-through that reads the usage, or the OpenAI usage-chunk filter) to the
client, and what was really used is billed.

If the client goes away (or the gateway, shutting down, cancels the stream), the upstream
request is closed at once and what was streamed so far is still billed. If the upstream breaks,
stops early or goes idle past the channel's idle timeout, the client gets an error event in its
own format, the stream is billed for what was delivered, and the channel's health counts it.

Each write to the client's socket is a system call that also runs loopback TCP's receive side:
at ~50 events a stream it costs more than the relay's own work. So what the upstream has
already sent goes out with the response's headers in one write, and the output of the chunk
that ended the upstream goes out with the stream's close; nothing waits for that.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

import aiohttp
from aiohttp import web

from omnirelay.api.common import billed_tokens, gateway_of
from omnirelay.billing import Usage
from omnirelay.errors import GatewayError, UpstreamError
from omnirelay.formats import neutral
from omnirelay.formats.sse import EventSplitter
from omnirelay.metering import Meter
from omnirelay.relay import Opened

# Below this a chunk is split into events: its byte searches would cost more than the split.
PASS_MIN = 2048


class StreamTransform(Protocol):
    """Upstream events in, the client's events out; ``usage`` and ``failure`` as seen so far."""

    usage: neutral.Usage | None
    failure: GatewayError | None

    @property
    def complete(self) -> bool: ...

    def feed(self, event: bytes) -> list[bytes]: ...

    def finish(self) -> list[bytes]: ...


class _ClientGone(Exception):
    pass


async def relay_stream(
    request: web.Request,
    opened: Opened,
    meter: Meter,
    transform: StreamTransform,
    *,
    error_event: Callable[[GatewayError], bytes],
    headers: Mapping[str, str],
    prompt_estimate: int,
    on_complete: Callable[[], Awaitable[None]] | None = None,
) -> web.StreamResponse:
    """``on_complete`` runs once a stream ended complete, before the transform's closing events
    reach the client (the Responses surface stores the answer then, so it can be fetched as
    soon as the client has seen it end)."""
    upstream = opened.response
    response = _EventStream(
        status=200,
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
            **headers,
        },
    )
    status, error = 200, None
    pump = _Pump(opened, meter, transform, response)
    try:
        await _write(response.prepare(request))  # the headers wait for the first write
        error = await pump.run()
        closing = b""
        if transform.failure is not None:
            status, error = 502, f"upstream error event: {transform.failure.message}"
        elif error is None and not transform.complete:
            error = "upstream stream ended before it was complete"
        if transform.failure is None and error is not None:
            status = 502
            gateway_of(request).router.report_failure(opened.channel, error)
            failure = UpstreamError(f"the upstream stream was interrupted ({error})")
            closing = error_event(failure)
        elif transform.failure is None:
            if on_complete is not None:
                await on_complete()
            closing = b"".join(transform.finish())
        # The last chunk's events, the closing events and the end: one write.
        await _write(response.write_eof(pump.tail + closing if pump.tail else closing))
    except _ClientGone:
        status, error = 499, "client disconnected"
    except asyncio.CancelledError:
        status, error = 499, "cancelled: the client left or the gateway stopped"
        raise
    finally:
        upstream.close()
        seen = transform.usage
        usage = (
            billed_tokens(seen)
            if seen is not None
            else Usage(prompt_tokens=prompt_estimate, completion_tokens=pump.events)
        )
        meter.finish(status, usage, channel_id=opened.channel.id, error=error)
    return response


class _EventStream(web.StreamResponse):
    # Headers are buffered at ``prepare`` and sent with the first write (as ``web.Response``
    # does): the pump makes that write at once when the upstream has sent nothing yet.
    _send_headers_immediately = False


class _Pump:
    """Moves upstream events through the transform to the client. The first chunk is due by
    the first-byte deadline, each next one within the idle timeout of the previous one's
    delivery (one timer, moved forward: no timer per chunk).

    What the upstream sent with its headers goes out with the client's headers; if it sent
    nothing yet, the headers go at once. The output of the chunk that ended the upstream is
    kept in ``tail`` for the stream's closing write."""

    __slots__ = ("events", "meter", "opened", "response", "tail", "transform", "written")

    def __init__(
        self, opened: Opened, meter: Meter, transform: StreamTransform, response: web.StreamResponse
    ) -> None:
        self.opened = opened
        self.meter = meter
        self.transform = transform
        self.response = response
        self.events = 0  # upstream events fed: the bill of a stream that reports no usage
        self.tail = b""
        self.written = False  # anything (the headers first) sent to the client

    async def run(self) -> str | None:
        """Until the upstream ends; the reason if it broke or stalled."""
        loop = asyncio.get_running_loop()
        idle = self.opened.timeouts.idle
        splitter = EventSplitter()
        transform, response, meter = self.transform, self.response, self.meter
        # A transform that passes most events untouched (OpenAI to OpenAI) says how much of a
        # chunk it would: those bytes are relayed as they are, never split into events.
        passing: Callable[[bytes], tuple[int, int]] | None = getattr(transform, "passing", None)
        content = self.opened.response.content
        seen = False
        try:
            raw = content.read_nowait()  # what came with the upstream's headers
            # All of it came (the bench's streams, short answers): nothing to time.
            deadline = None if content.at_eof() else self.opened.first_byte_deadline()
            async with asyncio.timeout_at(deadline) as timer:
                while raw or (raw := await self._next(content)):
                    out, events = through(raw, splitter, transform, passing)
                    raw = b""
                    self.events += events
                    if out:
                        meter.mark_first_byte()
                        if content.at_eof() or transform.failure is not None:
                            self.tail = b"".join(out)  # written with the stream's close
                        else:
                            await _write(response.write(b"".join(out)))
                            self.written = True
                    if transform.failure is not None:
                        break  # the client gets the error event; nothing more is read
                    seen = True
                    if not content.at_eof():  # (at the end nothing more is waited for)
                        timer.reschedule(loop.time() + idle if idle is not None else None)
        except TimeoutError:
            if seen:
                return f"upstream stream went idle for {idle:g} s"
            return "upstream sent no first byte in time"
        except aiohttp.ClientError as exc:
            return f"upstream stream broke: {type(exc).__name__}"
        return None

    async def _next(self, content: aiohttp.StreamReader) -> bytes:
        """The upstream's next chunk (empty at its end); before waiting for it, the client gets
        its headers if nothing has been sent yet."""
        if content.at_eof():
            return b""
        if not self.written:
            await _write(self.response.write(b""))
            self.written = True
        return await content.readany()


def through(
    raw: bytes,
    splitter: EventSplitter,
    transform: StreamTransform,
    passing: Callable[[bytes], tuple[int, int]] | None,
) -> tuple[list[bytes], int]:
    """One upstream chunk through the transform: what goes to the client, and how many
    events it held (it stops at a failure)."""
    out: list[bytes] = []
    events = 0
    if passing is not None and len(raw) >= PASS_MIN:
        head = splitter.completes(raw)
        if head > 0:  # the rest of an event cut by the upstream: through the splitter first
            for event in splitter.feed(raw[:head]):
                events += 1
                out += transform.feed(event)
            raw = raw[head:]
            if transform.failure is not None:
                return out, events
        if head >= 0 and raw:
            end, count = passing(raw)
            if end:
                events += count
                out.append(raw[:end] if end < len(raw) else raw)
                raw = raw[end:]
    for event in splitter.feed(raw) if raw else ():
        events += 1
        out += transform.feed(event)
        if transform.failure is not None:
            break
    return out, events


async def _write(operation: Awaitable[object]) -> None:
    try:
        await operation
    except (ConnectionError, aiohttp.ClientConnectionResetError) as exc:
        raise _ClientGone from exc
