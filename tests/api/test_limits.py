"""Request limits, each refused in the client's own format: the body's size per route (from
Content-Length, or counted when a body comes chunked), JSON nesting, inlined files, headers;
and failed authentications per address."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import envelopes
from tests.support.servers import GatewayProcess, start_gateway

LIMITS = {
    "OMNIRELAY_MAX_JSON_BODY_BYTES": "200000",
    "OMNIRELAY_MAX_ADMIN_BODY_BYTES": "10000",
    "OMNIRELAY_MAX_JSON_DEPTH": "32",
    "OMNIRELAY_MAX_HEADER_BYTES": "2048",
    "OMNIRELAY_MAX_HEADERS_BYTES": "8192",
    "OMNIRELAY_MAX_INLINE_IMAGE_BYTES": "60000",
}


@pytest.fixture(scope="module")
def strict(
    new_database_url: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    url = new_database_url("sqlite")  # type: ignore[operator]
    process = start_gateway(url, tmp_path_factory.mktemp("strict"), extra_env=LIMITS)
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def key(strict: GatewayProcess) -> str:
    return strict.create_key("limits", quota_usd=5)[0]


# Each surface: a path, how its key is sent, and the envelope its errors come in.
SURFACES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("openai", "/v1/chat/completions", "bearer", {"model": "gpt-4o-mini", "messages": []}),
    (
        "anthropic",
        "/v1/messages",
        "x-api-key",
        {"model": "claude-sonnet-4-20250514", "max_tokens": 5, "messages": []},
    ),
    (
        "gemini",
        "/v1beta/models/gemini-2.0-flash:generateContent",
        "x-goog-api-key",
        {"contents": []},
    ),
    ("responses", "/v1/responses", "bearer", {"model": "gpt-4o-mini", "input": "hi"}),
    ("kling", "/kling/v1/videos/text2video", "bearer", {"prompt": "p"}),
    ("midjourney", "/mj/submit/imagine", "mj-api-secret", {"prompt": "p"}),
    ("suno", "/suno/submit/music", "bearer", {"prompt": "p"}),
    ("ideogram", "/ideogram/generate", "api-key", {"image_request": {"prompt": "p"}}),
]


def auth(kind: str, key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if kind == "bearer" else {kind: key}


def padded(body: dict[str, Any], size: int) -> bytes:
    """``body`` with a filler field that makes it ``size`` bytes (short strings only)."""
    import json

    filler = {"filler": ["x" * 1000] * (size // 1006 + 1)}
    return json.dumps({**body, **filler}).encode()


def nested(body: dict[str, Any], depth: int) -> bytes:
    import json

    return json.dumps(body)[:-1].encode() + b', "deep": ' + b"[" * depth + b"]" * depth + b"}"


def post(
    gateway: GatewayProcess, path: str, headers: dict[str, str], content: Any
) -> httpx.Response:
    return httpx.post(
        gateway.url + path,
        content=content,
        headers={**headers, "Content-Type": "application/json"},
        timeout=30,
    )


@pytest.mark.parametrize(("surface", "path", "kind", "body"), SURFACES)
def test_a_body_over_its_route_limit_is_413_in_the_surface_format(
    strict: GatewayProcess, key: str, surface: str, path: str, kind: str, body: dict[str, Any]
) -> None:
    response = post(strict, path, auth(kind, key), padded(body, 300_000))
    assert response.status_code == 413, response.text
    assert envelopes.BY_SURFACE[surface](response.json()), response.text


def test_a_chunked_body_is_counted_as_it_comes(strict: GatewayProcess, key: str) -> None:
    data = padded({"model": "gpt-4o-mini", "messages": []}, 300_000)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(data), 16_384):
            yield data[start : start + 16_384]

    response = post(strict, "/v1/chat/completions", auth("bearer", key), chunks())
    assert response.status_code == 413 and envelopes.openai(response.json()), response.text


def test_admin_bodies_have_their_own_smaller_limit(strict: GatewayProcess) -> None:
    response = strict.admin("POST", "/admin/users", content=padded({"name": "u"}, 20_000))
    assert response.status_code == 413 and envelopes.openai(response.json()), response.text
    # The same size is fine on a model endpoint (its limit is larger).
    assert strict.admin("POST", "/admin/users", json={"name": "small-enough"}).status_code == 201


@pytest.mark.parametrize(("surface", "path", "kind", "body"), SURFACES)
def test_json_nested_too_deep_is_400_in_the_surface_format(
    strict: GatewayProcess, key: str, surface: str, path: str, kind: str, body: dict[str, Any]
) -> None:
    response = post(strict, path, auth(kind, key), nested(body, 40))
    if surface == "midjourney":  # the proxy answers validation errors with 200 and code 4
        assert response.status_code == 200 and response.json()["code"] == 4, response.text
    else:
        assert response.status_code == 400, response.text
    assert envelopes.BY_SURFACE[surface](response.json()), response.text
    assert "nests deeper than 32" in response.text


def test_nesting_within_the_limit_and_brackets_in_strings_are_fine(
    strict: GatewayProcess, key: str
) -> None:
    text = "[" * 500 + "{" * 500  # brackets inside a string are no nesting
    body = nested({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}, 20)
    response = post(strict, "/v1/chat/completions", auth("bearer", key), body)
    assert response.status_code == 200, response.text


def test_pathological_nesting_is_a_400_not_a_crash(gateway: GatewayProcess) -> None:
    """Far past the default limit (64), where a recursive decoder would blow its stack."""
    key, _ = gateway.create_key("deep")
    for depth in (1_000, 200_000):
        body = nested({"model": "gpt-4o-mini", "messages": []}, depth)
        response = post(gateway, "/v1/chat/completions", auth("bearer", key), body)
        assert response.status_code == 400 and "nests deeper" in response.text, response.text


def _image(size: int) -> str:
    return base64.b64encode(b"\x89PNG" + b"\0" * size).decode()


def test_an_inlined_image_over_the_limit_is_400(strict: GatewayProcess, key: str) -> None:
    big = _image(80_000)
    chat = {
        "model": "gpt-4o-mini",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{big}"}},
                ],
            }
        ],
    }
    response = httpx.post(
        strict.v1 + "/chat/completions", json=chat, headers=auth("bearer", key), timeout=30
    )
    assert response.status_code == 400 and envelopes.openai(response.json()), response.text
    assert response.json()["error"]["code"] == "image_too_large"
    claude = {
        "model": "claude-sonnet-4-20250514",
        "max_tokens": 5,
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": big},
                    }
                ],
            }
        ],
    }
    response = httpx.post(
        strict.v1 + "/messages", json=claude, headers=auth("x-api-key", key), timeout=30
    )
    assert response.status_code == 400 and envelopes.anthropic(response.json()), response.text
    # A small image passes the check (whatever the vendor then makes of it).
    chat["messages"][0]["content"][1]["image_url"]["url"] = f"data:image/png;base64,{_image(1000)}"  # type: ignore[index]
    response = httpx.post(
        strict.v1 + "/chat/completions", json=chat, headers=auth("bearer", key), timeout=30
    )
    assert "image_too_large" not in response.text


@pytest.mark.parametrize(("surface", "path", "kind", "body"), SURFACES[:5])
def test_oversized_headers_are_400_in_the_surface_format(
    strict: GatewayProcess, key: str, surface: str, path: str, kind: str, body: dict[str, Any]
) -> None:
    headers = {**auth(kind, key), "x-trace-note": "n" * 3000}
    response = httpx.post(strict.url + path, json=body, headers=headers, timeout=30)
    assert response.status_code == 400, response.text
    assert envelopes.BY_SURFACE[surface](response.json()) and "x-trace-note" in response.text
    many = {**auth(kind, key), **{f"x-note-{i}": "v" * 1500 for i in range(7)}}
    response = httpx.post(strict.url + path, json=body, headers=many, timeout=30)
    assert response.status_code == 400 and "in all" in response.text, response.text


def test_failed_authentications_are_limited_per_address(
    new_database_url: object, tmp_path: Path
) -> None:
    url = new_database_url("sqlite")  # type: ignore[operator]
    process = start_gateway(
        url, tmp_path / "throttle", extra_env={"OMNIRELAY_AUTH_FAILURES_PER_MINUTE": "5"}
    )
    try:
        good, _ = process.create_key("good")
        chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}

        def ask(key: str, path: str = "/v1/chat/completions") -> httpx.Response:
            return httpx.post(
                process.url + path, json=chat, headers=auth("bearer", key), timeout=30
            )

        for attempt in range(5):
            assert ask(f"sk-or-guess-{attempt}").status_code == 401
        refused = ask("sk-or-guess-6")
        assert refused.status_code == 429 and envelopes.openai(refused.json()), refused.text
        assert int(refused.headers["Retry-After"]) >= 1
        # Even the right key is refused now: a different answer would confirm a guess.
        assert ask(good).status_code == 429
        kling = ask(good, "/kling/v1/videos/text2video")
        assert kling.status_code == 429 and kling.json()["code"] == 1302
        metrics = process.admin("GET", "/metrics")
        assert metrics.status_code == 429  # the admin key comes from the same address
    finally:
        process.stop()
