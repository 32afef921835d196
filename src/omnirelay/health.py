"""Channel health as one process sees it: a rolling error window, a circuit breaker, cool-downs
an upstream asks for, and the answers that mean the channel itself is broken.

A channel's circuit::

    closed ──(N failures within M s, none succeeding)──▶ open ──(cool-down)──▶ half-open
      ▲                                  ▲                            │
      └───────── the probe succeeds ─────┼──── the probe fails ───────┘

- **closed**: picked as its priority and weight say. Its window keeps the failures of the last
  M seconds since its last success; N of them open the circuit.
- **open**: never picked, until its cool-down has passed.
- **half-open**: one request at a time goes through (real traffic, or a synthetic probe when
  none comes, see ``Router.probes_due``); its outcome closes the circuit or opens it again.
- **cooling**: the upstream answered 429 with ``Retry-After``: not picked for that long. A rate
  limit is not a fault of the channel, so it does not count in the window.

Answers that say the channel, not the request, is broken — its credential rejected, the vendor
account out of balance or suspended, the channel misconfigured — disable it at once
(``broken_reason``); one that says the upstream lacks a model disables that model on that
channel only. Disabling is written to the database (by the gateway), so every node stops
picking it and an operator sees why; only an operator re-enables it.

Bookkeeping is a few comparisons per request: successes touch one counter, and the window is
a deque of failure times trimmed as failures arrive.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

from omnirelay.errors import GatewayError, NotFound

RECENT_ERRORS = 20


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    COOLING = "cooling"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class Policy:
    """When a channel's circuit opens: ``failures`` within ``window`` seconds; it stays open
    ``cooldown`` seconds before a probe."""

    failures: int = 5
    window: float = 60.0
    cooldown: float = 30.0


@dataclass(slots=True)
class Breaker:
    """One channel's health. Times are the router's clock (monotonic seconds)."""

    policy: Policy
    failures: deque[float] = field(default_factory=deque)
    # Until when the channel is not picked (open circuit, or a Retry-After cool-down).
    blocked_until: float = 0.0
    open: bool = False  # the circuit opened and has not been closed by a probe since
    probing_since: float | None = None  # a half-open probe is in flight
    cool_until: float = 0.0  # the part of ``blocked_until`` an upstream asked for
    in_a_row: int = 0
    successes: int = 0
    errors: int = 0
    opened: int = 0  # times the circuit opened
    # (time.time(), reason) of the last failures
    recent: deque[tuple[float, str]] = field(default_factory=lambda: deque(maxlen=RECENT_ERRORS))

    def state(self, now: float) -> CircuitState:
        if now < self.blocked_until:
            return (
                CircuitState.COOLING
                if self.cool_until >= self.blocked_until
                else (CircuitState.OPEN)
            )
        return CircuitState.HALF_OPEN if self.open else CircuitState.CLOSED

    def acquire(self, now: float) -> bool:
        """May a request be sent now? A half-open channel admits one probe at a time (a probe
        that never reported lapses after a cool-down)."""
        if now < self.blocked_until:
            return False
        if not self.open:
            return True
        if self.probing_since is not None and now - self.probing_since < self.policy.cooldown:
            return False
        self.probing_since = now
        return True

    def success(self) -> None:
        self.successes += 1
        self.in_a_row = 0
        if self.failures:
            # Only failures with no success between them count: a busy channel with a few
            # stray errors a minute is not broken; a dead one fails every request.
            self.failures.clear()
        if self.open:
            self.open = False
            self.probing_since = None

    def failure(self, now: float, reason: str) -> bool:
        """Count a failure; True if it opened the circuit."""
        self.errors += 1
        self.in_a_row += 1
        self.recent.append((time.time(), reason[:300]))
        if self.open:  # a failed probe: open again for a full cool-down
            self.probing_since = None
            self._block(now + self.policy.cooldown)
            self.opened += 1
            return True
        window = self.failures
        window.append(now)
        edge = now - self.policy.window
        while window and window[0] < edge:
            window.popleft()
        if len(window) >= self.policy.failures:
            window.clear()
            self.open = True
            self._block(now + self.policy.cooldown)
            self.opened += 1
            return True
        return False

    def cool(self, until: float, reason: str) -> None:
        """The upstream asked to wait until ``until`` (429 with Retry-After)."""
        self.recent.append((time.time(), reason[:300]))
        self.errors += 1
        if until > self.blocked_until:
            self.cool_until = until
            self.blocked_until = until

    def _block(self, until: float) -> None:
        if until > self.blocked_until:
            self.blocked_until = until
            self.cool_until = 0.0


@dataclass(frozen=True, slots=True)
class Broken:
    """An answer that disables a channel (``model`` None) or one model on it."""

    reason: str
    model: str | None = None


_CHANNEL_FAULTS = {
    "upstream_auth_failed": "the upstream rejected the channel's credential",
    "upstream_account": "the vendor account behind the channel cannot pay or is suspended",
    "channel_misconfigured": "the channel is misconfigured",
}


def broken_reason(error: GatewayError, model: str) -> Broken | None:
    """Whether ``error`` (an upstream answer, mapped) says the channel itself is broken."""
    code = error.code or ""
    found = _CHANNEL_FAULTS.get(code)
    if found is not None:
        return Broken(f"{found}: {error.message}"[:500])
    if isinstance(error, NotFound) and code == "model_not_found":
        return Broken(f"the upstream does not know the model '{model}'", model)
    return None
