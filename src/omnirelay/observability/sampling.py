"""Reading the figures of this process's parts for the metrics and ``/admin/status``.

``channel_states`` is the one place that reads channel health from ``routing.Router``: when
the router grows a real circuit breaker, only this function changes.
"""

from __future__ import annotations

from typing import Any

from omnirelay.observability.metrics import ChannelState
from omnirelay.routing import Router


def channel_states(router: Router) -> tuple[ChannelState, ...]:
    states = []
    for channel in router.channels():
        health = router.health(channel.id)
        states.append(
            ChannelState(
                name=channel.name,
                vendor=channel.vendor,
                open=health.cooling_for > 0,
                failures_in_a_row=health.failures,
                errors=health.errors,
            )
        )
    return tuple(states)


def pool_use(engine: Any) -> tuple[int, int]:
    """(connections checked out, pool size) of a SQLAlchemy engine's queue pool."""
    pool = engine.pool
    checked_out = getattr(pool, "checkedout", None)
    size = getattr(pool, "size", None)
    return (
        int(checked_out()) if callable(checked_out) else 0,
        int(size()) if callable(size) else 0,
    )
