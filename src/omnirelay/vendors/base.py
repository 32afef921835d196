"""The interface every upstream vendor adapter implements.

An adapter knows its vendor's protocol: which URL serves an operation, how to authenticate,
and how the vendor's errors map onto ours. Sending, failover and billing are shared
(``relay.py``), so an adapter stays small and has no I/O policy of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

import aiohttp

from omnirelay.channels import Channel
from omnirelay.errors import GatewayError
from omnirelay.tasks.model import TaskUpdate


class Operation(StrEnum):
    CHAT = "chat"
    COMPLETION = "completion"
    EMBEDDING = "embedding"
    SPEECH = "speech"
    TRANSCRIPTION = "transcription"
    TRANSLATION = "translation"
    IMAGE = "image"
    COUNT_TOKENS = "count_tokens"
    RESPONSES = "responses"  # OpenAI's Responses API (``/v1/responses``)


@dataclass(frozen=True, slots=True)
class UpstreamCall:
    """Where and how to send one request to a vendor."""

    url: str
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class SecretPart:
    """One field of a channel's secret, as the console's form asks for it."""

    name: str
    label: str
    placeholder: str = ""


@dataclass(frozen=True, slots=True)
class ChannelForm:
    """What a channel of this vendor needs, for the people who add one (the console's form).

    ``base_url`` is the vendor's own address (empty: there is none, e.g. a proxy the operator
    runs); several secret parts are joined with ``joiner`` into the channel's one secret.
    """

    label: str
    base_url: str
    secret: tuple[SecretPart, ...] = (SecretPart("api_key", "API key"),)
    joiner: str = ":"
    note: str = ""


class Vendor(Protocol):
    """One upstream vendor's protocol: what every adapter declares.

    ``operations`` are the synchronous operations it relays (empty for a vendor that only
    runs tasks); an adapter that declares any is a ``RelayVendor``.
    """

    name: str
    # Catalogue families this vendor serves when a channel lists no models.
    families: frozenset[str]
    # The wire format it speaks ("openai", "anthropic", "gemini", "kling").
    wire_format: str
    operations: frozenset[Operation]
    form: ChannelForm

    def map_error(self, status: int, body: bytes) -> GatewayError:
        """Turn an upstream error response into ours; the message must carry no secret."""
        ...


class RelayVendor(Vendor, Protocol):
    """A vendor whose requests the relay forwards (chat, embeddings, audio, images…)."""

    def prepare(
        self, channel: Channel, operation: Operation, *, model: str, stream: bool = False
    ) -> UpstreamCall:
        """The URL and headers (auth included) for ``operation`` on ``channel``.

        ``model`` is the upstream model name (after the channel's model map) and ``stream``
        whether a streamed answer is wanted: some vendors put either in the URL.
        """
        ...


@dataclass(frozen=True, slots=True)
class TaskRequest:
    """A task as the engine hands it to a vendor: the client's body, already validated and
    stripped of what only the gateway handles (callbacks, external ids)."""

    action: str
    model: str
    body: bytes
    # A task made from another one (a button on a finished image): the parent's upstream id.
    # It runs on the parent's channel, the only one that knows that id.
    parent_upstream_id: str | None = None


@runtime_checkable
class TaskVendor(Protocol):
    """A vendor that runs asynchronous tasks: submit once, then poll until it ends.

    ``task_actions`` is the capability: the client-facing actions (``kling.text2video``…)
    it can run. Errors are raised as ``GatewayError``; the upstream task id stays private.
    """

    name: str
    task_actions: frozenset[str]

    async def submit_task(
        self, session: aiohttp.ClientSession, channel: Channel, task: TaskRequest
    ) -> str:
        """Create the task upstream; returns the vendor's task id."""
        ...

    async def poll_task(
        self, session: aiohttp.ClientSession, channel: Channel, action: str, upstream_id: str
    ) -> TaskUpdate:
        """Where the upstream task is now."""
        ...


@runtime_checkable
class BatchPollingVendor(TaskVendor, Protocol):
    """A task vendor whose upstream reports many tasks in one call (midjourney-proxy's
    ``list-by-condition``, Suno's ``fetch {ids}``): the poller asks once per channel per tick
    for all of that channel's due tasks, at most ``poll_batch_size`` ids a call."""

    poll_batch_size: int

    async def poll_tasks(
        self,
        session: aiohttp.ClientSession,
        channel: Channel,
        upstream_ids: Sequence[str],
    ) -> Mapping[str, TaskUpdate]:
        """Where each upstream task is now; an id missing from the answer is asked again later."""
        ...


@runtime_checkable
class InteractiveTaskVendor(TaskVendor, Protocol):
    """A task vendor whose tasks take further calls after their submission: input that a
    ``waiting`` task asks for (midjourney-proxy's ``modal``: the prompt of a custom zoom), and
    facts fetched on demand (its ``image-seed``)."""

    async def continue_task(
        self, session: aiohttp.ClientSession, channel: Channel, upstream_id: str, body: bytes
    ) -> None:
        """Give a waiting task the input it waits for; raises ``GatewayError`` if refused."""
        ...

    async def task_fact(
        self, session: aiohttp.ClientSession, channel: Channel, upstream_id: str, name: str
    ) -> str:
        """One fact about a finished task (``seed``), asked of the vendor when wanted."""
        ...
