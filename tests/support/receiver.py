"""A small aiohttp server in a thread that records the webhooks it receives."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiohttp import web

from tests.support.postgres import free_port
from tests.support.threaded import serve_in_thread


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]


def signed_with(secret: str, call: Received, tolerance: float = 300) -> bool:
    """What a receiver does: ``X-Omnirelay-Signature: t=<unix>,v1=<hex>``, the hex being
    HMAC-SHA256 keyed with the key's webhook secret over ``"<t>." + body``, and recent."""
    header = call.headers.get("X-Omnirelay-Signature")
    if header is None:
        return False
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    expected = hmac.new(secret.encode(), f"{fields['t']}.".encode() + call.body, hashlib.sha256)
    recent = abs(time.time() - int(fields["t"])) < tolerance
    return recent and hmac.compare_digest(expected.hexdigest(), fields.get("v1", ""))


@dataclass
class Receiver:
    url: str
    calls: list[Received] = field(default_factory=list)
    # Answer this many first deliveries with HTTP 500 (to exercise retries).
    fail_first: int = 0
    # Every request, refused ones too (retries carry the same delivery id).
    attempts: list[Received] = field(default_factory=list)

    def wait_for(self, predicate: object, seconds: float = 20) -> list[Received]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if predicate(list(self.calls)):  # type: ignore[operator]
                return list(self.calls)
            time.sleep(0.05)
        raise AssertionError(f"webhooks never matched; got {len(self.calls)}")


@contextmanager
def webhook_receiver(fail_first: int = 0, port: int | None = None) -> Iterator[Receiver]:
    port = port or free_port()
    receiver = Receiver(url=f"http://127.0.0.1:{port}/hook", fail_first=fail_first)

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        receiver.attempts.append(Received(body, dict(request.headers)))
        if receiver.fail_first > 0:
            receiver.fail_first -= 1
            return web.Response(status=500)
        receiver.calls.append(Received(body, dict(request.headers)))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    with serve_in_thread(app, port):
        yield receiver
