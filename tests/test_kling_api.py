"""The Kling surface end to end: a live gateway (both backends) and the sandbox's Kling."""

from __future__ import annotations

import io
import time
from pathlib import Path

import av
import httpx
import pytest

from tests.support.kling import (
    IMAGE2VIDEO,
    IMAGES,
    SEED_BODY,
    TEXT2VIDEO,
    get,
    post,
    submit,
    wait_task,
)
from tests.support.servers import GatewayProcess

SEED_PAGE = (
    Path(__file__).resolve().parents[2] / "shared/seed/aggregator-docs-kling-image2video.txt"
)


def test_seed_body_is_the_pages_example() -> None:
    if not SEED_PAGE.exists():
        pytest.skip("the shared seed page is not beside this checkout")
    text = SEED_PAGE.read_text(encoding="utf-8")
    start = text.index("Example\n{") + len("Example\n")
    assert text[start : start + len(SEED_BODY)].encode() == SEED_BODY


def test_seed_example_verbatim_then_succeeds_with_a_playable_mp4(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("seed", quota_usd=1.0)
    before = int(time.time() * 1000)
    response = post(gateway, IMAGE2VIDEO, key, SEED_BODY)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["code"] == 0 and answer["message"] == "SUCCEED"
    assert isinstance(answer["request_id"], str) and answer["request_id"]
    data = answer["data"]
    assert set(data) == {"task_id", "task_status", "created_at", "updated_at"}
    assert data["task_status"] == "submitted"
    assert before - 1000 <= data["created_at"] <= data["updated_at"] <= before + 10_000

    done = wait_task(gateway, IMAGE2VIDEO, key, data["task_id"])
    assert done["task_status"] == "succeed", done
    assert done["_seen"][-1] == "succeed" and "failed" not in done["_seen"]
    assert done["task_status_msg"] == ""
    [video] = done["task_result"]["videos"]
    assert video["duration"] == "5" and video["id"]
    assert video["id"] != data["task_id"]

    mp4 = httpx.get(video["url"], timeout=30)
    assert mp4.status_code == 200 and mp4.headers["content-type"] == "video/mp4"
    assert mp4.content[4:8] == b"ftyp"
    with av.open(io.BytesIO(mp4.content)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.width == stream.height  # aspect_ratio 1:1
        frames = sum(1 for _ in container.decode(video=0))
        assert container.duration is not None and abs(container.duration / 1e6 - 5) < 0.5
    assert frames >= 5 * 8

    # Charged exactly the catalogue price once: $0.14 for kling-v1 std 5 s.
    info = gateway.key_info(key_id)
    assert info["quota_remaining_micro_usd"] == 1_000_000 - 140_000
    assert info["spent_micro_usd"] == 140_000
    [record] = gateway.usage(request_id=data["task_id"])
    assert record["cost"] == 140_000 and record["status"] == 200


def test_text2video_and_images_succeed(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("t2v", quota_usd=2.0)
    video_id = submit(
        gateway,
        TEXT2VIDEO,
        key,
        {"model_name": "kling-v1-6", "prompt": "a lighthouse", "mode": "pro", "duration": "10",
         "aspect_ratio": "9:16", "camera_control": {"type": "simple",
         "config": {"horizontal": 0, "vertical": 0, "pan": 0, "tilt": 0, "roll": 0, "zoom": 5}}},
    )  # fmt: skip
    image_id = submit(gateway, IMAGES, key, {"prompt": "a red fox", "n": 2, "aspect_ratio": "1:1"})
    video = wait_task(gateway, TEXT2VIDEO, key, video_id)
    images = wait_task(gateway, IMAGES, key, image_id)
    assert video["task_status"] == "succeed" and images["task_status"] == "succeed"
    [clip] = video["task_result"]["videos"]
    assert clip["duration"] == "10"
    content = httpx.get(clip["url"], timeout=30).content
    with av.open(io.BytesIO(content)) as container:
        stream = container.streams.video[0]
        assert stream.height > stream.width  # 9:16
    pictures = images["task_result"]["images"]
    assert [p["index"] for p in pictures] == [0, 1]
    for picture in pictures:
        png = httpx.get(picture["url"], timeout=30)
        assert png.headers["content-type"] == "image/png"
        assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    # kling-v1-6 pro 10 s = $0.98; two kling-v1 images = 2 x $0.0035.
    assert gateway.key_info(key_id)["quota_remaining_micro_usd"] == 2_000_000 - 980_000 - 7_000


def test_failed_task_is_refunded_to_the_cent(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("fail", quota_usd=0.5)
    task_id = submit(gateway, TEXT2VIDEO, key, {"prompt": "a storm [sandbox-fail]", "mode": "pro"})
    # While it runs, the price ($0.49) is held.
    assert gateway.key_info(key_id)["quota_remaining_micro_usd"] == 500_000 - 490_000
    done = wait_task(gateway, TEXT2VIDEO, key, task_id)
    assert done["task_status"] == "failed"
    assert "[sandbox-fail]" in done["task_status_msg"]
    assert "task_result" not in done
    info = gateway.key_info(key_id)
    assert info["quota_remaining_micro_usd"] == 500_000
    assert info["spent_micro_usd"] == 0
    [record] = gateway.usage(request_id=task_id)
    assert record["cost"] == 0 and "[sandbox-fail]" in record["error"]


def test_upstream_rejection_refunds_and_answers_in_klings_shape(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("reject", quota_usd=1.0)
    response = post(gateway, TEXT2VIDEO, key, {"prompt": "forbidden [sandbox-reject]"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 1301 and "request_id" in body
    assert gateway.key_info(key_id)["quota_remaining_micro_usd"] == 1_000_000
    listed = get(gateway, TEXT2VIDEO, key).json()["data"]
    assert listed == []  # a refused submission never became the client's task


def test_quota_too_low_is_429_with_a_1100_code(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("poor", quota_usd=0.1)
    response = post(gateway, IMAGE2VIDEO, key, SEED_BODY)
    assert response.status_code == 429
    assert response.json()["code"] == 1102
    assert gateway.key_info(key_id)["quota_remaining_micro_usd"] == 100_000


@pytest.mark.parametrize(
    ("authorization", "code"),
    [(None, 1001), ("Bearer sk-or-not-a-real-key", 1002), ("Basic abc", 1001)],
)
def test_bad_auth_is_401_with_a_1000_code(
    gateway: GatewayProcess, authorization: str | None, code: int
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.post(gateway.url + IMAGE2VIDEO, content=SEED_BODY, headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == code


def test_queries_are_private_to_the_key_and_list_pages(gateway: GatewayProcess) -> None:
    owner, _ = gateway.create_key("owner")
    other, _ = gateway.create_key("other")
    first = submit(gateway, TEXT2VIDEO, owner, {"prompt": "one", "external_task_id": "mine-1"})
    second = submit(gateway, TEXT2VIDEO, owner, {"prompt": "two"})
    assert get(gateway, f"{TEXT2VIDEO}/{first}", other).json()["code"] == 1203
    assert get(gateway, f"{TEXT2VIDEO}/{first}", other).status_code == 404
    assert get(gateway, f"{IMAGE2VIDEO}/{first}", owner).status_code == 404  # wrong family
    assert get(gateway, f"{TEXT2VIDEO}/no-such-task", owner).status_code == 404

    page = get(gateway, TEXT2VIDEO, owner, pageNum=1, pageSize=1).json()["data"]
    assert [t["task_id"] for t in page] == [second]
    page2 = get(gateway, TEXT2VIDEO, owner, pageNum=2, pageSize=1).json()["data"]
    assert [t["task_id"] for t in page2] == [first]
    assert page2[0]["task_info"] == {"external_task_id": "mine-1"}
    assert get(gateway, TEXT2VIDEO, other).json()["data"] == []
    bad = get(gateway, TEXT2VIDEO, owner, pageSize=0)
    assert bad.status_code == 400 and bad.json()["code"] == 1201

    again = post(gateway, TEXT2VIDEO, owner, {"prompt": "three", "external_task_id": "mine-1"})
    assert again.status_code == 400 and "external_task_id" in again.json()["message"]
    done = wait_task(gateway, TEXT2VIDEO, owner, first)
    assert done["task_info"] == {"external_task_id": "mine-1"}


def test_unknown_kling_route_is_1202(gateway: GatewayProcess) -> None:
    key, _ = gateway.create_key("route")
    response = post(gateway, "/kling/v1/videos/nonsense", key, {})
    assert response.status_code == 404 and response.json()["code"] == 1202
