"""Misbehaviour on request, for reliability tests.

A fault comes from the ``x-sandbox-fault`` header (JSON), from a ``sandbox_fault`` object in
the JSON body (so it can travel through the gateway, which passes unknown fields on), from a
``[sandbox-fault drop_after=3 status=500]`` marker in the newest turn's text or in the
``prompt`` (which survives translation between wire formats, where unknown fields cannot, and
reaches the task vendors), or from an API key of the form ``sk-fault-<status>`` (a channel
that always fails), whichever header carries the key.

What a fault may ask (all optional):

- ``latency_ms``: wait before answering (an upstream timeout, with a short gateway timeout);
- ``status``: answer this HTTP error in the vendor's shape, with ``retry_after`` seconds in a
  ``Retry-After`` header if given;
- ``malformed=1``: answer 200 with a body that is not JSON;
- streams: ``drop_after=k`` cuts the connection after k events; ``idle_after=k`` goes silent
  after k events (for ``idle_ms``, a minute by default); ``malformed_after=k`` sends a broken
  event after k events; ``chunk_delay_ms`` paces the events;
- ``times=n``: misbehave only for the first n requests carrying this very fault (put a nonce
  in it, ``id=123``), so a retry or a failover succeeds.

Outages of whole vendors (a vendor down while its tasks are polled) are ``outages.py``'s.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

# How often each ``times``-limited fault fired, per sandbox app (bounded).
FAULT_COUNTS = web.AppKey("fault_counts", OrderedDict)
_COUNTS_KEPT = 10_000
IDLE_MS = 60_000


def _optional(raw: dict[str, Any], name: str) -> int | None:
    value = raw.get(name)
    return int(value) if value is not None else None


@dataclass(frozen=True, slots=True)
class Fault:
    latency_ms: int = 0
    status: int = 0
    drop_after: int | None = None  # stream: cut the connection after this many chunks
    chunk_delay_ms: int = 0
    retry_after: int | None = None  # seconds, sent with an error status
    idle_after: int | None = None  # stream: go silent after this many chunks
    idle_ms: int = IDLE_MS
    malformed: bool = False  # answer 200 with a body that is not JSON
    malformed_after: int | None = None  # stream: a broken event after this many chunks
    times: int | None = None  # only the first n requests carrying this fault

    @classmethod
    def parse(cls, raw: Any) -> Fault:
        if not isinstance(raw, dict):
            return cls()
        return cls(
            latency_ms=int(raw.get("latency_ms", 0)),
            status=int(raw.get("status", 0)),
            drop_after=_optional(raw, "drop_after"),
            chunk_delay_ms=int(raw.get("chunk_delay_ms", 0)),
            retry_after=_optional(raw, "retry_after"),
            idle_after=_optional(raw, "idle_after"),
            idle_ms=int(raw.get("idle_ms", IDLE_MS)),
            malformed=bool(int(raw.get("malformed", 0))),
            malformed_after=_optional(raw, "malformed_after"),
            times=_optional(raw, "times"),
        )


def fault_for(request: web.Request, body: dict[str, Any] | None) -> Fault:
    header = request.headers.get("x-sandbox-fault")
    if header:
        try:
            return _counted(request, header, Fault.parse(json.loads(header)))
        except ValueError:
            return Fault()
    if body is not None and "sandbox_fault" in body:
        raw = body["sandbox_fault"]
        return _counted(request, json.dumps(raw, sort_keys=True), Fault.parse(raw))
    marker = _marker(body) if body is not None else None
    if marker is not None:
        return _counted(
            request, marker.group(0), Fault.parse(dict(_SETTING.findall(marker.group(1))))
        )
    for token in _keys(request):
        if token.startswith("sk-fault-") and token[9:12].isdigit():
            return Fault(status=int(token[9:12]))
    return Fault()


def _counted(request: web.Request, key: str, fault: Fault) -> Fault:
    """``fault``, unless it is limited to ``times`` requests and those have had it."""
    if fault.times is None:
        return fault
    counts = request.app.get(FAULT_COUNTS)
    if counts is None:
        return fault
    seen = counts.get(key, 0)
    if seen >= fault.times:
        return Fault()
    counts[key] = seen + 1
    counts.move_to_end(key)
    while len(counts) > _COUNTS_KEPT:
        counts.popitem(last=False)
    return fault


_MARKER = re.compile(r"\[sandbox-fault([^\]]*)\]")
_SETTING = re.compile(r"(\w+)=(\d+)")


def _marker(body: dict[str, Any]) -> re.Match[str] | None:
    # Only the newest turn (or the prompt) is searched: cheap, and it is where a test puts it.
    prompt = body.get("prompt") or body.get("gpt_description_prompt")
    if isinstance(prompt, str) and "[sandbox-fault" in prompt:
        return _MARKER.search(prompt)
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
    if fault.malformed:
        return web.Response(body=MALFORMED_BODY, content_type="application/json")
    if fault.status < 400:
        return None
    if render is not None:
        response = render(fault.status, f"sandbox fault: HTTP {fault.status} as requested")
    else:
        body = {
            "error": {
                "message": f"sandbox fault: HTTP {fault.status} as requested",
                "type": "server_error" if fault.status >= 500 else "invalid_request_error",
                "param": None,
                "code": "sandbox_fault",
            }
        }
        response = web.json_response(body, status=fault.status)
    if fault.retry_after is not None:
        response.headers["Retry-After"] = str(fault.retry_after)
    return response


# What a broken upstream sends: JSON cut short.
MALFORMED_BODY = b'{"id": "sandbox-malformed", "object": "chat.comp'
MALFORMED_EVENT = b'data: {"id": "sandbox-malformed", "choices": [{"delta": \n\n'


async def before_event(
    request: web.Request, response: web.StreamResponse, fault: Fault, sent: int
) -> bool:
    """What a stream fault does before event number ``sent``: False once the stream is cut."""
    if fault.drop_after is not None and sent >= fault.drop_after:
        assert request.transport is not None
        request.transport.close()  # a dropped stream: no proper end, connection gone
        return False
    if fault.idle_after is not None and sent == fault.idle_after:
        await asyncio.sleep(fault.idle_ms / 1000)  # silent, the connection open
    if fault.malformed_after is not None and sent == fault.malformed_after:
        await response.write(MALFORMED_EVENT)
    return True


async def write_events(
    request: web.Request, response: web.StreamResponse, events: Iterable[bytes], fault: Fault
) -> web.StreamResponse:
    """Send prepared SSE events as a real stream arrives, dropping it if the fault says so."""
    await response.prepare(request)
    for sent, event in enumerate(events):
        if not await before_event(request, response, fault, sent):
            return response
        await response.write(event)
        # Yield between events, so a stream reaches the client in several network chunks.
        await asyncio.sleep(fault.chunk_delay_ms / 1000)
    await response.write_eof()
    return response
