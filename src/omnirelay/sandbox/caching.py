"""The sandbox's prompt caches: a prompt sent twice reports cached tokens, as the vendors do.

Two kinds, one store per sandbox app (the vendors' caches are per organisation; the sandbox
has one):

- Marked (Anthropic): the prompt is a list of segments (tools, system blocks, message blocks)
  and ``cache_control`` marks breakpoints. The longest marked prefix seen before is read; the
  tokens from there to the last breakpoint are written, to the 5-minute or the 1-hour cache as
  the breakpoint closing them says. Prefixes shorter than the model's minimum are not cached.
- Automatic (OpenAI, Gemini's implicit caching): a prompt of at least ``minimum`` tokens is
  cached in steps of ``step`` tokens; a later prompt sharing a prefix reads the longest one.

A cached prefix lives five minutes (or an hour) after its last use.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiohttp import web

TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
MAX_ENTRIES = 100_000  # a bound on memory, not a behaviour: the sandbox serves tests


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of the prompt: its identity (``key``), its token count, and the
    ``cache_control`` TTL that ends a cacheable prefix here (``None``: no breakpoint)."""

    key: str
    tokens: int
    breakpoint: str | None = None


@dataclass(frozen=True, slots=True)
class Marked:
    read: int = 0
    write_5m: int = 0
    write_1h: int = 0


class PromptCache:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._expires: dict[bytes, float] = {}

    def _live(self, digest: bytes, now: float) -> bool:
        expiry = self._expires.get(digest)
        return expiry is not None and expiry > now

    def _keep(self, digest: bytes, expiry: float) -> None:
        if len(self._expires) >= MAX_ENTRIES:
            now = self._clock()
            self._expires = {d: e for d, e in self._expires.items() if e > now}
        self._expires[digest] = max(self._expires.get(digest, 0.0), expiry)

    def marked(self, segments: Sequence[Segment], minimum: int) -> Marked:
        """Anthropic's accounting for one request, and the cache updated by it."""
        now = self._clock()
        running = hashlib.sha256(b"marked")
        points: list[tuple[int, str, bytes]] = []  # (tokens so far, ttl, prefix digest)
        total = 0
        for segment in segments:
            running.update(segment.key.encode() + b"\x00")
            total += segment.tokens
            if segment.breakpoint is not None:
                points.append((total, segment.breakpoint, running.copy().digest()))
        points = [p for p in points if p[0] >= minimum]
        read = max((tokens for tokens, _, d in points if self._live(d, now)), default=0)
        written = {"5m": 0, "1h": 0}
        previous = read
        for tokens, ttl, digest in points:
            if tokens > previous:
                written[ttl] += tokens - previous
                previous = tokens
            self._keep(digest, now + TTL_SECONDS[ttl])
        return Marked(read=read, write_5m=written["5m"], write_1h=written["1h"])

    def automatic(self, tokens: Sequence[str], minimum: int, step: int = 128) -> int:
        """Cached tokens of a prompt cached without markers (OpenAI's way, in steps)."""
        if len(tokens) < minimum:
            return 0
        now = self._clock()
        running = hashlib.sha256(b"automatic")
        cached = 0
        done = 0
        for end in range(minimum, len(tokens) + 1, step):
            running.update("\x00".join(tokens[done:end]).encode() + b"\x01")
            done = end
            digest = running.copy().digest()
            if self._live(digest, now):
                cached = end
            self._keep(digest, now + TTL_SECONDS["5m"])
        return cached


PROMPT_CACHE = web.AppKey("prompt_cache", PromptCache)


def cache_of(request: web.Request) -> PromptCache:
    return request.app[PROMPT_CACHE]
