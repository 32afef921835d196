"""The sandbox's Gemini: ``/v1beta/models/{model}:{method}`` over HTTP, with the real API's key
handling, camelCase fields, strict validation (unknown fields are errors, as with Google's
APIs), function-call pairing rules, SSE chunks and embeddings."""

from __future__ import annotations

import hashlib
import json
import random
import re
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from omnirelay.sandbox.caching import cache_of
from omnirelay.sandbox.chat import (
    Answer,
    Conversation,
    SandboxInputError,
    ToolSpec,
    answer,
    describe_inline,
    describe_url,
    hint_of,
)
from omnirelay.sandbox.faults import Fault, apply_before, fault_for, write_events
from omnirelay.sandbox.gemini_rules import (
    THINKING_MODELS,
    check_output_limit,
    check_schema,
    check_thinking,
    prompt_tokens,
    text_of,
    thinks,
)
from omnirelay.sandbox.signatures import sign, signed_thinking

MODELS = {
    "gemini-2.0-flash": "chat",
    "gemini-2.0-flash-lite": "chat",
    "gemini-1.5-pro": "chat",
    "gemini-1.5-flash": "chat",
    "gemini-2.5-pro": "chat",
    "gemini-2.5-flash": "chat",
    "gemini-embedding-001": "embedding",
    "text-embedding-004": "embedding",
}
EMBEDDING_DIMENSIONS = {"gemini-embedding-001": 3072, "text-embedding-004": 768}
_FIELDS = frozenset(
    {
        "contents", "systemInstruction", "generationConfig", "tools", "toolConfig",
        "safetySettings", "cachedContent", "labels", "sandbox_fault", "model",
    }
)  # fmt: skip
_CONFIG_FIELDS = frozenset(
    {
        "temperature", "topP", "topK", "candidateCount", "maxOutputTokens", "stopSequences",
        "responseMimeType", "responseSchema", "responseJsonSchema", "seed", "thinkingConfig",
        "presencePenalty", "frequencyPenalty", "responseLogprobs", "logprobs",
        "responseModalities", "mediaResolution", "speechConfig",
    }
)  # fmt: skip
_PART_DATA = ("text", "inlineData", "fileData", "functionCall", "functionResponse")
_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_.\-]{0,63}$")
_STATUS = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error(status: int, message: str, reason: str | None = None) -> web.Response:
    details: list[dict[str, Any]] = []
    if reason:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com",
            }
        )
    body = {
        "error": {
            "code": status,
            "message": message,
            "status": _STATUS.get(status, "UNKNOWN"),
            "details": details,
        }
    }
    return web.json_response(body, status=status)


def owns(path: str) -> bool:
    return path.startswith("/v1beta/")


def check_auth(request: web.Request, expected: str) -> web.Response | None:
    key = request.headers.get("x-goog-api-key") or request.query.get("key", "")
    if not key:
        return error(
            403,
            "Method doesn't allow unregistered callers (callers without established identity). "
            "Please use API Key or other form of API consumer identity to call this API.",
        )
    if key != expected and not key.startswith("sk-fault-"):
        return error(400, "API key not valid. Please pass a valid API key.", "API_KEY_INVALID")
    return None


class _NotFound(Exception):
    pass


def _unknown(where: str, keys: Any, known: frozenset[str]) -> None:
    extra = sorted(set(keys) - known)
    if extra:
        raise SandboxInputError(
            f"Invalid JSON payload received. Unknown name \"{extra[0]}\" at '{where}': "
            "Cannot find field."
        )


def _check_part(part: Any, where: str) -> None:
    if not isinstance(part, dict):
        raise SandboxInputError(f"{where}: a part must be an object")
    data = [k for k in _PART_DATA if k in part]
    if len(data) != 1:
        raise SandboxInputError(f"{where}: a part needs exactly one data field, got {data}")
    _unknown(where, part, frozenset({*_PART_DATA, "thought", "thoughtSignature"}))
    if "inlineData" in part:
        blob = part["inlineData"]
        describe_inline(str(blob.get("mimeType", "")), str(blob.get("data", "")), where)
    signature = part.get("thoughtSignature")
    if signature is not None and signed_thinking(str(signature)) is None:
        raise SandboxInputError(f"{where}.thoughtSignature: Invalid thought signature")
    if "fileData" in part and not part["fileData"].get("fileUri"):
        raise SandboxInputError(f"{where}.fileData.fileUri is required")
    call = part.get("functionCall") or part.get("functionResponse")
    if call is not None:
        if not isinstance(call.get("name"), str) or not call["name"]:
            raise SandboxInputError(f"{where}: function name is required")
        payload = call.get("args", {}) if "functionCall" in part else call.get("response")
        if not isinstance(payload, dict):
            raise SandboxInputError(f"{where}: function args/response must be an object")


def _names(content: dict[str, Any], kind: str) -> Counter[str]:
    return Counter(p[kind]["name"] for p in content["parts"] if kind in p)


def _check_pairs(contents: list[dict[str, Any]]) -> None:
    """Function responses come right after the model's calls, one response per call."""
    for i, content in enumerate(contents):
        responses = _names(content, "functionResponse")
        if not responses:
            continue
        before = _names(contents[i - 1], "functionCall") if i else Counter()
        if contents[i - 1].get("role") != "model" or not before:
            raise SandboxInputError(
                "Please ensure that function response turn comes immediately after a function "
                "call turn."
            )
        if before != responses:
            raise SandboxInputError(
                "Please ensure that the number of function response parts is equal to the "
                "number of function call parts of the function call turn."
            )


def _check_tools(tools: list[dict[str, Any]]) -> None:
    for i, tool in enumerate(tools):
        _unknown(f"tools[{i}]", tool, _TOOL_KINDS)
        for j, declaration in enumerate(tool.get("functionDeclarations") or ()):
            where = f"tools[{i}].function_declarations[{j}]"
            if not _NAME.match(str(declaration.get("name", ""))):
                raise SandboxInputError(f"{where}.name: Invalid function name")
            if "parameters" in declaration and "parametersJsonSchema" in declaration:
                raise SandboxInputError(
                    f"{where}: parameters and parameters_json_schema are mutually exclusive"
                )
            if "parameters" in declaration:
                check_schema(declaration["parameters"], f"{where}.parameters")


def validate(body: dict[str, Any]) -> None:
    _unknown("", body, _FIELDS)
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise SandboxInputError("* GenerateContentRequest.contents: contents is not specified")
    for i, content in enumerate(contents):
        if not isinstance(content, dict) or content.get("role", "user") not in ("user", "model"):
            raise SandboxInputError(f"contents[{i}].role: must be 'user' or 'model'")
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            raise SandboxInputError(
                f"* GenerateContentRequest.contents[{i}].parts: must not be empty"
            )
        for j, part in enumerate(parts):
            _check_part(part, f"contents[{i}].parts[{j}]")
    _check_pairs(contents)
    config = body.get("generationConfig") or {}
    _unknown("generation_config", config, _CONFIG_FIELDS)
    temperature = config.get("temperature")
    if temperature is not None and not 0 <= temperature <= 2:
        raise SandboxInputError("generationConfig.temperature: must be between 0 and 2")
    _check_tools(body.get("tools") or [])
    if "responseSchema" in config:
        check_schema(config["responseSchema"], "generation_config.response_schema")
    mode = ((body.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("mode")
    if mode is not None and mode not in ("AUTO", "ANY", "NONE", "VALIDATED", "MODE_UNSPECIFIED"):
        raise SandboxInputError(f"toolConfig.functionCallingConfig.mode: invalid value {mode!r}")


# What a Tool may hold: function declarations, or one of Google's own tools.
_TOOL_KINDS = frozenset(
    """functionDeclarations googleSearch googleSearchRetrieval codeExecution urlContext
    computerUse fileSearch googleMaps enterpriseWebSearch retrieval mcpServers""".split()
)
_FREE_FORM = frozenset(
    {
        "args", "response", "parameters", "parametersJsonSchema", "responseSchema",
        "responseJsonSchema", "sandbox_fault",
    }
)  # fmt: skip


def _camelize(value: Any) -> Any:
    """Like Google's proto JSON parser, take snake_case field names as well as camelCase ones
    (the google-genai SDK sends ``inlineData: {mime_type, data}``)."""
    if isinstance(value, list):
        return [_camelize(v) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key not in _FREE_FORM and "_" in key:
            head, *rest = key.split("_")
            key = head + "".join(w[:1].upper() + w[1:] for w in rest)
        out[key] = item if key in _FREE_FORM else _camelize(item)
    return out


def _lower_types(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_lower_types(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    return {
        k: (v.lower() if k == "type" and isinstance(v, str) else _lower_types(v))
        for k, v in schema.items()
    }


def _result_text(response: dict[str, Any]) -> str:
    if len(response) == 1:
        (value,) = response.values()
        if isinstance(value, str):
            return value
    return json.dumps(response)


_text = text_of


def _image_phrase(part: dict[str, Any]) -> str | None:
    if "inlineData" in part:
        return describe_inline(part["inlineData"]["mimeType"], part["inlineData"]["data"])
    if "fileData" in part:
        return describe_url(part["fileData"]["fileUri"])
    return None


def conversation(body: dict[str, Any]) -> Conversation:
    contents = body["contents"]
    users = [c for c in contents if c.get("role", "user") == "user"]
    spoken = [c for c in users if _text(c)]
    images = [p for c in users for p in map(_image_phrase, c["parts"]) if p is not None]
    results = [
        _result_text(p["functionResponse"]["response"])
        for c in contents
        for p in c["parts"]
        if "functionResponse" in p
    ]
    answering = any("functionResponse" in p for p in contents[-1]["parts"])
    calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    allowed = calling.get("allowedFunctionNames") or []
    mode = {"ANY": "required", "NONE": "none"}.get(calling.get("mode", ""), "auto")
    if mode == "required" and len(allowed) == 1:
        mode = "named"
    config = body.get("generationConfig") or {}
    json_mode = config.get("responseMimeType") == "application/json"
    return Conversation(
        # What the user typed: the last text part (clients put their context first).
        user_text=[p["text"] for p in spoken[-1]["parts"] if "text" in p and not p.get("thought")][
            -1
        ]
        if spoken
        else "",
        images=images,
        tool_results=results if answering else None,
        tools=[
            ToolSpec(
                d["name"],
                d.get("parametersJsonSchema")
                or _lower_types(d.get("parameters") or {"type": "object"}),
            )
            for t in body.get("tools") or ()
            for d in t.get("functionDeclarations") or ()
        ],
        tool_mode=mode,
        named_tool=allowed[0] if allowed else None,
        max_tokens=config.get("maxOutputTokens"),
        stop=list(config.get("stopSequences") or ()),
        response_format=_response_format(config) if json_mode else None,
    )


def _response_format(config: dict[str, Any]) -> dict[str, Any]:
    schema = config.get("responseJsonSchema") or _lower_types(config.get("responseSchema"))
    if not schema:
        return {"type": "json_object"}
    return {"type": "json_schema", "json_schema": {"schema": schema}}


def count_tokens_of(body: dict[str, Any]) -> int:
    return len(prompt_tokens(body))


@dataclass(frozen=True, slots=True)
class _Prompt:
    tokens: int
    cached: int = 0
    thoughts: str | None = None  # what the model thought, if it thinks
    show: bool = False  # includeThoughts
    signs: bool = False  # thinking with function calling: the answer carries a signature


def _parts(reply: Answer, prompt: _Prompt) -> list[dict[str, Any]]:
    """The answer's parts: thought summary first (when asked for), the signature on the first
    part after it, as Gemini signs its thinking."""
    parts: list[dict[str, Any]] = []
    if prompt.thoughts is not None and prompt.show:
        parts.append({"text": prompt.thoughts, "thought": True})
    if reply.content:
        parts.append({"text": reply.content})
    parts += [
        {"functionCall": {"name": c.name, "args": json.loads(c.arguments)}}
        for c in reply.tool_calls
    ]
    if prompt.thoughts is not None and prompt.signs:
        signed = next((p for p in parts if not p.get("thought")), None)
        if signed is not None:
            signed["thoughtSignature"] = sign(prompt.thoughts)
    return parts


def _usage(prompt: _Prompt, reply: Answer) -> dict[str, int]:
    output = max(reply.tokens, 1)
    thoughts = len(prompt.thoughts.split()) if prompt.thoughts is not None else 0
    usage = {
        "promptTokenCount": prompt.tokens,
        "candidatesTokenCount": output,
        "totalTokenCount": prompt.tokens + output + thoughts,
    }
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    if prompt.cached:
        usage["cachedContentTokenCount"] = prompt.cached
    return usage


def _prompt(request: web.Request, body: dict[str, Any], model: str, hint: str) -> _Prompt:
    tokens = prompt_tokens(body)
    config = (body.get("generationConfig") or {}).get("thinkingConfig")
    limits = THINKING_MODELS.get(model)
    if limits is None:
        # Implicit caching is a feature of the thinking (2.5) models.
        return _Prompt(len(tokens))
    cached = cache_of(request).automatic(tokens, limits.cache_minimum)
    if not thinks(model, config):
        return _Prompt(len(tokens), cached)
    thoughts = f"Thinking about {hint}: the plain answer fits."
    show = bool((config or {}).get("includeThoughts"))
    return _Prompt(len(tokens), cached, thoughts, show, signs=bool(body.get("tools")))


def _pieces(parts: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Parts as chunks arrive: thoughts whole, text a few words a chunk (the first keeps the
    part's signature), function calls together."""
    pieces: list[list[dict[str, Any]]] = []
    calls = [p for p in parts if "functionCall" in p]
    for part in parts:
        if part.get("thought"):
            pieces.append([part])
        elif "text" in part:
            words = part["text"].split(" ")
            for i in range(0, len(words), 2):
                text = (" " if i else "") + " ".join(words[i : i + 2])
                extra = {k: v for k, v in part.items() if k != "text"} if i == 0 else {}
                pieces.append([{"text": text, **extra}])
    if calls:
        pieces.append(calls)
    return pieces or [[{"text": ""}]]


def _chunks(base: dict[str, Any], reply: Answer, prompt: _Prompt, finish: str) -> list[bytes]:
    """The answer as SSE chunks; the last one has the finish reason and the whole usage."""
    pieces = _pieces(_parts(reply, prompt))
    events = []
    for i, parts in enumerate(pieces):
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        usage: dict[str, int] = {
            "promptTokenCount": prompt.tokens,
            "totalTokenCount": prompt.tokens,
        }
        if i == len(pieces) - 1:
            candidate["finishReason"] = finish
            usage = _usage(prompt, reply)
        chunk = {"candidates": [candidate], "usageMetadata": usage, **base}
        events.append(b"data: " + json.dumps(chunk).encode() + b"\r\n\r\n")
    return events


def _check_model(name: str, kind: str) -> str:
    if MODELS.get(name) != kind:
        raise _NotFound(f"models/{name} is not found for API version v1beta, or is not supported")
    return name


async def generate(
    request: web.Request, body: dict[str, Any], fault: Fault, model: str, stream: bool
) -> web.StreamResponse:
    _check_model(model, "chat")
    validate(body)
    config = body.get("generationConfig") or {}
    check_output_limit(model, config)
    check_thinking(model, config.get("thinkingConfig"))
    talk = conversation(body)
    reply = answer(talk)
    prompt = _prompt(request, body, model, hint_of(talk.user_text))
    finish = "MAX_TOKENS" if reply.finish_reason == "length" else "STOP"
    base = {"modelVersion": model, "responseId": secrets.token_urlsafe(16)}
    if stream:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        return await write_events(request, response, _chunks(base, reply, prompt, finish), fault)
    candidate = {
        "content": {"parts": _parts(reply, prompt), "role": "model"},
        "finishReason": finish,
        "index": 0,
    }
    return web.json_response(
        {"candidates": [candidate], "usageMetadata": _usage(prompt, reply), **base}
    )


async def count(
    request: web.Request, body: dict[str, Any], fault: Fault, model: str, stream: bool
) -> web.StreamResponse:
    _check_model(model, "chat")
    inner = body.get("generateContentRequest")
    if inner is not None:
        _unknown("", body, frozenset({"generateContentRequest"}))
        if inner.get("model") != f"models/{model}":
            raise SandboxInputError("generateContentRequest.model must name the model in the URL")
        body = {k: v for k, v in inner.items() if k != "model"}
    elif set(body) - {"contents"}:
        _unknown("", body, frozenset({"contents"}))
    validate(body)
    tokens = count_tokens_of(body)
    return web.json_response(
        {"totalTokens": tokens, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": tokens}]}
    )


def _vector(model: str, text: str, dimensions: int) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(f"{model}\0{text}".encode()).digest()[:8], "big")
    rng = random.Random(seed)  # noqa: S311 - deterministic fake vectors
    values = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    return [v / norm for v in values]


def _embedding(model: str, item: dict[str, Any]) -> dict[str, Any]:
    _unknown("", item, frozenset({"model", "content", "taskType", "title", "outputDimensionality"}))
    content = item.get("content")
    if not isinstance(content, dict) or not content.get("parts"):
        raise SandboxInputError("content is required and must have parts")
    native = EMBEDDING_DIMENSIONS[model]
    dimensions = item.get("outputDimensionality") or native
    if not isinstance(dimensions, int) or not 1 <= dimensions <= native:
        raise SandboxInputError(f"outputDimensionality must be between 1 and {native}")
    return {"values": _vector(model, _text(content), dimensions)}


async def embed(
    request: web.Request, body: dict[str, Any], fault: Fault, model: str, stream: bool
) -> web.StreamResponse:
    _check_model(model, "embedding")
    return web.json_response({"embedding": _embedding(model, body)})


async def batch_embed(
    request: web.Request, body: dict[str, Any], fault: Fault, model: str, stream: bool
) -> web.StreamResponse:
    _check_model(model, "embedding")
    _unknown("", body, frozenset({"requests"}))
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests:
        raise SandboxInputError("requests must be a non-empty list")
    for i, item in enumerate(requests):
        if item.get("model") != f"models/{model}":
            raise SandboxInputError(f"requests[{i}].model must be models/{model}")
    return web.json_response({"embeddings": [_embedding(model, item) for item in requests]})


_METHODS = {
    "generateContent": generate,
    "streamGenerateContent": generate,
    "countTokens": count,
    "embedContent": embed,
    "batchEmbedContents": batch_embed,
}


async def model_method(request: web.Request) -> web.StreamResponse:
    model, _, method = request.match_info["target"].rpartition(":")
    handler = _METHODS.get(method)
    if handler is None or not model:
        return error(404, f"Method not found: {method or request.match_info['target']}")
    try:
        body = json.loads(await request.read() or b"null")
    except ValueError:
        return error(400, "Invalid JSON payload received.")
    if not isinstance(body, dict):
        return error(400, "Invalid JSON payload received: expected an object.")
    body = _camelize(body)
    fault = fault_for(request, body)
    failed = await apply_before(fault, error)
    if failed is not None:
        return failed
    stream = method == "streamGenerateContent"
    if stream and request.query.get("alt") != "sse":
        return error(400, "the sandbox streams as server-sent events only: add ?alt=sse")
    try:
        return await handler(request, body, fault, model, stream)
    except SandboxInputError as exc:
        return error(400, str(exc))
    except _NotFound as exc:
        return error(404, str(exc))


async def list_models(request: web.Request) -> web.StreamResponse:
    methods = {
        "chat": ["generateContent", "streamGenerateContent", "countTokens"],
        "embedding": ["embedContent", "batchEmbedContents"],
    }
    models = [
        {"name": f"models/{name}", "displayName": name, "supportedGenerationMethods": methods[kind]}
        for name, kind in MODELS.items()
    ]
    return web.json_response({"models": models})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1beta/models", list_models)
    app.router.add_post("/v1beta/models/{target}", model_method)
