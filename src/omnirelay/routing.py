"""Picks channels for a model: highest priority first, weighted within a priority, healthy first.

A channel that fails repeatedly is put in a cool-down and tried only when nothing healthy is
left, so one broken upstream does not cost every request a failed attempt. A channel may serve
only some groups of users; the others never see it. The health of each channel (consecutive
failures, cool-down, its last errors) is this process's view, shown by the admin API.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from omnirelay.channels import Channel

FAILURES_BEFORE_COOLDOWN = 3
COOLDOWN_SECONDS = 30.0


RECENT_ERRORS = 20


@dataclass(slots=True)
class _Health:
    failures: int = 0
    cool_until: float = 0.0
    successes: int = 0
    errors: int = 0
    # (time.time(), reason) of the last failures
    recent: deque[tuple[float, str]] = field(default_factory=lambda: deque(maxlen=RECENT_ERRORS))


@dataclass(frozen=True, slots=True)
class ChannelHealth:
    """One channel as this process sees it."""

    failures: int  # in a row
    cooling_for: float  # seconds of cool-down left (0: healthy)
    successes: int  # since this process started
    errors: int
    recent_errors: tuple[tuple[float, str], ...]  # (epoch seconds, reason), newest last


class Router:
    """Holds the enabled channels per model and their health; safe to share within a process."""

    def __init__(
        self,
        channels: Iterable[Channel] = (),
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - load spreading, not security
        self._health: dict[int, _Health] = defaultdict(_Health)
        self._by_model: dict[str, list[Channel]] = {}
        self._by_id: dict[int, Channel] = {}
        self.replace(channels)

    def replace(self, channels: Iterable[Channel]) -> None:
        """Swap in a fresh channel list, keeping what is known of each channel's health."""
        by_model: dict[str, list[Channel]] = defaultdict(list)
        for channel in channels:
            for model in channel.models:
                by_model[model].append(channel)
        for group in by_model.values():
            group.sort(key=lambda c: -c.priority)
        self._by_model = dict(by_model)
        self._by_id = {channel.id: channel for group in by_model.values() for channel in group}

    def channels(self) -> list[Channel]:
        """Every enabled channel (for the metrics and the status page)."""
        return list(self._by_id.values())

    def channel(self, channel_id: int) -> Channel | None:
        """An enabled channel by id (asynchronous tasks go back to the channel that runs them)."""
        return self._by_id.get(channel_id)

    def models(self, group: str | None = None) -> frozenset[str]:
        """The models some channel serves (to ``group``, if given)."""
        if group is None:
            return frozenset(self._by_model)
        return frozenset(
            model
            for model, channels in self._by_model.items()
            if any(c.serves(group) for c in channels)
        )

    def has_model(self, model: str, group: str | None = None) -> bool:
        channels = self._by_model.get(model)
        if not channels:
            return False
        return group is None or any(c.serves(group) for c in channels)

    def candidates(self, model: str, group: str | None = None) -> list[Channel]:
        """Channels to try for ``model`` (those serving ``group``), in order; cooling last."""
        channels = self._by_model.get(model)
        if channels and group is not None:
            channels = [c for c in channels if c.serves(group)]
        if not channels:
            return []
        if len(channels) == 1:
            return list(channels)
        now = self._clock()
        healthy: list[Channel] = []
        cooling: list[Channel] = []
        for priority in sorted({c.priority for c in channels}, reverse=True):
            tier = [c for c in channels if c.priority == priority]
            for channel in self._weighted_order(tier):
                cool = self._health[channel.id].cool_until > now
                (cooling if cool else healthy).append(channel)
        return healthy + cooling

    def _weighted_order(self, group: list[Channel]) -> list[Channel]:
        # Efraimidis-Spirakis: sort by u^(1/w), a weighted shuffle in one pass.
        return sorted(group, key=lambda c: self._rng.random() ** (1.0 / c.weight), reverse=True)

    def report_success(self, channel: Channel) -> None:
        health = self._health[channel.id]
        health.successes += 1
        if health.failures:
            health.failures = 0
            health.cool_until = 0.0

    def report_failure(self, channel: Channel, reason: str = "failed") -> None:
        health = self._health[channel.id]
        health.failures += 1
        health.errors += 1
        health.recent.append((time.time(), reason[:300]))
        if health.failures >= FAILURES_BEFORE_COOLDOWN:
            health.cool_until = self._clock() + COOLDOWN_SECONDS

    def health(self, channel_id: int) -> ChannelHealth:
        health = self._health.get(channel_id) or _Health()
        return ChannelHealth(
            failures=health.failures,
            cooling_for=max(0.0, health.cool_until - self._clock()),
            successes=health.successes,
            errors=health.errors,
            recent_errors=tuple(health.recent),
        )

    def is_cooling(self, channel_id: int) -> bool:
        health = self._health.get(channel_id)
        return health is not None and health.cool_until > self._clock()
