"""The sandbox's Black Forest Labs, under ``/bfl`` (a channel's base URL is ``<sandbox>/bfl``).

``POST /bfl/v1/{model}`` checks ``x-key`` (403 otherwise), validates the body as BFL does
(422 ``{"detail": [{loc, msg, type}]}``) and answers ``{id, polling_url}``;
``GET /bfl/v1/get_result?id=`` says ``Pending`` for three steps of the task clock, then
``Ready`` with ``result.sample``, a real image of the requested size and format.

Job ids carry the job's facts (base64 JSON), so any sandbox process answers for any job.
Prompt markers: ``[sandbox-banned]`` → ``Request Moderated``, ``[sandbox-fail]`` → ``Error``,
``[sandbox-slow]`` → ``Pending`` for a thousand steps.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from omnirelay.formats import flux as rules
from omnirelay.sandbox import pictures

BANNED_MARKER = "[sandbox-banned]"
FAIL_MARKER = "[sandbox-fail]"
SLOW_MARKER = "[sandbox-slow]"
PENDING_STEPS = 3
_CACHE_FILES = 64


@dataclass(slots=True)
class FluxState:
    key: str
    step: float
    files: OrderedDict[str, bytes] = field(default_factory=OrderedDict)


FLUX_STATE = web.AppKey("flux_state", FluxState)


def _pack(facts: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(facts).encode()).decode().rstrip("=")


def _unpack(token: str) -> list[Any] | None:
    try:
        facts = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, TypeError):
        return None
    return facts if isinstance(facts, list) and len(facts) == 8 else None


def _denied(request: web.Request, state: FluxState) -> web.Response | None:
    if request.headers.get("x-key") != state.key:
        return web.json_response(
            {"detail": "Not authenticated - Invalid Authentication"}, status=403
        )
    return None


def _outcome(prompt: str) -> str:
    for marker, outcome in (
        (BANNED_MARKER, "Request Moderated"),
        (FAIL_MARKER, "Error"),
        (SLOW_MARKER, "slow"),
    ):
        if marker in prompt:
            return outcome
    return "Ready"


async def submit(request: web.Request) -> web.StreamResponse:
    state = request.app[FLUX_STATE]
    denied = _denied(request, state)
    if denied is not None:
        return denied
    model = rules.MODELS.get(request.match_info["model"])
    if model is None:
        return web.json_response({"detail": "Not Found"}, status=404)
    try:
        body = json.loads(await request.read() or b"null")
    except ValueError:
        return web.json_response(
            {"detail": [{"loc": ["body"], "msg": "JSON decode error", "type": "json_invalid"}]},
            status=422,
        )
    problems = rules.validate(model, body)
    if problems:
        return web.json_response({"detail": problems}, status=422)
    width, height = rules.output_size(model, body)
    facts = [
        int(time.time() * 1000),
        model.name,
        width,
        height,
        body.get("output_format", "jpeg"),
        _outcome(body["prompt"]),
        body["prompt"][:200],
        body.get("seed", secrets.randbelow(2**31)),
    ]
    job_id = _pack(facts)
    polling_url = f"{request.scheme}://{request.host}/bfl/v1/get_result?id={job_id}"
    return web.json_response({"id": job_id, "polling_url": polling_url})


def _answer(request: web.Request, job_id: str, facts: list[Any], step: float) -> dict[str, Any]:
    created, _, _, _, fmt, outcome, prompt, seed = facts
    steps = (time.time() * 1000 - created) / (step * 1000)
    pending = PENDING_STEPS * (1000 if outcome == "slow" else 1)
    if steps < pending:
        progress = round(min(steps / pending, 0.99), 2)
        return {"id": job_id, "status": "Pending", "result": None, "progress": progress}
    if outcome not in ("Ready", "slow"):
        result = {"error": "sandbox: failure requested"} if outcome == "Error" else None
        return {"id": job_id, "status": outcome, "result": result, "progress": None}
    url = f"{request.scheme}://{request.host}/bfl/files/{job_id}.{fmt}"
    end = created / 1000 + pending * step
    result = {
        "sample": url,
        "prompt": prompt,
        "seed": seed,
        "start_time": created / 1000,
        "end_time": end,
        "duration": end - created / 1000,
    }
    return {"id": job_id, "status": "Ready", "result": result, "progress": None}


async def get_result(request: web.Request) -> web.StreamResponse:
    state = request.app[FLUX_STATE]
    denied = _denied(request, state)
    if denied is not None:
        return denied
    job_id = request.query.get("id", "")
    facts = _unpack(job_id)
    if facts is None:
        return web.json_response({"id": job_id, "status": "Task not found", "result": None})
    return web.json_response(_answer(request, job_id, facts, state.step))


async def serve_file(request: web.Request) -> web.StreamResponse:
    """Result files are public (signed URLs at BFL): no key needed, like the vendor's."""
    state = request.app[FLUX_STATE]
    job_id, _, _ = request.match_info["name"].partition(".")
    facts = _unpack(job_id)
    if facts is None or _answer(request, job_id, facts, state.step)["status"] != "Ready":
        raise web.HTTPNotFound(text="no such file")
    data = state.files.get(job_id)
    if data is None:
        _, _, width, height, fmt, _, prompt, seed = facts
        data = await asyncio.to_thread(pictures.picture, width, height, f"{prompt}#{seed}", fmt)
        state.files[job_id] = data
        while len(state.files) > _CACHE_FILES:
            state.files.popitem(last=False)
    return web.Response(body=data, content_type=pictures.content_type(facts[4]))


def add_routes(app: web.Application, key: str, step: float) -> None:
    app[FLUX_STATE] = FluxState(key=key, step=step)
    app.router.add_get("/bfl/v1/get_result", get_result)
    app.router.add_post("/bfl/v1/{model}", submit)
    app.router.add_get("/bfl/files/{name}", serve_file)
