"""The three official SDKs behind one small interface, so one test runs over every client."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any, Protocol

import anthropic
import openai
from google import genai
from google.genai import types

# A 1x1 transparent PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
IMAGE_URL = "https://example.com/cat.png"
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string", "description": "the city"}},
    "required": ["city"],
}


@dataclass
class Call:
    id: str | None
    name: str
    args: dict[str, Any]


@dataclass
class Reply:
    text: str
    calls: list[Call]
    stop: str  # end | tool | length | stop_sequence
    input_tokens: int
    output_tokens: int
    turn: Any = None  # the assistant turn in the SDK's own shape, to send back
    extra: dict[str, Any] = field(default_factory=dict)


class Client(Protocol):
    name: str

    def user(self, text: str, images: bool = False) -> Any: ...

    def send(
        self,
        model: str,
        history: list[Any],
        *,
        stream: bool,
        system: str | None = None,
        tools: bool = False,
        max_tokens: int | None = None,
    ) -> Reply: ...

    def answer_tools(self, history: list[Any], reply: Reply, result: str) -> list[Any]: ...


class OpenAIClient:
    name = "openai"

    def __init__(self, url: str, key: str) -> None:
        self.sdk = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)

    def user(self, text: str, images: bool = False) -> Any:
        if not images:
            return {"role": "user", "content": text}
        inline = "data:image/png;base64," + base64.b64encode(PNG).decode()
        return {
            "role": "user",
            "content": [
                {"type": "text", "text": text},
                {"type": "image_url", "image_url": {"url": inline}},
                {"type": "image_url", "image_url": {"url": IMAGE_URL}},
            ],
        }

    def send(
        self,
        model: str,
        history: list[Any],
        *,
        stream: bool,
        system: str | None = None,
        tools: bool = False,
        max_tokens: int | None = None,
    ) -> Reply:
        messages = ([{"role": "system", "content": system}] if system else []) + history
        options: dict[str, Any] = {}
        if tools:
            function = {
                "name": "get_weather",
                "description": "Weather",
                "parameters": WEATHER_SCHEMA,
            }
            options["tools"] = [{"type": "function", "function": function}]
        if max_tokens:
            options["max_tokens"] = max_tokens
        if not stream:
            r = self.sdk.chat.completions.create(model=model, messages=messages, **options)
            message = r.choices[0].message
            calls = [
                Call(c.id, c.function.name, json.loads(c.function.arguments))
                for c in message.tool_calls or ()
            ]
            assert r.usage is not None
            return Reply(
                message.content or "",
                calls,
                _stop(r.choices[0].finish_reason),
                r.usage.prompt_tokens,
                r.usage.completion_tokens,
                message.model_dump(exclude_none=True),
            )
        text, finish, usage = "", None, None
        parts: dict[int, dict[str, Any]] = {}
        events = self.sdk.chat.completions.create(
            model=model,
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
            **options,
        )
        for chunk in events:
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                text += choice.delta.content or ""
                finish = choice.finish_reason or finish
                for tc in choice.delta.tool_calls or ():
                    entry = parts.setdefault(tc.index, {"id": tc.id, "name": "", "args": ""})
                    entry["name"] += (tc.function.name or "") if tc.function else ""
                    entry["args"] += (tc.function.arguments or "") if tc.function else ""
        assert usage is not None and finish is not None
        calls = [Call(p["id"], p["name"], json.loads(p["args"])) for p in parts.values()]
        turn: dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            turn["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": json.dumps(c.args)},
                }
                for c in calls
            ]
        return Reply(text, calls, _stop(finish), usage.prompt_tokens, usage.completion_tokens, turn)

    def answer_tools(self, history: list[Any], reply: Reply, result: str) -> list[Any]:
        return [*history, reply.turn] + [
            {"role": "tool", "tool_call_id": c.id, "content": result} for c in reply.calls
        ]


class AnthropicClient:
    name = "anthropic"

    def __init__(self, url: str, key: str, bearer: bool = False) -> None:
        credentials = {"auth_token": key} if bearer else {"api_key": key}
        self.sdk = anthropic.Anthropic(base_url=url, max_retries=0, **credentials)  # type: ignore[arg-type]

    def user(self, text: str, images: bool = False) -> Any:
        if not images:
            return {"role": "user", "content": text}
        inline = {
            "type": "base64",
            "media_type": "image/png",
            "data": base64.b64encode(PNG).decode(),
        }
        return {
            "role": "user",
            "content": [
                {"type": "text", "text": text},
                {"type": "image", "source": inline},
                {"type": "image", "source": {"type": "url", "url": IMAGE_URL}},
            ],
        }

    def send(
        self,
        model: str,
        history: list[Any],
        *,
        stream: bool,
        system: str | None = None,
        tools: bool = False,
        max_tokens: int | None = None,
    ) -> Reply:
        options: dict[str, Any] = {"max_tokens": max_tokens or 1024}
        if system:
            options["system"] = system
        if tools:
            options["tools"] = [
                {"name": "get_weather", "description": "Weather", "input_schema": WEATHER_SCHEMA}
            ]
        if stream:
            with self.sdk.messages.stream(model=model, messages=history, **options) as events:
                streamed = "".join(events.text_stream)
                message = events.get_final_message()
            assert streamed == "".join(b.text for b in message.content if b.type == "text")
        else:
            message = self.sdk.messages.create(model=model, messages=history, **options)
        text = "".join(b.text for b in message.content if b.type == "text")
        calls = [Call(b.id, b.name, dict(b.input)) for b in message.content if b.type == "tool_use"]  # type: ignore[arg-type]
        turn = {
            "role": "assistant",
            "content": [b.model_dump(exclude_none=True) for b in message.content],
        }
        return Reply(
            text,
            calls,
            _stop(message.stop_reason),
            message.usage.input_tokens,
            message.usage.output_tokens,
            turn,
            {"stop_sequence": message.stop_sequence},
        )

    def answer_tools(self, history: list[Any], reply: Reply, result: str) -> list[Any]:
        results = [
            {"type": "tool_result", "tool_use_id": c.id, "content": result} for c in reply.calls
        ]
        return [*history, reply.turn, {"role": "user", "content": results}]


class GeminiClient:
    name = "gemini"

    def __init__(self, url: str, key: str, api_version: str | None = None) -> None:
        options: dict[str, Any] = {"base_url": url}
        if api_version:
            options["api_version"] = api_version
        self.sdk = genai.Client(api_key=key, http_options=options)

    def user(self, text: str, images: bool = False) -> Any:
        parts = [types.Part.from_text(text=text)]
        if images:
            parts += [
                types.Part.from_bytes(data=PNG, mime_type="image/png"),
                types.Part.from_uri(file_uri=IMAGE_URL, mime_type="image/png"),
            ]
        return types.Content(role="user", parts=parts)

    def send(
        self,
        model: str,
        history: list[Any],
        *,
        stream: bool,
        system: str | None = None,
        tools: bool = False,
        max_tokens: int | None = None,
    ) -> Reply:
        config = types.GenerateContentConfig(
            system_instruction=system,
            max_output_tokens=max_tokens,
            tools=[
                types.Tool(
                    function_declarations=[
                        types.FunctionDeclaration(
                            name="get_weather", description="Weather", parameters=WEATHER_SCHEMA
                        )
                    ]
                )
            ]
            if tools
            else None,  # type: ignore[arg-type]
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )
        if stream:
            chunks = list(
                self.sdk.models.generate_content_stream(
                    model=model, contents=history, config=config
                )
            )
        else:
            chunks = [
                self.sdk.models.generate_content(model=model, contents=history, config=config)
            ]
        parts = [p for c in chunks if c.candidates for p in (c.candidates[0].content.parts or [])]  # type: ignore[union-attr]
        text = "".join(p.text for p in parts if p.text)
        calls = [
            Call(p.function_call.id, p.function_call.name or "", dict(p.function_call.args or {}))
            for p in parts
            if p.function_call
        ]
        last = chunks[-1]
        assert last.candidates and last.usage_metadata is not None
        finish = last.candidates[0].finish_reason
        stop = (
            "tool"
            if calls and finish == types.FinishReason.STOP
            else _stop(finish.value if finish else None)
        )
        turn = types.Content(role="model", parts=[p for p in parts if p.function_call or p.text])
        usage = last.usage_metadata
        return Reply(
            text,
            calls,
            stop,
            usage.prompt_token_count or 0,
            usage.candidates_token_count or 0,
            turn,
        )

    def answer_tools(self, history: list[Any], reply: Reply, result: str) -> list[Any]:
        responses = [
            types.Part.from_function_response(name=c.name, response={"result": result})
            for c in reply.calls
        ]
        return [*history, reply.turn, types.Content(role="user", parts=responses)]


_STOPS = {
    "stop": "end",
    "end_turn": "end",
    "STOP": "end",
    "length": "length",
    "max_tokens": "length",
    "MAX_TOKENS": "length",
    "tool_calls": "tool",
    "tool_use": "tool",
    "stop_sequence": "stop_sequence",
}


def _stop(reason: str | None) -> str:
    return _STOPS.get(reason or "", f"unknown:{reason}")


def make_client(name: str, url: str, key: str) -> Client:
    makers = {"openai": OpenAIClient, "anthropic": AnthropicClient, "gemini": GeminiClient}
    return makers[name](url, key)  # type: ignore[no-any-return]
