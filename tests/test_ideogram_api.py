"""The native Ideogram surface against a live gateway and the sandbox's Ideogram."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.support.servers import GatewayProcess

V2 = 80_000  # ideogram-v2: $0.08 an image
V3_TURBO = 30_000


def _generate(
    gateway: GatewayProcess, key: str | None, request: dict[str, Any], **headers: str
) -> httpx.Response:
    sent = {"Api-Key": key} if key else {}
    return httpx.post(
        gateway.url + "/ideogram/generate",
        json={"image_request": request},
        headers={**sent, **headers},
        timeout=60,
    )


def _image_size(url: str) -> tuple[int, int]:
    data = httpx.get(url, timeout=30).content
    return Image.open(io.BytesIO(data)).size


def test_generate_makes_images_of_the_requested_resolution(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("ideo", quota_usd=1.0)
    response = _generate(
        gateway,
        key,
        {
            "prompt": "a red kite",
            "model": "V_2",
            "resolution": "RESOLUTION_1280_768",
            "num_images": 2,
        },
    )
    assert response.status_code == 200, response.text
    reply = response.json()
    assert isinstance(reply["created"], str) and len(reply["data"]) == 2
    for image in reply["data"]:
        assert image["resolution"] == "1280x768" and image["is_image_safe"] is True
        assert image["prompt"] == "a red kite" and isinstance(image["seed"], int)
        assert image["style_type"]
        assert _image_size(image["url"]) == (1280, 768)
    by_ratio = _generate(
        gateway, key, {"prompt": "tall", "model": "V_2_TURBO", "aspect_ratio": "ASPECT_9_16"}
    )
    [tall] = by_ratio.json()["data"]
    assert _image_size(tall["url"]) == (736, 1312)
    # Bearer works as well as Api-Key.
    bearer = _generate(gateway, None, {"prompt": "a fox"}, Authorization=f"Bearer {key}")
    assert bearer.status_code == 200
    gateway.wait_for_usage(key_id=key_id, count=3)
    # Two V_2 images, one V_2_TURBO ($0.05), one V_2 (the default model).
    gateway.wait_for_balance(key_id, 1_000_000 - 2 * V2 - 50_000 - V2)


def test_v3_multipart_endpoint(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("ideo-v3", quota_usd=1.0)
    form = {
        "prompt": "a city at dusk",
        "rendering_speed": "TURBO",
        "aspect_ratio": "16x9",
        "num_images": "2",
    }
    response = httpx.post(
        gateway.url + "/ideogram/v1/ideogram-v3/generate",
        files={k: (None, v) for k, v in form.items()},
        headers={"Api-Key": key},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    images = response.json()["data"]
    assert len(images) == 2 and all(i["resolution"] == "1312x736" for i in images)
    assert all(_image_size(i["url"]) == (1312, 736) for i in images)
    exact = httpx.post(
        gateway.url + "/ideogram/v1/ideogram-v3/generate",
        files={"prompt": (None, "square"), "resolution": (None, "1024x960")},
        headers={"Api-Key": key},
        timeout=60,
    )
    [image] = exact.json()["data"]
    assert _image_size(image["url"]) == (1024, 960)
    gateway.wait_for_usage(key_id=key_id, count=2)
    gateway.wait_for_balance(key_id, 1_000_000 - 2 * V3_TURBO - 60_000)


def test_safety_422_and_unsafe_images_cost_nothing(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("ideo-safety", quota_usd=1.0)
    banned = _generate(gateway, key, {"prompt": "something [sandbox-banned]", "num_images": 3})
    assert banned.status_code == 422
    assert set(banned.json()) == {"error"} and "safety" in banned.json()["error"]
    partly = _generate(gateway, key, {"prompt": "a beach [sandbox-unsafe]", "num_images": 2})
    assert partly.status_code == 200
    first, second = partly.json()["data"]
    assert first["url"] is None and first["is_image_safe"] is False
    assert second["url"] and second["is_image_safe"] is True
    records = gateway.wait_for_usage(key_id=key_id, count=2)
    assert sorted(r["cost"] for r in records) == [0, V2]
    gateway.wait_for_balance(key_id, 1_000_000 - V2)


BAD: list[tuple[dict[str, Any], str]] = [
    ({}, "image_request.prompt"),
    (
        {"prompt": "x", "resolution": "RESOLUTION_1024_1024", "aspect_ratio": "ASPECT_1_1"},
        "image_request.resolution",
    ),
    ({"prompt": "x", "num_images": 9}, "image_request.num_images"),
    ({"prompt": "x", "num_images": 0}, "image_request.num_images"),
    ({"prompt": "x", "model": "V_9"}, "image_request.model"),
    ({"prompt": "x", "model": "V_3"}, "ideogram-v3"),
    (
        {"prompt": "x", "model": "V_1", "resolution": "RESOLUTION_1024_1024"},
        "image_request.resolution",
    ),
    ({"prompt": "x", "resolution": "RESOLUTION_1000_1000"}, "image_request.resolution"),
    ({"prompt": "x", "aspect_ratio": "16:9"}, "image_request.aspect_ratio"),
    ({"prompt": "x", "style_type": "WATERCOLOR"}, "image_request.style_type"),
    ({"prompt": "x", "seed": -1}, "image_request.seed"),
    ({"prompt": "x", "magic_prompt_option": "MAYBE"}, "image_request.magic_prompt_option"),
    ({"prompt": 5}, "image_request.prompt"),
]


def test_bad_inputs_are_400_in_ideograms_shape(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("ideo-bad", quota_usd=1.0)
    for request, needle in BAD:
        response = _generate(gateway, key, request)
        assert response.status_code == 400, (request, response.text)
        assert set(response.json()) == {"error"} and needle in response.json()["error"], (
            response.text
        )
    missing = httpx.post(
        gateway.url + "/ideogram/generate", json={"prompt": "x"}, headers={"Api-Key": key}
    )
    assert missing.status_code == 400 and "image_request" in missing.json()["error"]
    v3 = httpx.post(
        gateway.url + "/ideogram/v1/ideogram-v3/generate",
        files={"prompt": (None, "x"), "rendering_speed": (None, "FAST")},
        headers={"Api-Key": key},
    )
    assert v3.status_code == 400 and "rendering_speed" in v3.json()["error"]
    assert gateway.key_info(key_id)["spent_micro_usd"] == 0
    assert gateway.usage(key_id=key_id) == []


@pytest.mark.parametrize("header", [{}, {"Api-Key": "sk-or-wrong"}])
def test_bad_keys_are_401(gateway: GatewayProcess, header: dict[str, str]) -> None:
    response = httpx.post(
        gateway.url + "/ideogram/generate", json={"image_request": {"prompt": "x"}}, headers=header
    )
    assert response.status_code == 401 and set(response.json()) == {"error"}
