"""The Anthropic and Gemini surfaces beyond chat: auth, errors in each format, token counting,
embeddings, pass-through of fields the gateway does not know, native stop sequences."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import openai
import pydantic
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from tests.support.servers import GatewayProcess

pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")

CLAUDE, GEMINI, GPT = "claude-3-5-haiku-20241022", "gemini-1.5-pro", "gpt-4o"


@pytest.fixture(scope="module")
def key(gateway: GatewayProcess) -> str:
    return gateway.create_key("edges")[0]


def _anthropic(gateway: GatewayProcess, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0)


def _gemini(gateway: GatewayProcess, key: str, version: str | None = None) -> genai.Client:
    options: dict[str, Any] = {"base_url": gateway.url}
    if version:
        options["api_version"] = version
    return genai.Client(api_key=key, http_options=options)


def test_anthropic_auth_by_bearer_and_errors_by_key(gateway: GatewayProcess, key: str) -> None:
    bearer = anthropic.Anthropic(base_url=gateway.url, auth_token=key, max_retries=0)
    reply = bearer.messages.create(
        model=CLAUDE, max_tokens=20, messages=[{"role": "user", "content": "Hi Rome"}]
    )
    assert reply.content[0].text == "You said: Hi Rome"  # type: ignore[union-attr]
    with pytest.raises(anthropic.AuthenticationError) as caught:
        _anthropic(gateway, "sk-wrong").messages.create(
            model=CLAUDE, max_tokens=20, messages=[{"role": "user", "content": "Hi"}]
        )
    assert caught.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]


@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        (b"{not json", 400, "invalid_request_error"),
        (b'{"model": "claude-3-5-haiku-20241022", "messages": []}', 400, "invalid_request_error"),
        (
            b'{"model": "claude-3-5-haiku-20241022", "max_tokens": 5, "messages": []}',
            400,
            "invalid_request_error",
        ),
        (
            b'{"model": "claude-nope", "max_tokens": 5, '
            b'"messages": [{"role": "user", "content": "x"}]}',
            404,
            "not_found_error",
        ),
        (
            b'{"model": "gpt-4o", "max_tokens": 5, '
            b'"messages": [{"role": "user", "content": [{"type": "video"}]}]}',
            400,
            "invalid_request_error",
        ),
        (
            b'{"model": "text-embedding-3-small", "max_tokens": 5, '
            b'"messages": [{"role": "user", "content": "x"}]}',
            400,
            "invalid_request_error",
        ),
    ],
)
def test_anthropic_bad_input_gets_anthropic_errors(
    gateway: GatewayProcess, key: str, body: bytes, status: int, kind: str
) -> None:
    response = httpx.post(
        gateway.url + "/v1/messages",
        content=body,
        headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
    )
    assert response.status_code == status
    document = response.json()
    assert document["type"] == "error" and document["error"]["type"] == kind
    assert document["error"]["message"] and response.headers["request-id"]


def test_anthropic_upstream_rejection_is_mapped(gateway: GatewayProcess, key: str) -> None:
    # Bad base64 is the client's fault at the vendor: a 400 in Anthropic's shape, for any vendor.
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "!!"}}
    for model in (CLAUDE, GEMINI, GPT):
        with pytest.raises(anthropic.BadRequestError) as caught:
            _anthropic(gateway, key).messages.create(
                model=model, max_tokens=20, messages=[{"role": "user", "content": [image]}]
            )
        assert "base64" in caught.value.message


def test_anthropic_stop_sequences_and_stream_helpers(gateway: GatewayProcess, key: str) -> None:
    client = _anthropic(gateway, key)
    reply = client.messages.create(
        model=CLAUDE,
        max_tokens=50,
        stop_sequences=["Rome"],
        messages=[{"role": "user", "content": "Hello Rome today"}],
    )
    assert (reply.stop_reason, reply.stop_sequence) == ("stop_sequence", "Rome")
    assert reply.content[0].text == "You said: Hello "  # type: ignore[union-attr]
    events = []
    with client.messages.stream(
        model=GEMINI, max_tokens=50, messages=[{"role": "user", "content": "Stream Rome"}]
    ) as stream:
        for event in stream:
            events.append(event.type)
        final = stream.get_final_message()
        assert stream.current_message_snapshot.content[0].text == "You said: Stream Rome"  # type: ignore[union-attr]
    assert events[0] == "message_start" and events[-1] == "message_stop"
    assert "content_block_delta" in events and final.stop_reason == "end_turn"


@pytest.mark.parametrize("model", [CLAUDE, GEMINI, GPT])
def test_anthropic_count_tokens(gateway: GatewayProcess, key: str, model: str) -> None:
    client = _anthropic(gateway, key)
    messages: list[Any] = [{"role": "user", "content": "Count these four words"}]
    counted = client.messages.count_tokens(model=model, messages=messages)
    longer = client.messages.count_tokens(
        model=model, system="And a system prompt too", messages=messages
    )
    assert 0 < counted.input_tokens < longer.input_tokens
    if model == CLAUDE:  # the vendor's own count, passed through
        created = client.messages.create(model=model, max_tokens=5, messages=messages)
        assert created.usage.input_tokens == counted.input_tokens


def test_anthropic_passes_unknown_fields_to_claude(gateway: GatewayProcess, key: str) -> None:
    """Same format: the body goes through untouched, so the sandbox sees our unknown field."""
    with pytest.raises(anthropic.APIStatusError) as caught:
        with _anthropic(gateway, key).messages.stream(
            model=CLAUDE,
            max_tokens=50,
            messages=[{"role": "user", "content": "Hello there Rome"}],
            extra_body={"sandbox_fault": {"drop_after": 2}},
        ) as stream:
            stream.get_final_message()
    assert caught.value.body["error"]["type"] == "api_error"  # type: ignore[index]


@pytest.mark.parametrize("version", [None, "v1beta"])
def test_gemini_sdk_on_both_api_versions(
    gateway: GatewayProcess, key: str, version: str | None
) -> None:
    client = _gemini(gateway, key, version)  # keep it: the SDK closes its pool when collected
    reply = client.models.generate_content(
        model=GEMINI, contents="Hello Rome", config={"system_instruction": "Be brief"}
    )
    assert reply.text == "You said: Hello Rome"
    assert reply.usage_metadata is not None and reply.usage_metadata.total_token_count


def test_gemini_auth_by_query_key_and_errors(gateway: GatewayProcess, key: str) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "Hi Oslo"}]}]}
    url = f"{gateway.url}/v1beta/models/{CLAUDE}:generateContent"
    ok = httpx.post(url, params={"key": key}, json=body)
    assert ok.status_code == 200
    assert ok.json()["candidates"][0]["content"]["parts"][0]["text"] == "You said: Hi Oslo"
    denied = httpx.post(url, params={"key": "sk-wrong"}, json=body)
    assert denied.status_code == 401
    assert denied.json()["error"]["status"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("path", "body", "status", "name"),
    [
        (f"models/{GEMINI}:generateContent", b"{nope", 400, "INVALID_ARGUMENT"),
        (f"models/{GEMINI}:generateContent", b'{"contents": []}', 400, "INVALID_ARGUMENT"),
        (
            "models/gemini-nope:generateContent",
            b'{"contents": [{"parts": [{"text": "x"}]}]}',
            404,
            "NOT_FOUND",
        ),
        (
            f"models/{GPT}:generateContent",
            b'{"contents": [{"parts": [{"executableCode": {}}]}]}',
            400,
            "INVALID_ARGUMENT",
        ),
        (
            f"models/{GEMINI}:streamGenerateContent",
            b'{"contents": [{"parts": [{"text": "x"}]}]}',
            400,
            "INVALID_ARGUMENT",
        ),
        (f"models/{GEMINI}:launchRockets", b"{}", 404, "NOT_FOUND"),
        ("no/such/path", b"{}", 404, "NOT_FOUND"),
    ],
)
def test_gemini_bad_input_gets_google_errors(
    gateway: GatewayProcess, key: str, path: str, body: bytes, status: int, name: str
) -> None:
    response = httpx.post(
        f"{gateway.url}/v1beta/{path}", content=body, headers={"x-goog-api-key": key}
    )
    assert response.status_code == status
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (status, name) and error["message"]


def test_gemini_sdk_raises_on_bad_input(gateway: GatewayProcess, key: str) -> None:
    client = _gemini(gateway, key)
    with pytest.raises(genai_errors.ClientError) as caught:
        client.models.generate_content(
            model=CLAUDE, contents="x", config={"temperature": 1.0, "candidate_count": 2}
        )
    assert caught.value.code == 400 and caught.value.status == "INVALID_ARGUMENT"


def test_gemini_passes_unknown_fields_to_gemini(gateway: GatewayProcess, key: str) -> None:
    body = {"contents": [{"parts": [{"text": "Hi"}]}], "sandbox_fault": {"status": 503}}
    response = httpx.post(
        f"{gateway.url}/v1beta/models/{GEMINI}:generateContent",
        json=body,
        headers={"x-goog-api-key": key},
    )
    # The sandbox failed on request (so it saw the field); the gateway says so in Google's shape.
    assert response.status_code == 502 and response.json()["error"]["status"] == "UNAVAILABLE"


@pytest.mark.parametrize("model", [GEMINI, CLAUDE, GPT])
def test_gemini_count_tokens(gateway: GatewayProcess, key: str, model: str) -> None:
    client = _gemini(gateway, key)
    counted = client.models.count_tokens(model=model, contents="Count these four words")
    longer = client.models.count_tokens(model=model, contents="Count these four words and more")
    assert 0 < (counted.total_tokens or 0) < (longer.total_tokens or 0)
    if model == GEMINI:
        reply = client.models.generate_content(model=model, contents="Count these four words")
        assert reply.usage_metadata is not None
        assert reply.usage_metadata.prompt_token_count == counted.total_tokens


@pytest.mark.parametrize(
    ("model", "size"), [("gemini-embedding-001", 3072), ("text-embedding-3-small", 1536)]
)
def test_gemini_embed_content(gateway: GatewayProcess, key: str, model: str, size: int) -> None:
    client = _gemini(gateway, key)
    result = client.models.embed_content(model=model, contents=["first text", "second text"])
    assert result.embeddings is not None and len(result.embeddings) == 2
    first, second = (e.values or [] for e in result.embeddings)
    assert len(first) == len(second) == size and first != second
    small = client.models.embed_content(
        model=model, contents="one", config=types.EmbedContentConfig(output_dimensionality=8)
    )
    assert small.embeddings is not None and len(small.embeddings[0].values or []) == 8
    single = httpx.post(
        f"{gateway.url}/v1beta/models/{model}:embedContent",
        json={"content": {"parts": [{"text": "first text"}]}},
        headers={"x-goog-api-key": key},
    )
    assert single.status_code == 200 and single.json()["embedding"]["values"] == first


def test_gemini_model_list(gateway: GatewayProcess, key: str) -> None:
    response = httpx.get(f"{gateway.url}/v1beta/models", headers={"x-goog-api-key": key})
    names = {m["name"]: m["supportedGenerationMethods"] for m in response.json()["models"]}
    assert "generateContent" in names[f"models/{GEMINI}"]
    assert "generateContent" in names[f"models/{CLAUDE}"]
    assert names["models/gemini-embedding-001"] == ["embedContent", "batchEmbedContents"]


def test_openai_sdk_errors_for_claude_and_gemini(gateway: GatewayProcess, key: str) -> None:
    client = openai.OpenAI(base_url=gateway.v1, api_key=key, max_retries=0)
    for model in (CLAUDE, GEMINI):
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(
                model=model, n=2, messages=[{"role": "user", "content": "x"}]
            )
        assert caught.value.body["type"] == "invalid_request_error"  # type: ignore[index]
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(
                model=model,
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}
                        ],
                    }
                ],  # type: ignore[list-item]
            )


def test_openai_sdk_embeds_with_a_gemini_model(gateway: GatewayProcess, key: str) -> None:
    client = openai.OpenAI(base_url=gateway.v1, api_key=key, max_retries=0)
    # The SDK asks for base64 by default and decodes it; floats when asked.
    packed = client.embeddings.create(model="gemini-embedding-001", input=["first text", "b"])
    assert [len(d.embedding) for d in packed.data] == [3072, 3072]
    floats = client.embeddings.create(
        model="gemini-embedding-001", input="first text", dimensions=8, encoding_format="float"
    )
    assert len(floats.data[0].embedding) == 8 and floats.usage.prompt_tokens > 0
    gemini = _gemini(gateway, key)
    native = gemini.models.embed_content(model="gemini-embedding-001", contents="first text")
    assert native.embeddings is not None
    assert packed.data[0].embedding == pytest.approx(native.embeddings[0].values, abs=1e-6)


@pytest.mark.parametrize("model", [CLAUDE, GEMINI])
def test_openai_stream_wire_for_translated_models(
    gateway: GatewayProcess, key: str, model: str
) -> None:
    """Without include_usage no usage chunk and no usage keys; one id; [DONE] last."""
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "Hi Rome"}]}
    response = httpx.post(
        gateway.v1 + "/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}
    )
    events = response.text.strip().split("\n\n")
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
    assert len({c["id"] for c in chunks}) == 1 and all("usage" not in c for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "You said: Hi Rome"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_gemini_sdk_lists_and_gets_models(gateway: GatewayProcess, key: str) -> None:
    client = _gemini(gateway, key, "v1beta")  # the list lives under v1beta (v1 is OpenAI's)
    names = {m.name for m in client.models.list()}
    assert {f"models/{GEMINI}", f"models/{CLAUDE}", f"models/{GPT}"} <= names
    model = client.models.get(model=CLAUDE)
    assert model.name == f"models/{CLAUDE}"
    assert model.supported_actions is not None and "generateContent" in model.supported_actions


def test_anthropic_beta_header_reaches_claude_only(gateway: GatewayProcess, key: str) -> None:
    client = _anthropic(gateway, key)
    messages: list[Any] = [{"role": "user", "content": "Hi Rome"}]
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(
            model=CLAUDE,
            max_tokens=20,
            messages=messages,
            extra_headers={"anthropic-beta": "bogus-beta-2099"},
        )
    assert "bogus-beta-2099" in caught.value.message  # the vendor saw it
    for model in (CLAUDE, GEMINI, GPT):  # a known beta passes, whatever the vendor
        reply = client.messages.create(
            model=model,
            max_tokens=20,
            messages=messages,
            extra_headers={"anthropic-beta": "prompt-caching-2024-07-31"},
        )
        assert reply.content[0].text == "You said: Hi Rome"  # type: ignore[union-attr]


class City(pydantic.BaseModel):
    name: str
    population: int


def test_structured_output_between_openai_and_gemini(gateway: GatewayProcess, key: str) -> None:
    client = openai.OpenAI(base_url=gateway.v1, api_key=key, max_retries=0)
    parsed = client.chat.completions.parse(
        model=GEMINI,
        response_format=City,
        messages=[{"role": "user", "content": "Describe Oslo"}],
    )
    city = parsed.choices[0].message.parsed
    assert city is not None and city.name == "Oslo" and city.population >= 1
    gemini = _gemini(gateway, key)
    reply = gemini.models.generate_content(
        model=GPT,
        contents="Describe Lima",
        config={"response_mime_type": "application/json", "response_schema": City},
    )
    assert isinstance(reply.parsed, City) and reply.parsed.name == "Lima"
