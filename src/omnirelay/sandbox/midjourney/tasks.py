"""The sandbox proxy's tasks: what each one is, where it is on the clock, and the proxy's Task
JSON for it (status, progress, Discord's buttons)."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

FAIL_MARKER = "[sandbox-fail]"
FAIL_AT_100_MARKER = "[sandbox-fail-100]"
REJECT_MARKER = "[sandbox-reject]"
BANNED_MARKER = "[sandbox-banned]"
# A task that takes a hundred times as long (for tests that need one still running).
SLOW_MARKER = "[sandbox-slow]"
SLOW_PACE = 100.0
PREFIXES = ("/mj", "/mj-fast/mj", "/mj-relax/mj", "/mj-turbo/mj")
MAX_TASKS = 5000
MAX_PICTURES = 48
GRID_ACTIONS = frozenset({"IMAGINE", "VARIATION", "REROLL", "ZOOM", "PAN"})
CHANGEABLE = frozenset({"IMAGINE", "VARIATION", "REROLL", "BLEND"})
_KEYCAPS = [f"{n}\ufe0f\u20e3" for n in range(1, 10)]


@dataclass(slots=True)
class MjTask:
    id: str
    action: str  # the proxy's TaskAction
    prompt: str
    submitted: float
    started: float | None  # None while MODAL
    mode: str
    bot: str
    seed: int
    hash: str  # Discord's message hash, in the image's name and the buttons
    parent: str | None = None
    index: int = 0
    variant: str = ""
    custom_id: str = ""
    failure: str = ""
    fail_at_100: bool = False
    inputs: list[bytes] = field(default_factory=list)
    dimensions: str = "SQUARE"
    prompts: list[str] = field(default_factory=list)
    description: str = ""
    pace: float = 1.0  # how many clock steps one step of this task takes


@dataclass(slots=True)
class MjState:
    secret: str
    step: float
    tasks: OrderedDict[str, MjTask] = field(default_factory=OrderedDict)
    by_hash: dict[str, str] = field(default_factory=dict)
    pictures: OrderedDict[str, bytes] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stats: Counter[str] = field(default_factory=Counter)
    session: aiohttp.ClientSession | None = None

    def add(self, task: MjTask) -> MjTask:
        self.tasks[task.id] = task
        self.by_hash[task.hash] = task.id
        while len(self.tasks) > MAX_TASKS:
            _, old = self.tasks.popitem(last=False)
            self.by_hash.pop(old.hash, None)
        return task

    def new_id(self) -> str:
        while True:  # the proxy's ids: epoch milliseconds and three random digits
            candidate = f"{int(time.time() * 1000)}{random.randint(0, 999):03d}"  # noqa: S311
            if candidate not in self.tasks:
                return candidate


MJ_STATE = web.AppKey("mj_state", MjState)


def failure_of(prompt: str) -> tuple[str, bool]:
    if FAIL_AT_100_MARKER in prompt:
        return f"sandbox: failure requested by {FAIL_AT_100_MARKER} in the prompt", True
    if FAIL_MARKER in prompt:
        return f"sandbox: failure requested by {FAIL_MARKER} in the prompt", False
    return "", False


def new_task(state: MjState, action: str, prompt: str, mode: str, bot: str, **extra: Any) -> MjTask:
    failure, at_100 = failure_of(prompt)
    now = time.time()
    task = MjTask(
        id=state.new_id(),
        action=action,
        prompt=prompt,
        submitted=now,
        started=extra.pop("started", now),
        mode=mode,
        bot=bot,
        seed=random.randint(0, 2**31 - 1),  # noqa: S311
        hash=str(uuid.uuid4()),
        failure=failure,
        fail_at_100=at_100,
        pace=SLOW_PACE if SLOW_MARKER in prompt else 1.0,
        **extra,
    )
    return state.add(task)


def status_of(task: MjTask, step: float) -> tuple[str, str, int | None]:
    """(status, progress, finish time in ms)."""
    if task.started is None:
        return "MODAL", "0%", None
    step *= task.pace
    elapsed = time.time() - task.started
    end = int((task.started + 4 * step) * 1000)
    if task.failure and not task.fail_at_100 and elapsed >= 2.5 * step:
        return "FAILURE", "", int((task.started + 2.5 * step) * 1000)
    if elapsed >= 4 * step:
        return ("FAILURE", "100%", end) if task.failure else ("SUCCESS", "100%", end)
    if elapsed < step:
        return "SUBMITTED", "0%", None
    return "IN_PROGRESS", f"{max(1, min(99, int((elapsed - step) / (3 * step) * 100)))}%", None


def _button(custom_id: str, label: str = "", emoji: str = "") -> dict[str, Any]:
    return {"customId": custom_id, "emoji": emoji, "label": label, "type": 2, "style": 2}


def buttons_of(task: MjTask) -> list[dict[str, Any]]:
    h = task.hash
    if task.action in GRID_ACTIONS:
        ups = [_button(f"MJ::JOB::upsample::{i}::{h}", f"U{i}") for i in range(1, 5)]
        reroll = _button(f"MJ::JOB::reroll::0::{h}::SOLO", emoji="\U0001f504")
        return [
            *ups,
            reroll,
            *(_button(f"MJ::JOB::variation::{i}::{h}", f"V{i}") for i in range(1, 5)),
        ]
    if task.action == "DESCRIBE":
        readers = [_button(f"MJ::Job::PicReader::{n}", emoji=_KEYCAPS[n - 1]) for n in range(1, 5)]
        return [*readers, _button("MJ::Picread::Retry", emoji="\U0001f504")]
    if task.action not in ("UPSCALE", "UPSCALE_HD", "BLEND"):
        return []
    hd = [
        _button(f"MJ::JOB::upsample_v6r1_2x_{kind}::1::{h}::SOLO", f"Upscale ({kind.title()})")
        for kind in ("subtle", "creative")
    ]
    wand = "\U0001fa84"
    return [
        *(hd if task.action != "UPSCALE_HD" else []),
        _button(f"MJ::JOB::low_variation::1::{h}::SOLO", "Vary (Subtle)", wand),
        _button(f"MJ::JOB::high_variation::1::{h}::SOLO", "Vary (Strong)", wand),
        _button(f"MJ::Inpaint::1::{h}::SOLO", "Vary (Region)", "\U0001f58c\ufe0f"),
        _button(f"MJ::Outpaint::50::1::{h}::SOLO", "Zoom Out 2x", "\U0001f50d"),
        _button(f"MJ::Outpaint::75::1::{h}::SOLO", "Zoom Out 1.5x", "\U0001f50d"),
        _button(f"MJ::CustomZoom::{h}", "Custom Zoom", "\U0001f50d"),
        *(
            _button(f"MJ::JOB::pan_{way}::1::{h}::SOLO", emoji=arrow)
            for way, arrow in (("left", "⬅️"), ("right", "➡️"), ("up", "⬆️"), ("down", "⬇️"))
        ),
        _button(f"MJ::JOB::reroll::0::{h}::SOLO", emoji="\U0001f504"),
    ]


def _final_prompt(task: MjTask) -> str:
    if task.prompts:
        return "\n\n".join(f"{_KEYCAPS[i]} {p}" for i, p in enumerate(task.prompts))
    return f"{task.prompt} --v 6.1" if task.prompt else ""


def task_json(request: web.Request, task: MjTask, step: float) -> dict[str, Any]:
    status, progress, finished = status_of(task, step)
    done = status == "SUCCESS"
    image = None
    if done and task.action != "SHORTEN":
        image = f"{request.scheme}://{request.host}/mj/attachments/{task.hash}.png"
    final = _final_prompt(task)
    return {
        "id": task.id,
        "action": task.action,
        "status": status,
        "prompt": task.prompt,
        "promptEn": final if task.prompts else task.prompt,
        "description": task.description,
        "state": None,
        "submitTime": int(task.submitted * 1000),
        "startTime": int(task.started * 1000) if task.started else None,
        "finishTime": finished,
        "imageUrl": image,
        "progress": progress,
        "failReason": task.failure if status == "FAILURE" else None,
        "properties": {
            "finalPrompt": final,
            "messageHash": task.hash if done else None,
            "discordInstanceId": "sandbox",
            "flags": 0,
        },
        "buttons": buttons_of(task) if done else [],
        "mode": task.mode,
        "botType": task.bot,
        "parentId": task.parent,
    }
