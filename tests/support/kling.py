"""Helpers for the Kling tests: the seed page's example body, requests, waiting for tasks."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx

from omnirelay.sandbox import media
from tests.support.servers import GatewayProcess

# The example body of the founding page, byte for byte (newlines and all).
SEED_BODY = b"\n".join(
    [
        b"{",
        b'"model_name": "kling-v1",',
        b'"image": "https://p2.a.kwimgs.com/bs2/upload-ylab-stunt/ai_portal/1731125871/'
        b'6N0QrAnAeU/409-f054fa25c21a.png",',
        b'"prompt": "A 20-year-old girl, with an oval face, delicate features, long black hair, '
        b"fair skin, and ambient light, wearing a short white skirt, sitting on a bench beside "
        b'the street, smiling and shaking her hair",',
        b'"mode": "std",',
        b'"aspect_ratio": "1:1",',
        b'"duration": "5"',
        b"}",
    ]
)

IMAGE2VIDEO = "/kling/v1/videos/image2video"
TEXT2VIDEO = "/kling/v1/videos/text2video"
IMAGES = "/kling/v1/images/generations"
FINISHED = ("succeed", "failed")


def png_base64(width: int, height: int) -> str:
    return base64.b64encode(media.png_bytes(width, height, "test")).decode()


def post(
    gateway: GatewayProcess, path: str, key: str | None, body: bytes | dict[str, Any]
) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    if isinstance(body, dict):
        return httpx.post(gateway.url + path, json=body, headers=headers, timeout=30)
    return httpx.post(gateway.url + path, content=body, headers=headers, timeout=30)


def get(gateway: GatewayProcess, path: str, key: str, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.get(gateway.url + path, headers=headers, params=params, timeout=30)


def submit(gateway: GatewayProcess, path: str, key: str, body: bytes | dict[str, Any]) -> str:
    response = post(gateway, path, key, body)
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["task_id"])


def wait_task(
    gateway: GatewayProcess, path: str, key: str, task_id: str, seconds: float = 30
) -> dict[str, Any]:
    """Query until the task ends; returns its ``data``. Statuses seen are in ``_seen``."""
    deadline = time.monotonic() + seconds
    seen: list[str] = []
    while time.monotonic() < deadline:
        response = get(gateway, f"{path}/{task_id}", key)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        if not seen or seen[-1] != data["task_status"]:
            seen.append(data["task_status"])
        if data["task_status"] in FINISHED:
            data["_seen"] = seen
            return data
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} did not finish in {seconds} s (saw {seen})")


def settle_wait(gateway: GatewayProcess, task_id: str, seconds: float = 10) -> list[dict[str, Any]]:
    """The usage records of a task (its settlement), once written."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        rows = gateway.usage(request_id=task_id)
        if rows:
            return rows
        time.sleep(0.1)
    return []
