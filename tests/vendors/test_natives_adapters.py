"""The Anthropic and Gemini adapters offline: URLs, headers, and error mapping."""

from __future__ import annotations

import json

import pytest

from omnirelay.channels import Channel
from omnirelay.errors import InvalidRequest, NotFound, RateLimited, UpstreamError, UpstreamTimeout
from omnirelay.vendors import Operation, default_vendors


def _channel(vendor: str, base_url: str) -> Channel:
    return Channel(
        id=1,
        name="c",
        vendor=vendor,
        base_url=base_url,
        secret="sk-secret-123",
        models=frozenset(),
        model_map={},
    )


def test_registry_has_the_three_wire_formats() -> None:
    vendors = default_vendors()
    assert {v.wire_format for v in vendors.values()} >= {"openai", "anthropic", "gemini"}
    assert vendors["anthropic"].families == frozenset({"anthropic"})
    assert vendors["gemini"].families == frozenset({"gemini"})


@pytest.mark.parametrize(
    ("operation", "stream", "path"),
    [
        (Operation.CHAT, False, "/v1/messages"),
        (Operation.CHAT, True, "/v1/messages"),
        (Operation.COUNT_TOKENS, False, "/v1/messages/count_tokens"),
    ],
)
def test_anthropic_calls(operation: Operation, stream: bool, path: str) -> None:
    call = default_vendors()["anthropic"].prepare(
        _channel("anthropic", "https://api.anthropic.com"), operation, model="m", stream=stream
    )
    assert call.url == "https://api.anthropic.com" + path
    assert call.headers == {"x-api-key": "sk-secret-123", "anthropic-version": "2023-06-01"}


@pytest.mark.parametrize(
    ("operation", "stream", "suffix"),
    [
        (Operation.CHAT, False, "gemini-2.0-flash:generateContent"),
        (Operation.CHAT, True, "gemini-2.0-flash:streamGenerateContent?alt=sse"),
        (Operation.COUNT_TOKENS, False, "gemini-2.0-flash:countTokens"),
        (Operation.EMBEDDING, False, "gemini-2.0-flash:batchEmbedContents"),
    ],
)
def test_gemini_calls(operation: Operation, stream: bool, suffix: str) -> None:
    base = "https://generativelanguage.googleapis.com"
    call = default_vendors()["gemini"].prepare(
        _channel("gemini", base), operation, model="gemini-2.0-flash", stream=stream
    )
    assert call.url == f"{base}/v1beta/models/{suffix}"
    assert call.headers == {"x-goog-api-key": "sk-secret-123"}


def _a(kind: str, message: str) -> bytes:
    return json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()


def _g(code: int, message: str, status: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "status": status}}).encode()


@pytest.mark.parametrize(
    ("vendor", "status", "body", "expected", "echoed"),
    [
        ("anthropic", 400, _a("invalid_request_error", "bad image"), InvalidRequest, 1),
        ("anthropic", 401, _a("authentication_error", "bad sk-secret-123"), UpstreamError, 0),
        ("anthropic", 404, _a("not_found_error", "model: x"), NotFound, 1),
        ("anthropic", 529, _a("overloaded_error", "Overloaded"), UpstreamError, 1),
        ("anthropic", 504, b"", UpstreamTimeout, 0),
        ("gemini", 400, _g(400, "bad part", "INVALID_ARGUMENT"), InvalidRequest, 1),
        ("gemini", 400, _g(400, "API key not valid sk-secret", "BAD"), UpstreamError, 0),
        ("gemini", 403, _g(403, "denied", "PERMISSION_DENIED"), UpstreamError, 0),
        ("gemini", 429, _g(429, "quota", "RESOURCE_EXHAUSTED"), RateLimited, 1),
        ("gemini", 503, b"<html>", UpstreamError, 0),
    ],
)
def test_error_mapping(
    vendor: str, status: int, body: bytes, expected: type[Exception], echoed: int
) -> None:
    error = default_vendors()[vendor].map_error(status, body)
    assert type(error) is expected
    assert "sk-secret" not in error.message
    if echoed:
        detail = json.loads(body)["error"]["message"]
        assert detail in error.message
