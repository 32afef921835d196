"""How long the poller waits between claims (tasks/poller.py): long enough at a low due rate for
a claim to carry several tasks, never so long that a due task waits past the lag budget."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from omnirelay.tasks import poller
from omnirelay.tasks.poller import Poller


def _poller(first_poll: float = 10.0) -> Poller:
    engine: Any = SimpleNamespace(timing=SimpleNamespace(first_poll=first_poll))
    return Poller(engine)


@pytest.mark.parametrize("due_per_s", [0.5, 5.0, 20.0, 60.0, 500.0, 5_000.0])
def test_tasks_due_slowly_gather_but_never_past_the_bound(due_per_s: float) -> None:
    wait = _poller()._idle_sleep(due_per_s)
    assert poller.MIN_IDLE_SLEEP <= wait <= poller.MAX_GATHER < 1.0
    if due_per_s * poller.MAX_GATHER >= poller.CLAIM_TARGET:
        # Enough become due within the bound: the claim waits for about CLAIM_TARGET of them.
        expected = max(poller.CLAIM_TARGET / due_per_s, poller.MIN_IDLE_SLEEP)
        assert wait == pytest.approx(expected)
    else:
        assert wait == poller.MAX_GATHER  # gathering as many as the bound allows


def test_nothing_due_looks_again_soon_and_a_short_first_poll_is_kept() -> None:
    assert _poller()._idle_sleep() == poller.MAX_IDLE_SLEEP
    # A deployment whose tasks are first due sooner than the idle sleep is polled on time.
    assert _poller(first_poll=0.02)._idle_sleep(1.0) == 0.02
