"""The Responses API codec, table by table: requests into the pivot (and what is left out or
refused), the pivot into each vendor's format, answers back into Response objects that the
official SDK's types accept, and the conversation state kept between turns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from openai.types.responses import Response

from omnirelay.errors import InvalidRequest
from omnirelay.formats import neutral
from omnirelay.formats.codec import codec, translation
from omnirelay.formats.openai import responses_items
from omnirelay.formats.openai.responses import (
    answer_body,
    decode_request,
    decode_response,
    decode_with_tools,
    encode_request,
)
from omnirelay.formats.openai.responses_wire import Echo
from omnirelay.sandbox.responses_input import check_items, validate

FIXTURES = Path(__file__).parent / "fixtures"
PNG_DATA = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def _decode(**body: Any) -> neutral.Request:
    return decode_request(json.dumps({"model": "m", **body}).encode(), model="m", stream=False)


def codex_request() -> dict[str, Any]:
    """A request Codex CLI 0.171 sent (second turn: after a tool call), captured against a
    stub server."""
    return dict(json.loads((FIXTURES / "codex_request.json").read_text()))


def test_string_input_and_instructions() -> None:
    request = _decode(input="Hello", instructions="Be brief", max_output_tokens=50)
    assert request.system == ["Be brief"]
    assert request.messages == [neutral.Message("user", [neutral.Text("Hello")])]
    assert request.max_tokens == 50


def test_items_become_turns_with_tool_results_after_the_calls() -> None:
    request = _decode(
        input=[
            {"role": "developer", "content": "Rules"},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "Look"},
                {"type": "input_image", "image_url": "https://example.com/cat.png"},
                {"type": "input_image", "image_url": f"data:image/png;base64,{PNG_DATA}"},
            ]},
            {"type": "message", "role": "assistant",
             "content": [{"type": "output_text", "text": "Checking", "annotations": []}]},
            {"type": "function_call", "call_id": "c1", "name": "get_weather",
             "arguments": '{"city":"Paris"}'},
            {"type": "function_call", "call_id": "c2", "name": "get_weather",
             "arguments": '{"city":"Rome"}'},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
            {"type": "function_call_output", "call_id": "c2",
             "output": [{"type": "input_text", "text": "rainy"}]},
            {"role": "user", "content": "Thanks"},
        ]
    )  # fmt: skip
    assert request.system == ["Rules"]
    user, assistant, results = request.messages
    assert user.parts[0] == neutral.Text("Look")
    assert user.parts[1] == neutral.Image("image/png", url="https://example.com/cat.png")
    assert user.parts[2] == neutral.Image("image/png", data=PNG_DATA)
    assert assistant.role == "assistant"
    assert assistant.parts == [
        neutral.Text("Checking"),
        neutral.ToolCall("c1", "get_weather", '{"city":"Paris"}'),
        neutral.ToolCall("c2", "get_weather", '{"city":"Rome"}'),
    ]
    assert results.role == "user"
    assert [p.text for p in results.parts] == ["sunny", "rainy", "Thanks"]
    assert [p.id for p in results.parts if isinstance(p, neutral.ToolResult)] == ["c1", "c2"]


def test_settings_reach_the_pivot() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    request = _decode(
        input="x",
        tools=[WEATHER],
        tool_choice={"type": "function", "name": "get_weather"},
        parallel_tool_calls=False,
        text={"format": {"type": "json_schema", "name": "thing", "schema": schema}},
        reasoning={"effort": "low", "summary": "auto"},
        temperature=0.3,
        top_p=0.9,
        safety_identifier="u-1",
    )
    assert request.tools == [neutral.Tool("get_weather", "Weather", WEATHER["parameters"])]
    assert request.tool_choice == neutral.ToolChoice("named", "get_weather")
    assert request.parallel_tool_calls is False
    assert request.json_schema == schema and request.schema_name == "thing" and request.json_mode
    assert request.reasoning == neutral.Reasoning(effort="low", summary="auto")
    assert (request.temperature, request.top_p, request.user) == (0.3, 0.9, "u-1")
    assert _decode(input="x", reasoning={"effort": "none"}).reasoning is None


def test_hosted_tools_map_or_stay_out() -> None:
    request = _decode(
        input="x",
        tools=[
            WEATHER,
            {"type": "web_search", "filters": {"allowed_domains": ["example.com"]}},
            {"type": "file_search", "vector_store_ids": ["vs_1"]},
            {"type": "code_interpreter", "container": {"type": "auto"}},
            {"type": "custom", "name": "apply_patch"},
        ],
    )
    assert [t.name for t in request.tools] == ["get_weather"]
    assert request.web_search == neutral.WebSearch(("example.com",))
    # Codex's "cached index only" search is not a live search, so no vendor gets one.
    cached = _decode(input="x", tools=[{"type": "web_search", "external_web_access": False}])
    assert cached.web_search is None


def test_namespaced_tools_travel_flat_and_come_back_namespaced() -> None:
    body = {
        "model": "m",
        "input": [
            {"role": "user", "content": "go"},
            {"type": "function_call", "call_id": "c0", "namespace": "crm", "name": "find",
             "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c0", "output": "none"},
        ],
        "tools": [{"type": "namespace", "name": "crm", "description": "CRM",
                   "tools": [{"type": "function", "name": "find", "parameters": {}}]}],
    }  # fmt: skip
    raw = json.dumps(body).encode()
    request, tools = decode_with_tools(raw, model="m", stream=False)
    assert [t.name for t in request.tools] == ["crm__find"]
    assert request.messages[1].parts == [neutral.ToolCall("c0", "crm__find", "{}")]
    echo = Echo.of(raw, id="resp_1", created_at=1, model="m", namespaced=tools.namespaced)
    answer = neutral.Response(
        "x", "m", [neutral.ToolCall("c1", "crm__find", '{"q":1}')], neutral.StopReason.TOOL,
        neutral.Usage(3, 2),
    )  # fmt: skip
    (item,) = answer_body(answer, echo)["output"]
    assert (item["namespace"], item["name"], item["call_id"]) == ("crm", "find", "c1")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
         "input[0]"),
        ({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
         "input[0]"),
        ({"input": [{"type": "computer_call", "call_id": "c"}]}, "input[0]"),
        ({"input": [{"type": "item_reference", "id": "msg_unknown"}]}, "input[0]"),
        ({"input": "x", "tools": [WEATHER], "tool_choice": {"type": "file_search"}},
         "tool_choice"),
        ({"input": "x", "prompt": {"id": "pmpt_1"}}, "prompt"),
        ({"input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
    ],
)  # fmt: skip
def test_what_another_vendor_cannot_take_is_refused(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        _decode(**body)
    assert raised.value.param == param and raised.value.status == 400


def test_reasoning_and_hosted_records_are_left_out() -> None:
    request = _decode(
        input=[
            {"role": "user", "content": "q"},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "abc"},
            {"type": "web_search_call", "id": "ws_1", "status": "completed",
             "action": {"type": "search", "query": "q"}},
            {"type": "message", "role": "assistant", "content": "a"},
        ]
    )  # fmt: skip
    assert [m.role for m in request.messages] == ["user", "assistant"]


def test_the_captured_codex_request_reaches_every_vendor() -> None:
    body = json.dumps(codex_request()).encode()
    request, tools = decode_with_tools(body, model="claude-x", stream=True)
    names = [t.name for t in request.tools]
    assert names[:2] == ["exec_command", "write_stdin"]
    assert "multi_agent_v1__close_agent" in names
    assert tools.namespaced["multi_agent_v1__close_agent"] == ("multi_agent_v1", "close_agent")
    assert request.web_search is None  # Codex asked for its cached index only
    assert len(request.system) == 2 and request.system[0].startswith("You are a coding agent")
    roles = [m.role for m in request.messages]
    assert roles == ["user", "user", "assistant", "user"]  # environment, prompt, call, output
    assert request.messages[2].parts == [
        neutral.ToolCall("call_1", "exec_command", '{"cmd": "echo hi-from-tool"}')
    ]
    for vendor in ("anthropic", "gemini", "openai"):
        found = translation("responses", vendor)
        assert found is not None
        sent = json.loads(found.request(request, "upstream-model"))
        assert sent.get("stream") or sent.get("contents") is not None, vendor


def test_pivot_to_a_responses_upstream_is_what_the_api_accepts() -> None:
    request = _decode(
        input=[
            {"role": "user", "content": [{"type": "input_text", "text": "hi"},
                                         {"type": "input_image", "image_url": "https://e.x/a.png"}]},
            {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "ok"},
        ],
        instructions="sys",
        tools=[WEATHER, {"type": "web_search"}],
        tool_choice="required",
        text={"format": {"type": "json_schema", "name": "n", "schema": {"type": "object"}}},
        max_output_tokens=64,
    )  # fmt: skip
    request.stream = True
    body = json.loads(encode_request(request, "gpt-4o"))
    validate(body, reasoning_model=False)  # the sandbox's check of what OpenAI accepts
    check_items(body["input"], set())
    assert body["instructions"] == "sys" and body["store"] is False and body["stream"] is True
    assert [t["type"] for t in body["tools"]] == ["function", "web_search"]
    assert body["text"]["format"]["name"] == "n"


def test_answers_are_response_objects_the_sdk_accepts() -> None:
    raw = json.dumps(
        {"model": "m", "input": "x", "instructions": "be kind", "metadata": {"a": "b"},
         "tools": [WEATHER], "temperature": 0.5, "store": False}
    ).encode()  # fmt: skip
    echo = Echo.of(raw, id="resp_1", created_at=1700000000, model="gpt-x")
    answer = neutral.Response(
        id="up",
        model="vendor-model",
        parts=[neutral.Text("Hello"), neutral.ToolCall("call_1", "get_weather", '{"city":"P"}')],
        stop=neutral.StopReason.TOOL,
        usage=neutral.Usage(10, 4, cache_read_tokens=6, reasoning_tokens=2),
    )
    document = msgspec.json.decode(msgspec.json.encode(answer_body(answer, echo)))
    parsed = Response.model_validate(document)
    assert parsed.output_text == "Hello" and parsed.status == "completed"
    assert (parsed.instructions, parsed.metadata, parsed.temperature) == (
        "be kind",
        {"a": "b"},
        0.5,
    )
    assert document["store"] is False and document["model"] == "gpt-x"
    assert parsed.usage is not None
    assert parsed.usage.input_tokens_details.cached_tokens == 6
    assert parsed.usage.output_tokens_details.reasoning_tokens == 2
    assert parsed.usage.total_tokens == 14
    cut = answer_body(
        neutral.Response("x", "m", [neutral.Text("Hel")], neutral.StopReason.LENGTH, neutral.Usage()),
        echo,
    )  # fmt: skip
    assert cut["status"] == "incomplete"
    assert cut["incomplete_details"] == {"reason": "max_output_tokens"}


def test_a_responses_upstream_answer_reads_back() -> None:
    body = {
        "id": "resp_u", "object": "response", "model": "gpt-4o", "status": "completed",
        "output": [
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
             "content": [{"type": "output_text", "text": "Hi", "annotations": []}]},
            {"type": "function_call", "id": "fc_1", "call_id": "c1", "name": "find",
             "namespace": "crm", "arguments": "{}", "status": "completed"},
        ],
        "usage": {"input_tokens": 5, "output_tokens": 3, "total_tokens": 8,
                  "input_tokens_details": {"cached_tokens": 1},
                  "output_tokens_details": {"reasoning_tokens": 2}},
    }  # fmt: skip
    answer = decode_response(json.dumps(body).encode())
    assert answer.parts == [neutral.Text("Hi"), neutral.ToolCall("c1", "crm__find", "{}")]
    assert answer.stop is neutral.StopReason.TOOL
    assert answer.usage == neutral.Usage(5, 3, cache_read_tokens=1, reasoning_tokens=2)
    assert codec("responses").usage_of(json.dumps(body).encode()) == answer.usage


def test_a_conversation_continues_with_earlier_items_stripped_of_ids() -> None:
    history = responses_items.normalized("First question")
    output = [
        {"id": "rs_1", "type": "reasoning", "summary": []},
        {"id": "rs_2", "type": "reasoning", "summary": [], "encrypted_content": "opaque"},
        {"id": "msg_9", "type": "message", "role": "assistant", "status": "completed",
         "content": [{"type": "output_text", "text": "Answer", "annotations": []}]},
    ]  # fmt: skip
    history += responses_items.replayable(output)
    body = json.dumps(
        {"model": "m", "previous_response_id": "resp_1",
         "input": [{"role": "user", "content": "More"}, {"type": "item_reference", "id": "msg_9"}]}
    ).encode()  # fmt: skip
    sent, own = responses_items.continued_body(body, history)
    document = msgspec.json.decode(sent)
    assert "previous_response_id" not in document
    kinds = [(i.get("type"), i.get("id")) for i in document["input"]]
    assert kinds == [
        ("message", None),
        ("reasoning", "rs_2"),  # only with its encrypted content, and keeping its id
        ("message", None),
        (None, None),  # the client's own item, as it wrote it
        ("message", None),  # the reference, resolved
    ]
    assert [i["type"] for i in own] == ["message", "item_reference"]
    assert own[0]["id"].startswith("msg_") and own[0]["content"][0]["type"] == "input_text"


def _sent(request: neutral.Request, vendor: str) -> dict[str, Any]:
    found = translation("responses", vendor)
    assert found is not None
    return dict(json.loads(found.request(request, "upstream")))


def test_web_search_reaches_claude_and_gemini_their_own_way() -> None:
    search = {"type": "web_search", "filters": {"allowed_domains": ["a.org"]}}
    alone = _decode(input="x", tools=[search])
    assert _sent(alone, "anthropic")["tools"] == [
        {"type": "web_search_20250305", "name": "web_search", "allowed_domains": ["a.org"]}
    ]
    assert _sent(alone, "gemini")["tools"] == [{"googleSearch": {}}]
    assert "tools" not in _sent(alone, "openai")  # chat completions has no such tool
    beside = _decode(input="x", tools=[WEATHER, search])
    assert [t["name"] for t in _sent(beside, "anthropic")["tools"]] == ["get_weather", "web_search"]
    # Gemini 2.x cannot ground and call functions at once: the functions win.
    assert [list(t) for t in _sent(beside, "gemini")["tools"]] == [["functionDeclarations"]]


def test_another_vendors_thinking_round_trips_marked_and_never_reaches_openai() -> None:
    thinking = neutral.Thinking("Let me think", signature="claude-sig")
    answer = neutral.Response(
        "x",
        "m",
        [thinking, neutral.Text("Hi")],
        neutral.StopReason.END,
        neutral.Usage(),  # type: ignore[list-item]
    )
    reasoning, _message = answer_body(answer, Echo.of(b"{}", id="r", created_at=1, model="m"))[
        "output"
    ]
    assert reasoning["type"] == "reasoning"
    assert reasoning["encrypted_content"] == "omnirelay.v1:claude-sig"
    assert reasoning["summary"] == [{"type": "summary_text", "text": "Let me think"}]
    openai_own = {"type": "reasoning", "id": "rs_o", "summary": [], "encrypted_content": "gAAA"}
    turns = [{"role": "user", "content": "q"}, reasoning, openai_own,
             {"role": "assistant", "content": "Hi"}]  # fmt: skip
    # Our marked thinking goes back into the pivot; OpenAI's own encrypted reasoning does not.
    assert _decode(input=turns).messages[1].parts == [
        neutral.Thinking("Let me think", signature="claude-sig"), neutral.Text("Hi")
    ]  # fmt: skip
    body = json.dumps({"model": "gpt-4o", "input": turns}).encode()
    sent = json.loads(responses_items.for_openai(body))["input"]
    assert [i.get("id") for i in sent if i.get("type") == "reasoning"] == ["rs_o"]
    plain = json.dumps({"model": "gpt-4o", "input": "x"}).encode()
    assert responses_items.for_openai(plain) is plain
