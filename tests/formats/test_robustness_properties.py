"""Property-based tests of every client-facing decoder and task translator in ``formats/``:
whatever JSON arrives — right fields with wrong types, nesting, nonsense — the answer is a
typed ``GatewayError`` (rendered as the client's 4xx), never another exception (a 500); and a
valid task request becomes a valid vendor request."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnirelay.errors import GatewayError
from omnirelay.formats import flux, ideogram, kling, suno
from omnirelay.formats.codec import codec
from omnirelay.formats.gemini.embeddings import embedding_codec
from omnirelay.formats.midjourney import plans
from omnirelay.formats.midjourney import wire as mj

pytestmark = pytest.mark.timeout(900)

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(
        ["", "user", "assistant", "system", "tool", "text", "image_url", "data:,", "1:1"]
    ),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def objects(fields: list[str]) -> st.SearchStrategy[bytes]:
    """JSON objects whose keys are mostly the format's own field names, values anything."""
    keys = st.sampled_from(fields) | st.text(max_size=10)
    document = st.dictionaries(keys, JSON, max_size=len(fields) + 2)
    return document.map(lambda d: json.dumps(d).encode()) | st.binary(max_size=40)


def fields_of(*kinds: type[msgspec.Struct]) -> list[str]:
    return sorted({f.encode_name for kind in kinds for f in msgspec.structs.fields(kind)})


CHAT_FIELDS = [
    "model", "messages", "system", "tools", "tool_choice", "max_tokens", "max_completion_tokens",
    "temperature", "top_p", "top_k", "stop", "stop_sequences", "stream", "contents",
    "systemInstruction", "generationConfig", "input", "instructions", "reasoning", "thinking",
    "response_format", "text", "n", "seed", "user", "metadata", "parallel_tool_calls",
]  # fmt: skip


def only_typed_errors(run: Callable[[bytes], Any], body: bytes) -> None:
    try:
        run(body)
    except GatewayError:
        pass  # a typed refusal: the surface renders it as its 4xx


@pytest.mark.parametrize("name", ["openai", "anthropic", "gemini", "responses"])
def test_chat_decoders_refuse_nonsense_with_typed_errors(name: str) -> None:
    @given(body=objects(CHAT_FIELDS), stream=st.booleans())
    def check(body: bytes, stream: bool) -> None:
        def run(raw: bytes) -> None:
            request = codec(name).decode_request(raw, model="m", stream=stream)
            for vendor in ("openai", "anthropic", "gemini", "responses"):
                codec(vendor).encode_request(request, "v")

        only_typed_errors(run, body)
        only_typed_errors(lambda raw: codec(name).decode_count_request(raw, model="m"), body)

    check()


@pytest.mark.parametrize("name", ["openai", "gemini"])
def test_embedding_decoders_refuse_nonsense_with_typed_errors(name: str) -> None:
    found = embedding_codec(name)
    assert found is not None

    @given(body=objects(["model", "input", "dimensions", "encoding_format", "content", "requests"]))
    def check(body: bytes) -> None:
        def run(raw: bytes) -> None:
            request = found.decode_request(raw, single=True)
            for other in ("openai", "gemini"):
                target = embedding_codec(other)
                assert target is not None
                target.encode_request(request, "v")

        only_typed_errors(run, body)

    check()


KLING_MODELS = ["kling-v1", "kling-v1-5", "kling-v1-6", "kling-v2-master"]


def test_kling_requests_refuse_nonsense_with_typed_errors() -> None:
    @given(
        body=objects(fields_of(kling.VideoRequest, kling.ImageRequest)),
        action=st.sampled_from([kling.TEXT2VIDEO, kling.IMAGE2VIDEO]),
    )
    def check(body: bytes, action: str) -> None:
        def video(raw: bytes) -> None:
            kling.check_video(kling.decode(raw, kling.VideoRequest), action, KLING_MODELS)
            kling.upstream_body(raw)

        def images(raw: bytes) -> None:
            kling.check_images(kling.decode(raw, kling.ImageRequest), KLING_MODELS)
            kling.upstream_body(raw)

        only_typed_errors(video, body)
        only_typed_errors(images, body)

    check()


def test_suno_requests_refuse_nonsense_with_typed_errors() -> None:
    @given(body=objects(fields_of(suno.SubmitRequest, suno.FetchRequest)))
    def check(body: bytes) -> None:
        def music(raw: bytes) -> None:
            suno.check_music(suno.decode(raw, suno.SubmitRequest), ["chirp-v3-5", "chirp-v4"])
            suno.upstream_body(raw, None)

        def lyrics(raw: bytes) -> None:
            suno.check_lyrics(suno.decode(raw, suno.SubmitRequest))

        only_typed_errors(music, body)
        only_typed_errors(lyrics, body)
        only_typed_errors(lambda raw: suno.decode(raw, suno.FetchRequest), body)

    check()


MJ_PLANS: list[tuple[type[Any], Callable[[Any], Any]]] = [
    (mj.ImagineRequest, lambda r: plans.plan_imagine(r, "fast")),
    (mj.BlendRequest, lambda r: plans.plan_blend(r, "relax")),
    (mj.DescribeRequest, lambda r: plans.plan_describe(r, "fast")),
    (mj.ShortenRequest, lambda r: plans.plan_shorten(r, "turbo")),
    (mj.SimpleChangeRequest, plans.parse_simple_change),
    (mj.ChangeRequest, plans.check_change),
    (mj.ActionRequest, plans.check_action),
    (mj.ModalRequest, plans.check_modal),
    (mj.ConditionRequest, plans.condition_ids),
]


@pytest.mark.parametrize(("kind", "plan"), MJ_PLANS, ids=[k.__name__ for k, _ in MJ_PLANS])
def test_midjourney_requests_refuse_nonsense_with_typed_errors(
    kind: type[Any], plan: Callable[[Any], Any]
) -> None:
    @given(body=objects(fields_of(kind)))
    def check(body: bytes) -> None:
        only_typed_errors(lambda raw: plan(mj.decode(raw, kind)), body)

    check()


def test_flux_and_ideogram_checks_refuse_nonsense_with_typed_errors() -> None:
    flux_fields = ["prompt", "width", "height", "aspect_ratio", "seed", "steps", "guidance",
                   "safety_tolerance", "output_format", "raw", "image_prompt", "input_image",
                   "prompt_upsampling", "webhook_url"]  # fmt: skip

    @given(body=objects(flux_fields), model=st.sampled_from(sorted(flux.MODELS)))
    def check(body: bytes, model: str) -> None:
        try:
            document = json.loads(body)
        except ValueError:
            document = body
        problems = flux.validate(flux.MODELS[model], document)
        assert isinstance(problems, list)
        only_typed_errors(ideogram.check_legacy, body)

    check()


PROMPTS = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=200
).filter(lambda t: t.strip() != "")


def test_valid_kling_requests_become_the_vendor_s_body_without_our_fields() -> None:
    @given(
        prompt=PROMPTS,
        model=st.sampled_from(KLING_MODELS),
        mode=st.sampled_from(["std", "pro"]),
        duration=st.sampled_from(["5", "10"]),
        ratio=st.sampled_from(["16:9", "9:16", "1:1"]),
        cfg=st.floats(0, 1),
        external=st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True),
    )
    def check(
        prompt: str, model: str, mode: str, duration: str, ratio: str, cfg: float, external: str
    ) -> None:
        body = {
            "model_name": model,
            "prompt": prompt,
            "mode": mode,
            "duration": duration,
            "aspect_ratio": ratio,
            "cfg_scale": cfg,
            "callback_url": "https://hooks.example/k",
            "external_task_id": external,
            "a_future_field": {"kept": True},
        }
        raw = json.dumps(body).encode()
        kling.check_video(kling.decode(raw, kling.VideoRequest), kling.TEXT2VIDEO, KLING_MODELS)
        upstream = json.loads(kling.upstream_body(raw))
        expected = {k: v for k, v in body.items() if k not in ("callback_url", "external_task_id")}
        assert upstream == expected

    check()


def test_valid_suno_and_midjourney_requests_carry_their_prompt() -> None:
    @given(prompt=PROMPTS, tags=st.none() | st.text(max_size=50), instrumental=st.booleans())
    def check(prompt: str, tags: str | None, instrumental: bool) -> None:
        body = {
            "gpt_description_prompt": prompt[:200],
            "make_instrumental": instrumental,
            "mv": "chirp-v4",
        }
        if tags is not None:
            body["tags"] = tags
        raw = json.dumps(body).encode()
        assert suno.check_music(suno.decode(raw, suno.SubmitRequest), ["chirp-v4"]) == "chirp-v4"
        assert json.loads(suno.upstream_body(raw, None))["gpt_description_prompt"] == prompt[:200]
        imagine = plans.plan_imagine(
            mj.decode(json.dumps({"prompt": prompt}).encode(), mj.ImagineRequest), "fast"
        )
        assert imagine.upstream["prompt"] == plans._prompt(prompt)

    check()
