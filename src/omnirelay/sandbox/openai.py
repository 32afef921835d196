"""The sandbox's OpenAI: ``/v1/...`` over HTTP, with the real API's shapes and errors."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
import secrets
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from omnirelay.formats import multipart
from omnirelay.formats.audio import estimate_duration
from omnirelay.sandbox import media
from omnirelay.sandbox.caching import cache_of
from omnirelay.sandbox.chat import (
    Answer,
    SandboxInputError,
    answer_chat,
    answer_completion,
    prompt_tokens,
    validate_chat,
)
from omnirelay.sandbox.faults import Fault, apply_before, before_event, fault_for
from omnirelay.sandbox.files import files_of

MODELS = {
    "gpt-4o": "chat",
    "gpt-4o-mini": "chat",
    "gpt-4.1": "chat",
    "gpt-4.1-mini": "chat",
    "gpt-3.5-turbo": "chat",
    "o4-mini": "chat",
    "gpt-3.5-turbo-instruct": "completion",
    "text-embedding-3-small": "embedding",
    "text-embedding-3-large": "embedding",
    "text-embedding-ada-002": "embedding",
    "tts-1": "speech",
    "tts-1-hd": "speech",
    "whisper-1": "transcription",
    "dall-e-3": "image",
    "dall-e-2": "image",
}
EMBEDDING_DIMENSIONS = {"text-embedding-3-large": 3072}
# Models that reason: they take reasoning_effort (the others refuse it) and bill the hidden
# reasoning as completion tokens, so many tokens an effort level here.
REASONING_MODELS = frozenset({"o4-mini"})
_REASONING_TOKENS = {"none": 0, "minimal": 8, "low": 32, "medium": 96, "high": 256}
# The most completion tokens each chat model writes; asking for more is refused.
MAX_OUTPUT = {
    "gpt-4o": 16384,
    "gpt-4o-mini": 16384,
    "gpt-4.1": 32768,
    "gpt-4.1-mini": 32768,
    "gpt-3.5-turbo": 4096,
    "o4-mini": 100000,
}
# Automatic prompt caching: prompts from 1,024 tokens, cached in steps of 128.
CACHE_MINIMUM, CACHE_STEP = 1024, 128
IMAGE_SIZES = {
    "dall-e-3": {"1024x1024", "1792x1024", "1024x1792"},
    "dall-e-2": {"256x256", "512x512", "1024x1024"},
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CHAT_ONLY_PREFIX = "/chat-only"


def error(
    status: int, message: str, param: str | None = None, code: str | None = None
) -> web.Response:
    kind = {401: "invalid_request_error", 404: "invalid_request_error"}.get(
        status, "invalid_request_error"
    )
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return web.json_response(body, status=status)


def _check_model(body: dict[str, Any], kind: str) -> None:
    model = body.get("model")
    if not isinstance(model, str):
        raise SandboxInputError("you must provide a model parameter", "model")
    if MODELS.get(model) != kind:
        raise _NotFound(f"The model `{model}` does not exist or you do not have access to it.")


class _NotFound(Exception):
    pass


def endpoint(
    handler: Callable[[web.Request, dict[str, Any], Fault], Awaitable[web.StreamResponse]],
) -> Handler:
    """JSON endpoints: parse, apply faults, map input errors to OpenAI's 400/404."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            body = json.loads(await request.read() or b"null")
        except ValueError:
            return error(400, "We could not parse the JSON body of your request.")
        if not isinstance(body, dict):
            return error(400, "The request body must be a JSON object.")
        fault = fault_for(request, body)
        failed = await apply_before(fault)
        if failed is not None:
            return failed
        try:
            return await handler(request, body, fault)
        except SandboxInputError as exc:
            return error(400, str(exc), exc.param)
        except _NotFound as exc:
            return error(404, str(exc), "model", "model_not_found")

    return wrapped


def _chunk(
    base: dict[str, Any], choices: list[dict[str, Any]], usage: Any = None, with_usage: bool = False
) -> bytes:
    event = {**base, "choices": choices}
    if with_usage:
        event["usage"] = usage
    return b"data: " + json.dumps(event).encode() + b"\n\n"


def _message(answer: Answer) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer.content, "refusal": None}
    if answer.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in answer.tool_calls
        ]
    return message


def _usage(prompt: int, completion: int, cached: int = 0, reasoning: int = 0) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion + reasoning,
        "total_tokens": prompt + completion + reasoning,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0},
    }


def check_output_limit(body: dict[str, Any]) -> None:
    asked = body.get("max_completion_tokens") or body.get("max_tokens")
    limit = MAX_OUTPUT.get(body["model"])
    if isinstance(asked, int) and limit is not None and asked > limit:
        raise SandboxInputError(
            f"max_tokens is too large: {asked}. This model supports at most {limit} completion "
            f"tokens, whereas you provided {asked}.",
            "max_tokens",
        )


def _reasoning_tokens(body: dict[str, Any]) -> int:
    """The hidden reasoning of a reasoning model; other models refuse reasoning_effort."""
    effort = body.get("reasoning_effort")
    if body["model"] not in REASONING_MODELS:
        if effort is not None:
            raise SandboxInputError(
                "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
                "reasoning_effort",
            )
        return 0
    if effort is not None and effort not in _REASONING_TOKENS:
        raise SandboxInputError(
            f"Invalid value for 'reasoning_effort': {effort!r}.", "reasoning_effort"
        )
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        raise SandboxInputError(
            f"Unsupported value: 'temperature' does not support {temperature} with this model. "
            "Only the default (1) value is supported.",
            "temperature",
        )
    return _REASONING_TOKENS[effort or "medium"]


def _deltas(answer: Answer) -> list[dict[str, Any]]:
    """The deltas one choice streams: role, then words or tool-call fragments."""
    deltas: list[dict[str, Any]] = [
        {"role": "assistant", "content": "" if answer.content is not None else None}
    ]
    if answer.content:
        words = answer.content.split(" ")
        deltas += [{"content": (" " if i else "") + w} for i, w in enumerate(words)]
    for index, call in enumerate(answer.tool_calls):
        deltas.append(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": ""},
                    }
                ]
            }
        )
        for start in range(0, len(call.arguments), 8):
            fragment = call.arguments[start : start + 8]
            deltas.append({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})
    return deltas


async def _stream(
    request: web.Request,
    base: dict[str, Any],
    streams: list[list[Any]],
    finishes: list[str],
    usage: dict[str, Any],
    fault: Fault,
    include_usage: bool,
    delta_key: str = "delta",
) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    sent = 0
    events: list[bytes] = []
    for step in range(max(len(s) for s in streams)):
        for index, deltas in enumerate(streams):
            if step < len(deltas):
                choice = {
                    "index": index,
                    delta_key: deltas[step],
                    "logprobs": None,
                    "finish_reason": None,
                }
                events.append(_chunk(base, [choice], None, include_usage))
    for index, finish in enumerate(finishes):
        final = {
            "index": index,
            delta_key: {} if delta_key == "delta" else "",
            "logprobs": None,
            "finish_reason": finish,
        }
        events.append(_chunk(base, [final], None, include_usage))
    if include_usage:
        events.append(_chunk(base, [], usage, True))
    events.append(b"data: [DONE]\n\n")
    for event in events:
        if not await before_event(request, response, fault, sent):
            return response  # a dropped stream: no [DONE], connection gone
        await response.write(event)
        sent += 1
        if fault.chunk_delay_ms:
            await asyncio.sleep(fault.chunk_delay_ms / 1000)
        elif sent % 4 == 0:
            await asyncio.sleep(0)  # several network chunks, as a real stream arrives
    await response.write_eof()
    return response


@endpoint
async def chat_completions(
    request: web.Request, body: dict[str, Any], fault: Fault
) -> web.StreamResponse:
    validate_chat(body)
    _check_model(body, "chat")
    n = int(body.get("n") or 1)
    answers = [answer_chat(body, i) for i in range(n)]
    check_output_limit(body)
    reasoning = _reasoning_tokens(body)
    tokens = prompt_tokens(body["messages"], body.get("tools"))
    cached = cache_of(request).automatic(tokens, CACHE_MINIMUM, CACHE_STEP)
    usage = _usage(len(tokens), sum(a.tokens for a in answers), cached, reasoning * n)
    base = {
        "id": "chatcmpl-" + secrets.token_hex(12),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "system_fingerprint": "fp_sandbox",
    }
    if body.get("stream"):
        base["object"] = "chat.completion.chunk"
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return await _stream(
            request,
            base,
            [_deltas(a) for a in answers],
            [a.finish_reason for a in answers],
            usage,
            fault,
            include_usage,
        )
    choices = [
        {"index": i, "message": _message(a), "logprobs": None, "finish_reason": a.finish_reason}
        for i, a in enumerate(answers)
    ]
    result = {**base, "choices": choices, "usage": usage}
    if "sandbox_echo" in body:
        # Lets tests see that fields the gateway does not know reach the vendor and come back.
        result["sandbox_echo"] = body["sandbox_echo"]
    return web.json_response(result)


@endpoint
async def completions(
    request: web.Request, body: dict[str, Any], fault: Fault
) -> web.StreamResponse:
    _check_model(body, "completion")
    prompt = body.get("prompt")
    if prompt is None:
        raise SandboxInputError("you must provide a prompt parameter", "prompt")
    prompts = (
        prompt if isinstance(prompt, list) and all(isinstance(p, str) for p in prompt) else [prompt]
    )
    prompts = [p if isinstance(p, str) else " ".join(map(str, p)) for p in prompts]
    n = int(body.get("n") or 1)
    answers = []
    for text in prompts:
        for i in range(n):
            answer = answer_completion(text, body.get("max_tokens"), i)
            if body.get("echo"):
                answer.content = text + (answer.content or "")
            answers.append(answer)
    usage = _usage(sum(len(p.split()) for p in prompts), sum(a.tokens for a in answers))
    base = {
        "id": "cmpl-" + secrets.token_hex(12),
        "object": "text_completion",
        "created": int(time.time()),
        "model": body["model"],
    }
    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        words = [
            [(" " if i else "") + w for i, w in enumerate((a.content or "").split(" "))]
            for a in answers
        ]
        return await _stream(
            request,
            base,
            words,
            [a.finish_reason for a in answers],
            usage,
            fault,
            include_usage,
            delta_key="text",
        )
    choices = [
        {"text": a.content, "index": i, "logprobs": None, "finish_reason": a.finish_reason}
        for i, a in enumerate(answers)
    ]
    return web.json_response({**base, "choices": choices, "usage": usage})


def _vector(model: str, text: str, dimensions: int) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(f"{model}\0{text}".encode()).digest()[:8], "big")
    rng = random.Random(seed)  # noqa: S311 - deterministic fake vectors
    values = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    return [v / norm for v in values]


@endpoint
async def embeddings(
    request: web.Request, body: dict[str, Any], fault: Fault
) -> web.StreamResponse:
    _check_model(body, "embedding")
    raw = body.get("input")
    if raw is None or raw == "" or raw == []:
        raise SandboxInputError("'input' must be a non-empty string or array", "input")
    if isinstance(raw, str) or (isinstance(raw, list) and raw and isinstance(raw[0], int)):
        raw = [raw]
    texts = [t if isinstance(t, str) else " ".join(map(str, t)) for t in raw]
    native = EMBEDDING_DIMENSIONS.get(body["model"], 1536)
    dimensions = body.get("dimensions") or native
    if not isinstance(dimensions, int) or dimensions < 1:
        raise SandboxInputError("'dimensions' must be a positive integer", "dimensions")
    if dimensions > native:  # as OpenAI: a model shortens its vectors, never lengthens them
        raise SandboxInputError(
            f"'dimensions' is {dimensions}; {body['model']} makes at most {native}", "dimensions"
        )
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise SandboxInputError("'encoding_format' must be 'float' or 'base64'", "encoding_format")
    data = []
    for index, text in enumerate(texts):
        vector = _vector(body["model"], text, dimensions)
        embedding: Any = vector
        if encoding == "base64":
            embedding = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    tokens = sum(max(1, len(t.split())) for t in texts)
    return web.json_response(
        {
            "object": "list",
            "data": data,
            "model": body["model"],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


@endpoint
async def images(request: web.Request, body: dict[str, Any], fault: Fault) -> web.StreamResponse:
    model = body.setdefault("model", "dall-e-2")
    _check_model(body, "image")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise SandboxInputError("'prompt' is required", "prompt")
    n = int(body.get("n") or 1)
    if model == "dall-e-3" and n != 1:
        raise SandboxInputError("dall-e-3 only supports n=1", "n")
    size = body.get("size") or "1024x1024"
    if size not in IMAGE_SIZES[model]:
        raise SandboxInputError(f"'{size}' is not a supported size for {model}", "size")
    response_format = body.get("response_format") or "url"
    if response_format not in ("url", "b64_json"):
        raise SandboxInputError("'response_format' must be 'url' or 'b64_json'", "response_format")
    width, height = (int(v) for v in size.split("x"))
    data = []
    for i in range(n):
        png = await asyncio.to_thread(media.png_bytes, width, height, f"{prompt}#{i}")
        item: dict[str, Any] = {"revised_prompt": prompt} if model == "dall-e-3" else {}
        if response_format == "b64_json":
            item["b64_json"] = base64.b64encode(png).decode()
        else:
            name = files_of(request).put(png, "image/png", ".png")
            item["url"] = f"{request.scheme}://{request.host}/files/{name}"
        data.append(item)
    return web.json_response({"created": int(time.time()), "data": data})


@endpoint
async def speech(request: web.Request, body: dict[str, Any], fault: Fault) -> web.StreamResponse:
    _check_model(body, "speech")
    text = body.get("input")
    if not isinstance(text, str) or not text:
        raise SandboxInputError("'input' is required", "input")
    if len(text) > 4096:
        raise SandboxInputError("'input' must be at most 4096 characters", "input")
    if not body.get("voice"):
        raise SandboxInputError("'voice' is required", "voice")
    speed = float(body.get("speed") or 1.0)
    if not 0.25 <= speed <= 4.0:
        raise SandboxInputError("'speed' must be between 0.25 and 4.0", "speed")
    fmt = body.get("response_format") or "mp3"
    encoders = {
        "wav": (media.wav_bytes, "audio/wav"),
        "mp3": (media.mp3_bytes, "audio/mpeg"),
        "pcm": (media.pcm_bytes, "audio/pcm"),
    }
    if fmt not in encoders:
        raise SandboxInputError(
            f"the sandbox encodes mp3, wav and pcm, not '{fmt}'", "response_format"
        )
    encode, kind = encoders[fmt]
    # Synthesis is CPU work (seconds for a long input): keep it off the event loop.
    samples = await asyncio.to_thread(media.tone_samples, text, speed=speed)
    audio = await asyncio.to_thread(encode, samples)
    return web.Response(body=audio, content_type=kind)


def _timestamp(seconds: float, sep: str) -> str:
    whole, millis = int(seconds), int(seconds % 1 * 1000)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}{sep}{millis:03d}"


async def _transcribe(request: web.Request, task: str) -> web.StreamResponse:
    fault = fault_for(request, None)
    failed = await apply_before(fault)
    if failed is not None:
        return failed
    try:
        parts = multipart.parse_form(await request.read(), request.headers.get("Content-Type", ""))
    except ValueError as exc:
        return error(400, f"expected multipart/form-data: {exc}")
    model = multipart.field(parts, "model")
    upload = next((p for p in parts if p.name == "file" and p.filename), None)
    if upload is None:
        return error(400, "you must provide a file", "file")
    if MODELS.get(model or "") != "transcription":
        return error(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            "model",
            "model_not_found",
        )
    duration = round(estimate_duration(upload.data), 2)
    text = f"Sandbox {task} of {upload.filename}: {duration:.1f} seconds of audio."
    fmt = multipart.field(parts, "response_format") or "json"
    if fmt == "json":
        return web.json_response(
            {"text": text, "usage": {"type": "duration", "seconds": int(duration + 0.999)}}
        )
    if fmt == "verbose_json":
        segment = {
            "id": 0,
            "seek": 0,
            "start": 0.0,
            "end": duration,
            "text": text,
            "tokens": [],
            "temperature": 0.0,
            "avg_logprob": -0.1,
            "compression_ratio": 1.0,
            "no_speech_prob": 0.0,
        }
        return web.json_response(
            {
                "task": task,
                "language": multipart.field(parts, "language") or "english",
                "duration": duration,
                "text": text,
                "segments": [segment],
            }
        )
    if fmt == "text":
        return web.Response(text=text + "\n", content_type="text/plain")
    if fmt in ("srt", "vtt"):
        sep = "," if fmt == "srt" else "."
        cue = f"{_timestamp(0, sep)} --> {_timestamp(duration, sep)}\n{text}\n"
        return web.Response(
            text=("1\n" + cue) if fmt == "srt" else ("WEBVTT\n\n" + cue), content_type="text/plain"
        )
    return error(400, f"'{fmt}' is not a valid response_format", "response_format")


async def transcriptions(request: web.Request) -> web.StreamResponse:
    return await _transcribe(request, "transcribe")


async def translations(request: web.Request) -> web.StreamResponse:
    return await _transcribe(request, "translate")


async def list_models(request: web.Request) -> web.StreamResponse:
    data = [
        {"id": m, "object": "model", "created": 1700000000, "owned_by": "sandbox"} for m in MODELS
    ]
    return web.json_response({"object": "list", "data": data})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/completions", completions)
    app.router.add_post("/v1/embeddings", embeddings)
    app.router.add_post("/v1/images/generations", images)
    app.router.add_post("/v1/audio/speech", speech)
    app.router.add_post("/v1/audio/transcriptions", transcriptions)
    app.router.add_post("/v1/audio/translations", translations)
    app.router.add_get("/v1/models", list_models)
    # An OpenAI-compatible server that has chat completions and nothing newer (as many do).
    app.router.add_post(CHAT_ONLY_PREFIX + "/v1/chat/completions", chat_completions)
