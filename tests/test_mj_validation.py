"""Bad Midjourney requests: each answered with its code, nothing charged; keys stay apart."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.midjourney import (
    PRICES,
    button,
    data_url,
    fetch,
    headers,
    post,
    submit,
    wait_status,
    wait_task,
)
from tests.support.servers import GatewayProcess


def _bad_inputs(parent: str, upscale: str, running: str, other: str) -> list[tuple[str, Any, int]]:
    """(path, body, expected code); ``other`` is another key's finished task."""
    change = "/mj/submit/simple-change"
    long_state = "s" * 256
    return [
        (change, {}, 4),
        (change, {"content": ""}, 4),
        (change, {"content": parent}, 4),
        (change, {"content": f"{parent} U2 extra"}, 4),
        (change, {"content": f"{parent}  U2"}, 4),  # two spaces
        (change, {"content": f" {parent} U2"}, 4),
        (change, {"content": f"{parent} X2"}, 4),
        (change, {"content": f"{parent} U0"}, 4),
        (change, {"content": f"{parent} U5"}, 4),
        (change, {"content": f"{parent} V9"}, 4),
        (change, {"content": f"{parent} U"}, 4),
        (change, {"content": f"{parent} U22"}, 4),
        (change, {"content": f"{parent} R1"}, 4),
        (change, {"content": 42}, 4),
        (change, {"content": "1320098173412546 U1"}, 3),  # no such task
        (change, {"content": f"{other} U1"}, 3),  # another key's task
        (change, {"content": f"{running} U1"}, 4),  # parent not finished
        (change, {"content": f"{upscale} U1"}, 4),  # an upscale cannot be changed
        (change, {"content": f"{parent} U1", "state": long_state}, 4),
        (change, {"content": f"{parent} U1", "notifyHook": "not a url"}, 4),
        (change, b"{not json", 4),
        ("/mj/submit/change", {"taskId": parent, "action": "ZOOM", "index": 1}, 4),
        ("/mj/submit/change", {"taskId": parent, "action": "UPSCALE", "index": 0}, 4),
        ("/mj/submit/change", {"taskId": parent, "action": "UPSCALE"}, 4),
        ("/mj/submit/change", {"action": "UPSCALE", "index": 1}, 4),
        ("/mj/submit/imagine", {"prompt": "   "}, 4),
        ("/mj/submit/imagine", {"prompt": "x", "base64Array": ["data:image/png;base64,@@@"]}, 4),
        ("/mj/submit/imagine", {"prompt": "x", "base64Array": ["https://example.com/a.png"]}, 4),
        ("/mj/submit/imagine", {"prompt": "x", "botType": "DALL_E"}, 4),
        ("/mj/submit/describe", {}, 4),
        ("/mj/submit/describe", {"base64": "data:text/plain;base64,aGVsbG8="}, 4),
        ("/mj/submit/describe", {"link": "ftp://example.com/a.png"}, 4),
        ("/mj/submit/blend", {"base64Array": [data_url(64, 64, (1, 2, 3))]}, 4),
        (
            "/mj/submit/blend",
            {"base64Array": [data_url(64, 64, (1, 2, 3))] * 2, "dimensions": "ROUND"},
            4,
        ),
        ("/mj/submit/shorten", {"prompt": ""}, 4),
        ("/mj/submit/action", {"taskId": parent}, 4),
        ("/mj/submit/action", {"taskId": parent, "customId": "MJ::JOB::upsample::1::forged"}, 4),
        ("/mj/submit/action", {"taskId": other, "customId": "MJ::JOB::upsample::1::x"}, 3),
        ("/mj/submit/modal", {"prompt": "zoom"}, 4),
        ("/mj/submit/modal", {"taskId": parent, "prompt": "zoom"}, 4),  # not waiting
        ("/mj/submit/modal", {"taskId": other, "prompt": "zoom"}, 3),
    ]


def test_bad_inputs_each_have_their_code_and_cost_nothing(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("mj-bad", quota_usd=1)
    other_key, _ = gateway.create_key("mj-bad-other", quota_usd=1)
    parent = submit(gateway, "/mj/submit/imagine", key, {"prompt": "moss on stones"})
    other = submit(gateway, "/mj/submit/imagine", other_key, {"prompt": "someone else's"})
    grid = wait_task(gateway, key, parent)
    upscale = submit(
        gateway, "/mj/submit/action", key, {"taskId": parent, "customId": button(grid, "U3")}
    )
    wait_task(gateway, key, upscale)
    wait_task(gateway, other_key, other)
    running = submit(gateway, "/mj/submit/imagine", key, {"prompt": "still drawing"})
    spent = PRICES["imagine"] * 2 + PRICES["upscale"]
    before = gateway.key_info(key_id)
    assert before["quota_remaining_micro_usd"] == 1_000_000 - spent
    usage_before = len(gateway.usage(key_id=key_id))

    cases = _bad_inputs(parent, upscale, running, other)
    assert len(cases) >= 15
    for path, body, code in cases:
        response = post(gateway, path, key, body)
        expected_status = 400 if isinstance(body, bytes) else 200
        assert response.status_code == expected_status, (path, body, response.text)
        reply = response.json()
        assert reply["code"] == code and reply["result"] is None, (path, body, reply)
        assert reply["description"], reply
    wait_task(gateway, key, running)
    # The task still running when they were sent is charged once (whenever it finished, maybe
    # during the refusals on a busy machine) and adds its record; the refusals added nothing.
    after = gateway.wait_for_balance(key_id, before["quota_remaining_micro_usd"])
    assert after["spent_micro_usd"] == before["spent_micro_usd"] + PRICES["imagine"]
    assert len(gateway.usage(key_id=key_id)) == usage_before + 1


def test_another_key_cannot_see_or_act_on_a_task(gateway: GatewayProcess) -> None:
    owner, _ = gateway.create_key("mj-owner", quota_usd=1)
    stranger, stranger_id = gateway.create_key("mj-stranger", quota_usd=1)
    task_id = submit(gateway, "/mj/submit/imagine", owner, {"prompt": "private garden"})
    task = wait_task(gateway, owner, task_id)

    response = fetch(gateway, stranger, task_id)
    assert response.status_code == 404 and response.json()["code"] == 3
    seed = httpx.get(
        f"{gateway.url}/mj/task/{task_id}/image-seed", headers=headers(stranger), timeout=30
    )
    assert seed.status_code == 404 and seed.json()["code"] == 3
    listed = post(gateway, "/mj/task/list-by-condition", stranger, {"ids": [task_id]})
    assert listed.status_code == 200 and listed.json() == []
    attempts = [
        ("/mj/submit/action", {"taskId": task_id, "customId": button(task, "U1")}),
        ("/mj/submit/change", {"taskId": task_id, "action": "UPSCALE", "index": 1}),
        ("/mj/submit/simple-change", {"content": f"{task_id} V2"}),
        ("/mj/submit/modal", {"taskId": task_id, "prompt": "mine now"}),
    ]
    for path, body in attempts:
        reply = post(gateway, path, stranger, body).json()
        assert reply["code"] == 3 and reply["result"] is None, (path, reply)
    info = gateway.key_info(stranger_id)
    assert info["quota_remaining_micro_usd"] == 1_000_000 and info["spent_micro_usd"] == 0
    assert gateway.usage(key_id=stranger_id) == []
    # The owner still sees it, and a Kling key's view of it is not an MJ task either.
    assert fetch(gateway, owner, task_id).json()["status"] == "SUCCESS"


def test_a_modal_waits_only_for_its_own_key(gateway: GatewayProcess) -> None:
    owner, _ = gateway.create_key("mj-modal-owner", quota_usd=1)
    stranger, _ = gateway.create_key("mj-modal-stranger", quota_usd=1)
    grid = wait_task(
        gateway, owner, submit(gateway, "/mj/submit/imagine", owner, {"prompt": "tide"})
    )
    up = wait_task(
        gateway,
        owner,
        submit(
            gateway,
            "/mj/submit/action",
            owner,
            {"taskId": grid["id"], "customId": button(grid, "U4")},
        ),
    )
    region = post(
        gateway,
        "/mj/submit/action",
        owner,
        {"taskId": up["id"], "customId": button(up, "Vary (Region)")},
    )
    assert region.json()["code"] == 21
    waiting = wait_status(gateway, owner, region.json()["result"], "MODAL")
    assert (
        post(
            gateway, "/mj/submit/modal", stranger, {"taskId": waiting["id"], "prompt": "x"}
        ).json()["code"]
        == 3
    )
    # Vary (Region) needs its mask.
    no_mask = post(
        gateway, "/mj/submit/modal", owner, {"taskId": waiting["id"], "prompt": "waves"}
    ).json()
    assert no_mask["code"] == 4 and "maskBase64" in no_mask["description"]
    mask = data_url(1024, 1024, (0, 0, 0))
    done = post(
        gateway,
        "/mj/submit/modal",
        owner,
        {"taskId": waiting["id"], "prompt": "waves", "maskBase64": mask},
    )
    assert done.json()["code"] == 1
    assert wait_task(gateway, owner, waiting["id"])["status"] == "SUCCESS"
