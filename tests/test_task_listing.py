"""The gallery reads every vendor's result by what its fields say (tasks/listing.py)."""

from __future__ import annotations

import json
from typing import Any

from omnirelay.tasks.listing import files_of, media_of, view
from omnirelay.tasks.model import Task, TaskStatus


def task(
    result: dict[str, Any] | None, request: dict[str, Any] | None = None, **fields: Any
) -> Task:
    values: dict[str, Any] = {
        "id": "t1", "key_id": 1, "vendor": "v", "channel_id": 1, "upstream_id": "u", "action": "a",
        "model": "m", "request": json.dumps(request or {}), "status": TaskStatus.SUCCEEDED,
        "progress": 100, "result": result, "failure": None, "last_error": None,
        "callback_url": None, "external_task_id": None, "price": 100, "reserved": 100,
        "charged": 100, "settlement": "charged", "created_ms": 1_700_000_000_000,
        "updated_ms": 1_700_000_001_000, "finished_ms": 1_700_000_001_000, "next_poll_ms": 0,
        "attempts": 1,
    }  # fmt: skip
    values.update(fields)
    return Task(**values)


def test_kling_videos_and_images() -> None:
    videos = task({"videos": [{"id": "x", "url": "https://cdn/v/0.mp4", "duration": "5"}]})
    [video] = media_of(videos, "/admin/tasks")
    assert (video.kind, video.url, video.poster) == ("video", "/admin/tasks/t1/files/0", None)
    images = task(
        {"images": [{"index": 0, "url": "https://cdn/i/0"}, {"index": 1, "url": "https://cdn/i/1"}]}
    )
    assert [m.kind for m in media_of(images, "/b")] == ["image", "image"]
    assert files_of(images) == ["https://cdn/i/0", "https://cdn/i/1"]


def test_a_suno_clip_is_its_audio_with_its_cover() -> None:
    clip = {"title": "Tides", "audio_url": "https://s/a.mp3", "video_url": "https://s/a.mp4",
            "image_url": "https://s/a.png", "image_large_url": "https://s/big.png"}  # fmt: skip
    [song] = media_of(task({"clips": [clip, {**clip, "title": "Tides 2"}]}), "/b")[:1]
    assert (song.kind, song.title) == ("audio", "Tides")
    files = files_of(task({"clips": [clip]}))
    assert files[int(song.url.rsplit("/", 1)[1])] == "https://s/a.mp3"
    assert (
        song.poster is not None and files[int(song.poster.rsplit("/", 1)[1])] == "https://s/a.png"
    )


def test_midjourney_flux_and_results_without_media() -> None:
    assert [
        m.kind for m in media_of(task({"imageUrl": "https://mj/x.png", "buttons": []}), "/b")
    ] == ["image"]
    assert [m.kind for m in media_of(task({"sample": "https://bfl/x?sig=1", "seed": 3}), "/b")] == [
        "image"
    ]
    lyrics = view(task({"lyrics": {"title": "T", "text": "la la"}}), "/b")
    assert lyrics.media == [] and lyrics.text == "la la"
    assert media_of(task(None), "/b") == [] and media_of(task({"note": "http://x/y"}), "/b") == []


def test_a_view_says_what_was_asked_and_what_it_cost() -> None:
    shown = view(task(None, {"gpt_description_prompt": "a sea shanty", "mv": "chirp"}), "/b")
    assert shown.prompt == "a sea shanty" and shown.charged_micro_usd == 100
    refunded = view(
        task(None, status=TaskStatus.FAILED, charged=0, settlement="refunded", failure="no"), "/b"
    )
    assert refunded.refunded_micro_usd == 100 and refunded.settlement == "refunded"
