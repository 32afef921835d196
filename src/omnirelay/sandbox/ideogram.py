"""The sandbox's Ideogram, under ``/ideogram`` (a channel's base URL is ``<sandbox>/ideogram``).

``POST /ideogram/generate`` and ``POST /ideogram/v1/ideogram-v3/generate`` check ``Api-Key``
(401), validate as Ideogram does (400 ``{"error"}``), and answer at once with real PNGs at the
requested resolution (or the resolution of the requested aspect ratio).

Prompt markers: ``[sandbox-banned]`` → 422 (the prompt failed the safety check);
``[sandbox-unsafe]`` → the first image is withheld (``url: null``, ``is_image_safe: false``).
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from omnirelay.errors import InvalidRequest
from omnirelay.formats import ideogram as rules
from omnirelay.sandbox import pictures
from omnirelay.sandbox.files import files_of

BANNED_MARKER = "[sandbox-banned]"
UNSAFE_MARKER = "[sandbox-unsafe]"
IDEOGRAM_KEY = web.AppKey("ideogram_key", str)


def _error(status: int, message: str) -> web.Response:
    return web.Response(
        body=rules.error_body(message), status=status, content_type="application/json"
    )


async def _reply(
    request: web.Request,
    prompt: str,
    generation: rules.Generation,
    style: str | None,
    seed: int | None,
) -> web.Response:
    if BANNED_MARKER in prompt:
        return _error(422, "Prompt failed the safety check.")
    width, height = generation.size
    data: list[dict[str, Any]] = []
    for index in range(generation.num_images):
        image_seed = seed if seed is not None else secrets.randbelow(rules.MAX_SEED)
        safe = not (UNSAFE_MARKER in prompt and index == 0)
        url = None
        if safe:
            png = await asyncio.to_thread(
                pictures.picture, width, height, f"{prompt}#{image_seed}#{index}"
            )
            name = files_of(request).put(png, "image/png", ".png")
            url = f"{request.scheme}://{request.host}/files/{name}"
        data.append(
            {
                "url": url,
                "prompt": prompt,
                "resolution": f"{width}x{height}",
                "is_image_safe": safe,
                "seed": image_seed,
                "style_type": style or "GENERAL",
            }
        )
    return web.json_response({"created": datetime.now(UTC).isoformat(), "data": data})


def _denied(request: web.Request) -> web.Response | None:
    if request.headers.get("Api-Key") != request.app[IDEOGRAM_KEY]:
        return _error(401, "Unauthorized: a valid Api-Key header is required.")
    return None


async def generate(request: web.Request) -> web.StreamResponse:
    denied = _denied(request)
    if denied is not None:
        return denied
    try:
        parsed, generation = rules.check_legacy(await request.read())
    except InvalidRequest as exc:
        return _error(400, exc.message)
    req = parsed.image_request
    assert req is not None and req.prompt is not None
    return await _reply(request, req.prompt, generation, req.style_type, req.seed)


async def generate_v3(request: web.Request) -> web.StreamResponse:
    denied = _denied(request)
    if denied is not None:
        return denied
    try:
        fields = rules.v3_fields(await request.read(), request.headers.get("Content-Type", ""))
        generation = rules.check_v3(fields)
    except InvalidRequest as exc:
        return _error(400, exc.message)
    seed = int(fields["seed"]) if fields.get("seed") else None
    return await _reply(request, fields["prompt"], generation, fields.get("style_type"), seed)


def add_routes(app: web.Application, key: str) -> None:
    app[IDEOGRAM_KEY] = key
    app.router.add_post("/ideogram/generate", generate)
    app.router.add_post("/ideogram/v1/ideogram-v3/generate", generate_v3)
