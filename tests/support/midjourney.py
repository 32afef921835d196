"""Helpers for the Midjourney tests: requests in the proxy's shape, waiting, real pictures."""

from __future__ import annotations

import base64
import io
import time
from typing import Any

import httpx
from PIL import Image, ImageDraw

from tests.support.servers import GatewayProcess

FINISHED = ("SUCCESS", "FAILURE")
SANDBOX_SECRET = "sk-sandbox-demo"
# Fast-mode prices in micro-dollars (catalogue.toml).
PRICES = {
    "imagine": 50_000,
    "upscale": 25_000,
    "variation": 50_000,
    "reroll": 50_000,
    "describe": 25_000,
    "blend": 50_000,
    "shorten": 25_000,
    "zoom": 50_000,
}


def headers(key: str | None, scheme: str = "mj") -> dict[str, str]:
    if key is None:
        return {}
    return {"mj-api-secret": key} if scheme == "mj" else {"Authorization": f"Bearer {key}"}


def post(
    gateway: GatewayProcess,
    path: str,
    key: str | None,
    body: dict[str, Any] | bytes,
    scheme: str = "mj",
) -> httpx.Response:
    url = gateway.url + path
    if isinstance(body, bytes):
        sent = {**headers(key, scheme), "Content-Type": "application/json"}
        return httpx.post(url, content=body, headers=sent, timeout=30)
    return httpx.post(url, json=body, headers=headers(key, scheme), timeout=30)


def submit(gateway: GatewayProcess, path: str, key: str, body: dict[str, Any]) -> str:
    response = post(gateway, path, key, body)
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["code"] in (1, 21), reply
    return str(reply["result"])


def fetch(gateway: GatewayProcess, key: str, task_id: str, prefix: str = "/mj") -> httpx.Response:
    return httpx.get(
        f"{gateway.url}{prefix}/task/{task_id}/fetch", headers=headers(key), timeout=30
    )


def wait_task(
    gateway: GatewayProcess, key: str, task_id: str, seconds: float = 40
) -> dict[str, Any]:
    """Fetch until the task ends; the (status, progress) pairs seen are in ``_seen``."""
    deadline = time.monotonic() + seconds
    seen: list[tuple[str, str]] = []
    while time.monotonic() < deadline:
        response = fetch(gateway, key, task_id)
        assert response.status_code == 200, response.text
        task: dict[str, Any] = response.json()
        state = (task["status"], task["progress"])
        if not seen or seen[-1] != state:
            seen.append(state)
        if task["status"] in FINISHED:
            task["_seen"] = seen
            return task
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} did not finish in {seconds} s (saw {seen})")


def wait_status(
    gateway: GatewayProcess, key: str, task_id: str, status: str, seconds: float = 20
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        task: dict[str, Any] = fetch(gateway, key, task_id).json()
        if task["status"] == status:
            return task
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} never reached {status}")


def button(task: dict[str, Any], label: str) -> str:
    """The customId of the task's button with this label (or emoji)."""
    for found in task["buttons"]:
        if label in (found["label"], found["emoji"]):
            return str(found["customId"])
    raise AssertionError(f"no button {label!r} in {[b['label'] for b in task['buttons']]}")


def picture(url: str) -> Image.Image:
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


def data_url(width: int, height: int, colour: tuple[int, int, int]) -> str:
    """A real PNG: a coloured field with a white disc, as a data URL."""
    image = Image.new("RGB", (width, height), colour)
    ImageDraw.Draw(image).ellipse(
        (width // 4, height // 4, 3 * width // 4, 3 * height // 4), fill=(255, 255, 255)
    )
    out = io.BytesIO()
    image.save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def sandbox_stats(gateway: GatewayProcess) -> dict[str, int]:
    response = httpx.get(
        gateway.sandbox_url + "/mj/sandbox/stats",
        headers={"mj-api-secret": SANDBOX_SECRET},
        timeout=10,
    )
    response.raise_for_status()
    return dict(response.json())
