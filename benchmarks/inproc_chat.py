"""CPU per chat request (``--kind sse``: streamed) of the gateway app in one process: the app
(or the bare aiohttp pass-through) on uvloop, a raw keep-alive HTTP/1.1 client at ``--conns``
connections in the same loop, the fake upstream outside it. Prints ``time.process_time`` per
request over ``--rounds`` runs of ``--requests`` (the client's own ~8 µs included), and the
wall time of a request on one connection (at ``--conns 1``, its latency). On a shared machine this
moves far less than a two-worker A/B: no scheduling between processes, no wrk.

    python3 benchmarks/fixtures.py DIR && nginx -c DIR/nginx-upstream.conf
    export OMNIRELAY_DATA_DIR=DIR/data OMNIRELAY_DATABASE_URL=sqlite+aiosqlite:///DIR/data/o.db
    .venv/bin/omnirelay keys create --config DIR/omnirelay.toml --name bench --quota 1000000000
    .venv/bin/python benchmarks/inproc_chat.py DIR --key sk-or-...   2>/tmp/access.log
    .venv/bin/python benchmarks/inproc_chat.py DIR --bare             the pass-through

For an A/B, run it twice with ``PYTHONPATH`` pointing at the other tree's ``src``,
interleaved. Under py-spy (``py-spy record --gil --format raw -- python ...``) it is the
profile of one worker without the noise of the others.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import time
from pathlib import Path

import uvloop
from aiohttp import web

MODEL_PATH = "/v1/chat/completions"


class _Client(asyncio.Protocol):
    """Sends the same request again as soon as each answer is whole (Content-Length)."""

    def __init__(self, request: bytes, counts: list[int], done: asyncio.Future[None]) -> None:
        self._request, self._counts, self._done = request, counts, done
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        self._send()

    def _send(self) -> None:
        assert self._transport is not None
        if self._counts[0] > 0:
            self._counts[0] -= 1
            self._transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\r\n\r\n")) >= 0:
            head = self._buffer[:end].lower()
            start = head.find(b"content-length:")
            if start >= 0:
                stop = head.find(b"\r\n", start)
                whole = end + 4 + int(head[start + 15 : stop if stop > 0 else None])
            else:  # chunked (an event stream): whole at the last chunk (events hold no CRLF)
                last = self._buffer.find(b"\r\n0\r\n\r\n", end + 2)
                whole = last + 7 if last >= 0 else len(self._buffer) + 1
            if len(self._buffer) < whole:
                return
            if not head.startswith(b"http/1.1 200"):
                print(f"not a 200: {self._buffer[:300]!r}", file=sys.stderr)
                os._exit(1)
            self._buffer = self._buffer[whole:]
            self._counts[1] -= 1
            if self._counts[1] == 0 and not self._done.done():
                self._done.set_result(None)
            self._send()


async def _load(port: int, request: bytes, count: int, conns: int) -> None:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    counts = [count, count]  # to send, to receive
    opened = [
        await loop.create_connection(lambda: _Client(request, counts, done), "127.0.0.1", port)
        for _ in range(conns)
    ]
    await done
    for transport, _ in opened:
        transport.close()


async def _serve(app: web.Application, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def main(args: argparse.Namespace) -> None:
    fixtures = Path(args.fixtures)
    if args.bare:
        sys.path.insert(0, str(Path(__file__).parent))
        import bare_proxy

        port = os.environ.get("BENCH_UPSTREAM_PORT", "18080")
        upstream = f"http://127.0.0.1:{port}/{args.kind}"
        runner = await _serve(bare_proxy.build(upstream), args.port)
    else:
        from omnirelay.app import build_app
        from omnirelay.config import load_settings
        from omnirelay.observability import logs

        settings = load_settings(config_file=fixtures / "omnirelay.toml")
        logs.configure(settings.log_level, settings.log_format)
        runner = await _serve(build_app(settings), args.port)
    body = (fixtures / f"body-{args.kind}.json").read_bytes()
    request = (
        f"POST {MODEL_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{args.port}\r\n"
        f"Authorization: Bearer {args.key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    gc.collect()
    gc.freeze()  # as the workers do
    gc.set_threshold(20_000, 20, 20)
    await _load(args.port, request, min(args.requests, 3000), args.conns)  # warm-up
    figures, walls = [], []
    for _ in range(args.rounds):
        started, wall = time.process_time(), time.perf_counter()
        await _load(args.port, request, args.requests, args.conns)
        figures.append((time.process_time() - started) / args.requests * 1e6)
        walls.append((time.perf_counter() - wall) / args.requests * 1e6 * args.conns)
    print(
        f"CPU/request µs: median {statistics.median(figures):.1f}, min {min(figures):.1f} "
        f"({' '.join(f'{f:.0f}' for f in figures)}); "
        f"wall µs per request a connection: median {statistics.median(walls):.1f}"
    )
    await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("fixtures", help="the directory benchmarks/fixtures.py wrote")
    parser.add_argument("--key", default="", help="an omnirelay key (not needed with --bare)")
    parser.add_argument("--bare", action="store_true", help="the bare aiohttp pass-through")
    parser.add_argument("--kind", choices=("json", "sse"), default="json", help="sse: streams")
    parser.add_argument("--conns", type=int, default=16)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--port", type=int, default=18150)
    uvloop.run(main(parser.parse_args()))
