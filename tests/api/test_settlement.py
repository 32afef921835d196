"""However a handler ends, a quota hold it took is settled exactly once, never kept."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from omnirelay.api.common import METER, settles_holds
from omnirelay.billing import Account, Lease
from omnirelay.catalogue import ModelInfo
from omnirelay.errors import UpstreamError
from omnirelay.keys import KeyRecord
from omnirelay.metering import Meter
from omnirelay.usage import UsageEvent


class Recorder:
    def __init__(self) -> None:
        self.events: list[UsageEvent] = []

    def record(self, event: UsageEvent) -> None:
        self.events.append(event)


def _meter(recorder: Recorder, lease: Lease | None = None) -> Meter:
    key = KeyRecord(
        id=1, name="k", models=None, expires_at=None, is_admin=False, enabled=True, limited=True
    )
    return Meter(
        writer=recorder,
        key=key,
        model=ModelInfo("m", "chat", "f", input_per_mtok=10),  # type: ignore[arg-type]
        endpoint="chat.completions",
        request_id="req_x",
        reserved=500,
        lease=lease,
    )


@pytest.mark.parametrize(
    ("failure", "status"),
    [(asyncio.CancelledError(), 499), (RuntimeError("a bug"), 500), (UpstreamError("down"), 502)],
)
def test_an_abandoned_hold_is_released(failure: BaseException, status: int) -> None:
    recorder = Recorder()
    lease = Lease(Account(key_id=1, user_id=None))
    lease.available, lease.in_flight = 1000, 1  # 500 of it is this request's hold

    async def handler(request: web.Request) -> web.StreamResponse:
        request[METER] = _meter(recorder, lease)
        raise failure

    async def run() -> None:
        with pytest.raises(type(failure)):
            await settles_holds(handler)(make_mocked_request("POST", "/v1/chat/completions"))

    asyncio.run(run())
    (event,) = recorder.events
    assert (event.status, event.cost, event.reserved) == (status, 0, 500)
    assert lease.in_flight == 0 and lease.available == 1500


def test_a_settled_hold_is_not_settled_again() -> None:
    recorder = Recorder()

    async def handler(request: web.Request) -> web.StreamResponse:
        meter = _meter(recorder)
        request[METER] = meter
        meter.finish(200)
        return web.Response(text="ok")

    async def run() -> web.StreamResponse:
        return await settles_holds(handler)(make_mocked_request("POST", "/v1/embeddings"))

    assert asyncio.run(run()).status == 200
    assert [e.status for e in recorder.events] == [200]
