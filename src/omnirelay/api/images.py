"""``POST /v1/images/generations`` for every image model, whichever vendor makes it.

Three ways, chosen by what the model's vendor is (``formats/image_codecs.py``):

- a vendor that speaks OpenAI's format (DALL·E): the body is relayed as it came;
- a synchronous vendor of another format (Ideogram): the request is translated per channel,
  the vendor's answer translated back;
- an asynchronous vendor (Flux, Kling): ``n`` tasks are submitted together and waited for
  inside the request, at most ``image_wait_seconds``; what has not finished by then is failed
  and refunded (504 if nothing came back).

Whichever way, the answer is ``{created, data: [{url | b64_json, revised_prompt?}]}``; for
``b64_json`` the gateway downloads each image from the URL the vendor answered with. Billing is
per image returned: an image withheld by a vendor's safety check, or that could not be
downloaded, costs nothing. A refusal by a vendor's content policy is HTTP 400
``content_policy_violation``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import Sequence
from typing import Any

import msgspec
from aiohttp import web

from omnirelay.api.common import (
    bearer_token,
    decode_json,
    gateway_of,
    hold,
    malformed_upstream,
    read_body,
    resolve_model,
)
from omnirelay.api.openai import openai_errors
from omnirelay.billing import Usage
from omnirelay.catalogue import ModelInfo
from omnirelay.channels import Channel
from omnirelay.downloads import fetch_result
from omnirelay.errors import GatewayError, InvalidRequest, UpstreamError, UpstreamTimeout
from omnirelay.formats.image_codecs import SYNC_CODECS, TASK_CODECS
from omnirelay.formats.imagegen import (
    GeneratedImage,
    ImageJob,
    SyncImageCodec,
    TaskImageCodec,
    parse_size,
)
from omnirelay.formats.openai.wire import ImageRequest, WithData, with_fields
from omnirelay.gateway import Gateway
from omnirelay.keys import KeyRecord
from omnirelay.metering import Meter, new_request_id
from omnirelay.tasks.engine import Submission
from omnirelay.tasks.model import CONTENT_POLICY, TIMED_OUT, Task, TaskStatus
from omnirelay.tasks.pricing import PriceKey
from omnirelay.vendors import Operation

MAX_IMAGES = 10
ENDPOINT = "images.generations"


def _wire_format(gateway: Gateway, channel: Channel) -> str | None:
    vendor = gateway.vendors.get(channel.vendor)
    return vendor.wire_format if vendor is not None else None


def _first_format(gateway: Gateway, model: str) -> str | None:
    # Every channel, cooling ones too: the format decides the path; the relay picks.
    for channel in gateway.router.serving(model):
        found = _wire_format(gateway, channel)
        if found is not None:
            return found
    return None


def _job(parsed: ImageRequest) -> ImageJob:
    if not parsed.prompt.strip():
        raise InvalidRequest("'prompt' must not be empty", param="prompt")
    return ImageJob(
        parsed.prompt, parsed.model, parse_size(parsed.size), parsed.quality, parsed.style
    )


def _response(created: int, items: Sequence[dict[str, Any]], request_id: str) -> web.Response:
    body = msgspec.json.encode({"created": created, "data": list(items)})
    return web.Response(
        body=body, content_type="application/json", headers={"x-request-id": request_id}
    )


async def _item(gateway: Gateway, image: GeneratedImage, b64: bool) -> dict[str, Any]:
    """One ``data`` entry; raises ``UpstreamError`` if the bytes could not be fetched."""
    assert image.url is not None
    item: dict[str, Any] = {}
    if b64:
        data = await fetch_result(gateway.outbound, image.url)
        item["b64_json"] = base64.b64encode(data).decode()
    else:
        item["url"] = image.url
    if image.revised_prompt:
        item["revised_prompt"] = image.revised_prompt
    return item


@openai_errors
async def generations(request: web.Request) -> web.StreamResponse:
    gateway = gateway_of(request)
    key = await gateway.keys.authenticate(bearer_token(request))
    body = await read_body(request)
    parsed = decode_json(body, ImageRequest)
    count = parsed.n or 1
    if not 1 <= count <= MAX_IMAGES:
        raise InvalidRequest(f"'n' must be between 1 and {MAX_IMAGES}", param="n")
    if parsed.response_format not in (None, "url", "b64_json"):
        raise InvalidRequest(
            "'response_format' must be 'url' or 'b64_json'", param="response_format"
        )
    info = resolve_model(gateway, key, parsed.model, frozenset({"image", "task"}))
    wire = _first_format(gateway, parsed.model)
    if info.kind == "task":
        task_codec = TASK_CODECS.get(wire or "")
        if task_codec is None:
            raise _unsupported(parsed.model)
        return await _by_tasks(request, gateway, key, parsed, task_codec)
    if wire == "openai":
        return await _relayed(request, gateway, key, info, body, parsed)
    sync_codec = SYNC_CODECS.get(wire or "")
    if sync_codec is None:
        raise _unsupported(parsed.model)
    return await _translated(request, gateway, key, info, parsed, sync_codec)


def _unsupported(model: str) -> InvalidRequest:
    return InvalidRequest(
        f"the model '{model}' does not make images on this endpoint",
        code="model_not_supported",
        param="model",
    )


async def _open(
    gateway: Gateway, meter: Meter, model: str, build: Any
) -> tuple[Channel, str, bytes]:
    try:
        opened = await gateway.relay.open(model, Operation.IMAGE, build)
    except GatewayError as error:
        meter.finish(error.status, error=error.message)
        if error.code == CONTENT_POLICY:  # Ideogram says 422; OpenAI's clients expect 400
            raise InvalidRequest(error.message, code=CONTENT_POLICY, param="prompt") from error
        raise
    try:
        data = await opened.read()
    except Exception as exc:
        meter.finish(502, channel_id=opened.channel.id, error=f"upstream read: {exc!r}")
        raise UpstreamError("the upstream connection broke before the answer was complete") from exc
    finally:
        opened.response.release()
    return opened.channel, opened.vendor.wire_format, data


async def _relayed(
    request: web.Request,
    gateway: Gateway,
    key: KeyRecord,
    info: ModelInfo,
    body: bytes,
    parsed: ImageRequest,
) -> web.StreamResponse:
    """A vendor of OpenAI's own format: the body as it came (with the channel's model name)."""
    count = parsed.n or 1
    meter = await hold(request, gateway, key, info, ENDPOINT, Usage(images=count))

    def build(channel: Channel) -> tuple[bytes, str]:
        upstream = channel.upstream_model(parsed.model)
        return (
            body if upstream == parsed.model else with_fields(body, model=upstream)
        ), "application/json"

    channel, _, data = await _open(gateway, meter, parsed.model, build)
    try:
        delivered = len(msgspec.json.decode(data, type=WithData).data)
    except msgspec.ValidationError:
        delivered = count
    except msgspec.DecodeError as exc:
        raise malformed_upstream() from exc
    meter.finish(200, Usage(images=delivered), channel_id=channel.id)
    return web.Response(
        body=data, content_type="application/json", headers={"x-request-id": meter.request_id}
    )


async def _translated(
    request: web.Request,
    gateway: Gateway,
    key: KeyRecord,
    info: ModelInfo,
    parsed: ImageRequest,
    codec: SyncImageCodec,
) -> web.StreamResponse:
    count = parsed.n or 1
    if count > codec.max_images:
        raise InvalidRequest(
            f"'n' must be at most {codec.max_images} for {parsed.model}", param="n"
        )
    job = _job(parsed)
    upstream_body, content_type = codec.request(job, count)  # checks the size before any hold
    meter = await hold(request, gateway, key, info, ENDPOINT, Usage(images=count))
    channel, _, data = await _open(
        gateway, meter, parsed.model, lambda _: (upstream_body, content_type)
    )
    try:
        images = codec.images(data)
    except GatewayError as error:
        meter.finish(error.status, channel_id=channel.id, error=error.message)
        raise
    items, failure = await _deliver(gateway, images, parsed.response_format == "b64_json")
    meter.finish(200 if items else failure.status, Usage(images=len(items)), channel_id=channel.id)
    if not items:
        raise failure
    return _response(int(time.time()), items, meter.request_id)


async def _deliver(
    gateway: Gateway, images: Sequence[GeneratedImage], b64: bool
) -> tuple[list[dict[str, Any]], GatewayError]:
    """The entries of the images that could be delivered, and why the others could not."""
    failure: GatewayError = InvalidRequest(
        "the vendor's safety check withheld every image; nothing was charged",
        code=CONTENT_POLICY,
        param="prompt",
    )
    ready = [image for image in images if image.url]
    results = await asyncio.gather(*(_item(gateway, i, b64) for i in ready), return_exceptions=True)
    items = []
    for result in results:
        if isinstance(result, GatewayError):
            failure = result
        elif isinstance(result, BaseException):
            raise result
        else:
            items.append(result)
    return items, failure


async def _by_tasks(
    request: web.Request,
    gateway: Gateway,
    key: KeyRecord,
    parsed: ImageRequest,
    codec: TaskImageCodec,
) -> web.StreamResponse:
    count = parsed.n or 1
    task_body = codec.task_body(_job(parsed))
    price = gateway.task_prices.price(PriceKey(parsed.model, "image"))
    if price is None:
        raise _unsupported(parsed.model)
    submission = Submission(
        action=codec.action,
        model=parsed.model,
        body=task_body,
        request=task_body.decode(),
        price=price,
    )
    submitted = await asyncio.gather(
        *(gateway.tasks.submit(key, submission) for _ in range(count)), return_exceptions=True
    )
    tasks = [t for t in submitted if isinstance(t, Task)]
    if not tasks:
        first = submitted[0]
        raise first if isinstance(first, BaseException) else UpstreamError("no task was submitted")
    for other in submitted:
        if isinstance(other, BaseException) and not isinstance(other, GatewayError):
            raise other
    ended = await _wait(request, gateway, tasks)
    items: list[dict[str, Any]] = []
    failure: GatewayError | None = None
    for task in ended:
        delivered, error = await _task_items(
            gateway, codec, task, parsed.response_format == "b64_json"
        )
        items += delivered
        failure = failure or error
    if not items:
        raise failure or UpstreamError("the vendor returned no image")
    return _response(int(time.time()), items, new_request_id())


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def _wait(request: web.Request, gateway: Gateway, tasks: list[Task]) -> list[Task]:
    """Wait for the tasks; fail and refund those still running at the deadline, or once the
    client has gone."""
    seconds = gateway.settings.image_wait_seconds
    deadline = time.monotonic() + seconds
    ids = [t.id for t in tasks]
    reason = f"not ready within {seconds:g} s; refunded in full"
    try:
        while True:
            # In slices, to notice a client that left (its jobs would be charged for nothing).
            piece = max(0.0, min(1.0, deadline - time.monotonic()))
            ended = await gateway.tasks.wait(ids, piece)
            if all(t.status.finished for t in ended) or time.monotonic() >= deadline:
                break
            if _gone(request):
                reason = "the client left before the images were ready; refunded in full"
                break
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await asyncio.shield(_abandon(gateway, tasks, "the client left; refunded in full"))
        raise
    late = [t for t in ended if not t.status.finished]
    if late:
        await _abandon(gateway, late, reason)
        by_id = {t.id: t for t in await gateway.tasks.store.get_many(ids)}
        ended = [by_id.get(t.id, t) for t in ended]
    return ended


async def _abandon(gateway: Gateway, tasks: Sequence[Task], reason: str) -> None:
    for task in tasks:
        await gateway.tasks.abandon(task, reason)


async def _task_items(
    gateway: Gateway, codec: TaskImageCodec, task: Task, b64: bool
) -> tuple[list[dict[str, Any]], GatewayError | None]:
    if task.status is not TaskStatus.SUCCEEDED:
        return [], _task_error(task)
    try:
        images = codec.images(task.result or {})
        items, error = await _deliver(gateway, images, b64)
    except GatewayError as exc:
        items, error = [], exc
    if not items:
        # Charged on success, yet nothing reaches the client: give the money back.
        await gateway.tasks.refund_undelivered(
            task, f"the image could not be delivered: {error.message}"
        )
        return [], error
    return items, None


def _task_error(task: Task) -> GatewayError:
    reason = task.failure or "the vendor failed the job"
    if task.failure_code == CONTENT_POLICY:
        return InvalidRequest(reason, code=CONTENT_POLICY, param="prompt")
    if task.failure_code == TIMED_OUT:
        timeout = UpstreamTimeout(reason)
        timeout.retryable = False  # a retry would wait as long again, and likely as vainly
        return timeout
    if task.failure_code and task.failure_code.isdigit():
        # A vendor's own client-fault code (Kling 1301 content safety…).
        return InvalidRequest(reason, code=task.failure_code)
    return UpstreamError(reason)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/images/generations", generations)
