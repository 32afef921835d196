"""What an upstream HTTP client must do for the relay, checked against a raw socket server
that sees every connection: the correctness half of moving the hot path to another client
(benchmarks/stack_choice.sh measures the speed half).

    python benchmarks/client_checks.py --json OUT.json [aiohttp pyreqwest httpx]

Each check, for each client that imports:

- ``cancel before headers``: a request whose answer has not begun is cancelled (a client that
  went away, or the relay's own first-byte timeout, which is an asyncio cancellation): the
  upstream connection must close at once, so the upstream stops generating for nobody.
- ``close mid-stream``: a stream closed after two events closes the upstream connection.
- ``headers before body``: the response is handed over when its headers arrive, not after the
  first chunk of its body (a stream's first byte is not delayed by the client).
- ``chunk as it comes``: a chunk sent 0.2 s after the headers is readable within 50 ms of it.
- ``connection reuse``: 50 requests in a row use one connection.
- ``back-pressure``: a response nobody reads stops the upstream's writes (at most 16 MB
  accepted in a second; the kernel's socket buffers alone hold a few MB).

A check passes or fails with the figure that decided it; the script never fails itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

CLOSE_WITHIN = 0.5  # seconds for a connection to close after the client gave it up
BACKPRESSURE_LIMIT = 16 * 1024 * 1024


@dataclass
class Seen:
    """What the server saw of the connections made to it."""

    connections: int = 0
    served: dict[str, set[int]] = field(default_factory=dict)  # request tag -> connections
    closed: dict[str, float] = field(default_factory=dict)  # request tag -> monotonic close
    sent: dict[str, int] = field(default_factory=dict)  # request tag -> body bytes written


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: Seen) -> None:
    seen.connections += 1
    connection = seen.connections
    tag = ""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            route, _, tag = lines[0].split(" ")[1].lstrip("/").partition("/")
            seen.served.setdefault(tag, set()).add(connection)
            if not await _answer(route, tag, reader, writer, seen):
                return
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
        pass  # (cancelled: the server is closing with a request still open)
    finally:
        seen.closed[tag] = time.monotonic()
        writer.close()


async def _answer(
    route: str, tag: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: Seen
) -> bool:
    """Answers one request; False when the connection is done with."""
    if route == "ok":
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        return True
    if route == "hang":
        await reader.read(1)  # b"" when the client closes
        return False
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n")
    writer.write(b"Transfer-Encoding: chunked\r\n\r\n")
    await writer.drain()
    if route == "late":
        await asyncio.sleep(0.2)
        writer.write(b"9\r\ndata: 1\n\n\r\n0\r\n\r\n")
        await writer.drain()
        return True
    if route == "stream":
        for i in range(40):
            event = b"data: %d\n\n" % i
            writer.write(b"%x\r\n%s\r\n" % (len(event), event))
            await writer.drain()
            await asyncio.sleep(0.05)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True
    block = b"x" * 65536  # "big": 64 MB, as fast as the client takes it
    frame = b"%x\r\n%s\r\n" % (len(block), block)
    seen.sent[tag] = 0
    for _ in range(1024):
        writer.write(frame)
        await writer.drain()
        seen.sent[tag] += len(block)
    return False


class Client:
    """One HTTP client under test: ``open`` yields a response once its headers are in."""

    name = ""

    def open(self, url: str) -> contextlib.AbstractAsyncContextManager[Any]:
        raise NotImplementedError

    async def chunk(self, response: Any) -> bytes | None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class AiohttpClient(Client):
    name = "aiohttp"

    def __init__(self) -> None:
        import aiohttp

        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    def open(self, url: str) -> contextlib.AbstractAsyncContextManager[Any]:
        return self._session.post(url, data=b"{}")

    async def chunk(self, response: Any) -> bytes | None:
        return (await response.content.readany()) or None

    async def close(self) -> None:
        await self._session.close()


class PyreqwestClient(Client):
    name = "pyreqwest"

    def __init__(self) -> None:
        from pyreqwest.client import ClientBuilder

        self._client = ClientBuilder().follow_redirects(False).build()

    def open(self, url: str) -> contextlib.AbstractAsyncContextManager[Any]:
        # A read buffer of 0: the response is handed over with its headers (the default
        # buffers the body first, up to 64 KB or its end).
        request = self._client.post(url).body_bytes(b"{}").streamed_read_buffer_limit(0)
        return request.build_streamed()  # type: ignore[no-any-return]

    async def chunk(self, response: Any) -> bytes | None:
        chunk = await response.body_reader.read_chunk()
        return bytes(chunk) if chunk is not None else None

    async def close(self) -> None:
        await self._client.close()


class HttpxClient(Client):
    name = "httpx"

    def __init__(self) -> None:
        import httpx

        self._client = httpx.AsyncClient(timeout=None)

    @contextlib.asynccontextmanager
    async def open(self, url: str) -> AsyncIterator[Any]:  # type: ignore[override]
        async with self._client.stream("POST", url, content=b"{}") as response:
            response.chunks = response.aiter_raw()
            yield response

    async def chunk(self, response: Any) -> bytes | None:
        try:
            chunk: bytes = await response.chunks.__anext__()
        except StopAsyncIteration:
            return None
        return chunk

    async def close(self) -> None:
        await self._client.aclose()


CLIENTS: dict[str, Callable[[], Client]] = {
    "aiohttp": AiohttpClient,
    "pyreqwest": PyreqwestClient,
    "httpx": HttpxClient,
}


async def _closed_after(seen: Seen, tag: str, since: float) -> float | None:
    """Seconds from ``since`` until the server saw ``tag``'s connection close (None: not
    within ``CLOSE_WITHIN``)."""
    end = since + CLOSE_WITHIN
    while time.monotonic() < end:
        if tag in seen.closed:
            return seen.closed[tag] - since
        await asyncio.sleep(0.01)
    return None


async def cancel_before_headers(client: Client, base: str, seen: Seen) -> tuple[bool, str]:
    async def wait() -> None:
        async with client.open(f"{base}/hang/{client.name}-cancel"):
            pass

    task = asyncio.ensure_future(wait())
    await asyncio.sleep(0.1)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    after = await _closed_after(seen, f"{client.name}-cancel", time.monotonic())
    if after is None:
        return False, f"the connection was still open {CLOSE_WITHIN:g} s after the cancel"
    return True, f"closed {after * 1000:.0f} ms after the cancel"


async def close_mid_stream(client: Client, base: str, seen: Seen) -> tuple[bool, str]:
    tag = f"{client.name}-close"
    async with client.open(f"{base}/stream/{tag}") as response:
        for _ in range(2):
            await client.chunk(response)
    after = await _closed_after(seen, tag, time.monotonic())
    if after is None:
        return False, f"the connection was still open {CLOSE_WITHIN:g} s after the close"
    return True, f"closed {after * 1000:.0f} ms after the close"


async def headers_before_body(client: Client, base: str, seen: Seen) -> tuple[bool, str]:
    started = time.monotonic()
    async with client.open(f"{base}/late/{client.name}-late") as response:
        headers = time.monotonic() - started
        await client.chunk(response)
        chunk = time.monotonic() - started
    ok = headers < 0.1
    return ok, f"headers after {headers * 1000:.1f} ms, first chunk after {chunk * 1000:.0f} ms"


async def chunk_as_it_comes(client: Client, base: str, seen: Seen) -> tuple[bool, str]:
    async with client.open(f"{base}/late/{client.name}-chunk") as response:
        opened = time.monotonic()
        await client.chunk(response)
        waited = time.monotonic() - opened
    # The server sends the chunk 0.2 s after the headers.
    late = max(0.0, waited - 0.2)
    return late < 0.05, f"the chunk arrived {waited * 1000:.0f} ms after the headers"


async def connection_reuse(client: Client, base: str, seen: Seen) -> tuple[bool, str]:
    tag = f"{client.name}-reuse"
    for _ in range(50):
        async with client.open(f"{base}/ok/{tag}") as response:
            while await client.chunk(response) is not None:
                pass
    used = len(seen.served.get(tag, ()))
    return used == 1, f"{used} connection(s) for 50 requests in a row"


async def back_pressure(client: Client, base: str, seen: Seen) -> tuple[bool, str]:
    tag = f"{client.name}-big"
    async with client.open(f"{base}/big/{tag}") as response:
        await client.chunk(response)
        await asyncio.sleep(1.0)  # nobody reads
        sent = seen.sent.get(tag, 0)
    detail = f"the server wrote {sent / 1e6:.1f} MB into an unread response"
    return sent <= BACKPRESSURE_LIMIT, detail


CHECKS: dict[str, Callable[[Client, str, Seen], Awaitable[tuple[bool, str]]]] = {
    "cancel before headers": cancel_before_headers,
    "close mid-stream": close_mid_stream,
    "headers before body": headers_before_body,
    "chunk as it comes": chunk_as_it_comes,
    "connection reuse": connection_reuse,
    "back-pressure": back_pressure,
}


async def run(names: list[str]) -> dict[str, Any]:
    seen = Seen()
    server = await asyncio.start_server(lambda r, w: _serve(r, w, seen), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    results: dict[str, Any] = {}
    for name in names:
        try:
            client = CLIENTS[name]()
        except ImportError as exc:
            results[name] = {"skipped": f"not installed ({exc.name})"}
            continue
        rows: dict[str, Any] = {}
        for check, probe in CHECKS.items():
            try:
                ok, detail = await asyncio.wait_for(probe(client, base, seen), 10)
            except Exception as exc:  # noqa: BLE001 - a client's failure is a result here
                ok, detail = False, f"raised {type(exc).__name__}: {str(exc)[:120]}"
            rows[check] = {"ok": ok, "detail": detail}
        await client.close()
        results[name] = rows
    server.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("clients", nargs="*", default=list(CLIENTS))
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args()
    try:
        import uvloop

        results = uvloop.run(run(args.clients))
    except ImportError:
        results = asyncio.run(run(args.clients))
    for name, rows in results.items():
        if "skipped" in rows:
            print(f"{name}: skipped, {rows['skipped']}")
            continue
        for check, row in rows.items():
            print(f"{name:10} {check:22} {'pass' if row['ok'] else 'FAIL'}  {row['detail']}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=1)
    sys.exit(0)


if __name__ == "__main__":
    main()
