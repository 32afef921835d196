"""Admission of one request under its key's and user's limits, and the headers that say how
much is left (OpenAI's ``x-ratelimit-*``, plus ``Retry-After`` on a refusal)."""

from __future__ import annotations

import math

from omnirelay.keys import KeyRecord
from omnirelay.platform.context import current
from omnirelay.platform.limits.base import Admission, Decision, LimitBackend, Window


class Limiter:
    """The gateway's one entry to its limit backend; keys without limits cost a truth test."""

    def __init__(self, backend: LimitBackend) -> None:
        self.backend = backend
        self.refusals = 0  # requests refused since the process started (for the metrics)

    async def admit(
        self, key: KeyRecord, *, tokens: int, cost: int, ticket: str
    ) -> Admission | None:
        """Count the request, or raise ``RateLimited`` (nothing counted). None: no limits."""
        if not key.scopes:
            return None
        admission = await self.backend.admit(key.scopes, tokens=tokens, cost=cost, ticket=ticket)
        context = current()
        if context is not None:
            context.decision = admission.decision
        if not admission.decision.allowed:
            self.refusals += 1
            raise admission.decision.error(key.scopes)
        return admission

    def settle(self, admission: Admission | None, *, tokens: int, cost: int) -> None:
        if admission is not None:
            self.backend.settle(admission, tokens=tokens, cost=cost)

    def charge(self, key_id: int, user_id: int | None, cost: int) -> None:
        scope_ids = (f"k:{key_id}",) if user_id is None else (f"k:{key_id}", f"u:{user_id}")
        self.backend.charge(scope_ids, cost)


def duration(seconds: float) -> str:
    """A reset time the way OpenAI writes it: ``20ms``, ``1s``, ``6m0s``, ``1h2m3s``."""
    if seconds < 1:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    whole = math.ceil(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def _window_headers(headers: dict[str, str], kind: str, window: Window | None) -> None:
    if window is None:
        return
    headers[f"x-ratelimit-limit-{kind}"] = str(window.limit)
    headers[f"x-ratelimit-remaining-{kind}"] = str(window.remaining)
    headers[f"x-ratelimit-reset-{kind}"] = duration(window.reset)


def headers(decision: Decision) -> dict[str, str]:
    """The rate-limit headers of an answer given under ``decision``."""
    found: dict[str, str] = {}
    _window_headers(found, "requests", decision.requests)
    _window_headers(found, "tokens", decision.tokens)
    if not decision.allowed:
        found["Retry-After"] = str(max(1, math.ceil(decision.retry_after)))
        found["retry-after-ms"] = str(max(1, math.ceil(decision.retry_after * 1000)))
    return found
