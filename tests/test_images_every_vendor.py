"""``POST /v1/images/generations`` through the official openai SDK, for every image vendor:
DALL·E (relayed), Ideogram (translated, synchronous), Flux and Kling (tasks waited for inside
the request)."""

from __future__ import annotations

import base64
import io
from typing import Any

import httpx
import openai
import pytest
from PIL import Image

from tests.support.servers import GatewayProcess

FLUX = 40_000  # flux-pro-1.1: $0.04 an image


def _client(gateway: GatewayProcess, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.v1, api_key=key, max_retries=0, timeout=60)


def _generate(gateway: GatewayProcess, key: str, **kwargs: Any) -> Any:
    with _client(gateway, key) as client:
        return client.images.generate(**kwargs)


def _size(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


@pytest.mark.parametrize(
    ("model", "price"),
    [
        ("dall-e-3", 40_000),
        ("flux-pro-1.1", FLUX),
        ("flux-dev", 25_000),
        ("ideogram-v2", 80_000),
        ("ideogram-v2-turbo", 50_000),
        ("ideogram-v3", 60_000),
        ("kling-v1", 3_500),
    ],
)
def test_the_same_sdk_call_is_answered_by_every_vendor(
    gateway: GatewayProcess, model: str, price: int
) -> None:
    key, key_id = gateway.create_key(f"img-{model}", quota_usd=1.0)
    result = _generate(gateway, key, model=model, prompt="a lighthouse at night", size="1024x1024")
    assert isinstance(result.created, int) and len(result.data) == 1
    [image] = result.data
    assert image.url and image.b64_json is None
    picture = httpx.get(image.url, timeout=30)
    assert picture.status_code == 200 and _size(picture.content)[0] > 0
    gateway.wait_for_balance(key_id, 1_000_000 - price)


def test_flux_n2_both_response_formats(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("flux-n2", quota_usd=1.0)
    by_url = _generate(gateway, key, model="flux-pro-1.1", prompt="a red fox", n=2, size="1024x768")
    assert len(by_url.data) == 2 and len({i.url for i in by_url.data}) == 2
    for image in by_url.data:
        assert image.url is not None
        assert _size(httpx.get(image.url, timeout=30).content) == (1024, 768)
        assert image.revised_prompt == "a red fox"
    inline = _generate(
        gateway,
        key,
        model="flux-pro-1.1",
        prompt="a blue fox",
        n=2,
        size="512x512",
        response_format="b64_json",
    )
    assert len(inline.data) == 2
    for image in inline.data:
        assert image.url is None and image.b64_json
        data = base64.b64decode(image.b64_json)
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and _size(data) == (512, 512)
    # Four images, four tasks, each charged once.
    info = gateway.key_info(key_id)
    assert info["spent_micro_usd"] == 4 * FLUX
    assert info["quota_remaining_micro_usd"] == 1_000_000 - 4 * FLUX
    records = gateway.wait_for_usage(key_id=key_id, count=4)
    assert all(r["cost"] == FLUX and r["model"] == "flux-pro-1.1" for r in records)


def test_flux_scales_a_dall_e_size_and_ultra_takes_the_ratio(gateway: GatewayProcess) -> None:
    key, _ = gateway.create_key("flux-sizes", quota_usd=1.0)
    wide = _generate(gateway, key, model="flux-pro-1.1", prompt="wide", size="1792x1024")
    assert wide.data[0].url is not None
    assert _size(httpx.get(wide.data[0].url, timeout=30).content) == (1440, 832)
    ultra = _generate(gateway, key, model="flux-pro-1.1-ultra", prompt="wide", size="1792x1024")
    assert ultra.data[0].url is not None
    width, height = _size(httpx.get(ultra.data[0].url, timeout=30).content)
    assert abs(width / height - 1.75) < 0.02


def test_moderation_is_400_content_policy_and_refunded(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("flux-moderated", quota_usd=1.0)
    with pytest.raises(openai.BadRequestError) as refused:
        _generate(gateway, key, model="flux-pro-1.1", prompt="something [sandbox-banned]", n=2)
    assert refused.value.code == "content_policy_violation"
    assert "moderated" in refused.value.message
    info = gateway.key_info(key_id)
    assert info["quota_remaining_micro_usd"] == 1_000_000 and info["spent_micro_usd"] == 0
    records = gateway.wait_for_usage(key_id=key_id, count=2)
    assert all(r["cost"] == 0 and r["status"] == 400 for r in records)


def test_a_job_that_outlasts_the_wait_is_504_and_refunded(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("flux-slow", quota_usd=1.0)
    with pytest.raises(openai.InternalServerError) as slow:
        _generate(gateway, key, model="flux-dev", prompt="x [sandbox-slow]", n=2)
    assert slow.value.status_code == 504 and slow.value.code == "upstream_timeout"
    assert slow.value.response.headers["x-should-retry"] == "false"
    assert "refunded" in slow.value.message
    info = gateway.key_info(key_id)
    assert info["quota_remaining_micro_usd"] == 1_000_000 and info["spent_micro_usd"] == 0
    records = gateway.wait_for_usage(key_id=key_id, count=2)
    assert all(r["cost"] == 0 and r["status"] == 504 for r in records)


def test_a_failed_job_is_an_upstream_error_and_refunded(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("flux-error", quota_usd=1.0)
    with pytest.raises(openai.APIStatusError) as failed:
        _generate(gateway, key, model="flux-dev", prompt="x [sandbox-fail]")
    assert failed.value.status_code == 502
    assert gateway.key_info(key_id)["quota_remaining_micro_usd"] == 1_000_000


@pytest.mark.parametrize(
    ("model", "size", "named"),
    [
        ("flux-pro-1.1", "3000x100", "1024x768"),
        ("flux-pro-1.1-ultra", "1000x100", "1792x1024"),
        ("kling-v1", "1000x100", "1024x1024"),
        ("ideogram-v2", "5000x100", "1024x1024"),
        ("flux-dev", "big", "WIDTHxHEIGHT"),
    ],
)
def test_a_size_the_model_cannot_make_is_400_naming_those_it_can(
    gateway: GatewayProcess, model: str, size: str, named: str
) -> None:
    key, key_id = gateway.create_key(f"size-{model}", quota_usd=1.0)
    with pytest.raises(openai.BadRequestError) as refused:
        _generate(gateway, key, model=model, prompt="x", size=size)
    assert named in refused.value.message and refused.value.param == "size"
    assert gateway.key_info(key_id)["spent_micro_usd"] == 0
    assert gateway.usage(key_id=key_id) == []


def test_ideogram_through_the_sdk_charges_only_delivered_images(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("ideo-sdk", quota_usd=1.0)
    result = _generate(
        gateway,
        key,
        model="ideogram-v2",
        prompt="a pier [sandbox-unsafe]",
        n=2,
        size="1280x768",
        response_format="b64_json",
    )
    [image] = result.data  # the first was withheld by the safety check
    assert image.b64_json and _size(base64.b64decode(image.b64_json)) == (1280, 768)
    with pytest.raises(openai.BadRequestError) as banned:
        _generate(gateway, key, model="ideogram-v3-turbo", prompt="x [sandbox-banned]")
    assert banned.value.code == "content_policy_violation"
    gateway.wait_for_usage(key_id=key_id, count=2)
    gateway.wait_for_balance(key_id, 1_000_000 - 80_000)


def test_b64_comes_from_the_vendors_url_only(gateway: GatewayProcess) -> None:
    """A client cannot make the gateway fetch a URL of its choosing: unknown fields are not
    followed, and the bytes are those of the vendor's own image."""
    key, _ = gateway.create_key("b64-source", quota_usd=1.0)
    response = httpx.post(
        gateway.v1 + "/images/generations",
        json={
            "model": "flux-dev",
            "prompt": "a tree",
            "size": "256x256",
            "response_format": "b64_json",
            "url": "http://127.0.0.1:9/never",
            "image_url": "http://127.0.0.1:9/never",
        },
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    [item] = response.json()["data"]
    assert _size(base64.b64decode(item["b64_json"])) == (256, 256)


def test_a_client_that_leaves_has_its_jobs_refunded(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("flux-gone", quota_usd=1.0)
    with pytest.raises(httpx.TimeoutException):
        httpx.post(
            gateway.v1 + "/images/generations",
            json={"model": "flux-dev", "prompt": "x [sandbox-slow]", "n": 2},
            headers={"Authorization": f"Bearer {key}"},
            timeout=1.0,
        )
    # Refunded soon after the client left, well before the gateway's wait would have ended.
    records = gateway.wait_for_usage(key_id=key_id, count=2, timeout=5)
    assert all(r["cost"] == 0 and "client left" in r["error"] for r in records)
    assert gateway.key_info(key_id)["quota_remaining_micro_usd"] == 1_000_000
