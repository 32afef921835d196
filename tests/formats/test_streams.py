"""Stream translation, event by event, from recorded-shape vendor streams (and their errors)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from omnirelay.formats.codec import stream_passthrough, translation
from omnirelay.formats.openai.stream import UsageChunkFilter
from omnirelay.formats.sse import DONE, data_of


def _sse(data: dict[str, Any], event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


def _anthropic(name: str, **data: Any) -> bytes:
    return _sse({"type": name, **data}, event=name)


def _openai_chunk(delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> bytes:
    choices = [{"index": 0, "delta": delta, "finish_reason": finish}] if usage is None else []
    return _sse({"id": "chatcmpl-1", "model": "gpt", "choices": choices, "usage": usage})


# Each vendor says: "Let me check." then calls get_weather({"city": "Paris"}), in its own shape.
STREAMS: dict[str, list[bytes]] = {
    "anthropic": [
        _anthropic(
            "message_start",
            message={
                "id": "msg_1",
                "model": "claude",
                "content": [],
                "usage": {"input_tokens": 11, "output_tokens": 1},
            },
        ),
        _anthropic("ping"),
        _anthropic("content_block_start", index=0, content_block={"type": "text", "text": ""}),
        _anthropic("content_block_delta", index=0, delta={"type": "text_delta", "text": "Let me"}),
        _anthropic("content_block_delta", index=0, delta={"type": "text_delta", "text": " check."}),
        _anthropic("content_block_stop", index=0),
        _anthropic(
            "content_block_start",
            index=1,
            content_block={"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {}},
        ),
        _anthropic(
            "content_block_delta", index=1, delta={"type": "input_json_delta", "partial_json": ""}
        ),
        _anthropic(
            "content_block_delta",
            index=1,
            delta={"type": "input_json_delta", "partial_json": '{"city": '},
        ),
        _anthropic(
            "content_block_delta",
            index=1,
            delta={"type": "input_json_delta", "partial_json": '"Paris"}'},
        ),
        _anthropic("content_block_stop", index=1),
        _anthropic(
            "message_delta",
            delta={"stop_reason": "tool_use", "stop_sequence": None},
            usage={"output_tokens": 7},
        ),
        _anthropic("message_stop"),
    ],
    "openai": [
        _openai_chunk({"role": "assistant", "content": ""}),
        _openai_chunk({"content": "Let me"}),
        _openai_chunk({"content": " check."}),
        _openai_chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "toolu_9",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            }
        ),
        _openai_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
        _openai_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
        _openai_chunk({}, "tool_calls"),
        _openai_chunk({}, usage={"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}),
        b"data: [DONE]\n\n",
    ],
    "gemini": [
        _sse(
            {
                "candidates": [
                    {"content": {"role": "model", "parts": [{"text": "Let me"}]}, "index": 0}
                ],
                "usageMetadata": {"promptTokenCount": 11, "totalTokenCount": 11},
                "responseId": "r1",
                "modelVersion": "gemini",
            }
        ),
        _sse(
            {
                "candidates": [
                    {"content": {"role": "model", "parts": [{"text": " check."}]}, "index": 0}
                ],
                "responseId": "r1",
            }
        ),
        _sse(
            {
                "candidates": [
                    {
                        "content": {
                            "role": "model",
                            "parts": [
                                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}
                            ],
                        },
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": {
                    "promptTokenCount": 11,
                    "candidatesTokenCount": 7,
                    "totalTokenCount": 18,
                },
                "responseId": "r1",
            }
        ),
    ],
}
PAIRS = [(c, v) for c in STREAMS for v in STREAMS if c != v]


def _payloads(events: list[bytes]) -> list[Any]:
    out = []
    for event in events:
        data = data_of(event)
        if data is not None and data != b"[DONE]":
            out.append(json.loads(data))
    return out


def _read(
    client: str, events: list[bytes]
) -> tuple[str, str, dict[str, Any], str, tuple[int, int]]:
    """What a client of ``client`` format understands: text, tool id/name/args, stop, usage."""
    payloads = _payloads(events)
    if client == "openai":
        text = "".join(
            c["choices"][0]["delta"].get("content") or "" for c in payloads if c["choices"]
        )
        calls = [
            tc
            for c in payloads
            if c["choices"]
            for tc in c["choices"][0]["delta"].get("tool_calls", [])
        ]
        args = "".join(tc["function"].get("arguments", "") for tc in calls)
        stop = next(
            c["choices"][0]["finish_reason"]
            for c in payloads
            if c["choices"] and c["choices"][0]["finish_reason"]
        )
        usage = next(c["usage"] for c in payloads if c.get("usage"))
        return (
            text,
            f"{calls[0]['id']}/{calls[0]['function']['name']}",
            json.loads(args),
            stop,
            (usage["prompt_tokens"], usage["completion_tokens"]),
        )
    if client == "anthropic":
        text = "".join(
            p["delta"].get("text", "") for p in payloads if p["type"] == "content_block_delta"
        )
        block = next(
            p["content_block"]
            for p in payloads
            if p["type"] == "content_block_start" and p["content_block"]["type"] == "tool_use"
        )
        args = "".join(
            p["delta"].get("partial_json", "")
            for p in payloads
            if p["type"] == "content_block_delta"
        )
        final = next(p for p in payloads if p["type"] == "message_delta")
        return (
            text,
            f"{block['id']}/{block['name']}",
            json.loads(args),
            final["delta"]["stop_reason"],
            (final["usage"]["input_tokens"], final["usage"]["output_tokens"]),
        )
    parts = [p for c in payloads for p in c["candidates"][0]["content"]["parts"]]
    text = "".join(p.get("text", "") for p in parts)
    call = next(p["functionCall"] for p in parts if "functionCall" in p)
    usage = payloads[-1]["usageMetadata"]
    return (
        text,
        f"{call.get('id')}/{call['name']}",
        call["args"],
        payloads[-1]["candidates"][0]["finishReason"],
        (usage["promptTokenCount"], usage["candidatesTokenCount"]),
    )


STOPS = {"openai": "tool_calls", "anthropic": "tool_use", "gemini": "STOP"}


@pytest.mark.parametrize(("client", "vendor"), PAIRS)
def test_stream_translation_is_faithful(client: str, vendor: str) -> None:
    found = translation(client, vendor)
    assert found is not None
    translator = found.stream("the-model", include_usage=True)
    out: list[bytes] = []
    for event in STREAMS[vendor]:
        out += translator.feed(event)
    assert translator.complete and translator.failure is None
    out += translator.finish()
    text, call, args, stop, usage = _read(client, out)
    assert text == "Let me check."
    name = call.split("/")[1]
    assert name == "get_weather" and args == {"city": "Paris"}
    if vendor != "gemini":
        assert call.split("/")[0] == "toolu_9"  # ids preserved
    assert stop == STOPS[client]
    assert usage == (11, 7)
    assert translator.usage is not None and translator.usage.output_tokens == 7


@pytest.mark.parametrize("client", ["openai", "anthropic"])
def test_argument_fragments_stream_as_they_come(client: str) -> None:
    """Each upstream fragment is written at once, not collected (formats that have fragments)."""
    vendor = "anthropic" if client == "openai" else "openai"
    translator = translation(client, vendor).stream("m")  # type: ignore[union-attr]
    checked = 0
    for event in STREAMS[vendor]:
        written = translator.feed(event)
        text = event.decode()
        if "arguments" in text or "partial_json" in text:
            for fragment in ("city", "Paris"):
                if fragment in text:
                    assert len(written) == 1 and fragment in written[0].decode()
                    checked += 1
    assert checked == 2


def test_anthropic_stream_event_sequence() -> None:
    translator = translation("anthropic", "gemini").stream("claude-like")  # type: ignore[union-attr]
    out: list[bytes] = []
    for event in STREAMS["gemini"]:
        out += translator.feed(event)
    out += translator.finish()
    names = [e.split(b"\n", 1)[0].decode() for e in out]
    assert names == [
        "event: message_start",
        "event: ping",
        "event: content_block_start",
        "event: content_block_delta",
        "event: content_block_delta",
        "event: content_block_stop",
        "event: content_block_start",
        "event: content_block_delta",
        "event: content_block_stop",
        "event: message_delta",
        "event: message_stop",
    ]
    indices = [json.loads(e.split(b"data: ")[1]).get("index") for e in out]
    assert indices[2:9] == [0, 0, 0, 0, 1, 1, 1]


MID_STREAM_ERRORS = {
    "anthropic": _anthropic("error", error={"type": "overloaded_error", "message": "Overloaded"}),
    "openai": _sse({"error": {"message": "boom", "type": "server_error"}}),
    "gemini": _sse({"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}}),
}


@pytest.mark.parametrize(("client", "vendor"), PAIRS)
def test_mid_stream_errors_become_the_clients_error_event(client: str, vendor: str) -> None:
    translator = translation(client, vendor).stream("m")  # type: ignore[union-attr]
    translator.feed(STREAMS[vendor][0])
    (event,) = translator.feed(MID_STREAM_ERRORS[vendor])
    assert translator.failure is not None and translator.failure.status >= 500
    payload = json.loads(data_of(event) or b"")
    if client == "anthropic":
        assert event.startswith(b"event: error\n") and payload["type"] == "error"
    elif client == "gemini":
        assert payload["error"]["code"] >= 500 and payload["error"]["status"]
    else:
        assert payload["error"]["type"]


@pytest.mark.parametrize("fmt", sorted(STREAMS))
def test_pass_through_streams_are_untouched_but_read(fmt: str) -> None:
    reader = stream_passthrough(fmt)
    for event in STREAMS[fmt]:
        assert reader.feed(event) == [event]
    assert reader.complete and reader.usage is not None
    assert (reader.usage.input_tokens, reader.usage.output_tokens) == (11, 7)
    assert stream_passthrough(fmt).complete is False


@pytest.mark.parametrize("client", ["openai", "anthropic"])
def test_a_blocked_gemini_prompt_ends_the_stream_as_filtered(client: str) -> None:
    translator = translation(client, "gemini").stream("m")  # type: ignore[union-attr]
    out = translator.feed(
        _sse(
            {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}}
        )
    )
    assert translator.complete
    out += translator.finish()
    text = b"".join(out).decode()
    assert ("content_filter" if client == "openai" else "refusal") in text


@pytest.mark.parametrize("keep", [True, False])
def test_the_openai_usage_filter_reads_usage_and_drops_the_chunk_the_client_did_not_ask_for(
    keep: bool,
) -> None:
    usage_chunk = _sse(
        {"id": "c", "choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 2}}
    )
    content = _sse(
        {"id": "c", "choices": [{"index": 0, "delta": {"content": "hi"}}], "usage": None}
    )
    stream = UsageChunkFilter(keep_usage_chunk=keep)
    out = stream.feed(content) + stream.feed(usage_chunk) + stream.feed(DONE)
    assert out == ([content, usage_chunk, DONE] if keep else [content, DONE])
    assert stream.complete and stream.usage is not None
    assert (stream.usage.input_tokens, stream.usage.output_tokens) == (4, 2)
