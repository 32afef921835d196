"""Suno's wire format as aggregators serve it (the Suno-API protocol), both ways.

Client side: ``POST /suno/submit/{music|lyrics}`` bodies, the checks applied before anything is
charged (each rejection names its field), and the task as ``/suno/fetch`` shows it: UPPERCASE
``status``, ``progress`` as ``"NN%"``, unix-second times, and for music ``data`` = the clips
(two per submission), for lyrics ``data`` = ``{id, status, title, text}``. Envelopes are
``{"code": "success" | "<error word>", "message", "data"}``.

Upstream side: the same paths on a Suno-API server; its tasks are read into ``TaskUpdate``s.
A task's stored result is ``{"clips": [...]}`` or ``{"lyrics": {...}}`` (plus the upstream's
``start_time``).
"""

from __future__ import annotations

from collections.abc import Collection
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import msgspec

from omnirelay.errors import InvalidRequest
from omnirelay.tasks.model import Task, TaskStatus, TaskUpdate

MUSIC = "suno.music"
LYRICS = "suno.lyrics"
ACTIONS = MappingProxyType({"music": MUSIC, "lyrics": LYRICS})
ACTION_WORDS = MappingProxyType({MUSIC: "MUSIC", LYRICS: "LYRICS"})
LYRICS_MODEL = "suno-lyrics"
DEFAULT_MV = "chirp-v3-0"

# Suno's limits (characters): custom lyrics, style tags, title, inspiration description.
MAX_LYRICS = 3000
MAX_TAGS = 200
MAX_TITLE = 80
MAX_DESCRIPTION = 400
MAX_LYRICS_PROMPT = 400
MAX_URL = 2048
MAX_ID = 200

_STATUS_WORDS = MappingProxyType(
    {
        TaskStatus.SUBMITTING: "NOT_START",
        TaskStatus.QUEUED: "SUBMITTED",
        TaskStatus.RUNNING: "IN_PROGRESS",
        TaskStatus.SUCCEEDED: "SUCCESS",
        TaskStatus.FAILED: "FAILURE",
    }
)


class SubmitRequest(msgspec.Struct):
    """A music or lyrics submission; unknown fields are tolerated and relayed."""

    prompt: str | None = None
    gpt_description_prompt: str | None = None
    mv: str | None = None
    title: str | None = None
    tags: str | None = None
    make_instrumental: bool | None = None
    continue_at: float | None = None
    continue_clip_id: str | None = None
    task_id: str | None = None
    notify_hook: str | None = None


class FetchRequest(msgspec.Struct):
    ids: list[str]
    action: str | None = None


def invalid(field: str, why: str) -> InvalidRequest:
    return InvalidRequest(f"{field}: {why}", code="invalid_request", param=field)


def decode(body: bytes, kind: type[Any]) -> Any:
    """Decode a client body; type errors name the field (``make_instrumental: Expected bool``)."""
    if not body.strip():
        raise InvalidRequest(
            "the request body is empty; expected a JSON object", code="invalid_request"
        )
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        what, _, where = str(exc).replace(" | null", "").partition(" - at `$.")
        if where:
            raise invalid(where.rstrip("`").split("[")[0], what[0].lower() + what[1:]) from exc
        raise InvalidRequest(f"invalid request: {exc}", code="invalid_request") from exc
    except msgspec.DecodeError as exc:
        raise InvalidRequest(
            f"the request body is not valid JSON: {exc}", code="invalid_request"
        ) from exc


def _check_length(field: str, value: str | None, limit: int) -> None:
    if value is not None and len(value) > limit:
        raise invalid(field, f"must be at most {limit} characters (got {len(value)})")


def check_url(field: str, value: str) -> None:
    parts = urlsplit(value)
    if (
        len(value) > MAX_URL
        or parts.scheme not in ("http", "https")
        or not parts.netloc
        or any(c.isspace() for c in value)
    ):
        raise invalid(field, "must be an http(s) URL")


def check_music(req: SubmitRequest, models: Collection[str]) -> str:
    """Checks a music submission; returns its model (``mv``)."""
    mv = req.mv or DEFAULT_MV
    if mv not in models:
        raise invalid(
            "mv", f"'{mv}' is not supported here; use one of: {', '.join(sorted(models)) or 'none'}"
        )
    inspiration, custom = bool(req.gpt_description_prompt), bool(req.prompt)
    if inspiration and custom:
        raise invalid(
            "gpt_description_prompt",
            "use either gpt_description_prompt (inspiration) or prompt (custom lyrics), not both",
        )
    if not inspiration and not custom and not req.continue_clip_id:
        raise invalid("prompt", "is required (or gpt_description_prompt for the inspiration form)")
    _check_length("gpt_description_prompt", req.gpt_description_prompt, MAX_DESCRIPTION)
    _check_length("prompt", req.prompt, MAX_LYRICS)
    _check_length("tags", req.tags, MAX_TAGS)
    _check_length("title", req.title, MAX_TITLE)
    if req.continue_clip_id is not None or req.continue_at is not None:
        _check_continuation(req)
    if req.notify_hook is not None:
        check_url("notify_hook", req.notify_hook)
    return mv


def _check_continuation(req: SubmitRequest) -> None:
    if not req.continue_clip_id:
        raise invalid("continue_clip_id", "is required with continue_at")
    if len(req.continue_clip_id) > MAX_ID:
        raise invalid("continue_clip_id", f"must be at most {MAX_ID} characters")
    if not req.task_id:
        raise invalid("task_id", "is required with continue_clip_id (the task that made the clip)")
    if req.continue_at is None:
        raise invalid("continue_at", "is required with continue_clip_id (seconds into the clip)")
    if req.continue_at < 0:
        raise invalid("continue_at", f"must be at least 0 (got {req.continue_at})")
    if req.gpt_description_prompt:
        raise invalid(
            "gpt_description_prompt", "a continuation takes the custom form (prompt, tags, title)"
        )


def check_lyrics(req: SubmitRequest) -> None:
    if not req.prompt or not req.prompt.strip():
        raise invalid("prompt", "is required (what the lyrics should be about)")
    _check_length("prompt", req.prompt, MAX_LYRICS_PROMPT)
    if req.notify_hook is not None:
        check_url("notify_hook", req.notify_hook)


def clip_of(task: Task, clip_id: str) -> dict[str, Any] | None:
    for clip in (task.result or {}).get("clips", []):
        if isinstance(clip, dict) and clip.get("id") == clip_id:
            return clip
    return None


def upstream_body(body: bytes, upstream_task_id: str | None) -> bytes:
    """The vendor's body: the client's, without the gateway's webhook, and with the vendor's
    own id of the task being continued."""
    fields = msgspec.json.decode(body)
    fields.pop("notify_hook", None)
    if upstream_task_id is not None:
        fields["task_id"] = upstream_task_id
    else:
        fields.pop("task_id", None)
    return msgspec.json.encode(fields)


def _seconds(ms: int | None) -> int:
    return ms // 1000 if ms else 0


def task_json(task: Task) -> dict[str, Any]:
    """A task as ``/suno/fetch`` shows it."""
    result = task.result or {}
    status = _STATUS_WORDS[task.status]
    if task.status is TaskStatus.QUEUED and task.progress >= 10:
        status = "QUEUED"
    started = result.get("start_time") or (
        _seconds(task.created_ms)
        if task.status in (TaskStatus.RUNNING, TaskStatus.SUCCEEDED)
        else 0
    )
    data: Any = result.get("lyrics") if task.action == LYRICS else result.get("clips")
    return {
        "task_id": task.id,
        "action": ACTION_WORDS.get(task.action, "MUSIC"),
        "status": status,
        "fail_reason": task.failure or "",
        "submit_time": _seconds(task.created_ms),
        "start_time": started,
        "finish_time": _seconds(task.finished_ms),
        "progress": f"{100 if task.status is TaskStatus.SUCCEEDED else task.progress}%",
        "data": data if data is not None else ([] if task.action == MUSIC else None),
    }


def envelope(data: Any) -> bytes:
    return msgspec.json.encode({"code": "success", "message": "", "data": data})


def error_body(code: str, message: str) -> bytes:
    return msgspec.json.encode({"code": code, "message": message, "data": None})


def notify_body(task: Task) -> bytes:
    """What ``notify_hook`` receives: the task as a fetch shows it."""
    return msgspec.json.encode(task_json(task))


RENDERERS = MappingProxyType({MUSIC: notify_body, LYRICS: notify_body})


# Upstream (a Suno-API server).


class UpstreamEnvelope(msgspec.Struct):
    code: str | int | None = None
    message: str = ""
    data: Any = None


class UpstreamTask(msgspec.Struct):
    task_id: str
    status: str = "SUBMITTED"
    action: str = ""
    fail_reason: str | None = ""
    start_time: int | None = 0
    progress: str | None = None
    data: Any = None


_UPSTREAM_STATUS = {
    "NOT_START": (TaskStatus.QUEUED, 0),
    "SUBMITTED": (TaskStatus.QUEUED, 5),
    "QUEUED": (TaskStatus.QUEUED, 10),
    "IN_PROGRESS": (TaskStatus.RUNNING, 50),
    "SUCCESS": (TaskStatus.SUCCEEDED, 100),
}


def _progress(task: UpstreamTask, default: int) -> int:
    text = (task.progress or "").rstrip("%")
    return int(float(text)) if text.replace(".", "", 1).isdigit() else default


def _result(task: UpstreamTask) -> dict[str, Any] | None:
    if isinstance(task.data, list):
        result: dict[str, Any] = {"clips": [c for c in task.data if isinstance(c, dict)]}
    elif isinstance(task.data, dict):
        result = {"lyrics": task.data}
    else:
        return None
    if task.start_time:
        result["start_time"] = task.start_time
    return result


def read_update(task: UpstreamTask) -> TaskUpdate:
    """A Suno-API task → where ours is (clips travel along while they stream)."""
    if task.status == "FAILURE" or task.status == "UNKNOWN":
        reason = task.fail_reason or (
            "Suno reported the task's status as unknown"
            if task.status == "UNKNOWN"
            else "Suno failed the task"
        )
        return TaskUpdate(TaskStatus.FAILED, failure=reason)
    status, default = _UPSTREAM_STATUS.get(task.status, (TaskStatus.RUNNING, 50))
    progress = 100 if status is TaskStatus.SUCCEEDED else min(_progress(task, default), 99)
    return TaskUpdate(status, progress, result=_result(task))
