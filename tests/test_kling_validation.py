"""Every validation rule, through the live gateway: HTTP 400 in Kling's shape, nothing charged."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.kling import IMAGE2VIDEO, IMAGES, TEXT2VIDEO, png_base64, post
from tests.support.servers import GatewayProcess

URL = "https://example.com/frame.png"
SIMPLE = {"type": "simple", "config": {"zoom": 5}}


def i2v(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model_name": "kling-v1", "image": URL, "prompt": "p", "mode": "std",
                            "duration": "5"}  # fmt: skip
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


# (path, body, expected code, words the message must contain)
CASES: list[tuple[str, Any, int, str]] = [
    (IMAGE2VIDEO, b"{not json", 1200, "JSON"),
    (IMAGE2VIDEO, b"", 1200, "empty"),
    (IMAGE2VIDEO, i2v(image=None), 1201, "image: is required"),
    (IMAGE2VIDEO, i2v(image=None, image_tail=URL), 1201, "image_tail: needs 'image'"),
    (IMAGE2VIDEO, i2v(mode=None), 1201, "mode: is required"),
    (IMAGE2VIDEO, i2v(duration=None), 1201, "duration: is required"),
    (IMAGE2VIDEO, i2v(model_name="kling-v9"), 1201, "model_name"),
    (IMAGE2VIDEO, i2v(model_name=5), 1201, "model_name"),
    (IMAGE2VIDEO, i2v(mode="fast"), 1201, "mode"),
    (IMAGE2VIDEO, i2v(aspect_ratio="4:3"), 1201, "aspect_ratio"),
    (IMAGE2VIDEO, i2v(duration=5), 1201, "duration: expected `str`"),
    (IMAGE2VIDEO, i2v(duration="7"), 1201, "duration"),
    (IMAGE2VIDEO, i2v(cfg_scale=1.5), 1201, "cfg_scale: must be between 0 and 1"),
    (IMAGE2VIDEO, i2v(cfg_scale=-0.1), 1201, "cfg_scale"),
    (IMAGE2VIDEO, i2v(prompt="x" * 2501), 1201, "prompt: must be at most 2500"),
    (IMAGE2VIDEO, i2v(negative_prompt="x" * 2501), 1201, "negative_prompt: must be at most"),
    (IMAGE2VIDEO, i2v(camera_control={"type": "zoom_in"}), 1201, "camera_control.type"),
    (IMAGE2VIDEO, i2v(camera_control={"config": {"zoom": 1}}), 1201, "camera_control.type"),
    (IMAGE2VIDEO, i2v(camera_control={"type": "simple"}), 1201, "camera_control.config: is req"),
    (
        IMAGE2VIDEO,
        i2v(camera_control={"type": "simple", "config": {"zoom": 1, "pan": 2}}),
        1201,
        "exactly one",
    ),
    (IMAGE2VIDEO, i2v(camera_control={"type": "simple", "config": {}}), 1201, "exactly one"),
    (
        IMAGE2VIDEO,
        i2v(camera_control={"type": "simple", "config": {"roll": 11}}),
        1201,
        "camera_control.config.roll: must be in [-10, 10]",
    ),
    (
        IMAGE2VIDEO,
        i2v(camera_control={"type": "down_back", "config": {"zoom": 3}}),
        1201,
        "only for type 'simple'",
    ),
    (IMAGE2VIDEO, i2v(image_tail=URL, camera_control=SIMPLE), 1201, "mutually exclusive"),
    (IMAGE2VIDEO, i2v(static_mask=URL, camera_control=SIMPLE), 1201, "mutually exclusive"),
    (IMAGE2VIDEO, i2v(image_tail=URL, static_mask=URL), 1201, "mutually exclusive"),
    (IMAGE2VIDEO, i2v(image="ftp://example.com/a.png"), 1201, "image"),
    (IMAGE2VIDEO, i2v(image="https://" + "a" * 2100 + ".png"), 1201, "at most 2048"),
    (IMAGE2VIDEO, i2v(image="data:image/png;base64,AAAA"), 1201, "'data:' prefix"),
    (IMAGE2VIDEO, i2v(image="not base64 at all!"), 1201, "valid base64"),
    (IMAGE2VIDEO, i2v(image="R0lGODlhAQABAAAAACw="), 1201, "jpg, jpeg or png"),
    (IMAGE2VIDEO, i2v(image=png_base64(200, 400)), 1201, "at least 300 px"),
    (IMAGE2VIDEO, i2v(image=png_base64(900, 300)), 1201, "aspect ratio"),
    (IMAGE2VIDEO, i2v(dynamic_masks=[{"mask": URL, "trajectories": []}] * 7), 1201, "at most 6"),
    (IMAGE2VIDEO, i2v(callback_url="not a url"), 1201, "callback_url"),
    (IMAGE2VIDEO, i2v(external_task_id=""), 1201, "external_task_id"),
    (TEXT2VIDEO, {"model_name": "kling-v1"}, 1201, "prompt: is required"),
    (TEXT2VIDEO, {"prompt": ""}, 1201, "prompt: is required"),
    (TEXT2VIDEO, {"prompt": "p", "camera_control": []}, 1201, "camera_control"),
    (IMAGES, {"model_name": "kling-v1"}, 1201, "prompt: is required"),
    (IMAGES, {"prompt": "p", "n": 10}, 1201, "n: must be between 1 and 9"),
    (IMAGES, {"prompt": "p", "n": 0}, 1201, "n: must be between 1 and 9"),
    (IMAGES, {"prompt": "p", "aspect_ratio": "5:4"}, 1201, "aspect_ratio"),
    (IMAGES, {"prompt": "p", "resolution": "4k"}, 1201, "resolution"),
    (IMAGES, {"prompt": "p", "image_fidelity": 2}, 1201, "image_fidelity"),
    (IMAGES, {"prompt": "p", "human_fidelity": -1}, 1201, "human_fidelity"),
    (IMAGES, {"prompt": "p", "image": URL, "negative_prompt": "blur"}, 1201, "negative_prompt"),
    (IMAGES, {"prompt": "p", "image_reference": "face"}, 1201, "image_reference: needs 'image'"),
    (IMAGES, {"prompt": "p", "image": URL, "image_reference": "face"}, 1201, "kling-v1-5 only"),
    (IMAGES, {"prompt": "p", "model_name": "kling-v1-6"}, 1201, "model_name"),
]


def _id(case: tuple[str, Any, int, str]) -> str:
    return f"{case[0].rsplit('/', 1)[-1]}-{case[3][:30]}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_bad_input_is_rejected_before_anything_is_charged(
    gateway: GatewayProcess, case: tuple[str, Any, int, str]
) -> None:
    path, body, code, words = case
    key, key_id = gateway.create_key("bad-input", quota_usd=5.0)
    response = post(gateway, path, key, body)
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["code"] == code, answer
    assert words in answer["message"], answer
    assert isinstance(answer["request_id"], str) and answer["request_id"]
    assert gateway.key_info(key_id)["quota_remaining_micro_usd"] == 5_000_000
    assert gateway.usage(key_id=key_id) == []


def test_valid_base64_image_is_accepted(gateway: GatewayProcess) -> None:
    key, _ = gateway.create_key("b64")
    response = post(gateway, IMAGE2VIDEO, key, i2v(image=png_base64(320, 480)))
    assert response.status_code == 200, response.text
