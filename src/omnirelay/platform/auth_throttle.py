"""Failed authentications are limited per client address, so API keys cannot be guessed.

An address that sent ``per_minute`` wrong keys within the last minute is refused (HTTP 429,
``Retry-After``) until its oldest failure in that window is a minute old, whatever key it sends
next: answering a right key differently would tell a guesser when it found one. Counted in each
process (a node with N workers allows N times as many); keys themselves are looked up by their
SHA-256 digest, so the time a lookup takes says nothing about how close a guess was.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from omnirelay.errors import RateLimited
from omnirelay.platform.context import current

WINDOW = 60.0
MAX_ADDRESSES = 50_000


class TooManyFailures(RateLimited):
    default_code = "too_many_failed_authentications"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthThrottle:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = per_minute
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self.refusals = 0  # since the process started (for the metrics)
        self.failures = 0

    def check(self, address: str | None) -> None:
        """Raise ``TooManyFailures`` if ``address`` is refused now."""
        if address is None or self._limit <= 0:
            return
        seen = self._failures.get(address)
        if seen is None or len(seen) < self._limit:
            return
        wait = seen[0] + WINDOW - self._clock()
        if wait <= 0:
            return
        self.refusals += 1
        found = current()
        if found is not None:
            found.retry_after = wait
        raise TooManyFailures(
            f"too many failed authentications from this address; retry in {int(wait) + 1} s",
            retry_after=wait,
        )

    def failed(self, address: str | None) -> None:
        """Count one wrong key from ``address``."""
        self.failures += 1
        if address is None or self._limit <= 0:
            return
        seen = self._failures.get(address)
        if seen is None:
            if len(self._failures) >= MAX_ADDRESSES:
                self._forget_old()
            seen = self._failures[address] = deque(maxlen=self._limit)
        seen.append(self._clock())

    def _forget_old(self) -> None:
        cutoff = self._clock() - WINDOW
        stale = [a for a, seen in self._failures.items() if not seen or seen[-1] < cutoff]
        for address in stale:
            del self._failures[address]
        if len(self._failures) >= MAX_ADDRESSES:  # a flood of fresh addresses: start over
            self._failures.clear()
