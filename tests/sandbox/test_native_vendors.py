"""The sandbox's Anthropic and Gemini, straight over HTTP: auth per vendor, validation, events."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.support.servers import GatewayProcess

KEY = "sk-sandbox-demo"  # the sandbox key ``serve --demo`` configures
CLAUDE = "claude-3-5-sonnet-20241022"
ANTHROPIC_HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}


def _messages(gateway: GatewayProcess, body: dict[str, Any], **headers: str) -> httpx.Response:
    merged = {**ANTHROPIC_HEADERS, **headers}
    return httpx.post(gateway.sandbox_url + "/v1/messages", json=body, headers=merged)


def _claude(messages: list[Any], **extra: Any) -> dict[str, Any]:
    return {"model": CLAUDE, "max_tokens": 50, "messages": messages, **extra}


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"x-api-key": "wrong"}, 401),
        ({"x-api-key": "", "Authorization": f"Bearer {KEY}"}, 401),
        ({"anthropic-version": ""}, 400),
    ],
)
def test_anthropic_auth(gateway: GatewayProcess, headers: dict[str, str], status: int) -> None:
    response = _messages(gateway, _claude([{"role": "user", "content": "x"}]), **headers)
    assert response.status_code == status and response.json()["type"] == "error"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"model": CLAUDE, "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        (_claude([{"role": "user", "content": "x"}], frequency_penalty=1), "Extra inputs"),
        (_claude([{"role": "user", "content": [{"type": "text", "text": ""}]}]), "non-empty"),
        (
            _claude(
                [
                    {"role": "user", "content": "x"},
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}],
                    },
                    {"role": "user", "content": "no result"},
                ]
            ),
            "without `tool_result`",
        ),
        (
            _claude(
                [
                    {
                        "role": "user",
                        "content": [{"type": "tool_result", "tool_use_id": "t9", "content": "x"}],
                    }
                ]
            ),
            "unexpected `tool_use_id`",
        ),
    ],
)
def test_anthropic_validation(gateway: GatewayProcess, body: dict[str, Any], needle: str) -> None:
    response = _messages(gateway, body)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert needle in response.json()["error"]["message"]


def test_anthropic_stream_sequence(gateway: GatewayProcess) -> None:
    tools = [
        {
            "name": "lookup",
            "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
        }
    ]
    body = _claude([{"role": "user", "content": "Find Oslo"}], tools=tools, stream=True)
    text = _messages(gateway, body).text
    events = [block.split("\n") for block in text.strip().split("\n\n")]
    names = [lines[0].removeprefix("event: ") for lines in events]
    assert names[:2] == ["message_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    assert all(lines[0].startswith("event: ") and lines[1].startswith("data: ") for lines in events)
    datas = [json.loads(lines[1][6:]) for lines in events]
    assert all(d["type"] == n for d, n in zip(datas, names, strict=True))
    block = next(d["content_block"] for d in datas if d["type"] == "content_block_start")
    assert block["type"] == "tool_use" and block["id"].startswith("toolu_")
    args = "".join(d["delta"]["partial_json"] for d in datas if d["type"] == "content_block_delta")
    assert json.loads(args) == {"q": "Oslo"}
    assert datas[-2]["delta"]["stop_reason"] == "tool_use"


def _gemini(gateway: GatewayProcess, method: str, body: Any, **params: str) -> httpx.Response:
    url = f"{gateway.sandbox_url}/v1beta/models/gemini-2.0-flash:{method}"
    return httpx.post(url, json=body, params=params)


def test_gemini_auth(gateway: GatewayProcess) -> None:
    body = {"contents": [{"parts": [{"text": "x"}]}]}
    missing = _gemini(gateway, "generateContent", body)
    assert missing.status_code == 403 and missing.json()["error"]["status"] == "PERMISSION_DENIED"
    wrong = _gemini(gateway, "generateContent", body, key="nope")
    assert wrong.status_code == 400
    assert wrong.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    assert _gemini(gateway, "generateContent", body, key=KEY).status_code == 200


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (
            {"contents": [{"parts": [{"text": "x"}]}], "temperature": 1},
            'Unknown name "temperature"',
        ),
        ({"contents": []}, "contents is not specified"),
        (
            {"contents": [{"parts": [{"text": "x", "inlineData": {"mimeType": "a", "data": ""}}]}]},
            "exactly one",
        ),
        (
            {
                "contents": [
                    {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]}
                ]
            },
            "function call turn",
        ),
        (
            {
                "contents": [
                    {"role": "user", "parts": [{"text": "x"}]},
                    {
                        "role": "model",
                        "parts": [
                            {"functionCall": {"name": "f", "args": {}}},
                            {"functionCall": {"name": "f", "args": {}}},
                        ],
                    },
                    {
                        "role": "user",
                        "parts": [{"functionResponse": {"name": "f", "response": {}}}],
                    },
                ]
            },
            "number of function response parts",
        ),
    ],
)
def test_gemini_validation(gateway: GatewayProcess, body: dict[str, Any], needle: str) -> None:
    response = _gemini(gateway, "generateContent", body, key=KEY)
    assert response.status_code == 400, response.text
    assert needle in response.json()["error"]["message"]


def test_gemini_accepts_snake_case_and_streams_sse(gateway: GatewayProcess) -> None:
    png = "iVBORw0KGgo="
    body = {
        "contents": [
            {"parts": [{"text": "Look"}, {"inline_data": {"mime_type": "image/png", "data": png}}]}
        ]
    }
    response = _gemini(gateway, "streamGenerateContent", body, key=KEY, alt="sse")
    chunks = [json.loads(e.removeprefix("data: ")) for e in response.text.strip().split("\r\n\r\n")]
    text = "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks)
    assert text == "I see 1 image(s): an inline image/png of 8 bytes. You said: Look"
    assert "finishReason" not in chunks[0]["candidates"][0]
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"]["candidatesTokenCount"] > 0


def test_openai_paths_keep_bearer_auth(gateway: GatewayProcess) -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}
    url = gateway.sandbox_url + "/v1/chat/completions"
    assert httpx.post(url, json=body, headers={"x-api-key": KEY}).status_code == 401
    ok = httpx.post(url, json=body, headers={"Authorization": f"Bearer {KEY}"})
    assert ok.status_code == 200
