"""Our task as the proxy's Task JSON: what ``/task/{id}/fetch`` answers and notifyHook receives.

The task's ``request`` holds what was accepted (prompt, description, state, mode, parent); its
``result`` what the upstream reported at the end (image, buttons, final prompt). The image URL
is omnirelay's own (``/mj/image/{id}``), so clients never need the vendor's CDN; buttons carry
our task id instead of the upstream's message hash.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import msgspec

from omnirelay.formats.midjourney.actions import ACTIONS, WORDS, client_buttons
from omnirelay.tasks.model import Task, TaskStatus

STATUS_WORDS = MappingProxyType(
    {
        TaskStatus.SUBMITTING: "NOT_START",
        TaskStatus.QUEUED: "SUBMITTED",
        TaskStatus.RUNNING: "IN_PROGRESS",
        TaskStatus.WAITING: "MODAL",
        TaskStatus.SUCCEEDED: "SUCCESS",
        TaskStatus.FAILED: "FAILURE",
    }
)


def record_of(task: Task) -> dict[str, Any]:
    """What the task was accepted as (the ``request`` column), as a mapping."""
    try:
        record = msgspec.json.decode(task.request)
    except msgspec.DecodeError:
        return {}
    return record if isinstance(record, dict) else {}


def result_of(task: Task) -> dict[str, Any]:
    return task.result if task.status is TaskStatus.SUCCEEDED and task.result else {}


def prompt_of(task: Task) -> str:
    return str(result_of(task).get("prompt") or record_of(task).get("prompt") or "")


def image_url(origin: str, task_id: str) -> str:
    return f"{origin}/mj/image/{task_id}"


def _progress(task: Task) -> str:
    if task.status is TaskStatus.SUCCEEDED:
        return "100%"
    if task.status is TaskStatus.FAILED:
        return ""  # as the proxy clears it on failure
    return f"{max(0, min(task.progress, 99))}%"


def task_json(task: Task, origin: str) -> dict[str, Any]:
    record, result = record_of(task), result_of(task)
    prompt = str(result.get("prompt") or record.get("prompt") or "")
    properties: dict[str, Any] = {
        "finalPrompt": result.get("finalPrompt") or record.get("finalPrompt") or prompt,
    }
    if task.callback_url:
        properties["notifyHook"] = task.callback_url
    started = task.status not in (TaskStatus.SUBMITTING, TaskStatus.QUEUED)
    return {
        "id": task.id,
        "action": WORDS.get(task.action, "IMAGINE"),
        "status": STATUS_WORDS[task.status],
        "prompt": prompt,
        "promptEn": result.get("promptEn") or record.get("promptEn") or prompt,
        "description": record.get("description", ""),
        "state": record.get("state"),
        "submitTime": task.created_ms,
        "startTime": (result.get("startTime") or task.created_ms) if started else None,
        "finishTime": task.finished_ms,
        "imageUrl": image_url(origin, task.id) if result.get("imageUrl") else None,
        "progress": _progress(task),
        "failReason": task.failure if task.status is TaskStatus.FAILED else None,
        "properties": properties,
        "buttons": client_buttons(result.get("buttons") or (), task.id, result.get("messageHash")),
        "mode": record.get("mode"),
        "botType": record.get("botType"),
        "parentId": record.get("parentId"),
    }


def renderers(origin: str) -> Mapping[str, Callable[[Task], bytes]]:
    """Webhook bodies for every Midjourney action: the Task JSON, image URLs at ``origin``."""

    def render(task: Task) -> bytes:
        return msgspec.json.encode(task_json(task, origin))

    return MappingProxyType(dict.fromkeys(ACTIONS, render))
