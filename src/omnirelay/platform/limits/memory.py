"""Rate limits counted in this process's memory: a few dictionary look-ups per scope.

Spending per day and month starts, for a scope this process has not seen yet, from what the
usage rollups say was spent (``seed``), so a restart does not reset a daily cap.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from omnirelay.platform.limits.base import (
    WINDOW_SECONDS,
    Admission,
    Decision,
    LimitBackend,
    Scope,
    Window,
    day_and_month,
)

# Scope → (spent today, spent this month), from the database.
Seeder = Callable[[Scope], Awaitable[tuple[int, int]]]


class _Spend:
    __slots__ = ("day", "day_spent", "month", "month_spent")

    def __init__(self, day: str, day_spent: int, month: str, month_spent: int) -> None:
        self.day, self.day_spent, self.month, self.month_spent = day, day_spent, month, month_spent

    def roll(self, day: str, month: str) -> None:
        if day != self.day:
            self.day, self.day_spent = day, 0
        if month != self.month:
            self.month, self.month_spent = month, 0


def _gcra(
    tat: float | None, now: float, limit: int, amount: int
) -> tuple[float, int, float, float]:
    """(the new arrival time, or 0 if refused; what remains; seconds to full; seconds to wait)."""
    interval = WINDOW_SECONDS / limit
    start = now if tat is None or tat < now else tat
    new_tat = start + interval * amount
    if new_tat - now > WINDOW_SECONDS + 1e-9:
        shown, wait, new_tat = start, new_tat - WINDOW_SECONDS - now, 0.0
    else:
        shown, wait = new_tat, 0.0
    remaining = int((WINDOW_SECONDS - (shown - now)) / interval + 1e-9)
    return new_tat, min(max(remaining, 0), limit), shown - now, wait


class _Verdict:
    """What the scopes of one admission say, gathered without allocating per scope."""

    __slots__ = ("reason", "requests", "scope", "tokens", "wait", "writes")

    def __init__(self) -> None:
        self.wait = -1.0  # < 0: admitted so far
        self.reason = self.scope = ""
        self.requests: Window | None = None
        self.tokens: Window | None = None
        self.writes: list[tuple[dict[str, float], str, float]] = []

    def refuse(self, wait: float, reason: str, scope: str) -> None:
        if wait > self.wait:
            self.wait, self.reason, self.scope = wait, reason, scope

    def decision(self) -> Decision:
        refused = self.wait >= 0
        return Decision(
            allowed=not refused,
            retry_after=self.wait if refused else 0.0,
            reason=self.reason,
            scope=self.scope,
            requests=self.requests,
            tokens=self.tokens,
        )


def _tighter(best: Window | None, limit: int, remaining: int, reset: float) -> Window | None:
    if (
        best is None
        or remaining < best.remaining
        or (remaining == best.remaining and reset > best.reset)
    ):
        return Window(limit, remaining, reset)
    return best


class MemoryLimits(LimitBackend):
    def __init__(self, seed: Seeder | None = None, clock: Callable[[], float] = time.time) -> None:
        self._seed = seed
        self._clock = clock
        self._requests: dict[str, float] = {}  # scope → GCRA theoretical arrival time
        self._tokens: dict[str, float] = {}
        self._in_flight: dict[str, int] = {}
        self._spend: dict[str, _Spend] = {}

    async def _seeded(self, scope: Scope, now: float) -> _Spend:
        day, month, _, _ = day_and_month(now)
        spend = self._spend.get(scope.id)
        if spend is None:
            day_spent, month_spent = await self._seed(scope) if self._seed else (0, 0)
            spend = self._spend.setdefault(scope.id, _Spend(day, day_spent, month, month_spent))
        spend.roll(day, month)
        return spend

    async def admit(
        self, scopes: tuple[Scope, ...], *, tokens: int, cost: int, ticket: str
    ) -> Admission:
        now = self._clock()
        verdict = _Verdict()
        for scope in scopes:
            if scope.spends:
                self._check_spend(scope, await self._seeded(scope, now), now, cost, verdict)
            self._check(scope, now, tokens, verdict)
        decision = verdict.decision()
        if decision.allowed:
            for table, scope_id, tat in verdict.writes:
                table[scope_id] = tat
            for scope in scopes:
                if scope.concurrency:
                    self._in_flight[scope.id] = self._in_flight.get(scope.id, 0) + 1
        return Admission(scopes=scopes, ticket=ticket, tokens=tokens, decision=decision)

    def _check(self, scope: Scope, now: float, tokens: int, verdict: _Verdict) -> None:
        if scope.rpm:
            tat, left, reset, wait = _gcra(self._requests.get(scope.id), now, scope.rpm, 1)
            verdict.requests = _tighter(verdict.requests, scope.rpm, left, reset)
            if tat:
                verdict.writes.append((self._requests, scope.id, tat))
            else:
                verdict.refuse(wait, "rpm", scope.id)
        if scope.tpm:
            amount = min(tokens, scope.tpm)
            tat, left, reset, wait = _gcra(self._tokens.get(scope.id), now, scope.tpm, amount)
            verdict.tokens = _tighter(verdict.tokens, scope.tpm, left, reset)
            if tat:
                verdict.writes.append((self._tokens, scope.id, tat))
            else:
                verdict.refuse(wait, "tpm", scope.id)
        if scope.concurrency and self._in_flight.get(scope.id, 0) >= scope.concurrency:
            verdict.refuse(1.0, "concurrency", scope.id)

    @staticmethod
    def _check_spend(scope: Scope, spend: _Spend, now: float, cost: int, verdict: _Verdict) -> None:
        if scope.daily and spend.day_spent + cost > scope.daily:
            verdict.refuse(day_and_month(now)[2], "daily", scope.id)
        if scope.monthly and spend.month_spent + cost > scope.monthly:
            verdict.refuse(day_and_month(now)[3], "monthly", scope.id)

    def settle(self, admission: Admission, *, tokens: int, cost: int) -> None:
        if admission.settled:
            return
        admission.settled = True
        if not admission.decision.allowed:
            return
        now = self._clock()
        for scope in admission.scopes:
            if scope.tpm and tokens != admission.tokens:
                tat = self._tokens.get(scope.id)
                if tat is not None:
                    # The estimate counted min(estimate, tpm); correct by what was really used.
                    counted = min(admission.tokens, scope.tpm)
                    shift = (tokens - counted) * WINDOW_SECONDS / scope.tpm
                    self._tokens[scope.id] = max(tat + shift, now)
            if scope.concurrency:
                left = self._in_flight.get(scope.id, 0) - 1
                if left > 0:
                    self._in_flight[scope.id] = left
                else:
                    self._in_flight.pop(scope.id, None)
        self.charge(tuple(s.id for s in admission.scopes if s.spends), cost)

    def charge(self, scope_ids: tuple[str, ...], cost: int) -> None:
        if not cost:
            return
        day, month, _, _ = day_and_month(self._clock())
        for scope_id in scope_ids:
            spend = self._spend.get(scope_id)
            if spend is not None:  # unseen scopes start from the database, which has this
                spend.roll(day, month)
                spend.day_spent += cost
                spend.month_spent += cost

    def in_flight(self, scope_id: str) -> int:
        return self._in_flight.get(scope_id, 0)
