"""The sandbox's Suno-API server, under ``/suno`` (a channel's base URL is the sandbox itself).

``POST /suno/submit/{music|lyrics}`` (Bearer auth, 401 otherwise) answers
``{"code": "success", "data": "<task id>"}``; ``POST /suno/fetch {ids}`` and
``GET /suno/fetch/{id}`` report tasks on a clock of ``step`` seconds: ``SUBMITTED`` (clips
``submitted``), ``QUEUED`` (``queued``), two steps of ``IN_PROGRESS`` (clips ``streaming``, their
audio already playable), then ``SUCCESS`` (``complete``): two clips per music task, each a real
MP3 of a few seconds (a melody made from the prompt) with a cover image and a video, and
``metadata.duration`` the MP3's exact length. Lyrics end with a title and verses.

Task ids carry the task's facts (base64 JSON), so any sandbox process answers for any task;
its texts (title, tags, lyrics) are kept by the process that took it (others make their own).
Prompt markers: ``[sandbox-fail]`` → the task ends ``FAILURE``; ``[sandbox-reject]`` → the
submission is refused (400).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
import secrets
import time
import uuid
from array import array
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from omnirelay.formats.audio import mp3_duration
from omnirelay.sandbox import media, pictures, video

FAIL_MARKER = "[sandbox-fail]"
REJECT_MARKER = "[sandbox-reject]"
MODELS = ("chirp-v3-0", "chirp-v3-5", "chirp-v4", "chirp-auk", "chirp-bluejay", "chirp-crow")
CLIPS = 2
_CACHE_FILES = 48
_KEPT_TEXTS = 5000
_SCALE = (0, 2, 4, 5, 7, 9, 11, 12)  # a major scale, in semitones


@dataclass(slots=True)
class SunoState:
    key: str
    step: float
    files: OrderedDict[str, tuple[bytes, str]] = field(default_factory=OrderedDict)
    texts: OrderedDict[str, Texts] = field(default_factory=OrderedDict)


@dataclass(frozen=True, slots=True)
class Texts:
    title: str = ""
    tags: str = ""
    prompt: str = ""
    description: str = ""


SUNO_STATE = web.AppKey("suno_state", SunoState)


@dataclass(frozen=True, slots=True)
class SunoTask:
    """Everything about a task, carried in its id."""

    action: str  # MUSIC | LYRICS
    created: int
    mv: str
    instrumental: bool
    continue_clip: str
    continue_at: float
    failed: bool
    nonce: str
    title: str = ""
    tags: str = ""
    prompt: str = ""
    description: str = ""

    @property
    def failure(self) -> str:
        return f"sandbox: failure requested by {FAIL_MARKER} in the prompt" if self.failed else ""

    def encode(self) -> str:
        facts = [
            self.action,
            self.created,
            self.mv,
            self.instrumental,
            self.continue_clip,
            self.continue_at,
            self.failed,
            self.nonce,
        ]
        raw = json.dumps(facts, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, texts: Texts | None = None) -> SunoTask | None:
        try:
            facts = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            task = cls(*facts)
        except (ValueError, TypeError):
            return None
        if texts is None:
            return task
        return replace(
            task,
            title=texts.title,
            tags=texts.tags,
            prompt=texts.prompt,
            description=texts.description,
        )


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message, "data": None}, status=status)


def melody(seed: str, seconds: float) -> array[int]:
    """16-bit mono PCM: notes of a major scale chosen by ``seed``, a quarter second each."""
    digest = hashlib.sha256(seed.encode()).digest()
    rate = media.SAMPLE_RATE
    note_len = rate // 4
    samples = array("h")
    for i in range(int(seconds * 4)):
        semitone = _SCALE[digest[i % len(digest)] % len(_SCALE)]
        step = 2 * math.pi * 220 * 2 ** (semitone / 12) / rate
        fade = note_len // 8
        for j in range(note_len):
            envelope = min(1.0, j / fade, (note_len - j) / fade)
            value = math.sin(step * j) + 0.3 * math.sin(2 * step * j)
            samples.append(int(7000 * envelope * value))
    return samples


def clip_ids(task_id: str) -> list[str]:
    return [str(uuid.uuid5(uuid.NAMESPACE_URL, f"{task_id}#{i}")) for i in range(CLIPS)]


def _seconds(task: SunoTask, index: int) -> float:
    return 4.0 + (hashlib.sha256(f"{task.created}{index}".encode()).digest()[0] % 9) / 4


def lyrics_text(topic: str) -> tuple[str, str]:
    words = [
        w.strip(".,!?") for w in topic.replace(REJECT_MARKER, "").replace(FAIL_MARKER, "").split()
    ] or ["song"]
    title = " ".join(words[:4]).title()
    lines = []
    for verse in range(2):
        lines.append(f"[Verse {verse + 1}]")
        for line in range(4):
            chosen = [words[(verse * 7 + line * 3 + k) % len(words)] for k in range(4)]
            lines.append(" ".join(chosen).capitalize())
        lines.append("")
    lines += ["[Chorus]", f"Oh {words[0]}, {title.lower()}", f"We sing of {words[-1]} tonight"]
    return title, "\n".join(lines)


def _stage(task: SunoTask, step: float) -> int:
    """Steps elapsed since submission."""
    return int((time.time() * 1000 - task.created) / (step * 1000))


async def _audio(state: SunoState, token: str, task: SunoTask, index: int) -> bytes:
    name = f"{token}/{index}.mp3"
    found = state.files.get(name)
    if found is None:
        samples = await asyncio.to_thread(melody, f"{token}#{index}", _seconds(task, index))
        found = (await asyncio.to_thread(media.mp3_bytes, samples), "audio/mpeg")
        _cache(state, name, found)
    return found[0]


def _cache(state: SunoState, name: str, item: tuple[bytes, str]) -> None:
    state.files[name] = item
    while len(state.files) > _CACHE_FILES:
        state.files.popitem(last=False)


async def _clip(
    request: web.Request, token: str, task: SunoTask, index: int, clip_id: str, stage: int
) -> dict[str, Any]:
    state = request.app[SUNO_STATE]
    status = (
        ["submitted", "queued", "streaming", "streaming"][stage]
        if stage < 4
        else ("error" if task.failure else "complete")
    )
    base = f"{request.scheme}://{request.host}/suno/files/{token}/{index}"
    playable = status in ("streaming", "complete")
    lyrics = "" if task.instrumental else (task.prompt or lyrics_text(task.description)[1])
    metadata: dict[str, Any] = {
        "tags": task.tags or ("instrumental, ambient" if task.instrumental else "pop, upbeat"),
        "prompt": lyrics,
        "gpt_description_prompt": task.description or None,
        "audio_prompt_id": None,
        "history": [{"id": task.continue_clip, "continue_at": task.continue_at}]
        if task.continue_clip
        else None,
        "type": "concat" if task.continue_clip else "gen",
        "duration": None,
        "stream": True,
        "error_type": "generation_failed" if status == "error" else None,
        "error_message": task.failure if status == "error" else None,
    }
    if status == "complete":
        metadata["duration"] = round(
            mp3_duration(await _audio(state, token, task, index)) or 0.0, 3
        )
    return {
        "id": clip_id,
        "title": task.title or lyrics_text(task.description or task.prompt)[0],
        "status": status,
        "audio_url": f"{base}.mp3" if playable else "",
        "video_url": f"{base}.mp4" if status == "complete" else "",
        "image_url": f"{base}.png" if playable else None,
        "image_large_url": f"{base}-large.png" if playable else None,
        "is_video_pending": status != "complete",
        "major_model_version": task.mv.removeprefix("chirp-"),
        "model_name": task.mv,
        "created_at": datetime.fromtimestamp(task.created / 1000, UTC).isoformat(),
        "metadata": metadata,
    }


async def _task_json(request: web.Request, token: str, task: SunoTask) -> dict[str, Any]:
    state = request.app[SUNO_STATE]
    stage = _stage(task, state.step)
    submit = task.created // 1000
    if task.action == "LYRICS":
        words = ["SUBMITTED", "IN_PROGRESS"]
        status = words[stage] if stage < 2 else ("FAILURE" if task.failure else "SUCCESS")
        data: Any = None
        if status == "SUCCESS":
            title, text = lyrics_text(task.prompt)
            data = {"id": clip_ids(token)[0], "status": "complete", "title": title, "text": text}
        done, progress = stage >= 2, min(stage * 50, 100)
    else:
        words = ["SUBMITTED", "QUEUED", "IN_PROGRESS", "IN_PROGRESS"]
        status = words[stage] if stage < 4 else ("FAILURE" if task.failure else "SUCCESS")
        data = [
            await _clip(request, token, task, i, cid, stage)
            for i, cid in enumerate(clip_ids(token))
        ]
        done, progress = stage >= 4, min(stage * 25, 100)
    step_s = state.step
    return {
        "task_id": token,
        "action": task.action,
        "status": status,
        "fail_reason": task.failure if status == "FAILURE" else "",
        "submit_time": submit,
        "start_time": int(submit + step_s) if stage >= 1 else 0,
        "finish_time": int(time.time()) if done else 0,
        "progress": f"{progress}%",
        "data": data,
    }


def _denied(request: web.Request) -> web.Response | None:
    header = request.headers.get("Authorization", "")
    if header != f"Bearer {request.app[SUNO_STATE].key}":
        return _error(401, "unauthorized", "invalid or missing Bearer token")
    return None


def _parse(action: str, body: dict[str, Any]) -> SunoTask | web.Response:
    text = " ".join(
        str(body.get(k) or "") for k in ("prompt", "gpt_description_prompt", "title", "tags")
    )
    if REJECT_MARKER in text:
        return _error(400, "invalid_request", "the prompt was rejected by Suno's content policy")
    if action == "LYRICS" and not body.get("prompt"):
        return _error(400, "invalid_request", "prompt is empty")
    mv = str(body.get("mv") or "chirp-v3-0")
    if action == "MUSIC" and mv not in MODELS:
        return _error(400, "invalid_request", f"unknown mv '{mv}'")
    if action == "MUSIC" and len(str(body.get("prompt") or "")) > 3000:
        return _error(400, "invalid_request", "prompt is too long (3000 characters at most)")
    clip = str(body.get("continue_clip_id") or "")
    if clip:
        parent = SunoTask.decode(str(body.get("task_id") or ""))
        if not body.get("task_id"):
            return _error(400, "invalid_request", "task_id is empty")
        if parent is None or clip not in clip_ids(str(body["task_id"])):
            return _error(400, "invalid_request", "continue_clip_id is not a clip of task_id")
    return SunoTask(
        action,
        int(time.time() * 1000),
        mv if action == "MUSIC" else "",
        bool(body.get("make_instrumental")),
        clip,
        float(body.get("continue_at") or 0),
        FAIL_MARKER in text,
        secrets.token_hex(4),
        str(body.get("title") or ""),
        str(body.get("tags") or ""),
        str(body.get("prompt") or ""),
        str(body.get("gpt_description_prompt") or ""),
    )


async def submit(request: web.Request) -> web.StreamResponse:
    denied = _denied(request)
    if denied is not None:
        return denied
    action = request.match_info["action"].upper()
    if action not in ("MUSIC", "LYRICS"):
        return _error(400, "invalid_request", "invalid action")
    try:
        body = json.loads(await request.read())
    except ValueError:
        return _error(400, "invalid_request", "the body is not JSON")
    if not isinstance(body, dict):
        return _error(400, "invalid_request", "the body must be a JSON object")
    parsed = _parse(action, body)
    if isinstance(parsed, web.Response):
        return parsed
    token = parsed.encode()
    state = request.app[SUNO_STATE]
    state.texts[token] = Texts(parsed.title, parsed.tags, parsed.prompt, parsed.description)
    while len(state.texts) > _KEPT_TEXTS:
        state.texts.popitem(last=False)
    return web.json_response({"code": "success", "message": "", "data": token})


async def fetch(request: web.Request) -> web.StreamResponse:
    denied = _denied(request)
    if denied is not None:
        return denied
    try:
        ids = json.loads(await request.read()).get("ids")
    except (ValueError, AttributeError):
        ids = None
    if not isinstance(ids, list):
        return _error(400, "invalid_request", "ids must be a list")
    state = request.app[SUNO_STATE]
    found = [(str(i), SunoTask.decode(str(i), state.texts.get(str(i)))) for i in ids]
    data = [await _task_json(request, i, t) for i, t in found if t is not None]
    return web.json_response({"code": "success", "message": "", "data": data})


async def fetch_one(request: web.Request) -> web.StreamResponse:
    denied = _denied(request)
    if denied is not None:
        return denied
    token = request.match_info["task_id"]
    task = SunoTask.decode(token, request.app[SUNO_STATE].texts.get(token))
    if task is None:
        return _error(400, "invalid_request", "task not exist")
    return web.json_response(
        {"code": "success", "message": "", "data": await _task_json(request, token, task)}
    )


async def serve_file(request: web.Request) -> web.StreamResponse:
    """Clip files are public, as Suno's CDN files are."""
    state = request.app[SUNO_STATE]
    token, name = request.match_info["token"], request.match_info["name"]
    task = SunoTask.decode(token, state.texts.get(token))
    stem, _, suffix = name.partition(".")
    index = stem.removesuffix("-large")
    if (
        task is None
        or task.action != "MUSIC"
        or index not in ("0", "1")
        or _stage(task, state.step) < 2
    ):
        raise web.HTTPNotFound(text="no such file")
    if suffix == "mp3":
        return web.Response(
            body=await _audio(state, token, task, int(index)), content_type="audio/mpeg"
        )
    key = f"{token}/{name}"
    found = state.files.get(key)
    if found is None:
        seed = f"{task.title or task.description or task.prompt}#{token}#{index}"
        if suffix == "png":
            side = 1024 if stem.endswith("-large") else 400
            found = (await asyncio.to_thread(pictures.picture, side, side, seed), "image/png")
        elif suffix == "mp4":
            found = (await asyncio.to_thread(video.mp4_bytes, 160, 160, 2, seed), "video/mp4")
        else:
            raise web.HTTPNotFound(text="no such file")
        _cache(state, key, found)
    return web.Response(body=found[0], content_type=found[1])


def add_routes(app: web.Application, key: str, step: float) -> None:
    app[SUNO_STATE] = SunoState(key=key, step=step)
    app.router.add_post("/suno/submit/{action}", submit)
    app.router.add_post("/suno/fetch", fetch)
    app.router.add_get("/suno/fetch/{task_id}", fetch_one)
    app.router.add_get("/suno/files/{token}/{name}", serve_file)
