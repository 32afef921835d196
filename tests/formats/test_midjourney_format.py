"""The midjourney-proxy wire format, offline: simple-change forms, plans, buttons, rendering."""

from __future__ import annotations

import msgspec
import pytest

from omnirelay.errors import InvalidRequest
from omnirelay.formats.midjourney import actions, plans, render
from omnirelay.formats.midjourney import wire as mj
from omnirelay.tasks.model import Task, TaskStatus
from tests.support.midjourney import data_url

HASH = "3dbbd469-36af-4a0f-8f02-df6c579e7011"
BUTTONS = [
    {
        "customId": f"MJ::JOB::upsample::2::{HASH}",
        "emoji": "",
        "label": "U2",
        "type": 2,
        "style": 2,
    },
    {
        "customId": f"MJ::JOB::reroll::0::{HASH}::SOLO",
        "emoji": "🔄",
        "label": "",
        "type": 2,
        "style": 2,
    },
    {
        "customId": f"MJ::CustomZoom::{HASH}",
        "emoji": "🔍",
        "label": "Custom Zoom",
        "type": 2,
        "style": 2,
    },
    {"customId": "MJ::Job::PicReader::1", "emoji": "1️⃣", "label": "", "type": 2, "style": 2},
]


def _task(**changes: object) -> Task:
    values: dict[str, object] = {
        "id": "ourTaskId_0123456789ab",
        "key_id": 1,
        "vendor": "midjourney",
        "channel_id": 1,
        "upstream_id": "1712345678901234",
        "action": actions.IMAGINE,
        "model": "midjourney-fast",
        "request": msgspec.json.encode({"prompt": "a cat", "mode": "FAST", "state": "s"}).decode(),
        "status": TaskStatus.SUCCEEDED,
        "progress": 100,
        "result": {
            "imageUrl": "https://cdn.example/x.png",
            "buttons": BUTTONS,
            "messageHash": HASH,
        },
        "failure": None,
        "last_error": None,
        "callback_url": None,
        "external_task_id": None,
        "price": 50_000,
        "reserved": 50_000,
        "charged": 50_000,
        "settlement": "charged",
        "created_ms": 1,
        "updated_ms": 2,
        "finished_ms": 3,
        "next_poll_ms": 0,
        "attempts": 1,
    }
    values.update(changes)
    return Task(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("content", "action", "index"),
    [
        ("1 U1", "UPSCALE", 1),
        ("1 u4", "UPSCALE", 4),
        ("1 V2", "VARIATION", 2),
        ("1 r", "REROLL", None),
    ],
)
def test_simple_change_forms(content: str, action: str, index: int | None) -> None:
    change = plans.parse_simple_change(mj.SimpleChangeRequest(content=content, state="x"))
    assert (change.taskId, change.action, change.index, change.state) == ("1", action, index, "x")


@pytest.mark.parametrize(
    "content",
    ["", "1", "1 U1 2", "1  U1", " 1 U1", "1 U0", "1 U5", "1 W1", "1 U", "1 U12", "1 R2", "1 V-"],
)
def test_simple_change_bad_forms_are_code_4(content: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        plans.parse_simple_change(mj.SimpleChangeRequest(content=content))
    assert refused.value.code == "4" and "content" in refused.value.message


def test_buttons_carry_our_id_and_map_back() -> None:
    task = _task()
    shown = render.task_json(task, "https://gw.example")["buttons"]
    assert [b["customId"] for b in shown][:3] == [
        f"MJ::JOB::upsample::2::{task.id}",
        f"MJ::JOB::reroll::0::{task.id}::SOLO",
        f"MJ::CustomZoom::{task.id}",
    ]
    assert all(HASH not in b["customId"] for b in shown)
    for client, upstream in zip(shown, BUTTONS, strict=True):
        assert (
            actions.upstream_custom_id(BUTTONS, client["customId"], task.id, HASH)
            == upstream["customId"]
        )
    plan = plans.plan_action(
        mj.ActionRequest(taskId=task.id, customId=shown[2]["customId"]), task, "fast"
    )
    assert (plan.action, plan.modal, plan.upstream) == (
        actions.ZOOM,
        True,
        {"customId": BUTTONS[2]["customId"]},
    )
    with pytest.raises(InvalidRequest):
        plans.plan_action(
            mj.ActionRequest(taskId=task.id, customId=BUTTONS[0]["customId"]), task, "fast"
        )


def test_task_json_shapes_and_statuses() -> None:
    data = render.task_json(_task(), "https://gw.example")
    assert data["imageUrl"] == "https://gw.example/mj/image/ourTaskId_0123456789ab"
    assert (data["status"], data["progress"], data["state"], data["mode"]) == (
        "SUCCESS",
        "100%",
        "s",
        "FAST",
    )
    failed = render.task_json(_task(status=TaskStatus.FAILED, progress=100, failure="no"), "o")
    assert (failed["status"], failed["progress"], failed["failReason"], failed["imageUrl"]) == (
        "FAILURE",
        "",
        "no",
        None,
    )
    assert failed["buttons"] == []
    waiting = render.task_json(_task(status=TaskStatus.WAITING, progress=0), "o")
    assert waiting["status"] == "MODAL" and waiting["startTime"] == 1
    running = render.task_json(_task(status=TaskStatus.RUNNING, progress=42), "o")
    assert running["progress"] == "42%"


def test_plans_validate_images_and_limits() -> None:
    plan = plans.plan_imagine(
        mj.ImagineRequest(prompt=" fox ", base64Array=[data_url(32, 32, (9, 9, 9))]), "relax"
    )
    assert plan.upstream["prompt"] == "fox" and plan.upstream["accountFilter"] == {
        "modes": ["RELAX"]
    }
    assert plan.record["description"] == "/imagine fox" and "base64Array" not in plan.record
    for bad in ("data:image/png;base64,AAAA", "data:image/png,abc", "iVBORw0KGgo="):
        with pytest.raises(InvalidRequest, match="base64 format error"):
            plans.plan_imagine(mj.ImagineRequest(prompt="x", base64Array=[bad]), "fast")
    with pytest.raises(InvalidRequest, match="2 to 5"):
        plans.plan_blend(mj.BlendRequest(base64Array=[data_url(8, 8, (1, 1, 1))] * 6), "fast")
    with pytest.raises(mj.MalformedBody):
        mj.decode(b"{", mj.ImagineRequest)
    with pytest.raises(InvalidRequest, match="prompt"):
        mj.decode(b'{"prompt": 5}', mj.ImagineRequest)
