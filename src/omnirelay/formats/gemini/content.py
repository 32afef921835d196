"""Gemini generateContent ↔ the neutral pivot: requests, answers, token counts.

Gemini's function calls carry no ids (or optional ones): a missing id is synthesised from the
call's position, and a function response is matched to the earlier call of the same name in
order, so ids stay stable across turns and survive translation both ways.
"""

from __future__ import annotations

import re
import secrets
from collections import defaultdict, deque
from typing import Any

import msgspec

from omnirelay.errors import GatewayError, InvalidRequest
from omnirelay.formats import neutral
from omnirelay.formats.decoding import decode_upstream
from omnirelay.formats.gemini.schema import from_gemini_schema, to_gemini_schema
from omnirelay.formats.gemini.stream import GeminiStreamDecoder, GeminiStreamEncoder
from omnirelay.formats.gemini.wire import (
    FINISH_NAMES,
    Content,
    CountRequest,
    CountResponse,
    FunctionResponse,
    GenerationConfig,
    Part,
    Request,
    Response,
    ThinkingConfig,
    ToolConfig,
    answer_parts,
    content_parts,
    decode_client,
    encode_error,
    encode_parts,
    stop_reason,
    stream_error,
    synthetic_id,
    usage_metadata,
    with_thinking,
)


def _result_content(response: FunctionResponse) -> tuple[str, bool]:
    value = response.response or {}
    if len(value) == 1:
        ((key, inner),) = value.items()
        if isinstance(inner, str) and key in ("result", "output", "content", "error"):
            return inner, key == "error"
    return msgspec.json.encode(value).decode(), False


class _Reader:
    """Walks a request's contents, pairing function responses with their calls."""

    def __init__(self) -> None:
        self.pending: defaultdict[str, deque[str]] = defaultdict(deque)

    def parts(self, index: int, content: Content, role: str) -> list[neutral.Part]:
        out: list[neutral.Part] = []
        if role == "assistant":
            self.pending.clear()
        for position, part in with_thinking(content.parts):
            converted = (
                part
                if isinstance(part, neutral.Thinking)
                else self.part(part, f"{index}", position)
            )
            if converted is not None:
                out.append(converted)
        return out

    def part(self, part: Part, seed: str, position: int) -> neutral.Part | None:
        if part.text is not None:
            return neutral.Text(part.text)
        if part.inline_data is not None:
            data = neutral.standard_base64(part.inline_data.data)
            return neutral.Image(media_type=part.inline_data.mime_type, data=data)
        if part.file_data is not None:
            uri = part.file_data.file_uri
            media_type = part.file_data.mime_type or neutral.guess_media_type(uri)
            return neutral.Image(media_type=media_type, url=uri)
        if part.function_call is not None:
            call = part.function_call
            call_id = call.id or synthetic_id(seed, position, call.name)
            self.pending[call.name].append(call_id)
            return neutral.ToolCall(
                call_id, call.name, msgspec.json.encode(call.args or {}).decode()
            )
        if part.function_response is not None:
            response = part.function_response
            waiting = self.pending[response.name]
            matched = waiting.popleft() if waiting else None
            text, is_error = _result_content(response)
            return neutral.ToolResult(
                id=response.id or matched or synthetic_id(seed, position, response.name),
                content=[neutral.Text(text)],
                name=response.name,
                is_error=is_error,
            )
        raise InvalidRequest("this kind of part cannot be sent to this model", param="contents")


def _tool_choice(config: ToolConfig | None) -> neutral.ToolChoice | None:
    calling = config.function_calling_config if config else None
    if calling is None or calling.mode is None:
        return None
    mode = calling.mode.upper()
    names = calling.allowed_function_names or []
    if mode in ("ANY", "VALIDATED"):
        return (
            neutral.ToolChoice("named", names[0])
            if len(names) == 1
            else neutral.ToolChoice("required")
        )
    return neutral.ToolChoice("none") if mode == "NONE" else neutral.ToolChoice("auto")


def _reasoning(config: ThinkingConfig | None) -> neutral.Reasoning | None:
    if config is None:
        return None
    budget = config.thinking_budget
    effort = config.thinking_level.lower() if config.thinking_level else None
    if budget == 0 and effort is None:
        effort = "none"
    return neutral.Reasoning(
        effort=effort,
        budget_tokens=budget if budget is not None and budget > 0 else None,
        include_thoughts=bool(config.include_thoughts),
    )


def from_request(raw: Request, *, model: str, stream: bool) -> neutral.Request:
    reader = _Reader()
    messages: list[neutral.Message] = []
    for index, content in enumerate(raw.contents):
        role: neutral.Role = "assistant" if content.role == "model" else "user"
        messages.append(neutral.Message(role, reader.parts(index, content, role)))
    config = raw.generation_config or GenerationConfig()
    if (config.candidate_count or 1) > 1:
        raise InvalidRequest(
            "candidateCount greater than 1 is not supported for this model",
            param="generationConfig.candidateCount",
        )
    system = raw.system_instruction
    tools = [
        neutral.Tool(
            d.name,
            d.description,
            d.parameters_json_schema or from_gemini_schema(d.parameters or {"type": "OBJECT"}),
        )
        for t in raw.tools or ()
        for d in t.function_declarations or ()
    ]
    return neutral.Request(
        model=model,
        messages=messages,
        system=[p.text for p in system.parts if p.text] if system else [],
        tools=tools,
        tool_choice=_tool_choice(raw.tool_config),
        max_tokens=config.max_output_tokens,
        temperature=config.temperature,
        top_p=config.top_p,
        top_k=int(config.top_k) if config.top_k is not None else None,
        stop=list(config.stop_sequences or ()),
        seed=config.seed,
        json_mode=config.response_mime_type == "application/json",
        json_schema=config.response_json_schema
        or (from_gemini_schema(config.response_schema) if config.response_schema else None),
        stream=stream,
        reasoning=_reasoning(config.thinking_config),
    )


def decode_request(body: bytes, *, model: str, stream: bool) -> neutral.Request:
    return from_request(decode_client(body, Request), model=model, stream=stream)


def _result_response(result: neutral.ToolResult) -> dict[str, Any]:
    text = result.text
    if result.is_error:
        return {"error": text}
    if text.startswith("{"):
        try:
            value = msgspec.json.decode(text)
        except msgspec.DecodeError:
            value = None
        if isinstance(value, dict):
            return value
    return {"result": text}


def _part(part: neutral.Part, names: dict[str, str]) -> dict[str, Any] | neutral.Thinking | None:
    if isinstance(part, neutral.Thinking):
        return part
    if isinstance(part, neutral.Text):
        return {"text": part.text} if part.text else None
    if isinstance(part, neutral.Image):
        if part.url is not None:
            return {"fileData": {"mimeType": part.media_type, "fileUri": part.url}}
        return {"inlineData": {"mimeType": part.media_type, "data": part.data or ""}}
    if isinstance(part, neutral.ToolCall):
        names[part.id] = part.name
        return {
            "functionCall": {"name": part.name, "args": neutral.arguments_object(part.arguments)}
        }
    name = part.name or names.get(part.id)
    if name is None:
        raise InvalidRequest(
            f"the tool result '{part.id}' answers no tool call in this conversation",
            param="messages",
        )
    return {"functionResponse": {"name": name, "response": _result_response(part)}}


def _contents(messages: list[neutral.Message]) -> list[dict[str, Any]]:
    names: dict[str, str] = {}  # tool-call id → function name: Gemini answers by name
    out: list[dict[str, Any]] = []
    for message in messages:
        parts = encode_parts([p for p in (_part(x, names) for x in message.parts) if p is not None])
        if not parts:
            continue
        role = "model" if message.role == "assistant" else "user"
        if out and out[-1]["role"] == role:
            out[-1]["parts"] += parts
        else:
            out.append({"role": role, "parts": parts})
    return out


def _prompt(request: neutral.Request) -> dict[str, Any]:
    body: dict[str, Any] = {"contents": _contents(request.messages)}
    system = [{"text": s} for s in request.system if s]
    if system:
        body["systemInstruction"] = {"parts": system}
    if request.tools:
        declarations = [
            {
                "name": t.name,
                **({"description": t.description} if t.description else {}),
                "parameters": to_gemini_schema({"type": "object", **t.parameters}),
            }
            for t in request.tools
        ]
        body["tools"] = [{"functionDeclarations": declarations}]
    elif request.web_search is not None:
        # Google Search grounding; Gemini 2.x cannot combine it with function declarations,
        # so beside them it is left out.
        body["tools"] = [{"googleSearch": {}}]
    choice = request.tool_choice
    if choice is not None and (request.tools or choice.mode == "none"):
        modes = {"auto": "AUTO", "none": "NONE", "required": "ANY", "named": "ANY"}
        calling: dict[str, Any] = {"mode": modes[choice.mode]}
        if choice.mode == "named" and choice.name:
            calling["allowedFunctionNames"] = [choice.name]
        body["toolConfig"] = {"functionCallingConfig": calling}
    return body


# Gemini models that think: 2.5 and later (3 and later by level), and the "thinking" models.
_THINKING = re.compile(r"gemini-(?:2\.5|[3-9])|thinking")
_LEVELS = re.compile(r"gemini-[3-9]")
# Thinking budgets for an effort word, on models that take a budget (2.5 Flash allows 24576).
_EFFORT_BUDGETS = {"minimal": 512, "low": 1024, "medium": 8192}
_MAX_BUDGET = 24576


def thinking_config(reasoning: neutral.Reasoning | None, model: str) -> dict[str, Any] | None:
    name = model.rsplit("/", 1)[-1].lower()
    if reasoning is None or not _THINKING.search(name):
        return None
    config: dict[str, Any] = {"includeThoughts": reasoning.include_thoughts}
    effort = reasoning.effort
    if effort == "none":
        if "pro" in name:
            return None  # Pro models cannot turn thinking off: leave their default
        config["thinkingBudget"] = 0
        config["includeThoughts"] = False
    elif reasoning.budget_tokens is not None:
        config["thinkingBudget"] = min(reasoning.budget_tokens, _MAX_BUDGET)
    elif effort is not None and _LEVELS.search(name):
        config["thinkingLevel"] = "low" if effort in ("minimal", "low") else "high"
    elif effort is not None:
        config["thinkingBudget"] = _EFFORT_BUDGETS.get(effort, _MAX_BUDGET)
    else:
        config["thinkingBudget"] = -1  # adaptive: the model decides
    return config


def encode_request(request: neutral.Request, model: str) -> bytes:
    body = _prompt(request)
    config = {
        "maxOutputTokens": request.max_tokens,
        "temperature": request.temperature,
        "topP": request.top_p,
        "topK": request.top_k,
        "seed": request.seed,
        "stopSequences": request.stop or None,
        "responseMimeType": "application/json" if request.json_mode else None,
        "responseSchema": (
            to_gemini_schema(request.json_schema) if request.json_schema is not None else None
        ),
        "thinkingConfig": thinking_config(request.reasoning, model),
    }
    generation = {k: v for k, v in config.items() if v is not None}
    if generation:
        body["generationConfig"] = generation
    return msgspec.json.encode(body)


def decode_response(body: bytes) -> neutral.Response:
    raw = decode_upstream(body, Response)
    candidate = raw.candidates[0] if raw.candidates else None
    seed = raw.response_id or secrets.token_hex(8)
    parts = content_parts(candidate.content if candidate else None, seed)
    had_calls = any(isinstance(p, neutral.ToolCall) for p in parts)
    stop = stop_reason(candidate.finish_reason if candidate else None, had_calls)
    if candidate is None and raw.prompt_feedback and raw.prompt_feedback.block_reason:
        stop = neutral.StopReason.FILTER  # the prompt itself was blocked: no candidates
    return neutral.Response(
        id=raw.response_id or "",
        model=raw.model_version or "",
        parts=parts,
        stop=stop,
        usage=raw.usage_metadata.neutral() if raw.usage_metadata else neutral.Usage(),
    )


def encode_response(response: neutral.Response, model: str) -> bytes:
    candidate = {
        "content": {"role": "model", "parts": answer_parts(response.parts)},
        "finishReason": FINISH_NAMES[response.stop],
        "index": 0,
    }
    return msgspec.json.encode(
        {
            "candidates": [candidate],
            "usageMetadata": usage_metadata(response.usage),
            "modelVersion": model,
            "responseId": secrets.token_hex(12),
        }
    )


class GeminiCodec:
    name = "gemini"

    def decode_request(self, body: bytes, *, model: str, stream: bool) -> neutral.Request:
        return decode_request(body, model=model, stream=stream)

    def encode_request(self, request: neutral.Request, model: str) -> bytes:
        return encode_request(request, model)

    def decode_response(self, body: bytes) -> neutral.Response:
        return decode_response(body)

    def encode_response(self, response: neutral.Response, model: str) -> bytes:
        return encode_response(response, model)

    def usage_of(self, body: bytes) -> neutral.Usage | None:
        try:
            usage = msgspec.json.decode(body, type=Response).usage_metadata
        except msgspec.MsgspecError:
            return None
        return None if usage is None else usage.neutral()

    def stream_decoder(self) -> GeminiStreamDecoder:
        return GeminiStreamDecoder()

    def stream_encoder(self, model: str, *, include_usage: bool = False) -> GeminiStreamEncoder:
        return GeminiStreamEncoder(model)

    def error_body(self, error: GatewayError) -> bytes:
        return encode_error(error)

    def stream_error(self, error: GatewayError) -> bytes:
        return stream_error(error)

    def decode_count_request(self, body: bytes, *, model: str) -> neutral.Request:
        raw = decode_client(body, CountRequest)
        inner = raw.generate_content_request or Request(contents=raw.contents or [])
        return from_request(inner, model=model, stream=False)

    def encode_count_request(self, request: neutral.Request, model: str) -> bytes | None:
        inner = {"model": f"models/{model}", **_prompt(request)}
        return msgspec.json.encode({"generateContentRequest": inner})

    def decode_count_response(self, body: bytes) -> int:
        return decode_upstream(body, CountResponse).total_tokens

    def encode_count_response(self, tokens: int) -> bytes:
        return msgspec.json.encode({"totalTokens": tokens})
