"""The Suno and Flux adapters against the sandbox over HTTP: real paths, auth, batches."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import msgspec
import pytest

from omnirelay.channels import Channel
from omnirelay.errors import InvalidRequest, NotFound, UpstreamError
from omnirelay.formats import flux, suno
from omnirelay.tasks.model import CONTENT_POLICY, TaskStatus, TaskUpdate
from omnirelay.vendors.base import BatchPollingVendor, TaskRequest
from omnirelay.vendors.flux import FluxVendor
from omnirelay.vendors.suno import SunoVendor
from tests.support.servers import GatewayProcess

KEY = "sk-sandbox-demo"


def _channel(gateway: GatewayProcess, vendor: str, path: str, secret: str = KEY) -> Channel:
    return Channel(
        id=9,
        name="direct",
        vendor=vendor,
        base_url=gateway.sandbox_url + path,
        secret=secret,
        models=frozenset(),
        model_map={"chirp-v3-0": "chirp-v4"},
    )


def test_suno_adapter_polls_many_tasks_in_one_call(gateway: GatewayProcess) -> None:
    async def main() -> None:
        vendor = SunoVendor()
        assert isinstance(vendor, BatchPollingVendor)
        channel = _channel(gateway, "suno", "")
        async with aiohttp.ClientSession() as session:
            bodies = [
                msgspec.json.encode({"gpt_description_prompt": f"song {i}"}) for i in range(3)
            ]
            ids = [
                await vendor.submit_task(session, channel, TaskRequest(suno.MUSIC, "chirp-v3-0", b))
                for b in bodies
            ]
            updates: dict[str, TaskUpdate] = {}
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                updates = dict(await vendor.poll_tasks(session, channel, [*ids, "unknown"]))
                if all(u.status.finished for u in updates.values()):
                    break
                await asyncio.sleep(0.1)
            assert set(updates) == set(ids)  # the unknown id is simply not reported
            for update in updates.values():
                assert update.status is TaskStatus.SUCCEEDED and update.result is not None
                clips = update.result["clips"]
                assert len(clips) == 2 and all(c["model_name"] == "chirp-v4" for c in clips)
            with pytest.raises(NotFound):
                await vendor.poll_task(session, channel, suno.MUSIC, "unknown")
            with pytest.raises(InvalidRequest):
                await vendor.submit_task(
                    session, channel, TaskRequest(suno.LYRICS, suno.LYRICS_MODEL, b"{}")
                )
            with pytest.raises(UpstreamError) as denied:
                bad = _channel(gateway, "suno", "", secret="sk-wrong")
                await vendor.submit_task(
                    session, bad, TaskRequest(suno.MUSIC, "chirp-v3-0", bodies[0])
                )
            assert denied.value.code == "upstream_auth_failed"

    asyncio.run(main())


def test_flux_adapter_submits_polls_and_maps_moderation(gateway: GatewayProcess) -> None:
    async def main() -> None:
        vendor = FluxVendor()
        channel = _channel(gateway, "bfl", "/bfl")

        def job(prompt: str, **extra: object) -> TaskRequest:
            body = msgspec.json.encode({"prompt": prompt, **extra})
            return TaskRequest(flux.ACTION, "flux-pro-1.1", body)

        async with aiohttp.ClientSession() as session:
            good = await vendor.submit_task(session, channel, job("a fox", width=512, height=256))
            banned = await vendor.submit_task(session, channel, job("x [sandbox-banned]"))
            assert " http" in good  # the id and its polling URL
            seen: list[TaskStatus] = []
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                update = await vendor.poll_task(session, channel, flux.ACTION, good)
                seen.append(update.status)
                if update.status.finished:
                    break
                await asyncio.sleep(0.1)
            assert seen[0] is TaskStatus.RUNNING and seen[-1] is TaskStatus.SUCCEEDED
            assert update.result is not None and update.result["sample"].endswith(".jpeg")
            await asyncio.sleep(2)
            moderated = await vendor.poll_task(session, channel, flux.ACTION, banned)
            assert moderated.status is TaskStatus.FAILED
            assert moderated.failure_code == CONTENT_POLICY and moderated.failure_status == 400
            # Without a polling URL the adapter asks /v1/get_result itself.
            job_id = good.split(" ")[0]
            assert (await vendor.poll_task(session, channel, flux.ACTION, job_id)).status.finished
            with pytest.raises(InvalidRequest) as invalid:
                await vendor.submit_task(session, channel, job("x", width=500))
            assert "width" in invalid.value.message and "multiple of 32" in invalid.value.message
            with pytest.raises(UpstreamError) as denied:
                await vendor.submit_task(
                    session, _channel(gateway, "bfl", "/bfl", "nope"), job("x")
                )
            assert denied.value.code == "upstream_auth_failed"

    asyncio.run(main())


def test_flux_adapter_does_not_send_its_key_to_a_foreign_polling_url() -> None:
    vendor = FluxVendor()
    channel = Channel(1, "c", "bfl", "https://api.bfl.ai", "k", frozenset(), {})
    assert vendor._poll_url(channel, "abc https://api.us1.bfl.ai/v1/get_result?id=abc").startswith(
        "https://api.us1.bfl.ai/"
    )
    assert (
        vendor._poll_url(channel, "abc https://evil.example/steal?id=abc")
        == "https://api.bfl.ai/v1/get_result?id=abc"
    )
