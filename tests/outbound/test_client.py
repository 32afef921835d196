"""The guarded client against real servers on loopback: redirects, rebinding, bounds.

Every destination here is loopback; the refused ones (10.x, 169.254.x) must be stopped by the
guard itself (``UnsafeUrl``), before a connection: the network fence would turn a connection
into a ``ConnectionRefusedError`` instead, so a guard that let one through fails these tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from omnirelay.outbound import GuardedClient, OutboundPolicy, TooLarge, UnsafeUrl

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def serve(routes: dict[str, Handler]) -> AsyncIterator[tuple[str, list[str]]]:
    """A loopback server; yields its base URL and the paths it was asked for."""
    seen: list[str] = []

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        seen.append(request.path)
        return await handler(request)

    app = web.Application(middlewares=[record])
    for path, handler in routes.items():
        app.router.add_route("*", path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


def port_of(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def redirect_to(location: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(location)

    return handler


async def ok(request: web.Request) -> web.StreamResponse:
    return web.Response(text="fine")


def run(body: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(body())


def test_an_allowed_loopback_server_is_fetched_and_others_are_not() -> None:
    async def body() -> None:
        async with serve({"/f": ok}) as (base, seen):
            client = GuardedClient(OutboundPolicy([f"127.0.0.1:{port_of(base)}"]))
            try:
                assert await client.fetch(base + "/f", max_bytes=100, seconds=5) == (200, b"fine")
                strict = GuardedClient(OutboundPolicy())
                with pytest.raises(UnsafeUrl, match="loopback"):
                    await strict.fetch(base + "/f", max_bytes=100, seconds=5)
                await strict.close()
            finally:
                await client.close()
            assert seen == ["/f"]

    run(body)


@pytest.mark.parametrize(
    "location",
    [
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:169.254.169.254]/",
        "http://2130706433/",
        "http://localhost/",
        "file:///etc/passwd",
    ],
)
def test_redirects_to_refused_places_are_not_followed(location: str) -> None:
    async def body() -> None:
        async with serve({"/r": redirect_to(location)}) as (base, seen):
            client = GuardedClient(OutboundPolicy([f"127.0.0.1:{port_of(base)}"]))
            try:
                with pytest.raises(UnsafeUrl):
                    await client.fetch(base + "/r", max_bytes=100, seconds=5)
            finally:
                await client.close()
            assert seen == ["/r"]

    run(body)


def test_a_redirect_to_another_loopback_port_is_refused_unless_allowed() -> None:
    async def body() -> None:
        async with serve({"/x": ok}) as (other, other_seen):
            async with serve({"/r": redirect_to(other + "/x"), "/ok": ok}) as (base, _):
                only_first = GuardedClient(OutboundPolicy([f"127.0.0.1:{port_of(base)}"]))
                both = GuardedClient(OutboundPolicy(["127.0.0.1"]))
                try:
                    with pytest.raises(UnsafeUrl):
                        await only_first.fetch(base + "/r", max_bytes=100, seconds=5)
                    assert other_seen == []
                    assert await both.fetch(base + "/r", max_bytes=100, seconds=5) == (
                        200,
                        b"fine",
                    )
                    assert other_seen == ["/x"]
                finally:
                    await only_first.close()
                    await both.close()

    run(body)


def test_redirect_chains_are_bounded() -> None:
    async def loop(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/loop")

    async def body() -> None:
        async with serve({"/loop": loop}) as (base, seen):
            client = GuardedClient(OutboundPolicy(["127.0.0.1"]))
            try:
                with pytest.raises(UnsafeUrl, match="redirects"):
                    await client.fetch(base + "/loop", max_bytes=100, seconds=5, max_redirects=3)
            finally:
                await client.close()
            assert len(seen) == 4

    run(body)


def test_a_name_is_resolved_once_per_connection_and_that_answer_is_checked() -> None:
    """DNS rebinding: the name passes the submission check, then answers a refused address
    when the delivery connects. The connection is refused, not made."""
    answers: list[list[str]] = [["127.0.0.1"]]

    async def rebinding(host: str, port: int) -> list[str]:
        assert host == "hooks.example.test"
        return answers.pop(0) if answers else ["10.0.0.7"]

    async def body() -> None:
        async with serve({"/h": ok}) as (base, seen):
            port = port_of(base)
            policy = OutboundPolicy([f"127.0.0.1:{port}"], lookup=rebinding)
            url = f"http://hooks.example.test:{port}/h"
            await policy.admit(url)  # the check at submission: loopback, allowed
            client = GuardedClient(policy)
            try:
                with pytest.raises(UnsafeUrl, match=r"10\.0\.0\.7"):
                    await client.post(url, b"{}", {}, seconds=5)
            finally:
                await client.close()
            assert seen == []

    run(body)


def test_a_name_resolving_to_an_allowed_address_is_reached_at_that_address() -> None:
    async def table(host: str, port: int) -> list[str]:
        return {"sandbox.example.test": ["127.0.0.1"]}[host]

    async def body() -> None:
        async with serve({"/f": ok}) as (base, seen):
            port = port_of(base)
            client = GuardedClient(OutboundPolicy([f"127.0.0.1:{port}"], lookup=table))
            try:
                url = f"http://sandbox.example.test:{port}/f"
                assert await client.fetch(url, max_bytes=10, seconds=5) == (200, b"fine")
            finally:
                await client.close()
            assert seen == ["/f"]

    run(body)


def test_sizes_are_bounded_declared_or_not() -> None:
    async def declared(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"x" * 300_000)

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(30):
            await response.write(b"y" * 10_000)
        await response.write_eof()
        return response

    async def body() -> None:
        async with serve({"/d": declared, "/c": chunked}) as (base, _):
            client = GuardedClient(OutboundPolicy(["127.0.0.1"]))
            try:
                for path in ("/d", "/c"):
                    with pytest.raises(TooLarge):
                        await client.fetch(base + path, max_bytes=100_000, seconds=5)
                status, data = await client.fetch(base + "/c", max_bytes=300_000, seconds=5)
                assert status == 200 and len(data) == 300_000
            finally:
                await client.close()

    run(body)


def test_time_is_bounded() -> None:
    async def stall(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(2)
        return web.Response(text="late")

    async def body() -> None:
        async with serve({"/s": stall}) as (base, _):
            client = GuardedClient(OutboundPolicy(["127.0.0.1"]))
            try:
                with pytest.raises(TimeoutError):
                    await client.fetch(base + "/s", max_bytes=100, seconds=0.3)
            finally:
                await client.close()

    run(body)


def test_webhook_posts_never_follow_redirects() -> None:
    async def body() -> None:
        async with serve({"/h": redirect_to("http://169.254.169.254/")}) as (base, seen):
            client = GuardedClient(OutboundPolicy(["127.0.0.1"]))
            try:
                assert await client.post(base + "/h", b"{}", {}, seconds=5) == 302
            finally:
                await client.close()
            assert seen == ["/h"]

    run(body)


def test_the_fence_stops_what_the_guard_would_not() -> None:
    """The second line itself: a plain connection to a non-loopback address never leaves."""
    import socket

    with socket.socket() as sock, pytest.raises(ConnectionRefusedError, match="netfence"):
        sock.connect(("10.255.255.1", 9))
