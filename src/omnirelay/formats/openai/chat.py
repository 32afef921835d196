"""OpenAI chat completions ↔ the neutral pivot: requests, answers, errors (streams: next door).

Reasoning: ``reasoning_effort`` both ways (sent only to the models that take it), and the
``reasoning_content`` that reasoning vendors of this format put beside the answer's content.
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any

import msgspec

from omnirelay.errors import GatewayError, InvalidRequest
from omnirelay.formats import neutral
from omnirelay.formats.decoding import decode_as, decode_upstream
from omnirelay.formats.openai.stream import (
    FINISH_NAMES,
    FINISH_REASONS,
    OpenAIStreamDecoder,
    OpenAIStreamEncoder,
    new_id,
    usage_document,
)
from omnirelay.formats.openai.wire import Usage, encode_error
from omnirelay.formats.sse import encode_data


class ImageURL(msgspec.Struct):
    url: str


class ContentPart(msgspec.Struct):
    type: str
    text: str | None = None
    image_url: ImageURL | None = None


class FunctionCall(msgspec.Struct):
    name: str = ""
    arguments: str = ""


class ToolCall(msgspec.Struct):
    id: str = ""
    type: str = "function"
    function: FunctionCall = msgspec.field(default_factory=FunctionCall)


class Message(msgspec.Struct):
    role: str
    content: str | list[ContentPart] | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None
    reasoning_content: str | None = None


class FunctionDef(msgspec.Struct):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


class Tool(msgspec.Struct):
    function: FunctionDef
    type: str = "function"


class NamedFunction(msgspec.Struct):
    name: str


class NamedChoice(msgspec.Struct):
    function: NamedFunction
    type: str = "function"


class JsonSchema(msgspec.Struct):
    name: str = "response"
    schema: dict[str, Any] | None = None


class ResponseFormat(msgspec.Struct):
    type: str
    json_schema: JsonSchema | None = None


class Request(msgspec.Struct):
    messages: list[Message]
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int | None = None
    user: str | None = None
    tools: list[Tool] | None = None
    tool_choice: str | NamedChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: str | None = None


class AnswerMessage(msgspec.Struct):
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    refusal: str | None = None
    reasoning_content: str | None = None


class Choice(msgspec.Struct):
    message: AnswerMessage
    finish_reason: str | None = None


class Response(msgspec.Struct):
    id: str = ""
    model: str = ""
    choices: list[Choice] = []
    usage: Usage | None = None


class _WithUsage(msgspec.Struct):
    usage: Usage | None = None


def _user_parts(content: str | list[ContentPart] | None) -> list[neutral.Text | neutral.Image]:
    if content is None:
        return []
    if isinstance(content, str):
        return [neutral.Text(content)]
    parts: list[neutral.Text | neutral.Image] = []
    for part in content:
        if part.type == "text":
            parts.append(neutral.Text(part.text or ""))
        elif part.type == "image_url" and part.image_url is not None:
            parts.append(neutral.image_from_url(part.image_url.url))
        else:
            raise InvalidRequest(
                f"content parts of type '{part.type}' cannot be sent to this model",
                param="messages",
            )
    return parts


def _text(content: str | list[ContentPart] | None) -> str:
    return "".join(p.text for p in _user_parts(content) if isinstance(p, neutral.Text))


def _only_results(message: neutral.Message) -> bool:
    return (
        message.role == "user"
        and bool(message.parts)
        and all(isinstance(p, neutral.ToolResult) for p in message.parts)
    )


def _messages(raw: list[Message]) -> tuple[list[str], list[neutral.Message]]:
    system: list[str] = []
    messages: list[neutral.Message] = []
    for message in raw:
        if message.role in ("system", "developer"):
            system.append(_text(message.content))
        elif message.role == "user":
            said: list[neutral.Part] = list(_user_parts(message.content))
            if messages and _only_results(messages[-1]):
                # Tool results then words, in one turn: how Anthropic and Gemini put it.
                messages[-1].parts.extend(said)
            else:
                messages.append(neutral.Message("user", said))
        elif message.role == "assistant":
            parts: list[neutral.Part] = []
            if message.reasoning_content:
                parts.append(neutral.Thinking(message.reasoning_content))
            parts += _user_parts(message.content)
            parts += [
                neutral.ToolCall(c.id, c.function.name, c.function.arguments)
                for c in message.tool_calls or ()
            ]
            messages.append(neutral.Message("assistant", parts))
        elif message.role == "tool":
            result = neutral.ToolResult(
                id=message.tool_call_id or "", content=list(_user_parts(message.content))
            )
            if messages and _only_results(messages[-1]):
                messages[-1].parts.append(result)
            else:
                messages.append(neutral.Message("user", [result]))
        else:
            raise InvalidRequest(f"unknown message role '{message.role}'", param="messages")
    return system, messages


def _tool_choice(raw: str | NamedChoice | None) -> neutral.ToolChoice | None:
    if raw is None:
        return None
    if isinstance(raw, NamedChoice):
        return neutral.ToolChoice("named", raw.function.name)
    if raw in ("auto", "none", "required"):
        return neutral.ToolChoice(raw)  # type: ignore[arg-type]
    raise InvalidRequest(f"invalid tool_choice '{raw}'", param="tool_choice")


def decode_request(body: bytes, *, model: str, stream: bool) -> neutral.Request:
    raw = decode_as(body, Request)
    if (raw.n or 1) > 1:
        raise InvalidRequest("'n' greater than 1 is not supported for this model", param="n")
    system, messages = _messages(raw.messages)
    stop = [raw.stop] if isinstance(raw.stop, str) else list(raw.stop or ())
    response_format = raw.response_format
    schema = response_format.json_schema if response_format is not None else None
    return neutral.Request(
        model=model,
        messages=messages,
        system=system,
        tools=[
            neutral.Tool(t.function.name, t.function.description, t.function.parameters or {})
            for t in raw.tools or ()
        ],
        tool_choice=_tool_choice(raw.tool_choice),
        parallel_tool_calls=raw.parallel_tool_calls,
        max_tokens=raw.max_completion_tokens or raw.max_tokens,
        temperature=raw.temperature,
        top_p=raw.top_p,
        stop=stop,
        seed=raw.seed,
        json_mode=response_format is not None and response_format.type != "text",
        json_schema=schema.schema if schema is not None else None,
        schema_name=schema.name if schema is not None else "response",
        user=raw.user,
        stream=stream,
        reasoning=neutral.Reasoning(effort=raw.reasoning_effort) if raw.reasoning_effort else None,
    )


# The OpenAI models that take ``reasoning_effort`` (the o-series, gpt-5 and later, gpt-oss);
# the others refuse the parameter. A router's ``openai/`` prefix is ignored.
_REASONING_MODELS = re.compile(r"^(o\d|gpt-(?:[5-9]|\d{2})|gpt-oss|codex)")
_EFFORTS = ("none", "minimal", "low", "medium", "high")
# Thinking budgets (Claude's, Gemini's) as effort words.
_BUDGET_EFFORT = ((1024, "minimal"), (4096, "low"), (16384, "medium"))


def reasons(model: str) -> bool:
    return _REASONING_MODELS.match(model.rsplit("/", 1)[-1].lower()) is not None


def reasoning_effort(reasoning: neutral.Reasoning | None, model: str) -> str | None:
    """The ``reasoning_effort`` for ``model``, or None to leave the model's default."""
    if reasoning is None or not reasons(model):
        return None
    effort = reasoning.effort
    if effort in _EFFORTS:
        return effort
    if effort is not None:
        return "high"  # Claude's xhigh and max
    budget = reasoning.budget_tokens
    if budget is None:
        return None  # adaptive: the model's own judgement
    return next((word for limit, word in _BUDGET_EFFORT if budget <= limit), "high")


def user_field(user: str) -> str:
    """Claude Code's ``metadata.user_id`` is a JSON document; OpenAI wants a short id."""
    if len(user) <= 64:
        return user
    return "user-" + hashlib.sha256(user.encode()).hexdigest()[:32]


def function_parameters(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema as OpenAI takes it: the ``$schema`` dialect marker says nothing to it."""
    if not schema:
        return {"type": "object", "properties": {}}
    return {k: v for k, v in schema.items() if k != "$schema"}


def _content(parts: list[neutral.Text | neutral.Image]) -> str | list[dict[str, Any]]:
    if all(isinstance(p, neutral.Text) for p in parts):
        # Blocks of text (a client's context, then what the user typed) stay apart.
        return "\n\n".join(p.text for p in parts if isinstance(p, neutral.Text))
    return [
        {"type": "text", "text": p.text}
        if isinstance(p, neutral.Text)
        else {"type": "image_url", "image_url": {"url": neutral.image_url(p)}}
        for p in parts
    ]


def _encode_message(message: neutral.Message) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    media = [p for p in message.parts if isinstance(p, neutral.Text | neutral.Image)]
    if message.role == "assistant":
        # Thinking stays behind: OpenAI takes no reasoning back in chat messages.
        calls = [p for p in message.parts if isinstance(p, neutral.ToolCall)]
        text = "".join(p.text for p in media if isinstance(p, neutral.Text))
        entry: dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            entry["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in calls
            ]
        return [entry]
    for part in message.parts:
        if isinstance(part, neutral.ToolResult):
            # OpenAI tool messages carry text only; images in a result cannot travel.
            out.append({"role": "tool", "tool_call_id": part.id, "content": part.text})
    if media:
        out.append({"role": "user", "content": _content(media)})
    return out


def encode_request(request: neutral.Request, model: str) -> bytes:
    body: dict[str, Any] = {"model": model, "messages": []}
    body["messages"] += [{"role": "system", "content": s} for s in request.system]
    for message in request.messages:
        body["messages"] += _encode_message(message)
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    **({"description": t.description} if t.description else {}),
                    "parameters": function_parameters(t.parameters),
                },
            }
            for t in request.tools
        ]
        if request.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = request.parallel_tool_calls
    if request.tool_choice is not None:
        choice = request.tool_choice
        body["tool_choice"] = (
            {"type": "function", "function": {"name": choice.name}}
            if choice.mode == "named"
            else choice.mode
        )
    optional = {
        "max_completion_tokens": request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "seed": request.seed,
        "user": user_field(request.user) if request.user else None,
        "stop": request.stop or None,
        "reasoning_effort": reasoning_effort(request.reasoning, model),
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    if reasons(model):
        # Reasoning models take only their default sampling.
        if body.get("temperature") not in (None, 1):
            del body["temperature"]
        body.pop("top_p", None)
    if request.json_schema is not None:
        schema = {"name": request.schema_name, "schema": request.json_schema}
        body["response_format"] = {"type": "json_schema", "json_schema": schema}
    elif request.json_mode:
        body["response_format"] = {"type": "json_object"}
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return msgspec.json.encode(body)


def decode_response(body: bytes) -> neutral.Response:
    raw = decode_upstream(body, Response)
    parts: list[neutral.AnswerPart] = []
    stop = neutral.StopReason.END
    if raw.choices:
        choice = raw.choices[0]
        if choice.message.reasoning_content:
            parts.append(neutral.Thinking(choice.message.reasoning_content))
        content = choice.message.content or choice.message.refusal
        if content:
            parts.append(neutral.Text(content))
        parts += [
            neutral.ToolCall(c.id, c.function.name, c.function.arguments)
            for c in choice.message.tool_calls or ()
        ]
        stop = FINISH_REASONS.get(choice.finish_reason or "stop", neutral.StopReason.END)
    return neutral.Response(
        id=raw.id,
        model=raw.model,
        parts=parts,
        stop=stop,
        usage=(raw.usage or Usage()).neutral(),
    )


def encode_response(response: neutral.Response, model: str) -> bytes:
    text = "".join(p.text for p in response.parts if isinstance(p, neutral.Text))
    calls = [p for p in response.parts if isinstance(p, neutral.ToolCall)]
    message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
    thought = "".join(p.text for p in response.parts if isinstance(p, neutral.Thinking))
    if thought:
        message["reasoning_content"] = thought
    if calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in calls
        ]
    usage = response.usage
    return msgspec.json.encode(
        {
            "id": new_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": FINISH_NAMES[response.stop],
                }
            ],
            "usage": usage_document(usage),
        }
    )


class OpenAICodec:
    name = "openai"

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
            usage = msgspec.json.decode(body, type=_WithUsage).usage
        except msgspec.MsgspecError:
            return None
        return None if usage is None else usage.neutral()

    def stream_decoder(self) -> OpenAIStreamDecoder:
        return OpenAIStreamDecoder()

    def stream_encoder(self, model: str, *, include_usage: bool = False) -> OpenAIStreamEncoder:
        return OpenAIStreamEncoder(model, include_usage=include_usage)

    def error_body(self, error: GatewayError) -> bytes:
        return encode_error(error)

    def stream_error(self, error: GatewayError) -> bytes:
        return encode_data(encode_error(error))

    def decode_count_request(self, body: bytes, *, model: str) -> neutral.Request:
        return decode_request(body, model=model, stream=False)

    def encode_count_request(self, request: neutral.Request, model: str) -> bytes | None:
        return None  # OpenAI has no token-counting endpoint

    def decode_count_response(self, body: bytes) -> int:
        raise NotImplementedError("OpenAI has no token-counting endpoint")

    def encode_count_response(self, tokens: int) -> bytes:
        return msgspec.json.encode({"prompt_tokens": tokens})
