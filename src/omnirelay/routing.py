"""Picks channels for a model: highest priority first, weighted within a priority, and only
channels whose circuit lets traffic through (``health.py``).

A channel may serve only some groups of users; the others never see it. A channel the gateway
disabled (its credential rejected, its account out of balance) or a model it disabled on a
channel (the upstream lacks it) is dropped from this process's lists at once, before the
database says so, and stays dropped until an operator re-enables it. The health of each
channel is this process's view, shown by the admin API.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from omnirelay.channels import Channel
from omnirelay.health import Breaker, CircuitState, Policy


@dataclass(frozen=True, slots=True)
class ChannelHealth:
    """One channel as this process sees it."""

    state: CircuitState
    failures: int  # in a row
    failures_in_window: int
    cooling_for: float  # seconds until it may be picked again (0: it may)
    successes: int  # since this process started
    errors: int
    opened: int  # times its circuit opened
    recent_errors: tuple[tuple[float, str], ...]  # (epoch seconds, reason), newest last
    disabled: str | None  # why this process stopped picking it, if it did


# Called when a channel (model None) or one of its models must be disabled for good.
DisableHook = Callable[[Channel, str, str | None], None]


class Router:
    """Holds the enabled channels per model and their health; safe to share within a process."""

    def __init__(
        self,
        channels: Iterable[Channel] = (),
        *,
        policy: Policy | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        on_disable: DisableHook | None = None,
    ) -> None:
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - load spreading, not security
        self.policy = policy or Policy()
        self.on_disable = on_disable
        self._breakers: dict[int, Breaker] = {}
        self._by_model: dict[str, list[Channel]] = {}
        self._by_id: dict[int, Channel] = {}
        self._loaded: list[Channel] = []
        # (channel id, model or None) → (reason, when the database had it: +inf until then)
        self._disabled: dict[tuple[int, str | None], tuple[str, float]] = {}
        self.replace(channels)

    def replace(self, channels: Iterable[Channel], read_at: float | None = None) -> None:
        """Swap in a fresh channel list, keeping what is known of each channel's health.

        ``read_at`` is when the list was read from the database: a channel disabled here that
        the list still serves was re-enabled by an operator if the disabling had been written
        before that; otherwise the list is older than the disabling and it stays out."""
        loaded = list(channels)
        if read_at is not None:
            serving = {(c.id, m) for c in loaded for m in c.models} | {(c.id, None) for c in loaded}
            for entry, (_, written) in list(self._disabled.items()):
                if written < read_at and entry in serving:
                    del self._disabled[entry]
        self._loaded = loaded
        self._index()

    def _index(self) -> None:
        disabled = self._disabled
        by_model: dict[str, list[Channel]] = defaultdict(list)
        for channel in self._loaded:
            if (channel.id, None) in disabled:
                continue
            for model in channel.models:
                if (channel.id, model) not in disabled:
                    by_model[model].append(channel)
        for group in by_model.values():
            group.sort(key=lambda c: -c.priority)
        self._by_model = dict(by_model)
        self._by_id = {
            channel.id: channel for channel in self._loaded if (channel.id, None) not in disabled
        }
        for channel in self._by_id.values():
            breaker = self._breakers.get(channel.id)
            policy = self._policy_of(channel)
            if breaker is None:
                self._breakers[channel.id] = Breaker(policy)
            elif breaker.policy != policy:
                breaker.policy = policy

    def _policy_of(self, channel: Channel) -> Policy:
        if (
            channel.failure_threshold is None
            and channel.failure_window is None
            and channel.cooldown is None
        ):
            return self.policy
        return Policy(
            failures=channel.failure_threshold or self.policy.failures,
            window=channel.failure_window or self.policy.window,
            cooldown=channel.cooldown or self.policy.cooldown,
        )

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

    def serving(self, model: str) -> list[Channel]:
        """Every enabled channel of ``model``, healthy or not, highest priority first (what
        a model is served by, as opposed to what may be tried now)."""
        return list(self._by_model.get(model, ()))

    def candidates(self, model: str, group: str | None = None) -> list[Channel]:
        """Channels to try for ``model`` (those serving ``group``), in order, leaving out those
        whose circuit is open or that cool down at the upstream's request."""
        channels = self._by_model.get(model)
        if channels and group is not None:
            channels = [c for c in channels if c.serves(group)]
        if not channels:
            return []
        now = self._clock()
        breakers = self._breakers
        if len(channels) == 1:
            only = channels[0]
            return [only] if breakers[only.id].blocked_until <= now else []
        found: list[Channel] = []
        for priority in sorted({c.priority for c in channels}, reverse=True):
            tier = [
                c
                for c in channels
                if c.priority == priority and breakers[c.id].blocked_until <= now
            ]
            found += self._weighted_order(tier) if len(tier) > 1 else tier
        return found

    def _weighted_order(self, group: list[Channel]) -> list[Channel]:
        # Efraimidis-Spirakis: sort by u^(1/w), a weighted shuffle in one pass.
        return sorted(group, key=lambda c: self._rng.random() ** (1.0 / c.weight), reverse=True)

    def acquire(self, channel: Channel, model: str | None = None) -> bool:
        """Just before an attempt: may ``channel`` be sent a request now? False once it was
        disabled, its circuit opened or it cools down (a list of candidates may be older than
        that), or while another request probes it half-open."""
        disabled = self._disabled
        if disabled and ((channel.id, None) in disabled or (channel.id, model) in disabled):
            return False
        breaker = self._breakers.get(channel.id)
        return breaker is None or breaker.acquire(self._clock())

    def wait_for(self, model: str, group: str | None = None) -> float | None:
        """Seconds until some channel of ``model`` may be picked again (None: none will)."""
        channels = [c for c in self._by_model.get(model, ()) if group is None or c.serves(group)]
        if not channels:
            return None
        now = self._clock()
        return max(0.0, min(self._breakers[c.id].blocked_until for c in channels) - now)

    def report_success(self, channel: Channel) -> None:
        breaker = self._breakers.get(channel.id)
        if breaker is not None:
            breaker.success()

    def report_failure(self, channel: Channel, reason: str = "failed") -> bool:
        """Count a failure; True if the channel's circuit opened because of it."""
        breaker = self._breakers.get(channel.id)
        return breaker is not None and breaker.failure(self._clock(), reason)

    def cool(self, channel: Channel, seconds: float, reason: str) -> None:
        """Do not pick ``channel`` for ``seconds`` (the upstream said so)."""
        breaker = self._breakers.get(channel.id)
        if breaker is not None:
            breaker.cool(self._clock() + seconds, reason)

    def disable(self, channel: Channel, reason: str, model: str | None = None) -> None:
        """Stop picking ``channel`` (or ``model`` on it) at once; ``on_disable`` writes it."""
        entry = (channel.id, model)
        if entry in self._disabled:
            return
        self._disabled[entry] = (reason, float("inf"))
        breaker = self._breakers.get(channel.id)
        if breaker is not None:
            breaker.recent.append((time.time(), f"disabled: {reason}"[:300]))
        self._index()
        if self.on_disable is not None:
            self.on_disable(channel, reason, model)

    def disable_written(self, channel_id: int, model: str | None) -> None:
        """The database now says the channel (or the model on it) is disabled."""
        entry = (channel_id, model)
        if entry in self._disabled:
            self._disabled[entry] = (self._disabled[entry][0], self._clock())

    def probes_due(self, delay: float) -> list[Channel]:
        """Half-open channels that no request has probed for ``delay`` seconds since their
        cool-down ended: a synthetic probe should decide for them."""
        now = self._clock()
        due = []
        for channel in self._by_id.values():
            breaker = self._breakers[channel.id]
            if (
                breaker.open
                and breaker.probing_since is None
                and now - breaker.blocked_until >= delay
            ):
                due.append(channel)
        return due

    def health(self, channel_id: int) -> ChannelHealth:
        breaker = self._breakers.get(channel_id) or Breaker(self.policy)
        now = self._clock()
        disabled = self._disabled.get((channel_id, None))
        edge = now - breaker.policy.window
        return ChannelHealth(
            state=CircuitState.DISABLED if disabled else breaker.state(now),
            failures=breaker.in_a_row,
            failures_in_window=sum(1 for t in breaker.failures if t >= edge),
            cooling_for=max(0.0, breaker.blocked_until - now),
            successes=breaker.successes,
            errors=breaker.errors,
            opened=breaker.opened,
            recent_errors=tuple(breaker.recent),
            disabled=disabled[0] if disabled else None,
        )

    def is_cooling(self, channel_id: int) -> bool:
        breaker = self._breakers.get(channel_id)
        return breaker is not None and breaker.blocked_until > self._clock()
