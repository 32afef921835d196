"""One contract for every rate-limit backend: in memory, and shared through a real Redis."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from omnirelay.platform.limits.base import LimitBackend, Scope
from omnirelay.platform.limits.memory import MemoryLimits
from omnirelay.platform.limits.redis import RedisLimits
from omnirelay.platform.redis_link import RedisLink
from tests.support.redis import RedisServer

BACKENDS = ["memory", "redis"]
_tickets = itertools.count()

Make = Callable[[], Awaitable[LimitBackend]]


def ticket() -> str:
    return f"t{next(_tickets)}"


async def _seed(scope: Scope) -> tuple[int, int]:
    return (90, 190) if scope.id.endswith("spender") else (0, 0)


@asynccontextmanager
async def backends(kind: str, redis: RedisServer | None) -> AsyncIterator[Make]:
    """A factory of backends that share state the way the kind does (Redis: across nodes)."""
    links: list[RedisLink] = []
    made: list[LimitBackend] = []

    async def make() -> LimitBackend:
        if kind == "memory":
            backend: LimitBackend = MemoryLimits(_seed)
        else:
            assert redis is not None
            link = RedisLink(redis.url)
            await link.start()
            assert link.up
            links.append(link)
            backend = RedisLimits(link, _seed)
        made.append(backend)
        return backend

    try:
        yield make
    finally:
        for backend in made:
            await backend.close()
        for link in links:
            await link.close()


@pytest.fixture(params=BACKENDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def redis(kind: str, request: pytest.FixtureRequest) -> RedisServer | None:
    return request.getfixturevalue("redis_server") if kind == "redis" else None


def run(kind: str, redis: RedisServer | None, body: Callable[[Make], Awaitable[None]]) -> None:
    async def main() -> None:
        async with backends(kind, redis) as make:
            await body(make)

    asyncio.run(main())


def test_requests_per_minute_refuse_then_recover(kind: str, redis: RedisServer | None) -> None:
    scope = (Scope(id=f"k:rpm-{kind}", rpm=120),)  # one request back every half second

    async def body(make: Make) -> None:
        limits = await make()
        first = await limits.admit(scope, tokens=0, cost=0, ticket=ticket())
        assert first.decision.allowed and first.decision.requests is not None
        assert first.decision.requests.limit == 120
        assert first.decision.requests.remaining == 119
        for _ in range(119):
            assert (await limits.admit(scope, tokens=0, cost=0, ticket=ticket())).decision.allowed
        refused = await limits.admit(scope, tokens=0, cost=0, ticket=ticket())
        decision = refused.decision
        assert not decision.allowed and decision.reason == "rpm" and decision.scope == scope[0].id
        assert 0 < decision.retry_after <= 0.5
        assert decision.requests is not None and decision.requests.remaining == 0
        assert 59 < decision.requests.reset <= 60
        await asyncio.sleep(decision.retry_after + 0.05)
        assert (await limits.admit(scope, tokens=0, cost=0, ticket=ticket())).decision.allowed

    run(kind, redis, body)


def test_tokens_are_estimated_then_corrected(kind: str, redis: RedisServer | None) -> None:
    scope = (Scope(id=f"k:tpm-{kind}", tpm=600),)  # a token back every 0.1 s

    async def body(make: Make) -> None:
        limits = await make()
        big = await limits.admit(scope, tokens=550, cost=0, ticket=ticket())
        assert big.decision.allowed
        assert big.decision.tokens is not None and big.decision.tokens.remaining == 50
        limits.settle(big, tokens=10, cost=0)  # it really used 10: 540 come back
        await asyncio.sleep(0.05)  # the shared backend sends settlements in the background
        again = await limits.admit(scope, tokens=500, cost=0, ticket=ticket())
        assert again.decision.allowed, again.decision
        refused = await limits.admit(scope, tokens=200, cost=0, ticket=ticket())
        assert not refused.decision.allowed and refused.decision.reason == "tpm"
        assert 0 < refused.decision.retry_after <= 21

    run(kind, redis, body)


def test_requests_in_flight(kind: str, redis: RedisServer | None) -> None:
    scope = (Scope(id=f"k:conc-{kind}", concurrency=2),)

    async def body(make: Make) -> None:
        limits = await make()
        one = await limits.admit(scope, tokens=0, cost=0, ticket=ticket())
        two = await limits.admit(scope, tokens=0, cost=0, ticket=ticket())
        assert one.decision.allowed and two.decision.allowed
        third = await limits.admit(scope, tokens=0, cost=0, ticket=ticket())
        assert not third.decision.allowed and third.decision.reason == "concurrency"
        limits.settle(one, tokens=0, cost=0)
        limits.settle(one, tokens=0, cost=0)  # twice is once
        assert (await limits.admit(scope, tokens=0, cost=0, ticket=ticket())).decision.allowed
        refused = await limits.admit(scope, tokens=0, cost=0, ticket=ticket())
        assert not refused.decision.allowed

    run(kind, redis, body)


def test_daily_and_monthly_spending(kind: str, redis: RedisServer | None) -> None:
    # The seed says this scope spent 90 today and 190 this month.
    daily = (Scope(id=f"u:daily-{kind}-spender", daily=100),)
    monthly = (Scope(id=f"u:monthly-{kind}-spender", monthly=200),)

    async def body(make: Make) -> None:
        limits = await make()
        for scopes, reason in ((daily, "daily"), (monthly, "monthly")):
            first = await limits.admit(scopes, tokens=0, cost=5, ticket=ticket())
            assert first.decision.allowed
            limits.settle(first, tokens=0, cost=8)
            await asyncio.sleep(0.05)
            refused = await limits.admit(scopes, tokens=0, cost=5, ticket=ticket())
            assert not refused.decision.allowed and refused.decision.reason == reason
            assert refused.decision.retry_after > 0
            assert "spending limit" in refused.decision.error(scopes).message
            assert (await limits.admit(scopes, tokens=0, cost=2, ticket=ticket())).decision.allowed

    run(kind, redis, body)


def test_all_scopes_or_none(kind: str, redis: RedisServer | None) -> None:
    key = Scope(id=f"k:both-{kind}", rpm=10)
    user = Scope(id=f"u:both-{kind}", rpm=1)

    async def body(make: Make) -> None:
        limits = await make()
        assert (await limits.admit((key, user), tokens=0, cost=0, ticket=ticket())).decision.allowed
        refused = await limits.admit((key, user), tokens=0, cost=0, ticket=ticket())
        assert not refused.decision.allowed and refused.decision.scope == user.id
        # The refusal counted in no scope: of the key's 10, the first request and this one.
        alone = await limits.admit((key,), tokens=0, cost=0, ticket=ticket())
        assert alone.decision.requests is not None and alone.decision.requests.remaining == 8

    run(kind, redis, body)


def test_charges_count_spending_already_followed(kind: str, redis: RedisServer | None) -> None:
    scope = (Scope(id=f"k:charged-{kind}-spender", daily=100),)

    async def body(make: Make) -> None:
        limits = await make()
        assert (await limits.admit(scope, tokens=0, cost=1, ticket=ticket())).decision.allowed
        limits.charge((scope[0].id,), 9)  # a task charged by the poller
        await asyncio.sleep(0.05)
        refused = await limits.admit(scope, tokens=0, cost=2, ticket=ticket())
        assert not refused.decision.allowed and refused.decision.reason == "daily"

    run(kind, redis, body)


def test_redis_limits_are_shared_by_nodes(redis_server: RedisServer) -> None:
    scope = (Scope(id="k:shared", rpm=4, concurrency=3),)

    async def body(make: Make) -> None:
        first, second = await make(), await make()
        admitted = [
            (await node.admit(scope, tokens=0, cost=0, ticket=ticket())).decision.allowed
            for node in (first, second, first, second, first)
        ]
        assert admitted == [True, True, True, False, False]  # 3 in flight, across both

    run("redis", redis_server, body)
