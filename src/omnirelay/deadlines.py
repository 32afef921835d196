"""Timeouts for the many upstream waits of a worker, with one event-loop timer for all of them.

``asyncio.timeout`` arms a timer of its own at every use and cancels it at the exit: on uvloop
that is ~3.8 µs a use, and a relayed request uses two (the first byte, then the body). The
waits of a worker share a few timeouts (300 s unless a channel sets its own), so one timer is
enough: each wait is an entry of a set with its deadline, the timer is armed for the earliest
deadline it knows of, and when it fires it cancels the waits past their deadline (which then
raise ``TimeoutError``, as under ``asyncio.timeout``) and is armed again for the earliest left.
A wait that ends in time costs an insertion and a removal; a new wait re-arms the timer only
if it is due before it (a channel with a shorter timeout than the others).
"""

from __future__ import annotations

import asyncio
import math
from types import TracebackType


class Deadlines:
    """The deadlines of one event loop's waits (made lazily on the loop that first uses it)."""

    __slots__ = ("_armed", "_loop", "_timer", "_waits")

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waits: set[Wait] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._armed = math.inf  # when the timer fires (inf: not armed)

    def within(self, seconds: float | None) -> Wait:
        """``async with deadlines.within(s):`` raises ``TimeoutError`` if the body takes longer
        than ``s`` seconds (None: no limit)."""
        return Wait(self, seconds)

    def _add(self, wait: Wait, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # first use, or a new loop (tests): nothing carries over
            self._loop, self._waits, self._timer, self._armed = loop, set(), None, math.inf
        wait.deadline = deadline = loop.time() + seconds
        self._waits.add(wait)
        if deadline < self._armed:
            self._arm(loop, deadline)

    def _remove(self, wait: Wait) -> None:
        self._waits.discard(wait)

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(when, self._fire)
        self._armed = when

    def _fire(self) -> None:
        self._timer, self._armed = None, math.inf
        loop = self._loop
        if loop is None:
            return
        now = loop.time()
        earliest = math.inf
        expired = []
        for wait in self._waits:
            if wait.deadline <= now:
                expired.append(wait)
            elif wait.deadline < earliest:
                earliest = wait.deadline
        for wait in expired:
            self._waits.discard(wait)
            wait.expire()
        if earliest != math.inf:
            self._arm(loop, earliest)


class Wait:
    """One ``async with`` of ``Deadlines.within``."""

    __slots__ = ("_cancelling", "_owner", "_seconds", "_task", "deadline", "expired")

    def __init__(self, owner: Deadlines, seconds: float | None) -> None:
        self._owner = owner
        self._seconds = seconds
        self._task: asyncio.Task[object] | None = None
        self._cancelling = 0
        self.deadline = math.inf
        self.expired = False

    async def __aenter__(self) -> Wait:
        if self._seconds is None:
            return self
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a deadline must be used inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        self._owner._add(self, self._seconds)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._task is None:
            return
        self._owner._remove(self)
        # As asyncio.timeout does: our own cancellation becomes a TimeoutError, anyone else's
        # (the client left, the server stops) stays a cancellation.
        if (
            self.expired
            and self._task.uncancel() <= self._cancelling
            and exc_type is asyncio.CancelledError
        ):
            raise TimeoutError from exc

    def expire(self) -> None:
        self.expired = True
        if self._task is not None:
            self._task.cancel()
