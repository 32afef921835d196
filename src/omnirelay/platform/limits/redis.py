"""Rate limits shared by every node through Redis: one atomic Lua script per admission.

The script checks every scope of a request and counts it in all of them or in none (GCRA for
requests and tokens, a sorted set of tickets for requests in flight, a counter per UTC day
and month for spending), on Redis's clock so that nodes agree. Settlements (token
corrections, tickets released, spending) are queued and travel in the same pipeline as the
next admission, ahead of it: one round trip per request, and a client that sends its requests
one after another is never refused for the one that just ended. Without a next admission
they go on their own within ``SETTLE_DELAY``.

While Redis is away the backend counts in memory (per node) and says so (``status``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from redis.exceptions import NoScriptError, RedisError

from omnirelay.platform.limits.base import (
    TICKET_SECONDS,
    Admission,
    Decision,
    LimitBackend,
    Scope,
    Window,
    day_and_month,
)
from omnirelay.platform.limits.memory import MemoryLimits, Seeder
from omnirelay.platform.redis_link import RedisLink

log = logging.getLogger(__name__)

PREFIX = "omnirelay:limits:"
SETTLE_DELAY = 0.005  # seconds a settlement may wait for the next admission to carry it
_FAILURES = (RedisError, OSError, asyncio.TimeoutError)

ADMIT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local n, tokens, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local ticket, ticket_seconds = ARGV[4], tonumber(ARGV[5])
local day_left, month_left = tonumber(ARGV[6]), tonumber(ARGV[7])
local window = 60.0
local refused, wait, reason, refused_by = 0, 0, '', 0
local writes = {}
local req = {-1, 0, 0}
local tok = {-1, 0, 0}
local function gcra(key, limit, amount, best)
  local interval = window / limit
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  local new_tat = tat + interval * amount
  local ok = new_tat - now <= window + 1e-9
  local shown = ok and new_tat or tat
  local remaining = math.floor((window - (shown - now)) / interval + 1e-9)
  if remaining < 0 then remaining = 0 end
  if remaining > limit then remaining = limit end
  local reset = math.floor((shown - now) * 1000)
  if best[1] < 0 or remaining < best[2] or (remaining == best[2] and reset > best[3]) then
    best[1], best[2], best[3] = limit, remaining, reset
  end
  if ok then
    table.insert(writes, {key, new_tat, now})
    return 0
  end
  return new_tat - window - now
end
local function refuse(seconds, why, index)
  if refused == 0 or seconds > wait then
    wait, reason, refused_by = seconds, why, index
  end
  refused = 1
end
for i = 0, n - 1 do
  local a, k = 8 + i * 5, i * 5
  local rpm, tpm = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  local conc, daily, monthly = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  if rpm > 0 then
    local w = gcra(KEYS[k + 1], rpm, 1, req)
    if w > 0 then refuse(w, 'rpm', i + 1) end
  end
  if tpm > 0 then
    local w = gcra(KEYS[k + 2], tpm, math.min(tokens, tpm), tok)
    if w > 0 then refuse(w, 'tpm', i + 1) end
  end
  if conc > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[k + 3], '-inf', now)
    if redis.call('ZCARD', KEYS[k + 3]) >= conc then refuse(1, 'concurrency', i + 1) end
  end
  if daily > 0 and tonumber(redis.call('GET', KEYS[k + 4]) or '0') + cost > daily then
    refuse(day_left, 'daily', i + 1)
  end
  if monthly > 0 and tonumber(redis.call('GET', KEYS[k + 5]) or '0') + cost > monthly then
    refuse(month_left, 'monthly', i + 1)
  end
end
if refused == 0 then
  for _, w in ipairs(writes) do
    local ttl = math.ceil((w[2] - w[3]) * 1000) + 1000
    redis.call('SET', w[1], string.format('%.6f', w[2]), 'PX', ttl)
  end
  for i = 0, n - 1 do
    if tonumber(ARGV[8 + i * 5 + 2]) > 0 then
      local key = KEYS[i * 5 + 3]
      redis.call('ZADD', key, now + ticket_seconds, ticket)
      redis.call('PEXPIRE', key, math.ceil(ticket_seconds * 1000))
    end
  end
end
return {refused, math.ceil(wait * 1000), reason, refused_by,
        req[1], req[2], req[3], tok[1], tok[2], tok[3]}
"""

SETTLE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local n, cost, ticket = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local day_ttl, month_ttl = tonumber(ARGV[4]), tonumber(ARGV[5])
for i = 0, n - 1 do
  local a, k = 6 + i * 5, i * 4
  local tpm, delta = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  if tpm > 0 and delta ~= 0 then
    local tat = tonumber(redis.call('GET', KEYS[k + 1]) or '0')
    if tat > 0 then
      tat = tat + delta * 60.0 / tpm
      if tat <= now then
        redis.call('DEL', KEYS[k + 1])
      else
        local ttl = math.ceil((tat - now) * 1000) + 1000
        redis.call('SET', KEYS[k + 1], string.format('%.6f', tat), 'PX', ttl)
      end
    end
  end
  if tonumber(ARGV[a + 2]) > 0 then redis.call('ZREM', KEYS[k + 2], ticket) end
  -- Spending counts only once the scope was seeded from the database (which has the rest).
  if cost ~= 0 and tonumber(ARGV[a + 3]) > 0 and redis.call('EXISTS', KEYS[k + 3]) == 1 then
    redis.call('INCRBY', KEYS[k + 3], cost)
    redis.call('EXPIRE', KEYS[k + 3], day_ttl)
  end
  if cost ~= 0 and tonumber(ARGV[a + 4]) > 0 and redis.call('EXISTS', KEYS[k + 4]) == 1 then
    redis.call('INCRBY', KEYS[k + 4], cost)
    redis.call('EXPIRE', KEYS[k + 4], month_ttl)
  end
end
return 1
"""


def _keys(scope: Scope, day: str, month: str) -> list[str]:
    base = PREFIX + scope.id
    return [f"{base}:r", f"{base}:t", f"{base}:c", f"{base}:d:{day}", f"{base}:m:{month}"]


def _window(limit: Any, remaining: Any, reset_ms: Any) -> Window | None:
    return None if int(limit) < 0 else Window(int(limit), int(remaining), int(reset_ms) / 1000)


Call = tuple[str, list[str], list[Any]]  # (script, keys, args)


class RedisLimits(LimitBackend):
    def __init__(
        self, link: RedisLink, seed: Seeder | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self._link = link
        self._seed = seed
        self._clock = clock
        self._local = MemoryLimits(seed, clock)
        # The scripts' SHA1s once loaded: EVALSHA in pipelines without redis-py asking Redis
        # whether they exist at every execute (a round trip each time).
        self._shas: dict[str, str] = {}
        self._seeded: dict[str, str] = {}  # scope id → the UTC day it was seeded for
        # One pump sends everything, one pipeline at a time (so a release always reaches Redis
        # before the admission that follows it): queued settlements first, then the
        # admissions waiting, whose answers resolve their futures.
        self._settlements: list[Call] = []
        self._admissions: list[tuple[Call, asyncio.Future[Any]]] = []
        self._pump: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        link.on_reconnect(self._forget_seeds)

    @property
    def status(self) -> str:
        return "redis" if self._link.up else "degraded"

    async def _forget_seeds(self) -> None:
        # Redis may have restarted empty: seed spending again, load the scripts again.
        self._seeded.clear()
        self._shas.clear()

    async def _scripts(self) -> dict[str, str]:
        if not self._shas:
            client = self._link.client
            self._shas = {
                "admit": await client.script_load(ADMIT),
                "settle": await client.script_load(SETTLE),
            }
        return self._shas

    async def _run(self, calls: list[Call]) -> list[Any]:
        """Scripts in one pipeline (one round trip); reloaded once if Redis lost them."""
        for attempt in (1, 2):
            shas = await self._scripts()
            try:
                async with self._link.client.pipeline(transaction=False) as pipe:
                    for name, keys, args in calls:
                        pipe.evalsha(shas[name], len(keys), *keys, *args)
                    return list(await pipe.execute())
            except NoScriptError:
                if attempt == 2:
                    raise
                self._shas.clear()
        raise AssertionError("unreachable")

    def _start_pump(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pump is None and (self._settlements or self._admissions):
            self._pump = asyncio.get_running_loop().create_task(self._pumping())

    async def _pumping(self) -> None:
        try:
            while self._settlements or self._admissions:
                settles, self._settlements = self._settlements, []
                waiting, self._admissions = self._admissions, []
                try:
                    results = await self._run(settles + [call for call, _ in waiting])
                except _FAILURES as exc:
                    # Tickets expire by themselves; spending is re-seeded from the database.
                    self._link.failed(exc)
                    for _, future in waiting:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(waiting, results[len(settles) :], strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._pump = None

    async def admit(
        self, scopes: tuple[Scope, ...], *, tokens: int, cost: int, ticket: str
    ) -> Admission:
        if self._link.up:
            try:
                return await self._admit_shared(scopes, tokens, cost, ticket)
            except _FAILURES as exc:
                self._link.failed(exc)
        return await self._local.admit(scopes, tokens=tokens, cost=cost, ticket=ticket)

    async def _admit_shared(
        self, scopes: tuple[Scope, ...], tokens: int, cost: int, ticket: str
    ) -> Admission:
        now = self._clock()
        day, month, day_left, month_left = day_and_month(now)
        await self._seed_spending([s for s in scopes if s.spends], day, month)
        keys: list[str] = []
        args: list[Any] = [len(scopes), tokens, cost, ticket, TICKET_SECONDS, day_left, month_left]
        for scope in scopes:
            keys += _keys(scope, day, month)
            args += [scope.rpm, scope.tpm, scope.concurrency, scope.daily, scope.monthly]
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._admissions.append((("admit", keys, args), future))
        self._start_pump()
        result = await future
        refused, wait_ms, reason, index = int(result[0]), int(result[1]), result[2], int(result[3])
        decision = Decision(
            allowed=not refused,
            retry_after=wait_ms / 1000,
            reason=reason.decode() if isinstance(reason, bytes) else str(reason),
            scope=scopes[index - 1].id if refused else "",
            requests=_window(*result[4:7]),
            tokens=_window(*result[7:10]),
        )
        return Admission(scopes, ticket, tokens, decision, remote=True)

    async def _seed_spending(self, scopes: list[Scope], day: str, month: str) -> None:
        fresh = [s for s in scopes if self._seeded.get(s.id) != day]
        if not fresh:
            return
        async with self._link.client.pipeline(transaction=False) as pipe:
            for scope in fresh:
                day_spent, month_spent = await self._seed(scope) if self._seed else (0, 0)
                _, _, day_key, month_key = _keys(scope, day, month)[1:]
                pipe.set(day_key, day_spent, nx=True, ex=2 * 86400)
                pipe.set(month_key, month_spent, nx=True, ex=32 * 86400)
            await pipe.execute()
        for scope in fresh:
            self._seeded[scope.id] = day

    def settle(self, admission: Admission, *, tokens: int, cost: int) -> None:
        if admission.settled:
            return
        if not admission.remote:
            self._local.settle(admission, tokens=tokens, cost=cost)
            return
        admission.settled = True
        if not admission.decision.allowed:
            return
        deltas = [tokens - min(admission.tokens, s.tpm) if s.tpm else 0 for s in admission.scopes]
        needed = any(deltas) or any(s.concurrency or (cost and s.spends) for s in admission.scopes)
        if needed:  # limits of requests per minute alone have nothing to settle
            self._enqueue(admission.scopes, admission.ticket, cost, deltas, release=True)

    def charge(self, scope_ids: tuple[str, ...], cost: int) -> None:
        if not cost:
            return
        self._local.charge(scope_ids, cost)
        if self._link.up:
            # Flags that count spending: the script adds only to counters that exist.
            scopes = tuple(Scope(id=i, daily=1, monthly=1) for i in scope_ids)
            self._enqueue(scopes, "", cost, [0] * len(scopes), release=False)

    def _enqueue(
        self,
        scopes: tuple[Scope, ...],
        ticket: str,
        cost: int,
        deltas: list[int],
        *,
        release: bool,
    ) -> None:
        day, month, day_left, month_left = day_and_month(self._clock())
        keys: list[str] = []
        args: list[Any] = [len(scopes), cost, ticket, int(day_left) + 3600, int(month_left) + 3600]
        for scope, delta in zip(scopes, deltas, strict=True):
            keys += _keys(scope, day, month)[1:]
            args += [
                scope.tpm,
                delta,
                1 if release and scope.concurrency else 0,
                1 if scope.daily else 0,
                1 if scope.monthly else 0,
            ]
        self._settlements.append(("settle", keys, args))
        # The next admission carries it; without one, it goes alone after SETTLE_DELAY.
        if self._timer is None and self._pump is None:
            self._timer = asyncio.get_running_loop().call_later(SETTLE_DELAY, self._start_pump)

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._link.up:
            self._start_pump()
        if self._pump is not None:
            await asyncio.gather(self._pump, return_exceptions=True)
