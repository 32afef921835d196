"""Helpers for the Suno tests: requests, waiting for tasks, and an MP3 check of our own."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.support.servers import GatewayProcess

FINISHED = ("SUCCESS", "FAILURE")
# MPEG-2 Layer III kbit/s by bitrate index, and sample rates (the sandbox encodes at 24 kHz).
_KBPS_V2 = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
_KBPS_V1 = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000)}


def post(gateway: GatewayProcess, path: str, key: str | None, body: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if isinstance(body, bytes):
        return httpx.post(gateway.url + path, content=body, headers=headers, timeout=30)
    return httpx.post(gateway.url + path, json=body, headers=headers, timeout=30)


def submit(gateway: GatewayProcess, key: str, body: dict[str, Any], action: str = "music") -> str:
    response = post(gateway, f"/suno/submit/{action}", key, body)
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["code"] == "success" and reply["message"] == ""
    return str(reply["data"])


def fetch(gateway: GatewayProcess, key: str, task_id: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    response = httpx.get(f"{gateway.url}/suno/fetch/{task_id}", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


def wait(gateway: GatewayProcess, key: str, task_id: str, seconds: float = 30) -> dict[str, Any]:
    """Fetch until the task ends; ``_seen`` lists (task status, clip statuses) as they changed."""
    deadline = time.monotonic() + seconds
    seen: list[tuple[str, tuple[str, ...]]] = []
    while time.monotonic() < deadline:
        task = fetch(gateway, key, task_id)
        clips = task["data"] if isinstance(task["data"], list) else []
        state = (task["status"], tuple(c["status"] for c in clips))
        if not seen or seen[-1] != state:
            seen.append(state)
        if task["status"] in FINISHED:
            task["_seen"] = seen
            return task
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} did not finish in {seconds} s (saw {seen})")


def mp3_check(data: bytes) -> float:
    """Walk every frame header (sync word, Layer III, valid bitrate and rate) to the end of the
    file; returns the duration in seconds. Fails on a file that is not all MP3 frames."""
    offset = (
        10 + (data[6] << 21 | data[7] << 14 | data[8] << 7 | data[9]) if data[:3] == b"ID3" else 0
    )
    frames, rate = 0, 0
    while offset < len(data):
        assert offset + 4 <= len(data), f"truncated frame header at {offset}"
        header = int.from_bytes(data[offset : offset + 4], "big")
        assert header >> 21 == 0x7FF, f"no frame sync at byte {offset}"
        version, layer = (header >> 19) & 3, (header >> 17) & 3
        assert layer == 1 and version in (2, 3), f"not MPEG Layer III at byte {offset}"
        kbps = (_KBPS_V1 if version == 3 else _KBPS_V2)[(header >> 12) & 15]
        rate = _RATES[version][(header >> 10) & 3]
        assert kbps > 0
        offset += (144 if version == 3 else 72) * kbps * 1000 // rate + ((header >> 9) & 1)
        frames += 1
    assert offset == len(data) and frames > 10
    return frames * (1152 if rate >= 32000 else 576) / rate


def wait_many(
    gateway: GatewayProcess, key: str, task_ids: list[str], seconds: float = 30
) -> list[dict[str, Any]]:
    """``wait`` for several tasks at once, so each one's progress is seen."""
    deadline = time.monotonic() + seconds
    seen: dict[str, list[tuple[str, tuple[str, ...]]]] = {t: [] for t in task_ids}
    done: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline and len(done) < len(task_ids):
        for task_id in task_ids:
            if task_id in done:
                continue
            task = fetch(gateway, key, task_id)
            clips = task["data"] if isinstance(task["data"], list) else []
            state = (task["status"], tuple(c["status"] for c in clips))
            if not seen[task_id] or seen[task_id][-1] != state:
                seen[task_id].append(state)
            if task["status"] in FINISHED:
                task["_seen"] = seen[task_id]
                done[task_id] = task
        time.sleep(0.05)
    assert len(done) == len(task_ids), f"tasks did not finish in {seconds} s: {seen}"
    return [done[t] for t in task_ids]
