"""Validating each submit route and planning its task: what the vendor gets, what is kept.

Every rejection is an ``InvalidRequest`` with code ``4`` (the proxy's VALIDATION_ERROR) whose
description says what is wrong, in the proxy's terms (``prompt cannot be empty``, ``content
parameter error``…) plus the detail. Nothing here does I/O: a change or action is planned
from its parent task, which the caller looked up (and checked to be the client's own).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from omnirelay.formats.midjourney.actions import BLEND as BLEND_ACTION
from omnirelay.formats.midjourney.actions import (
    CHANGEABLE,
    DESCRIBE,
    IMAGINE,
    REROLL,
    SHORTEN,
    UPSCALE,
    VARIATION,
    WORDS,
    classify,
    short_label,
    upstream_custom_id,
)
from omnirelay.formats.midjourney.render import STATUS_WORDS, prompt_of, record_of
from omnirelay.formats.midjourney.wire import (
    BOT_TYPES,
    CHANGE_ACTIONS,
    DIMENSIONS,
    MAX_IMAGES,
    MAX_NOTIFY_HOOK,
    MAX_PROMPT,
    MAX_STATE,
    ActionRequest,
    BlendRequest,
    ChangeRequest,
    ConditionRequest,
    DescribeRequest,
    ImagineRequest,
    ModalRequest,
    ShortenRequest,
    SimpleChangeRequest,
    _Base,
    invalid,
    parse_data_url,
)
from omnirelay.tasks.model import Task, TaskStatus

MAX_IDS = 500
# Actions that remix mode turns into a modal (the proxy's rule).
_REMIXABLE = frozenset({VARIATION, REROLL, "mj.pan"})


@dataclass(frozen=True, slots=True)
class Plan:
    """A validated submission: the vendor's body (a child's ``taskId`` is the vendor's to
    fill in) and the record the Task JSON is rendered from."""

    action: str
    upstream: dict[str, Any]
    record: dict[str, Any]
    notify_hook: str | None
    modal: bool = False  # answered with code 21: the task waits for /submit/modal


def _hook(request: _Base) -> str | None:
    if request.state is not None and len(request.state) > MAX_STATE:
        raise invalid(f"state is too long: at most {MAX_STATE} characters")
    hook = (request.notifyHook or "").strip()
    if not hook:
        return None
    if len(hook) > MAX_NOTIFY_HOOK:
        raise invalid(f"notifyHook is too long: at most {MAX_NOTIFY_HOOK} characters")
    parts = urlsplit(hook)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in hook):
        raise invalid("notifyHook: must be an http(s) URL")
    return hook


def _bot(value: str | None) -> str:
    if not value:
        return "MID_JOURNEY"
    found = BOT_TYPES.get(value)
    if found is None:
        raise invalid(f"botType: '{value}' is neither MID_JOURNEY nor NIJI_JOURNEY")
    return found


def _prompt(value: str | None) -> str:
    prompt = (value or "").strip()
    if not prompt:
        raise invalid("prompt cannot be empty")
    if len(prompt) > MAX_PROMPT:
        raise invalid(f"prompt is too long: at most {MAX_PROMPT} characters (got {len(prompt)})")
    return prompt


def _record(mode: str, bot: str, state: str | None, **fields: Any) -> dict[str, Any]:
    return {"mode": mode.upper(), "botType": bot, "state": state, **fields}


def _speed(mode: str, account_filter: dict[str, Any] | None) -> dict[str, Any]:
    """The speed we charge for, told to proxies that pick accounts by it (others ignore it)."""
    if account_filter and account_filter.get("modes"):
        return account_filter
    return {**(account_filter or {}), "modes": [mode.upper()]}


def plan_imagine(request: ImagineRequest, mode: str) -> Plan:
    hook, prompt, bot = _hook(request), _prompt(request.prompt), _bot(request.botType)
    images = [*(request.base64Array or []), *([request.base64] if request.base64 else [])]
    if len(images) > MAX_IMAGES:
        raise invalid(f"base64Array: at most {MAX_IMAGES} images (got {len(images)})")
    for i, image in enumerate(images):
        parse_data_url(f"base64Array[{i}]", image)
    upstream = {
        "prompt": prompt,
        "base64Array": images,
        "botType": bot,
        "accountFilter": _speed(mode, request.accountFilter),
    }
    record = _record(
        mode, bot, request.state, prompt=prompt, promptEn=prompt, description=f"/imagine {prompt}"
    )
    return Plan(IMAGINE, upstream, record, hook)


def plan_shorten(request: ShortenRequest, mode: str) -> Plan:
    hook, prompt, bot = _hook(request), _prompt(request.prompt), _bot(request.botType)
    upstream = {"prompt": prompt, "botType": bot, "accountFilter": _speed(mode, None)}
    record = _record(mode, bot, request.state, prompt=prompt, description=f"/shorten {prompt}")
    return Plan(SHORTEN, upstream, record, hook)


def plan_describe(request: DescribeRequest, mode: str) -> Plan:
    hook, bot = _hook(request), _bot(request.botType)
    upstream: dict[str, Any] = {"botType": bot, "accountFilter": _speed(mode, None)}
    if request.base64:
        parse_data_url("base64", request.base64)
        upstream["base64"] = request.base64
    elif request.link:
        parts = urlsplit(request.link)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise invalid("link format error: must be an http(s) URL")
        upstream["link"] = request.link
    else:
        raise invalid("base64 or link cannot be empty")
    record = _record(mode, bot, request.state, prompt="", description="/describe")
    return Plan(DESCRIBE, upstream, record, hook)


def plan_blend(request: BlendRequest, mode: str) -> Plan:
    hook, bot = _hook(request), _bot(request.botType)
    images = request.base64Array or []
    if not 2 <= len(images) <= MAX_IMAGES:
        raise invalid(f"base64Array: 2 to {MAX_IMAGES} images are needed (got {len(images)})")
    dimensions = request.dimensions or "SQUARE"
    if dimensions not in DIMENSIONS:
        raise invalid(
            f"dimensions parameter error: '{dimensions}' is not PORTRAIT, SQUARE or LANDSCAPE"
        )
    for i, image in enumerate(images):
        parse_data_url(f"base64Array[{i}]", image)
    upstream = {
        "base64Array": images,
        "dimensions": dimensions,
        "botType": bot,
        "accountFilter": _speed(mode, None),
    }
    description = f"/blend {len(images)} images {dimensions}"
    record = _record(mode, bot, request.state, prompt="", description=description)
    return Plan(BLEND_ACTION, upstream, record, hook)


def parse_simple_change(request: SimpleChangeRequest) -> ChangeRequest:
    """``"<taskId> U2"`` (U1-U4, V1-V4, R) as the change it names."""
    content = request.content
    if not content:
        raise invalid("content cannot be empty: expected '<taskId> U1..U4|V1..V4|R'")
    parts = content.split(" ")
    if len(parts) != 2 or not all(parts):
        raise invalid(
            "content parameter error: expected '<taskId> <U1..U4|V1..V4|R>' with one space, "
            "e.g. '1320098173412546 U2'"
        )
    task_id, word = parts
    state, hook = request.state, request.notifyHook
    if word.lower() == "r":
        return ChangeRequest(taskId=task_id, action="REROLL", state=state, notifyHook=hook)
    if len(word) != 2 or word[0].lower() not in "uv" or not word[1].isdigit():
        raise invalid(f"content parameter error: '{word}' is not one of U1..U4, V1..V4, R")
    if word[1] not in "1234":
        raise invalid(f"content parameter error: the index in '{word}' must be 1 to 4")
    action = "UPSCALE" if word[0].lower() == "u" else "VARIATION"
    return ChangeRequest(
        taskId=task_id, action=action, index=int(word[1]), state=state, notifyHook=hook
    )


def check_change(request: ChangeRequest) -> str:
    """The parent's id, once the change itself is well formed."""
    _hook(request)
    task_id = (request.taskId or "").strip()
    if not task_id:
        raise invalid("taskId cannot be empty")
    if request.action not in CHANGE_ACTIONS:
        raise invalid("action parameter error: must be UPSCALE, VARIATION or REROLL")
    if request.action != "REROLL" and (request.index is None or not 1 <= request.index <= 4):
        raise invalid("index: must be 1 to 4 for UPSCALE and VARIATION")
    return task_id


def _check_parent(parent: Task) -> None:
    if parent.status is not TaskStatus.SUCCEEDED:
        raise invalid(
            f"the parent task's status is wrong: it is {STATUS_WORDS[parent.status]}, "
            "an action needs SUCCESS"
        )


def _child_record(
    parent: Task, mode: str, state: str | None, description: str, **fields: Any
) -> dict[str, Any]:
    parent_record, result = record_of(parent), parent.result or {}
    prompt = prompt_of(parent)
    return _record(
        mode,
        str(parent_record.get("botType") or "MID_JOURNEY"),
        state,
        prompt=prompt,
        promptEn=result.get("promptEn") or prompt,
        finalPrompt=result.get("finalPrompt") or prompt,
        description=description,
        parentId=parent.id,
        **fields,
    )


def plan_change(request: ChangeRequest, parent: Task, mode: str) -> Plan:
    hook = _hook(request)
    _check_parent(parent)
    if parent.action not in CHANGEABLE:
        raise invalid(
            f"the parent task ({WORDS.get(parent.action, parent.action)}) cannot be changed: "
            "only IMAGINE, VARIATION, REROLL and BLEND tasks can"
        )
    word = str(request.action)
    upstream: dict[str, Any] = {"action": word}
    if word == "REROLL":
        action, label = REROLL, "R"
    else:
        action = UPSCALE if word == "UPSCALE" else VARIATION
        label = f"{word[0]}{request.index}"
        upstream["index"] = request.index
    record = _child_record(parent, mode, request.state, f"/up {parent.id} {label}")
    return Plan(action, upstream, record, hook)


def check_action(request: ActionRequest) -> str:
    _hook(request)
    if not (request.taskId or "").strip() or not (request.customId or "").strip():
        raise invalid("parameter error: taskId and customId are required")
    return (request.taskId or "").strip()


def _button_prompt(parent: Task, upstream_id: str, default: str) -> str:
    """A describe's numbered button imagines its numbered prompt."""
    if not upstream_id.startswith("MJ::Job::PicReader::"):
        return default
    prompts = (parent.result or {}).get("prompts") or []
    number = upstream_id.rsplit("::", 1)[-1]
    index = int(number) - 1 if number.isdigit() else -1
    return str(prompts[index]) if 0 <= index < len(prompts) else default


def plan_action(request: ActionRequest, parent: Task, mode: str) -> Plan:
    hook = _hook(request)
    _check_parent(parent)
    custom_id = (request.customId or "").strip()
    result = parent.result or {}
    buttons = result.get("buttons") or []
    upstream_id = upstream_custom_id(buttons, custom_id, parent.id, result.get("messageHash"))
    if upstream_id is None:
        raise invalid(f"customId: task {parent.id} has no button '{custom_id[:120]}'")
    kind = classify(upstream_id)
    if kind is None:
        raise invalid(f"unknown action type: '{custom_id[:120]}'")
    action, modal = kind
    modal = modal or (bool(request.enableRemix) and action in _REMIXABLE)
    label = short_label(upstream_id)
    description = f"/up {parent.id} {label}" if label else f"/action {parent.id} {custom_id}"
    upstream: dict[str, Any] = {"customId": upstream_id}
    if request.enableRemix is not None:
        upstream["enableRemix"] = request.enableRemix
    record = _child_record(
        parent, mode, request.state, description, customId=custom_id, modal=modal
    )
    record["prompt"] = _button_prompt(parent, upstream_id, record["prompt"])
    return Plan(action, upstream, record, hook, modal=modal)


def check_modal(request: ModalRequest) -> str:
    task_id = (request.taskId or "").strip()
    if not task_id:
        raise invalid("parameter error: taskId cannot be empty")
    return task_id


def plan_modal(request: ModalRequest, task: Task) -> dict[str, Any]:
    """The body the vendor's modal call gets, once ``task`` is known to wait for one."""
    record = record_of(task)
    if task.status is not TaskStatus.WAITING and not (
        task.status is TaskStatus.QUEUED and record.get("modal")
    ):
        raise invalid(
            f"the task's status is wrong: it is {STATUS_WORDS[task.status]}, "
            "a modal needs a task waiting for one (MODAL)"
        )
    prompt = (request.prompt or "").strip() or str(record.get("prompt") or "")
    if not prompt:
        raise invalid("prompt cannot be empty")
    if len(prompt) > MAX_PROMPT:
        raise invalid(f"prompt is too long: at most {MAX_PROMPT} characters")
    body: dict[str, Any] = {"prompt": prompt}
    if request.maskBase64:
        parse_data_url("maskBase64", request.maskBase64)
        body["maskBase64"] = request.maskBase64
    elif str(record.get("customId", "")).startswith("MJ::Inpaint::"):
        raise invalid("maskBase64 cannot be empty: Vary (Region) needs the mask of the region")
    return body


def condition_ids(request: ConditionRequest) -> list[str]:
    ids = [i.strip() for i in request.ids or [] if i.strip()]
    if len(ids) > MAX_IDS:
        raise invalid(f"ids: at most {MAX_IDS} ids per call (got {len(ids)})")
    return ids
