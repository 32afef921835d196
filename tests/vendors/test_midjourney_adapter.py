"""The midjourney-proxy adapter: offline on recorded-shape answers, online against the sandbox."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import msgspec
import pytest

from omnirelay.channels import Channel
from omnirelay.errors import BannedPrompt, InvalidRequest, NotFound, RateLimited, UpstreamError
from omnirelay.tasks.model import TaskStatus
from omnirelay.vendors.base import BatchPollingVendor, InteractiveTaskVendor, TaskRequest
from omnirelay.vendors.midjourney import MidjourneyVendor, _Reply, _Task, map_reply, task_update
from tests.support.servers import GatewayProcess

# A finished imagine as novicezk's proxy and its forks answer /task/{id}/fetch.
RECORDED_SUCCESS = b"""{
  "id": "1712345678901234", "action": "IMAGINE", "status": "SUCCESS",
  "prompt": "cat", "promptEn": "cat", "description": "/imagine cat", "state": null,
  "submitTime": 1712345678901, "startTime": 1712345679000, "finishTime": 1712345740000,
  "imageUrl": "https://cdn.discordapp.com/attachments/1/2/cat.png", "progress": "100%",
  "failReason": null,
  "properties": {"finalPrompt": "cat --v 6.1", "messageHash": "3dbbd469-36af-4a0f-8f02-df6c579e7011",
                 "notifyHook": null, "flags": 0},
  "buttons": [{"customId": "MJ::JOB::upsample::1::3dbbd469-36af-4a0f-8f02-df6c579e7011",
               "emoji": "", "label": "U1", "type": 2, "style": 2}],
  "extraFieldFromAFork": {"kept": "ignored"}
}"""


def test_recorded_answers_map_onto_our_states() -> None:
    success = task_update(msgspec.json.decode(RECORDED_SUCCESS, type=_Task))
    assert success.status is TaskStatus.SUCCEEDED and success.result is not None
    assert success.result["imageUrl"].endswith("cat.png")
    assert success.result["messageHash"] == "3dbbd469-36af-4a0f-8f02-df6c579e7011"
    assert success.result["buttons"][0]["label"] == "U1"
    shapes = {
        b'{"id": "1", "status": "NOT_START", "progress": "0%"}': (TaskStatus.QUEUED, 0),
        b'{"id": "1", "status": "SUBMITTED", "progress": null}': (TaskStatus.QUEUED, 0),
        b'{"id": "1", "status": "IN_PROGRESS", "progress": "46%"}': (TaskStatus.RUNNING, 46),
        b'{"id": "1", "status": "IN_PROGRESS", "progress": "100%"}': (TaskStatus.RUNNING, 99),
        b'{"id": "1", "status": "MODAL", "progress": "0%"}': (TaskStatus.WAITING, 0),
        # A relay that reports 100% on a failure: still a failure (a peer charged these).
        b'{"id": "1", "status": "FAILURE", "progress": "100%", "failReason": "banned"}': (
            TaskStatus.FAILED,
            99,
        ),
        b'{"id": "1", "status": "CANCEL", "progress": "30%"}': (TaskStatus.FAILED, 30),
    }
    for body, (status, progress) in shapes.items():
        update = task_update(msgspec.json.decode(body, type=_Task))
        assert (update.status, update.progress) == (status, progress), body
    failed = task_update(
        msgspec.json.decode(b'{"status": "FAILURE", "progress": "100%"}', type=_Task)
    )
    assert failed.failure and failed.result is None


def test_reply_codes_map_onto_our_errors() -> None:
    banned = map_reply(
        200, _Reply(code=24, description="可能包含敏感词", properties={"bannedWord": "x"})
    )
    assert isinstance(banned, BannedPrompt) and banned.banned_word == "x" and banned.code == "24"
    assert isinstance(map_reply(200, _Reply(code=4, description="bad")), InvalidRequest)
    assert isinstance(map_reply(200, _Reply(code=23)), RateLimited)
    nobody = map_reply(200, _Reply(code=3, description="无可用的账号实例"))
    assert type(nobody) is UpstreamError and nobody.code == "3"  # another channel may serve it
    credential = map_reply(401, _Reply())
    assert credential.code == "upstream_auth_failed" and "secret" in credential.message
    assert map_reply(500, _Reply(code=9)).code == "9"


def _channel(gateway: GatewayProcess, secret: str = "sk-sandbox-demo") -> Channel:
    return Channel(
        id=9,
        name="direct-mj",
        vendor="midjourney",
        base_url=gateway.sandbox_url,
        secret=secret,
        models=frozenset({"midjourney-fast"}),
        model_map={},
    )


def test_adapter_against_the_sandbox(gateway: GatewayProcess) -> None:
    vendor = MidjourneyVendor()
    assert isinstance(vendor, BatchPollingVendor) and isinstance(vendor, InteractiveTaskVendor)

    async def until_done(
        session: aiohttp.ClientSession, channel: Channel, ids: list[str], known: int = 1
    ) -> dict:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            updates = await vendor.poll_tasks(session, channel, ids)
            if all(u.status.finished for u in updates.values()) and len(updates) == known:
                return dict(updates)
            await asyncio.sleep(0.1)
        raise AssertionError("tasks did not finish")

    async def main() -> None:
        async with aiohttp.ClientSession() as session:
            channel = _channel(gateway)
            body = msgspec.json.encode({"prompt": "two moons"})
            ids = [
                await vendor.submit_task(
                    session, channel, TaskRequest("mj.imagine", "midjourney-fast", body)
                )
                for _ in range(2)
            ]
            updates = await until_done(session, channel, [*ids, "0000000000000000"], known=2)
            assert set(updates) == set(ids)  # an id the proxy does not know is simply absent
            first = updates[ids[0]]
            assert first.status is TaskStatus.SUCCEEDED and first.result is not None
            seed = await vendor.task_fact(session, channel, ids[0], "seed")
            assert seed.isdigit()
            # A child goes to /submit/change with the parent's upstream id filled in.
            change = TaskRequest(
                "mj.upscale",
                "midjourney-fast",
                b'{"action": "UPSCALE", "index": 2}',
                parent_upstream_id=ids[0],
            )
            child = await vendor.submit_task(session, channel, change)
            assert (await until_done(session, channel, [child]))[
                child
            ].status is TaskStatus.SUCCEEDED
            with pytest.raises(BannedPrompt):
                banned = msgspec.json.encode({"prompt": "[sandbox-banned]"})
                await vendor.submit_task(session, channel, TaskRequest("mj.imagine", "m", banned))
            with pytest.raises(NotFound):
                await vendor.poll_task(session, channel, "mj.imagine", "0000000000000000")
            with pytest.raises(UpstreamError) as refused:
                await vendor.submit_task(
                    session, _channel(gateway, "wrong"), TaskRequest("mj.imagine", "m", body)
                )
            assert refused.value.code == "upstream_auth_failed"

    asyncio.run(main())
