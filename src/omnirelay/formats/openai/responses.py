"""The OpenAI Responses API ↔ the neutral pivot: requests, answers, errors (streams: next door).

What a vendor of another format cannot take is left out when the request does not depend on it
(hosted tools without an equivalent, reasoning items another vendor cannot read) and refused
with a 400 when it does (a forced hosted tool, a file input). A namespace's tools reach such a
vendor under flat names (``namespace__name``) and come back namespaced.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from omnirelay.errors import GatewayError, InvalidRequest
from omnirelay.formats import neutral
from omnirelay.formats.decoding import decode_as, decode_upstream
from omnirelay.formats.openai.responses_stream import (
    ResponsesStreamDecoder,
    ResponsesStreamEncoder,
    error_event,
)
from omnirelay.formats.openai.responses_wire import (
    WEB_SEARCH_TOOLS,
    Answer,
    Echo,
    InputPart,
    Item,
    Request,
    ToolChoiceObject,
    ToolDef,
    Usage,
    WithUsage,
    flat_name,
    function_call_item,
    given,
    message_item,
    new_id,
    reasoning_item,
    response_body,
    signature_of,
    status_of,
    stop_of,
)
from omnirelay.formats.openai.wire import encode_error

# Records of hosted tools the vendor ran itself: another vendor can do nothing with them.
_HOSTED_RECORDS = frozenset(
    {
        "web_search_call",
        "file_search_call",
        "image_generation_call",
        "code_interpreter_call",
        "mcp_list_tools",
        "tool_search_call",
        "tool_search_output",
    }
)


@dataclass(slots=True)
class ToolSet:
    """A request's tools as a vendor without the Responses API can take them."""

    functions: list[neutral.Tool] = field(default_factory=list)
    web_search: neutral.WebSearch | None = None
    namespaced: dict[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, tools: Iterable[ToolDef]) -> ToolSet:
        found = cls()
        for tool in tools:
            found._add(tool)
        return found

    def _add(self, tool: ToolDef, namespace: str | None = None) -> None:
        if tool.type == "function" and tool.name:
            name = flat_name(namespace, tool.name)
            if namespace is not None:
                self.namespaced[name] = (namespace, tool.name)
            parameters = tool.parameters or {"type": "object", "properties": {}}
            self.functions.append(neutral.Tool(name, tool.description, parameters))
        elif tool.type == "namespace" and tool.name:
            for inner in tool.tools or ():
                self._add(inner, tool.name)
        elif tool.type in WEB_SEARCH_TOOLS and tool.external_web_access is not False:
            # Codex offers search with ``external_web_access: false`` (its cached index only):
            # a live search elsewhere is not what it asked for.
            domains = tool.filters.allowed_domains if tool.filters is not None else None
            self.web_search = neutral.WebSearch(tuple(domains or ()))
        # Any other hosted tool (file search, code interpreter, MCP, custom grammars…) has no
        # equivalent at other vendors and is left out: the model works with the rest.


def _parts(content: str | list[InputPart] | None, where: str) -> list[neutral.Text | neutral.Image]:
    if content is None:
        return []
    if isinstance(content, str):
        return [neutral.Text(content)]
    parts: list[neutral.Text | neutral.Image] = []
    for part in content:
        if part.type in ("input_text", "output_text", "text", "summary_text"):
            parts.append(neutral.Text(part.text or ""))
        elif part.type == "refusal":
            parts.append(neutral.Text(part.refusal or ""))
        elif part.type == "input_image" and part.image_url:
            parts.append(neutral.image_from_url(part.image_url))
        else:
            kind = "input_image by file_id" if part.type == "input_image" else part.type
            raise InvalidRequest(f"{kind} content cannot be sent to this model", param=where)
    return parts


def _text(content: str | list[InputPart] | None, where: str) -> str:
    return "".join(p.text for p in _parts(content, where) if isinstance(p, neutral.Text))


class _Conversation:
    """Input items → neutral messages: adjacent assistant items (a message, then its function
    calls) make one turn, and tool outputs join the user turn that follows them."""

    def __init__(self) -> None:
        self.system: list[str] = []
        self.messages: list[neutral.Message] = []

    def _turn(self, role: neutral.Role) -> neutral.Message:
        last = self.messages[-1] if self.messages else None
        if last is not None and last.role == role and (role == "assistant" or _only_results(last)):
            return last
        message = neutral.Message(role, [])
        self.messages.append(message)
        return message

    def add(self, item: Item, where: str) -> None:
        kind = item.kind
        if kind == "message":
            self._message(item, where)
        elif kind == "function_call":
            call = neutral.ToolCall(
                item.call_id or item.id or "",
                flat_name(item.namespace, item.name or ""),
                item.arguments or "",
            )
            self._turn("assistant").parts.append(call)
        elif kind == "custom_tool_call":
            arguments = msgspec.json.encode({"input": item.input or ""}).decode()
            call = neutral.ToolCall(item.call_id or "", item.name or "", arguments)
            self._turn("assistant").parts.append(call)
        elif kind in ("function_call_output", "custom_tool_call_output"):
            result = neutral.ToolResult(item.call_id or "", _parts(item.output, where))
            self._turn("user").parts.append(result)
        elif kind == "reasoning":
            self._reasoning(item)
        elif kind in _HOSTED_RECORDS:
            return
        elif kind == "item_reference":
            raise InvalidRequest(
                f"the item '{item.id}' is not one this gateway stored for this key", param=where
            )
        else:
            raise InvalidRequest(
                f"input items of type '{kind}' cannot be sent to this model", param=where
            )

    def _reasoning(self, item: Item) -> None:
        """Another vendor's thinking, as the gateway wrote it, goes back into the pivot;
        OpenAI's encrypted reasoning means nothing elsewhere and stays out."""
        signature = signature_of(item.encrypted_content)
        if signature is None:
            return
        text = "".join(p.text for p in item.summary or ())
        thinking = neutral.Thinking(text, signature=signature)
        self._turn("assistant").parts.append(thinking)

    def _message(self, item: Item, where: str) -> None:
        role = item.role or "user"
        if role in ("system", "developer"):
            self.system.append(_text(item.content, where))
        elif role == "assistant":
            self._turn("assistant").parts.extend(_parts(item.content, where))
        elif role == "user":
            said = _parts(item.content, where)
            last = self.messages[-1] if self.messages else None
            if last is not None and _only_results(last):
                last.parts.extend(said)
            else:
                self.messages.append(neutral.Message("user", list(said)))
        else:
            raise InvalidRequest(f"unknown message role '{role}'", param=f"{where}.role")


def _only_results(message: neutral.Message) -> bool:
    return (
        message.role == "user"
        and bool(message.parts)
        and all(isinstance(p, neutral.ToolResult) for p in message.parts)
    )


def _tool_choice(raw: str | ToolChoiceObject | None, tools: ToolSet) -> neutral.ToolChoice | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        if raw in ("auto", "none", "required"):
            return neutral.ToolChoice(raw)  # type: ignore[arg-type]
        raise InvalidRequest(f"invalid tool_choice '{raw}'", param="tool_choice")
    if raw.type in ("function", "custom") and raw.name:
        return neutral.ToolChoice("named", raw.name)
    if raw.type == "allowed_tools":
        allowed = {flat_name(None, t.name) for t in raw.tools or () if t.name}
        tools.functions = [t for t in tools.functions if t.name in allowed]
        return neutral.ToolChoice("required" if raw.mode == "required" else "auto")
    raise InvalidRequest(
        f"tool_choice '{raw.type}' forces a tool this model does not have", param="tool_choice"
    )


def _reasoning(raw: Request) -> neutral.Reasoning | None:
    config = raw.reasoning
    if config is None or config.effort == "none":
        return None
    summary = config.summary or config.generate_summary
    if config.effort is None and summary is None:
        return None
    return neutral.Reasoning(effort=config.effort, summary=summary)


def decode_items(raw: Request) -> tuple[list[str], list[neutral.Message]]:
    conversation = _Conversation()
    if raw.instructions:
        conversation.system.append(raw.instructions)
    if isinstance(raw.input, str):
        conversation.messages.append(neutral.Message("user", [neutral.Text(raw.input)]))
    else:
        for i, item in enumerate(raw.input or ()):
            conversation.add(item, f"input[{i}]")
    return conversation.system, conversation.messages


def decode_request(body: bytes, *, model: str, stream: bool) -> neutral.Request:
    return decode_with_tools(body, model=model, stream=stream)[0]


def decode_with_tools(body: bytes, *, model: str, stream: bool) -> tuple[neutral.Request, ToolSet]:
    """The request in the pivot form, with the tool set it was offered (its namespaces map a
    vendor's calls back)."""
    raw = decode_as(body, Request)
    if given(raw.prompt):
        raise InvalidRequest("prompt templates are served by OpenAI models only", param="prompt")
    system, messages = decode_items(raw)
    tools = ToolSet.of(raw.tools or ())
    choice = _tool_choice(raw.tool_choice, tools)
    text_format = raw.text.format if raw.text is not None else None
    schema = text_format if text_format is not None and text_format.type == "json_schema" else None
    request = neutral.Request(
        model=model,
        messages=messages,
        system=system,
        tools=tools.functions,
        tool_choice=choice,
        parallel_tool_calls=raw.parallel_tool_calls,
        max_tokens=raw.max_output_tokens,
        temperature=raw.temperature,
        top_p=raw.top_p,
        json_mode=text_format is not None and text_format.type != "text",
        json_schema=(schema.schema or {"type": "object"}) if schema is not None else None,
        schema_name=(schema.name or "response") if schema is not None else "response",
        user=raw.safety_identifier or raw.user,
        stream=stream,
        reasoning=_reasoning(raw),
        web_search=tools.web_search,
    )
    return request, tools


# The other direction: the pivot → a Responses request, for an upstream that speaks it.


def _input_content(parts: list[neutral.Part]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, neutral.Text):
            out.append({"type": "input_text", "text": part.text})
        elif isinstance(part, neutral.Image):
            out.append({"type": "input_image", "image_url": neutral.image_url(part)})
    return out


def _encode_message(message: neutral.Message) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if message.role == "assistant":
        text = "".join(p.text for p in message.parts if isinstance(p, neutral.Text))
        if text:
            items.append({"type": "message", "role": "assistant", "content": text})
        items += [
            {"type": "function_call", "call_id": p.id, "name": p.name, "arguments": p.arguments}
            for p in message.parts
            if isinstance(p, neutral.ToolCall)
        ]
        return items
    for part in message.parts:
        if isinstance(part, neutral.ToolResult):
            items.append({"type": "function_call_output", "call_id": part.id, "output": part.text})
    content = _input_content(message.parts)
    if content:
        items.append({"type": "message", "role": "user", "content": content})
    return items


def _encode_tool_choice(choice: neutral.ToolChoice) -> Any:
    if choice.mode == "named":
        return {"type": "function", "name": choice.name}
    return choice.mode


def encode_request(request: neutral.Request, model: str) -> bytes:
    body: dict[str, Any] = {"model": model, "input": [], "store": False}
    if request.system:
        body["instructions"] = "\n\n".join(request.system)
    for message in request.messages:
        body["input"] += _encode_message(message)
    tools: list[dict[str, Any]] = [
        {
            "type": "function",
            "name": t.name,
            "description": t.description,
            "parameters": t.parameters or {"type": "object", "properties": {}},
            "strict": False,
        }
        for t in request.tools
    ]
    if request.web_search is not None:
        search: dict[str, Any] = {"type": "web_search"}
        if request.web_search.allowed_domains:
            search["filters"] = {"allowed_domains": list(request.web_search.allowed_domains)}
        tools.append(search)
    if tools:
        body["tools"] = tools
    if request.tool_choice is not None:
        body["tool_choice"] = _encode_tool_choice(request.tool_choice)
    if request.json_schema is not None:
        schema = {"type": "json_schema", "name": request.schema_name, "schema": request.json_schema}
        body["text"] = {"format": schema}
    elif request.json_mode:
        body["text"] = {"format": {"type": "json_object"}}
    if request.reasoning is not None and (request.reasoning.effort or request.reasoning.summary):
        reasoning = {"effort": request.reasoning.effort, "summary": request.reasoning.summary}
        body["reasoning"] = {k: v for k, v in reasoning.items() if v is not None}
    optional = {
        "max_output_tokens": request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "parallel_tool_calls": request.parallel_tool_calls,
        "safety_identifier": request.user,
        "stream": True if request.stream else None,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return msgspec.json.encode(body)


# Answers.


def decode_response(body: bytes) -> neutral.Response:
    raw = decode_upstream(body, Answer)
    parts: list[neutral.AnswerPart] = []
    for item in raw.output:
        if item.type == "message":
            text = "".join(p.text or p.refusal or "" for p in item.content or ())
            if text:
                parts.append(neutral.Text(text))
        elif item.type == "function_call":
            name = flat_name(item.namespace, item.name or "")
            parts.append(neutral.ToolCall(item.call_id or "", name, item.arguments or ""))
    called = any(isinstance(p, neutral.ToolCall) for p in parts)
    reason = raw.incomplete_details.reason if raw.incomplete_details is not None else None
    return neutral.Response(
        id=raw.id,
        model=raw.model,
        parts=parts,
        stop=stop_of(raw.status, reason, called),
        usage=(raw.usage or Usage()).neutral(),
    )


def answer_body(response: neutral.Response, echo: Echo) -> dict[str, Any]:
    """The Response object for a vendor's answer."""
    output: list[dict[str, Any]] = []
    for part in response.parts:
        if isinstance(part, neutral.Thinking):  # once Response.parts carries thinking
            output.append(reasoning_item(new_id("rs"), part.text, part.signature))
    text = "".join(p.text for p in response.parts if isinstance(p, neutral.Text))
    if text:
        output.append(message_item(new_id("msg"), text))
    for part in response.parts:
        if isinstance(part, neutral.ToolCall):
            output.append(function_call_item(new_id("fc"), part, echo))
    status, incomplete = status_of(response.stop)
    return response_body(
        echo,
        status=status,
        output=output,
        usage=response.usage,
        incomplete=incomplete,
        completed_at=int(time.time()) if status == "completed" else None,
    )


def default_echo(model: str) -> Echo:
    return Echo.of(b"{}", id=new_id("resp"), created_at=int(time.time()), model=model)


class ResponsesCodec:
    """The Responses API as a ``Codec``. Its answers carry the request's settings only when
    made from an ``Echo`` (``answer_body``, ``ResponsesStreamEncoder``): the surface does that;
    this protocol's ``encode_response`` knows only the model."""

    name = "responses"

    def decode_request(self, body: bytes, *, model: str, stream: bool) -> neutral.Request:
        return decode_request(body, model=model, stream=stream)

    def encode_request(self, request: neutral.Request, model: str) -> bytes:
        return encode_request(request, model)

    def decode_response(self, body: bytes) -> neutral.Response:
        return decode_response(body)

    def encode_response(self, response: neutral.Response, model: str) -> bytes:
        return msgspec.json.encode(answer_body(response, default_echo(model)))

    def usage_of(self, body: bytes) -> neutral.Usage | None:
        try:
            usage = msgspec.json.decode(body, type=WithUsage).usage
        except msgspec.MsgspecError:
            return None
        return usage.neutral() if usage is not None else None

    def stream_decoder(self) -> ResponsesStreamDecoder:
        return ResponsesStreamDecoder()

    def stream_encoder(self, model: str, *, include_usage: bool = False) -> ResponsesStreamEncoder:
        return ResponsesStreamEncoder(default_echo(model))

    def error_body(self, error: GatewayError) -> bytes:
        return encode_error(error)

    def stream_error(self, error: GatewayError) -> bytes:
        return error_event(error, 0)

    def decode_count_request(self, body: bytes, *, model: str) -> neutral.Request:
        return decode_request(body, model=model, stream=False)

    def encode_count_request(self, request: neutral.Request, model: str) -> bytes | None:
        return None  # OpenAI has no token-counting endpoint for other formats to use

    def decode_count_response(self, body: bytes) -> int:
        raise NotImplementedError("the Responses API has no token-counting endpoint here")

    def encode_count_response(self, tokens: int) -> bytes:
        return msgspec.json.encode({"object": "response.input_tokens", "input_tokens": tokens})
