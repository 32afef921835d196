"""The relay's shared timer: a wait past its deadline raises TimeoutError (as asyncio.timeout
does), one in time is untouched, an outside cancellation stays a cancellation, and waits with
different deadlines each fire at their own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
import uvloop

from omnirelay.deadlines import Deadlines

LOOPS = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


@pytest.fixture(params=sorted(LOOPS))
def run(request: pytest.FixtureRequest) -> Callable[[Callable[[], Awaitable[None]]], None]:
    """Runs a test's coroutine on the loop the workers use (uvloop) and on asyncio's own."""

    def run_on_loop(main: Callable[[], Awaitable[None]]) -> None:
        async def as_coroutine() -> None:
            await main()

        with asyncio.Runner(loop_factory=LOOPS[request.param]) as runner:
            runner.run(as_coroutine())

    return run_on_loop


Run = Callable[[Callable[[], Awaitable[None]]], None]


def test_a_wait_past_its_deadline_times_out(run: Run) -> None:
    async def main() -> None:
        deadlines = Deadlines()
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            async with deadlines.within(0.05):
                await asyncio.sleep(5)
        assert 0.04 < time.monotonic() - started < 1.0
        assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]

    run(main)


def test_a_wait_in_time_is_untouched_and_none_is_no_limit(run: Run) -> None:
    async def main() -> None:
        deadlines = Deadlines()
        async with deadlines.within(0.2):
            await asyncio.sleep(0.01)
        async with deadlines.within(None):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # the timer armed for the first wait fires on nothing
        assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]

    run(main)


def test_an_outside_cancellation_stays_a_cancellation(run: Run) -> None:
    async def main() -> None:
        deadlines = Deadlines()
        entered = asyncio.Event()

        async def waits() -> None:
            async with deadlines.within(10):
                entered.set()
                await asyncio.sleep(10)

        task = asyncio.create_task(waits())
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main)


def test_each_wait_fires_at_its_own_deadline(run: Run) -> None:
    async def main() -> None:
        deadlines = Deadlines()
        ended: dict[str, float] = {}
        started = time.monotonic()

        async def wait(name: str, seconds: float, sleep: float) -> None:
            try:
                async with deadlines.within(seconds):
                    await asyncio.sleep(sleep)
            except TimeoutError:
                ended[name] = time.monotonic() - started
            else:
                ended[name] = -1.0  # finished in time

        # The long one first: the short one must re-arm the timer earlier.
        await asyncio.gather(
            wait("long", 0.4, 5),
            wait("short", 0.05, 5),
            wait("in time", 0.3, 0.01),
            wait("middle", 0.2, 5),
        )
        assert ended["in time"] == -1.0
        assert 0.04 < ended["short"] < ended["middle"] < ended["long"] < 2.0
        assert ended["middle"] >= 0.19 and ended["long"] >= 0.39

    run(main)


def test_an_error_inside_is_raised_as_is(run: Run) -> None:
    async def main() -> None:
        deadlines = Deadlines()
        with pytest.raises(KeyError):
            async with deadlines.within(1):
                raise KeyError("x")
        with pytest.raises(TimeoutError):  # the deadlines still work afterwards
            async with deadlines.within(0.01):
                await asyncio.sleep(1)

    run(main)
