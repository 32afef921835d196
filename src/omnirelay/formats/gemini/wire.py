"""The Gemini wire format (camelCase JSON): typed structs for what the gateway reads, errors,
schema conversion and the embedding envelopes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any, TypeVar

import msgspec

from omnirelay.errors import GatewayError, InvalidRequest
from omnirelay.formats import neutral
from omnirelay.formats.sse import encode_data

T = TypeVar("T")


_FREE_FORM = frozenset(
    {"args", "response", "parameters", "parametersJsonSchema", "responseSchema",
     "responseJsonSchema", "labels"}
)  # fmt: skip


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def camelize(value: Any) -> Any:
    """Field names in camelCase. Gemini accepts snake_case too (proto JSON), and the SDK sends
    some of each (``inlineData: {mime_type, data}``); free-form values (function arguments and
    responses, schemas) keep their keys."""
    if isinstance(value, list):
        return [camelize(item) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = _camel(key) if "_" in key else key
        out[name] = item if name in _FREE_FORM else camelize(item)
    return out


def decode_client(body: bytes, kind: type[T]) -> T:
    """Decode a client's Gemini body, whichever case its field names are in."""
    if not body:
        raise InvalidRequest("request body is empty; expected a JSON object")
    try:
        return msgspec.convert(camelize(msgspec.json.decode(body)), type=kind)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(f"invalid request: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"body is not valid JSON: {exc}") from exc


class Blob(msgspec.Struct, rename="camel"):
    mime_type: str = "application/octet-stream"
    data: str = ""


class FileData(msgspec.Struct, rename="camel"):
    file_uri: str
    mime_type: str | None = None


class FunctionCall(msgspec.Struct, rename="camel"):
    name: str
    args: dict[str, Any] | None = None
    id: str | None = None


class FunctionResponse(msgspec.Struct, rename="camel"):
    name: str
    response: dict[str, Any] | None = None
    id: str | None = None


class Part(msgspec.Struct, rename="camel"):
    text: str | None = None
    thought: bool | None = None
    thought_signature: str | None = None
    inline_data: Blob | None = None
    file_data: FileData | None = None
    function_call: FunctionCall | None = None
    function_response: FunctionResponse | None = None
    executable_code: dict[str, Any] | None = None


class Content(msgspec.Struct, rename="camel"):
    parts: list[Part] = []
    role: str | None = None


class FunctionDeclaration(msgspec.Struct, rename="camel"):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    parameters_json_schema: dict[str, Any] | None = None


class Tool(msgspec.Struct, rename="camel"):
    function_declarations: list[FunctionDeclaration] | None = None


class FunctionCallingConfig(msgspec.Struct, rename="camel"):
    mode: str | None = None
    allowed_function_names: list[str] | None = None


class ToolConfig(msgspec.Struct, rename="camel"):
    function_calling_config: FunctionCallingConfig | None = None


class ThinkingConfig(msgspec.Struct, rename="camel"):
    thinking_budget: int | None = None  # -1: as much as the model judges; 0: none
    thinking_level: str | None = None  # Gemini 3: minimal | low | medium | high
    include_thoughts: bool | None = None


class GenerationConfig(msgspec.Struct, rename="camel"):
    temperature: float | None = None
    top_p: float | None = None
    top_k: float | None = None
    candidate_count: int | None = None
    max_output_tokens: int | None = None
    stop_sequences: list[str] | None = None
    response_mime_type: str | None = None
    response_schema: dict[str, Any] | None = None
    response_json_schema: dict[str, Any] | None = None
    seed: int | None = None
    thinking_config: ThinkingConfig | None = None


class Request(msgspec.Struct, rename="camel"):
    contents: list[Content] = []
    system_instruction: Content | None = None
    generation_config: GenerationConfig | None = None
    tools: list[Tool] | None = None
    tool_config: ToolConfig | None = None


class CountRequest(msgspec.Struct, rename="camel"):
    contents: list[Content] | None = None
    generate_content_request: Request | None = None


class UsageMetadata(msgspec.Struct, rename="camel"):
    prompt_token_count: int = 0
    candidates_token_count: int = 0
    thoughts_token_count: int = 0
    cached_content_token_count: int = 0

    def neutral(self) -> neutral.Usage:
        # Thinking tokens are billed as output by Google; cached tokens are part of the prompt.
        return neutral.Usage(
            input_tokens=self.prompt_token_count,
            output_tokens=self.candidates_token_count + self.thoughts_token_count,
            cache_read_tokens=self.cached_content_token_count,
            reasoning_tokens=self.thoughts_token_count,
        )


class Candidate(msgspec.Struct, rename="camel"):
    content: Content | None = None
    finish_reason: str | None = None


class ErrorBody(msgspec.Struct):
    code: int = 500
    message: str = ""
    status: str = ""


class PromptFeedback(msgspec.Struct, rename="camel"):
    block_reason: str | None = None


class Response(msgspec.Struct, rename="camel"):
    candidates: list[Candidate] = []
    prompt_feedback: PromptFeedback | None = None
    usage_metadata: UsageMetadata | None = None
    model_version: str | None = None
    response_id: str | None = None
    error: ErrorBody | None = None


class CountResponse(msgspec.Struct, rename="camel"):
    total_tokens: int


class RoutingConfig(msgspec.Struct, rename="camel"):
    max_output_tokens: int | None = None


class Routing(msgspec.Struct, rename="camel"):
    """What routing and billing read from a generateContent body."""

    contents: list[msgspec.Raw] = []
    generation_config: RoutingConfig | None = None


FINISH_REASONS: dict[str, neutral.StopReason] = {
    "STOP": neutral.StopReason.END,
    "MAX_TOKENS": neutral.StopReason.LENGTH,
    "SAFETY": neutral.StopReason.FILTER,
    "RECITATION": neutral.StopReason.FILTER,
    "BLOCKLIST": neutral.StopReason.FILTER,
    "PROHIBITED_CONTENT": neutral.StopReason.FILTER,
    "SPII": neutral.StopReason.FILTER,
    "IMAGE_SAFETY": neutral.StopReason.FILTER,
}
FINISH_NAMES: dict[neutral.StopReason, str] = {
    neutral.StopReason.END: "STOP",
    neutral.StopReason.STOP_SEQUENCE: "STOP",
    neutral.StopReason.TOOL: "STOP",  # Gemini says STOP and lets the functionCall speak
    neutral.StopReason.LENGTH: "MAX_TOKENS",
    neutral.StopReason.FILTER: "SAFETY",
}

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    422: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

# Status names → HTTP status, to map a mid-stream error like a reply.
STATUS_CODES = {name: code for code, name in reversed(_STATUS_NAMES.items())}


def error_document(error: GatewayError) -> dict[str, Any]:
    status = _STATUS_NAMES.get(error.status, "INTERNAL" if error.status >= 500 else "UNKNOWN")
    return {"error": {"code": error.status, "message": error.message, "status": status}}


def encode_error(error: GatewayError) -> bytes:
    return msgspec.json.encode(error_document(error))


def stream_error(error: GatewayError) -> bytes:
    return encode_data(encode_error(error))


def synthetic_id(seed: str, position: int, name: str) -> str:
    digest = hashlib.sha256(f"{seed}:{position}:{name}".encode()).hexdigest()[:24]
    return f"call_{digest}"


def with_thinking(parts: list[Part]) -> Iterator[tuple[int, Part | neutral.Thinking]]:
    """A content's parts in order (with their positions), thought parts and the signature
    Gemini puts on the part after them (often a function call) joined into one ``Thinking``,
    so the signature goes back where it came from."""
    thought: list[str] = []
    for position, part in enumerate(parts):
        if part.thought:
            thought.append(part.text or "")
            if part.thought_signature:
                yield position, neutral.Thinking("".join(thought), part.thought_signature)
                thought = []
            continue
        if thought or part.thought_signature:
            yield position, neutral.Thinking("".join(thought), part.thought_signature)
            thought = []
        yield position, part
    if thought:
        yield len(parts), neutral.Thinking("".join(thought))


def content_parts(content: Content | None, seed: str, first: int = 0) -> list[neutral.AnswerPart]:
    """The text, thinking and function calls of one candidate; ``first`` numbers the calls
    (streams)."""
    out: list[neutral.AnswerPart] = []
    calls = first
    for _, part in with_thinking(content.parts if content else []):
        if isinstance(part, neutral.Thinking):
            out.append(part)
        elif part.text:
            out.append(neutral.Text(part.text))
        elif part.function_call is not None:
            call = part.function_call
            call_id = call.id or synthetic_id(seed, calls, call.name)
            arguments = msgspec.json.encode(call.args or {}).decode()
            out.append(neutral.ToolCall(call_id, call.name, arguments))
            calls += 1
    return out


def stop_reason(finish: str | None, had_calls: bool) -> neutral.StopReason:
    stop = FINISH_REASONS.get(finish or "STOP", neutral.StopReason.END)
    return neutral.StopReason.TOOL if had_calls and stop is neutral.StopReason.END else stop


def encode_part(part: neutral.Text | neutral.ToolCall) -> dict[str, Any]:
    if isinstance(part, neutral.Text):
        return {"text": part.text}
    call: dict[str, Any] = {"name": part.name, "args": neutral.arguments_object(part.arguments)}
    if part.id:
        call["id"] = part.id  # the SDK keeps it, so the next turn can answer this very call
    return {"functionCall": call}


def encode_parts(parts: list[dict[str, Any] | neutral.Thinking]) -> list[dict[str, Any]]:
    """Gemini parts with thinking in Gemini's way: thought text as ``thought`` parts, the
    signature on the part that follows (a thought part of its own if nothing follows)."""
    out: list[dict[str, Any]] = []
    signature: str | None = None
    for part in parts:
        if isinstance(part, neutral.Thinking):
            if part.redacted is not None:
                continue  # an encrypted Claude block means nothing here
            if part.text:
                out.append({"text": part.text, "thought": True})
            signature = part.signature or signature
            continue
        if signature:
            part = {**part, "thoughtSignature": signature}
            signature = None
        out.append(part)
    if signature:
        if out and out[-1].get("thought"):
            out[-1]["thoughtSignature"] = signature
        else:
            out.append({"text": "", "thought": True, "thoughtSignature": signature})
    return out


def answer_parts(parts: list[neutral.AnswerPart]) -> list[dict[str, Any]]:
    return encode_parts([p if isinstance(p, neutral.Thinking) else encode_part(p) for p in parts])


def usage_metadata(usage: neutral.Usage) -> dict[str, int]:
    document = {
        "promptTokenCount": usage.input_tokens,
        "candidatesTokenCount": usage.output_tokens - usage.reasoning_tokens,
        "totalTokenCount": usage.input_tokens + usage.output_tokens,
    }
    if usage.reasoning_tokens:
        document["thoughtsTokenCount"] = usage.reasoning_tokens
    if usage.cache_read_tokens:
        document["cachedContentTokenCount"] = usage.cache_read_tokens
    return document
