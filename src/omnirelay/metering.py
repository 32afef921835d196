"""The billing lifecycle of one request: reserve on start, settle exactly once on finish."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from omnirelay.billing import Lease, Ledger, Usage, cost_of
from omnirelay.catalogue import ModelInfo
from omnirelay.keys import KeyRecord
from omnirelay.usage import UsageEvent, UsageWriter


def new_request_id() -> str:
    # An id, not a secret: the process's PRNG (seeded from os.urandom in every process) spares
    # a getrandom() system call per request.
    return f"req_{random.getrandbits(96):024x}"


@dataclass(slots=True)
class Meter:
    """Created after the hold is taken; ``finish`` queues the usage record and settlement."""

    writer: UsageWriter
    key: KeyRecord
    model: ModelInfo
    endpoint: str
    request_id: str
    reserved: int
    stream: bool = False
    lease: Lease | None = None  # where ``reserved`` came from; None: the database
    started: float = field(default_factory=time.perf_counter)
    finished: bool = False

    @classmethod
    async def start(
        cls,
        ledger: Ledger,
        writer: UsageWriter,
        *,
        key: KeyRecord,
        model: ModelInfo,
        endpoint: str,
        estimate: Usage,
        stream: bool = False,
        request_id: str | None = None,
    ) -> Meter:
        hold = await ledger.hold(key, cost_of(model, estimate))
        return cls(
            writer=writer,
            key=key,
            model=model,
            endpoint=endpoint,
            request_id=request_id or new_request_id(),
            reserved=hold.amount,
            stream=stream,
            lease=hold.lease,
        )

    def finish(
        self,
        status: int,
        usage: Usage | None = None,
        *,
        channel_id: int | None = None,
        error: str | None = None,
    ) -> int:
        """Settle: charge ``usage`` (nothing if None) and release the rest of the hold."""
        if self.finished:
            return 0
        self.finished = True
        cost = cost_of(self.model, usage) if usage is not None else 0
        if self.lease is not None:
            self.lease.settle(self.reserved, cost)
        self.writer.record(
            UsageEvent(
                request_id=self.request_id,
                key_id=self.key.id,
                model=self.model.name,
                endpoint=self.endpoint,
                status=status,
                channel_id=channel_id,
                prompt_tokens=usage.prompt_tokens if usage else 0,
                completion_tokens=usage.completion_tokens if usage else 0,
                units=usage.units if usage else 0,
                cost=cost,
                reserved=self.reserved,
                held_in_db=self.lease is None,
                latency_ms=int((time.perf_counter() - self.started) * 1000),
                stream=self.stream,
                error=error[:500] if error else None,
                cache_read_tokens=usage.cache_read_tokens if usage else 0,
                cache_write_tokens=usage.cache_write_tokens if usage else 0,
                cache_write_1h_tokens=usage.cache_write_1h_tokens if usage else 0,
                reasoning_tokens=usage.reasoning_tokens if usage else 0,
            )
        )
        return cost
