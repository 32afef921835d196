"""The Suno surface against a live gateway and the sandbox's Suno-API server."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import httpx
import pytest

from tests.support.receiver import signed_with, webhook_receiver
from tests.support.servers import GatewayProcess
from tests.support.suno import fetch, mp3_check, post, submit, wait, wait_many

MUSIC = 100_000  # chirp-v3-0 and chirp-v3-5: $0.10 a submission
LYRICS = 10_000  # $0.01


def _check_clips(task: dict[str, Any]) -> None:
    clips = task["data"]
    assert len(clips) == 2 and len({c["id"] for c in clips}) == 2
    for clip in clips:
        assert clip["status"] == "complete"
        audio = httpx.get(clip["audio_url"], timeout=30)
        assert audio.status_code == 200 and audio.headers["content-type"] == "audio/mpeg"
        seconds = mp3_check(audio.content)
        assert 3.0 < seconds < 8.0
        assert abs(seconds - clip["metadata"]["duration"]) < 0.01, (seconds, clip["metadata"])
        cover = httpx.get(clip["image_url"], timeout=30)
        assert cover.content.startswith(b"\x89PNG\r\n\x1a\n")
        assert clip["image_large_url"] and clip["video_url"] and clip["model_name"]
        assert clip["title"] and clip["created_at"]


def test_music_in_both_forms_succeeds_with_real_mp3s(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("suno-music", quota_usd=1.0)
    inspired = submit(gateway, key, {"gpt_description_prompt": "a song about lighthouses"})
    custom = submit(
        gateway,
        key,
        {
            "prompt": "[Verse]\nSalt on the window\n[Chorus]\nHold the light",
            "tags": "folk, acoustic",
            "title": "Keeper",
            "mv": "chirp-v3-5",
        },
    )
    # Both prices are held while the tasks run.
    assert gateway.key_info(key_id)["quota_remaining_micro_usd"] == 1_000_000 - 2 * MUSIC
    first, second = wait_many(gateway, key, [inspired, custom])
    for task in (first, second):
        assert task["status"] == "SUCCESS" and task["progress"] == "100%"
        assert task["action"] == "MUSIC" and task["fail_reason"] == ""
        assert task["submit_time"] <= task["start_time"] <= task["finish_time"]
        assert task["submit_time"] > 1_700_000_000  # unix seconds, not milliseconds
        # Clips stream before they are complete.
        statuses = [s for s, _ in task["_seen"]]
        assert "IN_PROGRESS" in statuses and statuses[-1] == "SUCCESS"
        assert any("streaming" in clips for s, clips in task["_seen"] if s == "IN_PROGRESS")
        _check_clips(task)
    assert first["data"][0]["metadata"]["gpt_description_prompt"] == "a song about lighthouses"
    assert second["data"][0]["title"] == "Keeper"
    assert second["data"][0]["metadata"]["tags"] == "folk, acoustic"
    assert second["data"][0]["model_name"] == "chirp-v3-5"
    info = gateway.key_info(key_id)
    assert info["quota_remaining_micro_usd"] == 1_000_000 - 2 * MUSIC
    assert info["spent_micro_usd"] == 2 * MUSIC
    for task_id in (inspired, custom):
        [record] = gateway.usage(request_id=task_id)
        assert record["cost"] == MUSIC and record["status"] == 200


def test_lyrics_have_a_title_and_verses(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("suno-lyrics", quota_usd=1.0)
    task_id = submit(gateway, key, {"prompt": "a rainy monday in the city"}, action="lyrics")
    task = wait(gateway, key, task_id)
    assert task["status"] == "SUCCESS" and task["action"] == "LYRICS"
    lyrics = task["data"]
    assert lyrics["status"] == "complete" and lyrics["id"]
    assert lyrics["title"] and "[Verse 1]" in lyrics["text"] and "[Verse 2]" in lyrics["text"]
    assert gateway.key_info(key_id)["spent_micro_usd"] == LYRICS


def test_continuation_extends_a_clip_of_the_keys_task(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("suno-continue", quota_usd=1.0)
    base = submit(gateway, key, {"prompt": "[Verse]\nfirst light", "tags": "pop", "title": "Dawn"})
    clip = wait(gateway, key, base)["data"][1]["id"]
    body = {
        "prompt": "[Verse 2]\nand then the day",
        "continue_clip_id": clip,
        "continue_at": 3.5,
        "task_id": base,
    }
    extended = wait(gateway, key, submit(gateway, key, body))
    assert extended["status"] == "SUCCESS"
    history = extended["data"][0]["metadata"]["history"]
    assert history == [{"id": clip, "continue_at": 3.5}]
    _check_clips(extended)
    # Another key cannot continue this task; a clip of another task is refused.
    other, _ = gateway.create_key("suno-continue-other", quota_usd=1.0)
    refused = post(gateway, "/suno/submit/music", other, body)
    assert refused.status_code == 400 and "task_id" in refused.json()["message"]
    wrong = post(gateway, "/suno/submit/music", key, {**body, "continue_clip_id": "not-a-clip"})
    assert wrong.status_code == 400 and "continue_clip_id" in wrong.json()["message"]
    assert gateway.key_info(key_id)["spent_micro_usd"] == 2 * MUSIC


def test_batched_fetch_returns_the_keys_tasks_in_order(gateway: GatewayProcess) -> None:
    key, _ = gateway.create_key("suno-batch", quota_usd=1.0)
    other, _ = gateway.create_key("suno-batch-other", quota_usd=1.0)
    ids = [submit(gateway, key, {"gpt_description_prompt": f"song {i}"}) for i in range(3)]
    lyrics = submit(gateway, key, {"prompt": "stars"}, action="lyrics")
    foreign = submit(gateway, other, {"gpt_description_prompt": "not yours"})
    wait_many(gateway, key, [*ids, lyrics])
    wanted = [ids[2], "no-such-task", ids[0], foreign, lyrics, ids[1]]
    response = post(gateway, "/suno/fetch", key, {"ids": wanted})
    assert response.status_code == 200
    reply = response.json()
    assert reply["code"] == "success"
    assert [t["task_id"] for t in reply["data"]] == [ids[2], ids[0], lyrics, ids[1]]
    assert all(t["status"] == "SUCCESS" for t in reply["data"])
    only_music = post(gateway, "/suno/fetch", key, {"ids": wanted, "action": "MUSIC"}).json()
    assert [t["task_id"] for t in only_music["data"]] == [ids[2], ids[0], ids[1]]
    missing = httpx.get(
        f"{gateway.url}/suno/fetch/{foreign}", headers={"Authorization": f"Bearer {key}"}
    )
    assert missing.status_code == 404 and missing.json()["code"] == "task_not_exist"


BAD_INPUTS: list[tuple[str, Any, int, str, str]] = [
    ("music", b"", 400, "invalid_request", "empty"),
    ("music", b"{not json", 400, "invalid_request", "not valid JSON"),
    ("music", {}, 400, "invalid_request", "prompt"),
    (
        "music",
        {"prompt": "la", "gpt_description_prompt": "a song"},
        400,
        "invalid_request",
        "gpt_description_prompt",
    ),
    ("music", {"gpt_description_prompt": "a song", "mv": "chirp-v9"}, 400, "invalid_request", "mv"),
    ("music", {"gpt_description_prompt": "a song", "mv": 3}, 400, "invalid_request", "mv"),
    (
        "music",
        {"gpt_description_prompt": "a song", "make_instrumental": "yes"},
        400,
        "invalid_request",
        "make_instrumental",
    ),
    ("music", {"prompt": "la " * 1001}, 400, "invalid_request", "prompt: must be at most 3000"),
    ("music", {"prompt": "la", "tags": "x" * 201}, 400, "invalid_request", "tags"),
    ("music", {"prompt": "la", "title": "t" * 81}, 400, "invalid_request", "title"),
    (
        "music",
        {"prompt": "la", "continue_clip_id": "c1", "continue_at": 3},
        400,
        "invalid_request",
        "task_id",
    ),
    (
        "music",
        {"prompt": "la", "continue_clip_id": "c1", "task_id": "t1"},
        400,
        "invalid_request",
        "continue_at",
    ),
    (
        "music",
        {"prompt": "la", "continue_clip_id": "c1", "task_id": "t1", "continue_at": -1},
        400,
        "invalid_request",
        "continue_at",
    ),
    (
        "music",
        {"prompt": "la", "continue_clip_id": "c1", "task_id": "nope", "continue_at": 1},
        400,
        "invalid_request",
        "task_id",
    ),
    (
        "music",
        {"prompt": "la", "notify_hook": "ftp://example.com"},
        400,
        "invalid_request",
        "notify_hook",
    ),
    ("lyrics", {}, 400, "invalid_request", "prompt"),
    ("lyrics", {"prompt": "x" * 401}, 400, "invalid_request", "prompt"),
    ("video", {"prompt": "la"}, 400, "invalid_action", "video"),
    ("music", ["a list"], 400, "invalid_request", "object"),
]


def test_bad_inputs_name_the_field_and_cost_nothing(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("suno-bad", quota_usd=1.0)
    for action, body, status, code, needle in BAD_INPUTS:
        response = post(gateway, f"/suno/submit/{action}", key, body)
        assert response.status_code == status, (body, response.text)
        reply = response.json()
        assert reply["code"] == code and reply["data"] is None, (body, reply)
        assert needle in reply["message"], (body, reply)
    no_key = post(gateway, "/suno/submit/music", None, {"prompt": "la"})
    assert no_key.status_code == 401 and no_key.json()["code"] == "missing_api_key"
    bad_key = post(gateway, "/suno/submit/music", "sk-or-not-a-key", {"prompt": "la"})
    assert bad_key.status_code == 401 and bad_key.json()["data"] is None
    bad_fetch = post(gateway, "/suno/fetch", key, {"ids": "one"})
    assert bad_fetch.status_code == 400 and "ids" in bad_fetch.json()["message"]
    info = gateway.key_info(key_id)
    assert info["quota_remaining_micro_usd"] == 1_000_000 and info["spent_micro_usd"] == 0
    assert gateway.usage(key_id=key_id) == []


def test_a_failure_is_refunded_exactly(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("suno-fail", quota_usd=0.25)
    task_id = submit(gateway, key, {"prompt": "a storm [sandbox-fail]"})
    assert gateway.key_info(key_id)["quota_remaining_micro_usd"] == 250_000 - MUSIC
    task = wait(gateway, key, task_id)
    assert task["status"] == "FAILURE" and "[sandbox-fail]" in task["fail_reason"]
    assert all(clip["status"] == "error" for clip in task["data"])
    info = gateway.key_info(key_id)
    assert info["quota_remaining_micro_usd"] == 250_000 and info["spent_micro_usd"] == 0
    [record] = gateway.usage(request_id=task_id)
    assert record["cost"] == 0 and "[sandbox-fail]" in record["error"]
    # Refused by the vendor at submission: the error in Suno's shape, refunded at once.
    refused = post(gateway, "/suno/submit/music", key, {"prompt": "x [sandbox-reject]"})
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_request"
    assert "content policy" in refused.json()["message"]
    assert gateway.key_info(key_id)["quota_remaining_micro_usd"] == 250_000


def test_quota_too_low_is_429(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("suno-poor", quota_usd=0.05)
    response = post(gateway, "/suno/submit/music", key, {"prompt": "la"})
    assert response.status_code == 429 and response.json()["code"] == "insufficient_quota"
    assert gateway.key_info(key_id)["quota_remaining_micro_usd"] == 50_000


def test_notify_hook_gets_signed_task_updates(gateway: GatewayProcess) -> None:
    key, _ = gateway.create_key("suno-hooks", quota_usd=1.0)
    with webhook_receiver() as receiver:
        task_id = submit(
            gateway, key, {"gpt_description_prompt": "ocean", "notify_hook": receiver.url}
        )
        calls = receiver.wait_for(
            lambda got: any(json.loads(c.body)["status"] == "SUCCESS" for c in got)
        )
    bodies = [json.loads(c.body) for c in calls]
    assert all(b["task_id"] == task_id for b in bodies)
    statuses = [b["status"] for b in bodies]
    assert statuses[0] == "SUBMITTED" and statuses[-1] == "SUCCESS", statuses
    assert len(bodies[-1]["data"]) == 2
    assert all(signed_with(gateway.webhook_secret(key), c) for c in calls)
    assert fetch(gateway, key, task_id)["status"] == "SUCCESS"


def test_tasks_watch_follows_a_suno_task(gateway: GatewayProcess) -> None:
    key, _ = gateway.create_key("suno-watch", quota_usd=1.0)
    task_id = submit(gateway, key, {"gpt_description_prompt": "a waltz"})
    env = {
        **__import__("os").environ,
        "OMNIRELAY_DATABASE_URL": gateway.database_url,
        "OMNIRELAY_DATA_DIR": str(gateway.data_dir),
    }
    command = [sys.executable, "-m", "omnirelay", "tasks", "watch", task_id, "--interval", "0.1"]
    done = subprocess.run(command, capture_output=True, env=env, timeout=60, check=False)
    out = done.stdout.decode()
    assert done.returncode == 0, out
    assert f"task {task_id}: succeeded" in out and "100%" in out
    assert out.count(".mp3") == 2 and "charged $0.100000" in out


@pytest.mark.parametrize("path", ["/suno/submit", "/suno/nothing/here"])
def test_unknown_suno_routes_are_404_in_sunos_shape(gateway: GatewayProcess, path: str) -> None:
    key, _ = gateway.create_key("suno-404")
    response = post(gateway, path, key, {})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found" and response.json()["data"] is None
