"""Misbehaviour on request, for reliability tests: latency, an error status, a dropped stream.

A fault comes from the ``x-sandbox-fault`` header (JSON), from a ``sandbox_fault`` object in
the JSON body (so it can travel through the gateway, which passes unknown fields on), or from
an API key of the form ``sk-fault-<status>`` (a channel that always fails).
"""

from __future__ import annotations

import asyncio
import json
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
    token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if token.startswith("sk-fault-") and token[9:12].isdigit():
        return Fault(status=int(token[9:12]))
    return Fault()


async def apply_before(fault: Fault) -> web.Response | None:
    """Sleep the latency; return the error response if the fault asks for a status."""
    if fault.latency_ms:
        await asyncio.sleep(fault.latency_ms / 1000)
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
