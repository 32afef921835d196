"""Picks channels for a model: highest priority first, weighted within a priority, healthy first.

A channel that fails repeatedly is put in a cool-down and tried only when nothing healthy is
left, so one broken upstream does not cost every request a failed attempt.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from omnirelay.channels import Channel

FAILURES_BEFORE_COOLDOWN = 3
COOLDOWN_SECONDS = 30.0


@dataclass(slots=True)
class _Health:
    failures: int = 0
    cool_until: float = 0.0


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

    def channel(self, channel_id: int) -> Channel | None:
        """An enabled channel by id (asynchronous tasks go back to the channel that runs them)."""
        return self._by_id.get(channel_id)

    def models(self) -> frozenset[str]:
        return frozenset(self._by_model)

    def has_model(self, model: str) -> bool:
        return model in self._by_model

    def candidates(self, model: str) -> list[Channel]:
        """Channels to try for ``model``, in order; cooling channels come last."""
        channels = self._by_model.get(model)
        if not channels:
            return []
        if len(channels) == 1:
            return list(channels)
        now = self._clock()
        healthy: list[Channel] = []
        cooling: list[Channel] = []
        for priority in sorted({c.priority for c in channels}, reverse=True):
            group = [c for c in channels if c.priority == priority]
            for channel in self._weighted_order(group):
                cool = self._health[channel.id].cool_until > now
                (cooling if cool else healthy).append(channel)
        return healthy + cooling

    def _weighted_order(self, group: list[Channel]) -> list[Channel]:
        # Efraimidis-Spirakis: sort by u^(1/w), a weighted shuffle in one pass.
        return sorted(group, key=lambda c: self._rng.random() ** (1.0 / c.weight), reverse=True)

    def report_success(self, channel: Channel) -> None:
        health = self._health.get(channel.id)
        if health is not None and health.failures:
            health.failures = 0
            health.cool_until = 0.0

    def report_failure(self, channel: Channel) -> None:
        health = self._health[channel.id]
        health.failures += 1
        if health.failures >= FAILURES_BEFORE_COOLDOWN:
            health.cool_until = self._clock() + COOLDOWN_SECONDS

    def is_cooling(self, channel_id: int) -> bool:
        health = self._health.get(channel_id)
        return health is not None and health.cool_until > self._clock()
