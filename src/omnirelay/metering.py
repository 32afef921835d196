"""The billing lifecycle of one request: admit under the rate limits, hold on start, settle
exactly once on finish."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from omnirelay.billing import Account, Lease, Ledger, Usage, apply_ratio, cost_of
from omnirelay.catalogue import ModelInfo
from omnirelay.keys import KeyRecord
from omnirelay.platform import context
from omnirelay.platform.limits.admission import Limiter
from omnirelay.platform.limits.base import Admission
from omnirelay.usage import UsageEvent, UsageWriter


def make_request_id() -> str:
    # An id, not a secret: the process's PRNG (seeded from os.urandom in every process) spares
    # a getrandom() system call per request.
    return f"req_{random.getrandbits(96):024x}"


def new_request_id() -> str:
    """The id of the request being served (the client's ``x-request-id``, or the one the
    middleware made), so its answer, usage record and log line agree; a new one outside a
    request."""
    found = context.current()
    if found is not None and found.request_id is not None:
        return found.request_id
    return make_request_id()


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
    account: Account | None = None  # the sides ``reserved`` was taken from
    node: str | None = None  # the node whose holds count ``reserved`` (None: untracked)
    limiter: Limiter | None = None
    admission: Admission | None = None
    started: float = field(default_factory=time.perf_counter)
    first_byte: float | None = None
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
        limiter: Limiter | None = None,
    ) -> Meter:
        """Admit (or raise ``RateLimited``), then hold (or raise ``QuotaExceeded``)."""
        request_id = request_id or new_request_id()
        price = apply_ratio(cost_of(model, estimate), key.ratio_ppm)
        admission = None
        if limiter is not None:
            tokens = estimate.prompt_tokens + estimate.completion_tokens
            admission = await limiter.admit(key, tokens=tokens, cost=price, ticket=request_id)
        try:
            hold = await ledger.hold(key, price)
        except BaseException:
            if limiter is not None:
                limiter.settle(admission, tokens=0, cost=0)
            raise
        return cls(
            writer=writer,
            key=key,
            model=model,
            endpoint=endpoint,
            request_id=request_id,
            reserved=hold.amount,
            stream=stream,
            lease=hold.lease,
            account=hold.account,
            node=hold.node,
            limiter=limiter,
            admission=admission,
        )

    def mark_first_byte(self) -> None:
        """The answer's first byte is on its way (streams; or the upstream's headers)."""
        if self.first_byte is None:
            self.first_byte = time.perf_counter()

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
        cost = apply_ratio(cost_of(self.model, usage), self.key.ratio_ppm) if usage else 0
        if self.lease is not None:
            self.lease.settle(self.reserved, cost)
        if self.limiter is not None:
            tokens = usage.prompt_tokens + usage.completion_tokens if usage else 0
            self.limiter.settle(self.admission, tokens=tokens, cost=cost)
        account = self.account
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
                user_id=self.key.user_id,
                ratio_ppm=self.key.ratio_ppm,
                first_byte_ms=int((self.first_byte - self.started) * 1000)
                if self.first_byte is not None
                else None,
                held_key=account is not None and account.key_id is not None,
                held_user=account.user_id if account is not None else None,
                node=self.node,
            )
        )
        found = context.current()
        if found is not None:  # what the request's log line and metrics report
            found.model = self.model.name
            found.channel_id = channel_id
            found.prompt_tokens = usage.prompt_tokens if usage else 0
            found.completion_tokens = usage.completion_tokens if usage else 0
            found.cost = cost
            found.first_byte = self.first_byte
        return cost
