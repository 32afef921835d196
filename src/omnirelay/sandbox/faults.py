"""Misbehaviour on request, for reliability tests: latency, an error status, a dropped stream.

A fault comes from the ``x-sandbox-fault`` header (JSON), from a ``sandbox_fault`` object in
the JSON body (so it can travel through the gateway, which passes unknown fields on), from a
``[sandbox-fault drop_after=3 status=500]`` marker in the newest turn's text (which survives
translation between wire formats, where unknown fields cannot), or from an API key of the
form ``sk-fault-<status>`` (a channel that always fails), whichever header carries the key.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass(frozen=True, slots=True)
class Fault:
    latency_ms: int = 0
    status: int = 0
    drop_after: int | None = None  # stream: cut the connection after this many chunks
    chunk_delay_ms: int = 0

    @classmethod
    def parse(cls, raw: Any) -> Fault:
        if not isinstance(raw, dict):
            return cls()
        drop = raw.get("drop_after")
        return cls(
            latency_ms=int(raw.get("latency_ms", 0)),
            status=int(raw.get("status", 0)),
            drop_after=int(drop) if drop is not None else None,
            chunk_delay_ms=int(raw.get("chunk_delay_ms", 0)),
        )


def fault_for(request: web.Request, body: dict[str, Any] | None) -> Fault:
    header = request.headers.get("x-sandbox-fault")
    if header:
        try:
            return Fault.parse(json.loads(header))
        except ValueError:
            return Fault()
    if body is not None and "sandbox_fault" in body:
        return Fault.parse(body["sandbox_fault"])
    marker = _marker(body) if body is not None else None
    if marker is not None:
        return Fault.parse(dict(_SETTING.findall(marker.group(1))))
    for token in _keys(request):
        if token.startswith("sk-fault-") and token[9:12].isdigit():
            return Fault(status=int(token[9:12]))
    return Fault()


_MARKER = re.compile(r"\[sandbox-fault([^\]]*)\]")
_SETTING = re.compile(r"(\w+)=(\d+)")


def _marker(body: dict[str, Any]) -> re.Match[str] | None:
    # Only the newest turn is searched: cheap, and it is where a test puts the marker.
    turns = body.get("messages") or body.get("contents") or body.get("input")
    if isinstance(turns, str):
        turns = [turns]
    if not isinstance(turns, list) or not turns:
        return None
    text = json.dumps(turns[-1])
    return _MARKER.search(text) if "[sandbox-fault" in text else None


def _keys(request: web.Request) -> Iterable[str]:
    yield request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    yield request.headers.get("x-api-key", "")
    yield request.headers.get("x-goog-api-key", "")
    yield request.query.get("key", "")


async def apply_before(
    fault: Fault, render: Callable[[int, str], web.Response] | None = None
) -> web.Response | None:
    """Sleep the latency; return the error response if the fault asks for a status.

    ``render`` shapes the error as the imitated vendor would (OpenAI's envelope by default).
    """
    if fault.latency_ms:
        await asyncio.sleep(fault.latency_ms / 1000)
    if fault.status >= 400 and render is not None:
        return render(fault.status, f"sandbox fault: HTTP {fault.status} as requested")
    if fault.status >= 400:
        body = {
            "error": {
                "message": f"sandbox fault: HTTP {fault.status} as requested",
                "type": "server_error" if fault.status >= 500 else "invalid_request_error",
                "param": None,
                "code": "sandbox_fault",
            }
        }
        return web.json_response(body, status=fault.status)
    return None


async def write_events(
    request: web.Request, response: web.StreamResponse, events: Iterable[bytes], fault: Fault
) -> web.StreamResponse:
    """Send prepared SSE events as a real stream arrives, dropping it if the fault says so."""
    await response.prepare(request)
    for sent, event in enumerate(events):
        if fault.drop_after is not None and sent >= fault.drop_after:
            assert request.transport is not None
            request.transport.close()  # a dropped stream: no proper end, connection gone
            return response
        await response.write(event)
        # Yield between events, so a stream reaches the client in several network chunks.
        await asyncio.sleep(fault.chunk_delay_ms / 1000)
    await response.write_eof()
    return response
