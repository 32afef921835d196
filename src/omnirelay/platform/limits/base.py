"""Rate limits: what they are, the verdict a backend gives, and the interface backends share.

A *scope* is one subject of limits: a key (``k:12``) or a user (``u:3``, whose limits fall back
field by field to its group's defaults). Each may cap requests per minute and tokens per
minute (GCRA over a one-minute window: the whole minute's allowance may come at once, then it
refills evenly), requests in flight, and spending per UTC day and month. A request is admitted
only if every scope it falls under admits it, and then it counts in all of them at once.

Tokens are estimated at admission (prompt bytes / 4 plus the output limit, as quota holds
are) and corrected at settlement with what was really used; spending is counted at
settlement. Backends: ``memory.MemoryLimits`` (one process) and ``redis.RedisLimits`` (shared by
every node through Redis; per-node memory while Redis is away).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import msgspec

from omnirelay.errors import RateLimited
from omnirelay.money import micro_to_usd, usd_to_micro

WINDOW_SECONDS = 60.0
# A concurrency ticket of a node that died is forgotten after this long.
TICKET_SECONDS = 900.0


class Limits(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    """Rate limits as the admin API takes them and the database stores them (JSON)."""

    rpm: int | None = None  # requests per minute
    tpm: int | None = None  # tokens per minute
    concurrency: int | None = None  # requests in flight
    daily_usd: float | None = None  # spending per UTC day
    monthly_usd: float | None = None  # spending per UTC month

    def problems(self) -> list[str]:
        return [
            f"'{name}' must be positive"
            for name in self.__struct_fields__
            if (value := getattr(self, name)) is not None and value <= 0
        ]

    def over(self, defaults: Limits | None) -> Limits:
        """These limits, each unset one taken from ``defaults``."""
        if defaults is None:
            return self
        return Limits(
            **{
                name: getattr(self, name)
                if getattr(self, name) is not None
                else getattr(defaults, name)
                for name in self.__struct_fields__
            }
        )


def limits_from_json(value: object) -> Limits | None:
    return msgspec.convert(value, Limits) if value else None


@dataclass(frozen=True, slots=True)
class Scope:
    """One subject of limits, resolved (0 means no limit of that kind)."""

    id: str
    rpm: int = 0
    tpm: int = 0
    concurrency: int = 0
    daily: int = 0  # micro-dollars
    monthly: int = 0

    @property
    def spends(self) -> bool:
        return bool(self.daily or self.monthly)

    @classmethod
    def of(cls, scope_id: str, limits: Limits | None) -> Scope | None:
        if limits is None:
            return None
        scope = cls(
            id=scope_id,
            rpm=limits.rpm or 0,
            tpm=limits.tpm or 0,
            concurrency=limits.concurrency or 0,
            daily=usd_to_micro(limits.daily_usd) if limits.daily_usd else 0,
            monthly=usd_to_micro(limits.monthly_usd) if limits.monthly_usd else 0,
        )
        limited = scope.rpm or scope.tpm or scope.concurrency or scope.daily or scope.monthly
        return scope if limited else None


def scopes_for(
    key_id: int,
    key_limits: Limits | None,
    user_id: int | None,
    user_limits: Limits | None,
    group_limits: Limits | None,
) -> tuple[Scope, ...]:
    found = [Scope.of(f"k:{key_id}", key_limits)]
    if user_id is not None:
        effective = (user_limits or Limits()).over(group_limits)
        found.append(Scope.of(f"u:{user_id}", effective))
    return tuple(s for s in found if s is not None)


@dataclass(frozen=True, slots=True)
class Window:
    """One quota for the ``x-ratelimit-*`` headers: its limit, what is left, seconds to full."""

    limit: int
    remaining: int
    reset: float


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after: float = 0.0  # seconds, when refused
    reason: str = ""  # rpm | tpm | concurrency | daily | monthly
    scope: str = ""  # the scope that refused
    requests: Window | None = None  # the tightest request window over the scopes
    tokens: Window | None = None

    def error(self, scopes: Sequence[Scope]) -> RateLimited:
        """The refusal as the error every surface renders in its own format."""
        scope = next((s for s in scopes if s.id == self.scope), None)
        subject = "API key" if self.scope.startswith("k:") else "account"
        wait = f"retry in {math.ceil(self.retry_after)} s"
        if self.reason == "rpm" and scope is not None:
            text = f"this {subject} may make {scope.rpm} requests per minute; {wait}"
        elif self.reason == "tpm" and scope is not None:
            text = f"this {subject} may use {scope.tpm} tokens per minute; {wait}"
        elif self.reason == "concurrency" and scope is not None:
            text = f"this {subject} may have {scope.concurrency} requests in flight; {wait}"
        elif self.reason in ("daily", "monthly") and scope is not None:
            cap = scope.daily if self.reason == "daily" else scope.monthly
            text = f"this {subject} reached its {self.reason} spending limit"
            return RateLimited(
                f"{text} of ${micro_to_usd(cap)}; {wait}", code=f"{self.reason}_spend_limit"
            )
        else:
            text = f"rate limit reached; {wait}"
        return RateLimited(text)


def tightest(windows: Sequence[Window]) -> Window | None:
    return min(windows, key=lambda w: (w.remaining, -w.reset)) if windows else None


@lru_cache(maxsize=4)
def _calendar(second: int) -> tuple[str, str, float, float]:
    # A pure function of the second: cached, since every admission asks (datetime is slow).
    moment = datetime.fromtimestamp(second, UTC)
    day_end = datetime(moment.year, moment.month, moment.day, tzinfo=UTC) + timedelta(days=1)
    year, next_month = (
        (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    )
    month_end = datetime(year, next_month, 1, tzinfo=UTC)
    return (
        moment.strftime("%Y%m%d"),
        moment.strftime("%Y%m"),
        day_end.timestamp(),
        (month_end.timestamp()),
    )


def day_and_month(now: float) -> tuple[str, str, float, float]:
    """UTC day and month ids, and seconds until each ends."""
    day, month, day_end, month_end = _calendar(int(now))
    return day, month, day_end - now, month_end - now


@dataclass(slots=True)
class Admission:
    """A request admitted under ``scopes``: what settlement must correct and release."""

    scopes: tuple[Scope, ...]
    ticket: str
    tokens: int
    decision: Decision
    remote: bool = False  # admitted by the shared (Redis) backend
    settled: bool = False


class LimitBackend(ABC):
    """Counts requests, tokens, requests in flight and spending per scope."""

    @abstractmethod
    async def admit(
        self, scopes: tuple[Scope, ...], *, tokens: int, cost: int, ticket: str
    ) -> Admission:
        """Count a request in every scope, or (``decision.allowed`` False) in none."""

    @abstractmethod
    def settle(self, admission: Admission, *, tokens: int, cost: int) -> None:
        """The request finished: ``tokens`` really used, ``cost`` charged. Never blocks."""

    @abstractmethod
    def charge(self, scope_ids: tuple[str, ...], cost: int) -> None:
        """Count spending that had no admission of its own (a task settled by the poller).

        Only scopes whose spending is being counted change (the others start from the
        database, which will have this charge, when first needed)."""

    @property
    def status(self) -> str:
        """``memory``, ``redis``, or ``degraded`` (Redis configured but unreachable)."""
        return "memory"

    async def close(self) -> None:
        return None
