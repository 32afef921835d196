"""Submitting tasks and moving them to their end, with the money following exactly once.

Billing: the task's price (times the key's group ratio) is reserved from the key's account
when it is submitted; success charges it, and a failure of any kind (rejected upstream, failed
upstream, timed out, lost) refunds it in full. Both go through ``TaskStore.finish``, whose
conditional UPDATE lets only one process settle a task.

A task may have a parent (an upscale of an imagine's grid): it runs on the parent's channel,
which alone knows the parent's upstream id. A task the vendor holds ``waiting`` for the
client's input is continued through ``continue_task``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import aiohttp

from omnirelay.billing import Account, Ledger, apply_ratio
from omnirelay.channels import Channel
from omnirelay.errors import (
    GatewayError,
    InvalidRequest,
    NoChannelAvailable,
    NotFound,
    PermissionDenied,
)
from omnirelay.health import broken_reason
from omnirelay.keys import KeyRecord
from omnirelay.outbound import OutboundPolicy, UnsafeUrl
from omnirelay.platform.context import current_group
from omnirelay.platform.limits.admission import Limiter
from omnirelay.routing import Router
from omnirelay.tasks.model import (
    FAILED_UPSTREAM,
    TIMED_OUT,
    Task,
    TaskStatus,
    TaskUpdate,
    now_ms,
)
from omnirelay.tasks.outbox import Delivery, WebhookHook
from omnirelay.tasks.store import DuplicateExternalId, Outcome, TaskStore
from omnirelay.tasks.webhooks import WebhookSender
from omnirelay.vendors.base import (
    BatchPollingVendor,
    InteractiveTaskVendor,
    TaskRequest,
    TaskVendor,
    Vendor,
)

log = logging.getLogger(__name__)

# Renders a task as the client format of its action wants it (for webhooks).
Renderer = Callable[[Task], bytes]
# Errors that are the client's own fault: another channel would say the same.
_CLIENT_FAULTS = (InvalidRequest, PermissionDenied, NotFound)


def new_task_id() -> str:
    # 128 random bits, URL-safe: unguessable, so a task id reveals nothing and can't be probed.
    # Never a leading "-": command lines (``omnirelay tasks watch ID``) would read an option.
    while (task_id := secrets.token_urlsafe(16)).startswith("-"):
        pass
    return task_id


@dataclass(frozen=True, slots=True)
class TaskTiming:
    """Seconds: first poll delay, the cap it grows to, the claim lease, the overall limit."""

    first_poll: float = 2.0
    max_poll: float = 30.0
    lease: float = 60.0
    timeout: float = 7200.0

    def next_poll_ms(self, polls: int) -> int:
        # Fast at first (most image tasks end in seconds), then slower for long videos.
        delay = min(self.max_poll, self.first_poll * (1.5 ** min(polls, 30)))
        return now_ms() + int(delay * 1000)


@dataclass(frozen=True, slots=True)
class Submission:
    """A validated request, ready to become a task."""

    action: str
    model: str
    body: bytes  # what the vendor receives
    request: str  # the body as the client sent it (kept on the task)
    price: int
    callback_url: str | None = None
    callback_field: str = "callback_url"  # its name in the client's format, for errors
    external_task_id: str | None = None
    # Only this channel may run it (a follow-up of a task whose files live on one account).
    channel_id: int | None = None
    # The finished task this one acts on (a button on its image): runs on its channel.
    parent: Task | None = None


class _Announcer:
    """A change's webhook hook that remembers whether it wrote a delivery to the outbox."""

    __slots__ = ("_hook", "wrote")

    def __init__(self, hook: WebhookHook) -> None:
        self._hook = hook
        self.wrote = False

    def __call__(self, after: Task) -> Delivery | None:
        delivery = self._hook(after)
        if delivery is not None:
            self.wrote = True
        return delivery


class TaskEngine:
    def __init__(
        self,
        *,
        store: TaskStore,
        ledger: Ledger,
        router: Router,
        vendors: Mapping[str, Vendor],
        session: aiohttp.ClientSession,
        webhooks: WebhookSender,
        renderers: Mapping[str, Renderer],
        timing: TaskTiming,
        progress_webhooks: frozenset[str] = frozenset(),
        limiter: Limiter | None = None,
        outbound: OutboundPolicy | None = None,
        on_finished: Callable[[Task], None] | None = None,
    ) -> None:
        self.store = store
        self.timing = timing
        self._ledger = ledger
        self._router = router
        self._vendors = vendors
        self._session = session
        self._webhooks = webhooks
        self._renderers = renderers
        # Actions whose webhooks also go out when only the progress moved (midjourney-proxy
        # notifies at every change; Kling's envelope shows no progress, so only status counts).
        self._progress_webhooks = progress_webhooks
        self._limiter = limiter
        # Callback URLs are checked at submission (a clear 400), and again at each delivery.
        self._outbound = outbound
        self._on_finished = on_finished  # the metrics: every task that ended, once
        self._speaks_cache: dict[tuple[type, object], bool] = {}

    def _speaks(self, vendor: object, protocol: object) -> bool:
        """``isinstance(vendor, protocol)``, asked once per vendor class: against a runtime
        checkable protocol it inspects every member at each call (twice per poll)."""
        key = (type(vendor), protocol)
        known = self._speaks_cache.get(key)
        if known is None:
            known = self._speaks_cache[key] = isinstance(vendor, protocol)  # type: ignore[arg-type]
        return known

    def _task_vendor(self, channel: Channel, action: str) -> TaskVendor | None:
        vendor = self._vendors.get(channel.vendor)
        if self._speaks(vendor, TaskVendor) and action in cast(TaskVendor, vendor).task_actions:
            return cast(TaskVendor, vendor)
        return None

    async def submit(self, key: KeyRecord, submission: Submission) -> Task:
        """Reserve, record, send upstream; returns the queued task or raises (refunded)."""
        await self._check_callback(submission)
        external = submission.external_task_id
        if external is not None and await self.store.external_id_taken(key.id, external):
            raise InvalidRequest(f"external_task_id '{external}' is already used by another task")
        price = apply_ratio(submission.price, key.ratio_ppm)
        if self._limiter is None:
            return await self._submit(key, submission, price)
        admission = await self._limiter.admit(key, tokens=0, cost=price, ticket=new_task_id())
        try:
            return await self._submit(key, submission, price)
        finally:
            # The submission counts as a request in flight while it runs; its spending is
            # counted when the task is charged (``Limiter.charge`` at settlement).
            self._limiter.settle(admission, tokens=0, cost=0)

    async def _check_callback(self, submission: Submission) -> None:
        if submission.callback_url is None or self._outbound is None:
            return
        try:
            await self._outbound.admit(submission.callback_url)
        except UnsafeUrl as refused:
            field = submission.callback_field
            # A word every task surface renders as its own validation error (Kling 1201,
            # midjourney-proxy code 4, Suno "invalid_request").
            raise InvalidRequest(
                f"{field}: {refused.reason}", code="invalid_request", param=field
            ) from None

    async def _submit(self, key: KeyRecord, submission: Submission, price: int) -> Task:
        external = submission.external_task_id
        account = Account.of(key)
        price = max(price, 0)
        reserved = price if account is not None else 0
        user_held = account is not None and account.user_id is not None
        now = now_ms()
        try:
            task = await self.store.insert(
                {
                    "id": new_task_id(),
                    "key_id": key.id,
                    "vendor": "",  # known once a channel accepts it (mark_submitted)
                    "action": submission.action,
                    "model": submission.model,
                    "request": submission.request,
                    "status": TaskStatus.SUBMITTING.value,
                    "progress": 0,
                    "callback_url": submission.callback_url,
                    "external_task_id": external,
                    "price": price,
                    "reserved": reserved,
                    "user_id": key.user_id,
                    "user_held": user_held,
                    "ratio_ppm": key.ratio_ppm,
                    "created_ms": now,
                    "updated_ms": now,
                    # If this process dies mid-submit, the poller fails and refunds the task
                    # once this has passed (the submit itself is long over by then), or as
                    # soon as another process notices this one is gone (``nodes.py``).
                    "next_poll_ms": now + int(max(self.timing.lease, 600.0) * 1000),
                    "attempts": 0,
                    "node_id": self._ledger.node_id,
                },
                account,
                price,
            )
        except DuplicateExternalId as exc:
            raise InvalidRequest(
                f"external_task_id '{external}' is already used by another task"
            ) from exc
        return await self._send(task, submission)

    def _channels(self, submission: Submission) -> list[Channel]:
        parent = submission.parent
        pinned = parent.channel_id if parent is not None else submission.channel_id
        if pinned is None:
            return self._router.candidates(submission.model, current_group())
        channel = self._router.channel(pinned)
        return [channel] if channel is not None and submission.model in channel.models else []

    async def _send(self, task: Task, submission: Submission) -> Task:
        failure: GatewayError | None = None
        parent = submission.parent
        request = TaskRequest(
            submission.action,
            submission.model,
            submission.body,
            parent_upstream_id=parent.upstream_id if parent is not None else None,
        )
        for channel in self._channels(submission):
            vendor = self._task_vendor(channel, submission.action)
            # Asked just before sending: the channel may have been disabled or opened since.
            if vendor is None or not self._router.acquire(channel, submission.model):
                continue
            try:
                upstream_id = await vendor.submit_task(self._session, channel, request)
            except _CLIENT_FAULTS as error:
                await self._fail(task, error.message, error.status, error.code)
                raise
            except GatewayError as error:
                log.warning("task submit on channel %s failed: %s", channel.name, error.message)
                broken = broken_reason(error, submission.model)
                if broken is not None:
                    self._router.disable(channel, broken.reason, broken.model)
                elif error.retry_after:
                    self._router.cool(channel, error.retry_after, f"retry after: {error.message}")
                else:
                    self._router.report_failure(channel, error.message)
                failure = error
                continue
            self._router.report_success(channel)
            announce = self._webhook()
            queued = await self.store.mark_submitted(
                task.id,
                vendor.name,
                channel.id,
                upstream_id,
                self.timing.next_poll_ms(0),
                announce,
            )
            if queued is None:  # settled meanwhile (only if this submit outlived its grace)
                found = await self.store.get(task.id)
                return found or task
            self._wake(announce)
            return queued
        last = failure or NoChannelAvailable(
            f"no channel is available for the model '{submission.model}'"
            + (f" on the channel of task {parent.id}" if parent is not None else "")
        )
        await self._fail(task, last.message, last.status)
        raise last

    async def _fail(
        self, task: Task, reason: str, http_status: int, code: str | None = FAILED_UPSTREAM
    ) -> Task | None:
        outcome = Outcome(
            TaskStatus.FAILED,
            charge=0,
            http_status=http_status,
            failure=reason,
            failure_code=code,
        )
        announce = self._webhook()
        finished = await self.store.finish(task, outcome, announce)
        if finished is not None:
            self._ended(finished)
            self._wake(announce)
        return finished

    async def _pollable(self, task: Task) -> tuple[Channel, TaskVendor, str] | None:
        """What to ask about a claimed task; None once it was timed out or failed here."""
        if task.status is TaskStatus.SUBMITTING:
            await self._fail(task, "the submission was interrupted; nothing was charged", 500)
            return None
        if (now_ms() - task.created_ms) / 1000 > self.timing.timeout:
            await self._fail(
                task,
                f"timed out after {int(self.timing.timeout)} s; refunded in full",
                504,
                TIMED_OUT,
            )
            return None
        channel = self._router.channel(task.channel_id) if task.channel_id is not None else None
        vendor = self._task_vendor(channel, task.action) if channel is not None else None
        if channel is None or vendor is None or task.upstream_id is None:
            await self._record(task, TaskUpdate(task.status, task.progress), "channel unavailable")
            return None
        return channel, vendor, task.upstream_id

    def batch_group(self, task: Task) -> int | None:
        """The channel whose vendor polls ``task`` together with its other due tasks, if any."""
        channel = self._router.channel(task.channel_id) if task.channel_id is not None else None
        vendor = self._task_vendor(channel, task.action) if channel is not None else None
        return channel.id if channel and self._speaks(vendor, BatchPollingVendor) else None

    async def advance(self, task: Task) -> None:
        """One poll of a claimed task: time it out, or ask its vendor and record the answer."""
        found = await self._pollable(task)
        if found is None:
            return
        channel, vendor, upstream_id = found
        try:
            update = await vendor.poll_task(self._session, channel, task.action, upstream_id)
        except NotFound:
            await self._fail(task, "the vendor no longer knows this task; refunded", 502)
            return
        except GatewayError as error:
            log.warning("polling task %s failed: %s", task.id, error.message)
            await self._record(task, TaskUpdate(task.status, task.progress), error.message)
            return
        await self._apply(task, update)

    async def advance_batch(self, claimed: Sequence[Task]) -> None:
        """Poll claimed tasks of one batch-polling channel: one upstream call per
        ``poll_batch_size`` tasks instead of one per task."""
        ready: list[tuple[Task, str]] = []
        channel: Channel | None = None
        vendor: BatchPollingVendor | None = None
        for task in claimed:
            found = await self._pollable(task)
            if found is None:
                continue
            channel, polled_by, upstream_id = found
            if not isinstance(polled_by, BatchPollingVendor):  # reconfigured since grouping
                await self.advance(task)
                continue
            vendor = polled_by
            ready.append((task, upstream_id))
        if channel is None or vendor is None:
            return
        size = max(vendor.poll_batch_size, 1)
        for start in range(0, len(ready), size):
            chunk = ready[start : start + size]
            try:
                updates = await vendor.poll_tasks(self._session, channel, [u for _, u in chunk])
            except GatewayError as error:
                log.warning("polling %d tasks on %s failed: %s", len(chunk), channel.name, error)
                for task, _ in chunk:
                    await self._record(task, TaskUpdate(task.status, task.progress), error.message)
                continue
            for task, upstream_id in chunk:
                update = updates.get(upstream_id)
                if update is None:
                    silent = TaskUpdate(task.status, task.progress)
                    await self._record(task, silent, "the vendor did not report this task")
                else:
                    await self._apply(task, update)

    async def _apply(self, task: Task, update: TaskUpdate) -> None:
        if update.status is TaskStatus.SUCCEEDED:
            outcome = Outcome(
                TaskStatus.SUCCEEDED,
                charge=task.price,
                http_status=200,
                result=update.result,
                units=1,
            )
            announce = self._webhook()
            finished = await self.store.finish(task, outcome, announce)
            if finished is not None:
                self._ended(finished)
                if self._limiter is not None:
                    self._limiter.charge(task.key_id, task.user_id, finished.charged or 0)
                self._wake(announce)
        elif update.status is TaskStatus.FAILED:
            await self._fail(
                task,
                update.failure or "the vendor reported a failure",
                update.failure_status,
                update.failure_code or FAILED_UPSTREAM,
            )
        else:
            await self._record(task, update, None)

    async def _record(self, task: Task, update: TaskUpdate, error: str | None) -> None:
        status = (
            update.status
            if update.status in (TaskStatus.QUEUED, TaskStatus.RUNNING, TaskStatus.WAITING)
            else (task.status)
        )
        recorded = await self.store.record(
            task,
            status=status,
            progress=max(task.progress, update.progress),
            next_poll_ms=self.timing.next_poll_ms(task.attempts),
            last_error=error,
            result=update.result,
            webhook=(announce := self._webhook(task)),
        )
        if recorded is not None:
            self._wake(announce)

    async def wait(
        self, task_ids: Sequence[str], seconds: float, interval: float = 0.2
    ) -> list[Task]:
        """Tasks submitted inside a request, once all have ended or ``seconds`` have passed
        (whichever comes first); the poller does the work, this only watches the store."""
        deadline = time.monotonic() + seconds
        while True:
            found = await self.store.get_many(task_ids)
            if all(t.status.finished for t in found) or time.monotonic() >= deadline:
                order = {task_id: i for i, task_id in enumerate(task_ids)}
                return sorted(found, key=lambda t: order[t.id])
            await asyncio.sleep(min(interval, max(deadline - time.monotonic(), 0.0)))

    async def abandon(self, task: Task, reason: str) -> Task | None:
        """Give up on an unfinished task (a request stopped waiting): failed and refunded now;
        a later answer from the vendor changes nothing."""
        return await self._fail(task, reason, 504, TIMED_OUT)

    async def refund_undelivered(self, task: Task, reason: str) -> Task | None:
        """Refund a succeeded task whose result could not be handed to the client."""
        return await self.store.reverse_charge(task, reason, FAILED_UPSTREAM)

    def _interactive(self, task: Task) -> tuple[Channel, InteractiveTaskVendor, str]:
        channel = self._router.channel(task.channel_id) if task.channel_id is not None else None
        vendor = self._task_vendor(channel, task.action) if channel is not None else None
        if channel is None or task.upstream_id is None:
            raise NoChannelAvailable("the channel that runs this task is not available now")
        if not isinstance(vendor, InteractiveTaskVendor):
            raise InvalidRequest("this task's vendor takes no further input")
        return channel, vendor, task.upstream_id

    async def continue_task(self, task: Task, body: bytes) -> Task:
        """Give a waiting task its input (the vendor refuses if it is not waiting); it is
        polled again at once."""
        channel, vendor, upstream_id = self._interactive(task)
        await vendor.continue_task(self._session, channel, upstream_id, body)
        announce = self._webhook(task, progress=False)
        moved = await self.store.poll_soon(task.id, announce)
        if moved is None:
            return await self.store.get(task.id) or task
        self._wake(announce)
        return moved

    async def task_fact(self, task: Task, name: str) -> str:
        """One fact about a task (``seed``) that its vendor gives on demand."""
        channel, vendor, upstream_id = self._interactive(task)
        return await vendor.task_fact(self._session, channel, upstream_id, name)

    def _wake(self, announce: _Announcer) -> None:
        # The outbox is claimed (a write transaction) only when this change wrote to it.
        if announce.wrote:
            self._webhooks.wake()

    def _webhook(self, before: Task | None = None, *, progress: bool = True) -> _Announcer:
        """Which webhook a change announces, asked inside its transaction. Every settlement and
        acceptance is announced; a poll's change only if the status moved (or, for actions
        whose clients follow progress, the progress), compared with ``before``."""

        def hook(after: Task) -> Delivery | None:
            # A task the vendor never accepted was answered with an error, not an id.
            if not after.callback_url or after.upstream_id is None:
                return None
            render = self._renderers.get(after.action)
            if render is None:
                return None
            if before is not None:
                moved = (
                    progress
                    and after.progress != before.progress
                    and after.action in self._progress_webhooks
                )
                if after.status == before.status and not moved:
                    return None
            return Delivery(after.callback_url, render(after), self._webhooks.give_up_seconds)

        return _Announcer(hook)

    def _ended(self, task: Task) -> None:
        if self._on_finished is not None:
            self._on_finished(task)
