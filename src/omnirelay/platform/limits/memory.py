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
    tightest,
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


def _window(tat: float, now: float, interval: float, limit: int) -> Window:
    backlog = max(tat - now, 0.0)
    remaining = max(int((WINDOW_SECONDS - backlog) / interval + 1e-9), 0)
    return Window(limit=limit, remaining=min(remaining, limit), reset=backlog)


class MemoryLimits(LimitBackend):
    def __init__(
        self, seed: Seeder | None = None, clock: Callable[[], float] = time.time
    ) -> None:
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
        spends = {s.id: await self._seeded(s, now) for s in scopes if s.spends}
        request_windows: list[Window] = []
        token_windows: list[Window] = []
        refusal: Decision | None = None
        updates: list[tuple[dict[str, float], str, float]] = []
        for scope in scopes:
            verdict = self._check(scope, now, tokens, cost, spends, updates)
            if scope.rpm:
                request_windows.append(verdict[1])
            if scope.tpm:
                token_windows.append(verdict[2])
            if verdict[0] is not None and (
                refusal is None or verdict[0].retry_after > refusal.retry_after
            ):
                refusal = verdict[0]
        decision = Decision(
            allowed=refusal is None,
            retry_after=refusal.retry_after if refusal else 0.0,
            reason=refusal.reason if refusal else "",
            scope=refusal.scope if refusal else "",
            requests=tightest(request_windows),
            tokens=tightest(token_windows),
        )
        if decision.allowed:
            for table, scope_id, tat in updates:
                table[scope_id] = tat
            for scope in scopes:
                if scope.concurrency:
                    self._in_flight[scope.id] = self._in_flight.get(scope.id, 0) + 1
        return Admission(scopes=scopes, ticket=ticket, tokens=tokens, decision=decision)

    def _check(
        self,
        scope: Scope,
        now: float,
        tokens: int,
        cost: int,
        spends: dict[str, _Spend],
        updates: list[tuple[dict[str, float], str, float]],
    ) -> tuple[Decision | None, Window, Window]:
        """One scope's verdict (a refusal or None) and its request and token windows."""
        refusal: Decision | None = None
        empty = Window(0, 0, 0.0)
        windows = [empty, empty]
        for index, (table, limit, amount, reason) in enumerate(
            (
                (self._requests, scope.rpm, 1, "rpm"),
                (self._tokens, scope.tpm, min(tokens, scope.tpm), "tpm"),
            )
        ):
            if not limit:
                continue
            interval = WINDOW_SECONDS / limit
            tat = max(table.get(scope.id, now), now)
            new_tat = tat + interval * amount
            if new_tat - now > WINDOW_SECONDS + 1e-9:
                wait = new_tat - WINDOW_SECONDS - now
                refusal = Decision(False, wait, reason, scope.id)
                windows[index] = _window(tat, now, interval, limit)
            else:
                updates.append((table, scope.id, new_tat))
                windows[index] = _window(new_tat, now, interval, limit)
        if scope.concurrency and self._in_flight.get(scope.id, 0) >= scope.concurrency:
            refusal = Decision(False, 1.0, "concurrency", scope.id)
        spend = spends.get(scope.id)
        if spend is not None:
            _, _, day_left, month_left = day_and_month(now)
            if scope.daily and spend.day_spent + cost > scope.daily:
                refusal = Decision(False, day_left, "daily", scope.id)
            if scope.monthly and spend.month_spent + cost > scope.monthly:
                refusal = Decision(False, month_left, "monthly", scope.id)
        return refusal, windows[0], windows[1]

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
