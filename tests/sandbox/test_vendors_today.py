"""The sandbox's vendors as the real APIs are today, straight over HTTP: what Claude Code and
the current SDKs send is accepted, what the real APIs refuse is refused, prompt caches report
hits, thinking is signed and checked, base64 comes in either alphabet."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import pytest

from tests.support.servers import GatewayProcess

KEY = "sk-sandbox-demo"
CLAUDE_HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
CLAUDE_CODE_BETAS = (
    "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,"
    "mid-conversation-tool-changes-2026-07-01,thinking-token-count-2026-05-13,"
    "advanced-tool-use-2025-11-20,effort-2025-11-24"
)


def _claude(gateway: GatewayProcess, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(
        gateway.sandbox_url + "/v1/messages", json=body, headers={**CLAUDE_HEADERS, **headers}
    )


def _body(model: str = "claude-sonnet-4-6", **extra: Any) -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": "Hello Oslo"}],
        **extra,
    }


def _long(words: int = 1500) -> str:
    salt = uuid.uuid4().hex[:8]
    return " ".join(f"{salt}{i}" for i in range(words))


def test_claude_takes_what_claude_code_sends(gateway: GatewayProcess) -> None:
    body = _body(
        thinking={"type": "adaptive", "display": "omitted"},
        output_config={"effort": "high"},
        context_management={"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        metadata={"user_id": json.dumps({"device_id": "0" * 64, "session_id": "s"})},
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "Hello Oslo"}]},
            {
                "role": "system",
                "content": [
                    {
                        "type": "text",
                        "text": "# Environment",
                        "cache_control": {"type": "ephemeral"},
                    }
                ],
            },
        ],
        tools=[
            {
                "name": "Placeholder",
                "description": "never",
                "input_schema": {"type": "object", "properties": {}},
                "defer_loading": True,
            }
        ],
    )
    response = _claude(gateway, body, **{"anthropic-beta": CLAUDE_CODE_BETAS})
    assert response.status_code == 200, response.text
    thinking, text = response.json()["content"]
    assert thinking["type"] == "thinking" and thinking["thinking"] == "" and thinking["signature"]
    assert text["text"] == "You said: Hello Oslo"


@pytest.mark.parametrize(
    ("body", "headers", "needle"),
    [
        (_body(), {"anthropic-beta": "made-up-2099-01-01"}, "Unexpected value"),
        (_body(context_management={"edits": []}), {}, "context_management"),
        (
            _body("claude-sonnet-4-20250514", thinking={"type": "adaptive"}),
            {},
            "not supported for this model",
        ),
        (_body(thinking={"type": "enabled", "budget_tokens": 512}), {}, "at least 1024"),
        (_body(thinking={"type": "enabled", "budget_tokens": 5000}), {}, "greater than"),
        (_body(thinking={"type": "adaptive"}, temperature=0.3), {}, "temperature"),
        (_body(thinking={"type": "adaptive"}, top_k=5), {}, "top_k"),
        (_body("claude-sonnet-4-5-20250929", output_config={"effort": "low"}), {}, "effort"),
        (
            _body(
                "claude-sonnet-4-20250514",
                output_config={"format": {"type": "json_schema", "schema": {"type": "object"}}},
            ),
            {},
            "format",
        ),
        (
            _body(
                messages=[
                    {
                        "role": "system",
                        "content": [
                            {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}
                        ],
                    }
                ]
            ),
            {},
            "text blocks only",
        ),
        (
            _body(
                system=[
                    {"type": "text", "text": f"s{i}", "cache_control": {"type": "ephemeral"}}
                    for i in range(5)
                ]
            ),
            {},
            "maximum of 4",
        ),
    ],
)
def test_claude_refuses_what_the_api_refuses(
    gateway: GatewayProcess, body: dict[str, Any], headers: dict[str, str], needle: str
) -> None:
    response = _claude(gateway, body, **headers)
    assert response.status_code == 400 and needle in response.json()["error"]["message"]


def test_claude_structured_outputs(gateway: GatewayProcess) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    }
    body = _body(
        "claude-sonnet-4-5-20250929",
        output_config={"format": {"type": "json_schema", "schema": schema}},
    )
    (block,) = _claude(gateway, body).json()["content"]
    assert set(json.loads(block["text"])) == {"city"}


@pytest.mark.parametrize("ttl", ["5m", "1h"])
def test_claude_prompt_cache(gateway: GatewayProcess, ttl: str) -> None:
    system = [{"type": "text", "text": _long(), "cache_control": {"type": "ephemeral", "ttl": ttl}}]
    first, second = (_claude(gateway, _body(system=system)).json()["usage"] for _ in range(2))
    written = first["cache_creation_input_tokens"]
    assert written >= 1500 and first["cache_read_input_tokens"] == 0
    assert (
        first["cache_creation"][
            "ephemeral_1h_input_tokens" if ttl == "1h" else "ephemeral_5m_input_tokens"
        ]
        == written
    )
    assert (
        second["cache_read_input_tokens"] == written and second["cache_creation_input_tokens"] == 0
    )
    assert second["input_tokens"] == first["input_tokens"]
    short = [{"type": "text", "text": "brief", "cache_control": {"type": "ephemeral"}}]
    assert _claude(gateway, _body(system=short)).json()["usage"]["cache_creation_input_tokens"] == 0


def test_openai_automatic_cache_and_reasoning(gateway: GatewayProcess) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    messages = [{"role": "system", "content": _long()}, {"role": "user", "content": "Hello"}]

    def usage(model: str, **extra: Any) -> dict[str, Any]:
        response = httpx.post(
            gateway.sandbox_url + "/v1/chat/completions",
            headers=headers,
            json={"model": model, "messages": messages, **extra},
        )
        assert response.status_code == 200, response.text
        return dict(response.json()["usage"])

    first, second = usage("gpt-4o"), usage("gpt-4o")
    assert first["prompt_tokens_details"]["cached_tokens"] == 0
    cached = second["prompt_tokens_details"]["cached_tokens"]
    assert cached >= 1024 and cached % 128 == 0 and cached <= second["prompt_tokens"]
    assert (
        usage("o4-mini", reasoning_effort="high")["completion_tokens_details"]["reasoning_tokens"]
        > 0
    )
    refused = httpx.post(
        gateway.sandbox_url + "/v1/chat/completions",
        headers=headers,
        json={"model": "gpt-4o", "messages": messages, "reasoning_effort": "low"},
    )
    assert refused.status_code == 400 and "reasoning_effort" in refused.json()["error"]["message"]


def _gemini(gateway: GatewayProcess, model: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{gateway.sandbox_url}/v1beta/models/{model}:generateContent",
        headers={"x-goog-api-key": KEY},
        json=body,
    )


def test_gemini_implicit_cache(gateway: GatewayProcess) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": _long() + " Hello"}]}]}
    first, second = (
        _gemini(gateway, "gemini-2.5-flash", body).json()["usageMetadata"] for _ in range(2)
    )
    assert "cachedContentTokenCount" not in first and second["cachedContentTokenCount"] >= 1024
    assert (
        "cachedContentTokenCount"
        not in _gemini(gateway, "gemini-2.0-flash", body).json()["usageMetadata"]
    )


def test_gemini_thinking_signatures_and_limits(gateway: GatewayProcess) -> None:
    tool = {
        "functionDeclarations": [
            {
                "name": "read_file",
                "parametersJsonSchema": {
                    "type": "object",
                    "properties": {"file_path": {"type": "string"}},
                    "required": ["file_path"],
                },
            }
        ]
    }
    config = {"thinkingConfig": {"includeThoughts": True, "thinkingBudget": 2048}}
    body = {
        "contents": [{"role": "user", "parts": [{"text": "Use read_file on NOTES.md"}]}],
        "tools": [tool],
        "generationConfig": config,
    }
    answer = _gemini(gateway, "gemini-2.5-flash", body).json()
    thought, call = answer["candidates"][0]["content"]["parts"]
    assert thought["thought"] is True and call["functionCall"]["args"] == {"file_path": "NOTES.md"}
    assert answer["usageMetadata"]["thoughtsTokenCount"] > 0
    history = [
        *body["contents"],
        {"role": "model", "parts": [thought, call]},
        {
            "role": "user",
            "parts": [{"functionResponse": {"name": "read_file", "response": {"output": "x"}}}],
        },
    ]
    assert _gemini(gateway, "gemini-2.5-flash", {**body, "contents": history}).status_code == 200
    history[1] = {"role": "model", "parts": [thought, {**call, "thoughtSignature": "Zm9yZ2Vk"}]}
    forged = _gemini(gateway, "gemini-2.5-flash", {**body, "contents": history})
    assert forged.status_code == 400 and "signature" in forged.json()["error"]["message"]
    for model, budget in (("gemini-2.5-pro", 0), ("gemini-2.5-flash", 99999)):
        wrong = {**body, "generationConfig": {"thinkingConfig": {"thinkingBudget": budget}}}
        assert _gemini(gateway, model, wrong).status_code == 400
    strict = {
        "contents": body["contents"],
        "tools": [
            {
                "functionDeclarations": [
                    {"name": "f", "parameters": {"type": "object", "additionalProperties": False}}
                ]
            }
        ],
    }
    assert (
        "additionalProperties"
        in _gemini(gateway, "gemini-2.5-flash", strict).json()["error"]["message"]
    )


def test_base64_in_either_alphabet(gateway: GatewayProcess) -> None:
    data = b"\x89PNG\r\n\x1a\n\xfb\xef\xff"
    url_safe = base64.urlsafe_b64encode(data).decode().rstrip("=")
    assert "-" in url_safe or "_" in url_safe
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": url_safe},
    }
    claude = _claude(
        gateway,
        _body(messages=[{"role": "user", "content": [image, {"type": "text", "text": "see"}]}]),
    )
    assert (
        claude.status_code == 200
        and f"of {len(data)} bytes" in claude.json()["content"][-1]["text"]
    )
    gemini = _gemini(
        gateway,
        "gemini-2.0-flash",
        {
            "contents": [
                {
                    "parts": [
                        {"inlineData": {"mimeType": "image/png", "data": url_safe}},
                        {"text": "see"},
                    ]
                }
            ]
        },
    )
    assert gemini.status_code == 200
    openai = httpx.post(
        gateway.sandbox_url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {KEY}"},
        json={
            "model": "gpt-4o",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image_url",
                            "image_url": {"url": f"data:image/png;base64,{url_safe}"},
                        }
                    ],
                }
            ],
        },
    )
    assert openai.status_code == 200
    bad = {**image, "source": {**image["source"], "data": "not base64!"}}
    assert _claude(gateway, _body(messages=[{"role": "user", "content": [bad]}])).status_code == 400
