"""What every client-facing module needs: the gateway handle, credentials, bodies, ids."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from typing import TypeVar

import msgspec
from aiohttp import web

from omnirelay.api.limits import read_within
from omnirelay.billing import Usage
from omnirelay.catalogue import ModelInfo
from omnirelay.errors import (
    AuthenticationFailed,
    GatewayError,
    InvalidRequest,
    ModelNotFound,
    Unavailable,
    UpstreamError,
)
from omnirelay.formats import neutral
from omnirelay.formats.decoding import decode_as
from omnirelay.formats.upstream_errors import malformed
from omnirelay.gateway import Gateway
from omnirelay.keys import KeyRecord
from omnirelay.metering import Meter
from omnirelay.metering import new_request_id as new_request_id
from omnirelay.store.db import is_outage

GATEWAY = web.AppKey("gateway", Gateway)

log = logging.getLogger(__name__)

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Where a request keeps its meter, so the surface's wrapper can settle what a handler did not.
METER = web.RequestKey("meter", Meter)


def billed_tokens(seen: neutral.Usage) -> Usage:
    """What a vendor reported, in the units the catalogue prices."""
    return Usage(
        prompt_tokens=seen.input_tokens,
        completion_tokens=seen.output_tokens,
        cache_read_tokens=seen.cache_read_tokens,
        cache_write_tokens=seen.cache_write_tokens,
        cache_write_1h_tokens=seen.cache_write_1h_tokens,
        reasoning_tokens=seen.reasoning_tokens,
    )


def malformed_upstream() -> UpstreamError:
    return malformed("answer")


def check_well_formed(data: bytes) -> None:
    """Raise if an upstream's answer is not JSON at all (only asked when no usage was found in
    it, so a well-formed answer is parsed once)."""
    try:
        msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise malformed_upstream() from exc


def gateway_of(request: web.Request) -> Gateway:
    return request.app[GATEWAY]


def bearer_token(request: web.Request) -> str | None:
    """The key in ``Authorization: Bearer <key>``; a bare key without the scheme is taken
    too (some clients send it so), any other scheme is refused with what was wrong."""
    header = request.headers.get("Authorization", "").strip()
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if not token:
        return scheme  # no scheme at all: the header is the key
    if scheme.lower() != "bearer":
        raise AuthenticationFailed(
            f"unsupported Authorization scheme '{scheme[:20]}': send 'Authorization: Bearer <key>'",
            code="missing_api_key",  # no key was given the way it must be
        )
    return token.strip() or None


async def read_body(request: web.Request) -> bytes:
    """The body, within the route's limits (``api.limits``: size, JSON depth, inlined files)."""
    return await read_within(request, gateway_of(request).settings)


def decode_json(body: bytes, kind: type[T]) -> T:
    """Decode the fields routing needs; unknown fields are tolerated (and passed through)."""
    return decode_as(body, kind)


def resolve_model(gateway: Gateway, key: KeyRecord, name: str, kinds: frozenset[str]) -> ModelInfo:
    """The catalogue entry for ``name`` if it is routable, of the right kind, and allowed."""
    info = gateway.catalogue.get(name)
    if info is None or not gateway.router.has_model(name, key.group):
        raise ModelNotFound(
            f"the model '{name}' does not exist or no channel serves it", param="model"
        )
    if info.kind not in kinds:
        raise InvalidRequest(
            f"the model '{name}' is a {info.kind} model and is not supported on this endpoint",
            code="model_not_supported",
            param="model",
        )
    key.check_model(name)
    return info


async def hold(
    request: web.Request,
    gateway: Gateway,
    key: KeyRecord,
    model: ModelInfo,
    endpoint: str,
    estimate: Usage,
    *,
    stream: bool = False,
    request_id: str | None = None,
) -> Meter:
    """Hold ``estimate``'s price for this request (see ``settles_holds`` for the guarantee)."""
    meter = await gateway.meter(
        key, model, endpoint, estimate, stream=stream, request_id=request_id
    )
    request[METER] = meter
    return meter


def _settle_abandoned(request: web.Request, status: int, reason: str) -> None:
    meter = request.get(METER)
    if meter is not None and not meter.finished:
        meter.finish(status, error=reason)


def settles_holds(handler: Handler) -> Handler:
    """However ``handler`` ends — an error, a bug, or cancelled by a client that left or by a
    shutdown — a hold it took and did not settle is released (charged nothing), never kept."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            response = await handler(request)
        except GatewayError as error:
            _settle_abandoned(request, error.status, error.message)
            raise
        except asyncio.CancelledError:
            _settle_abandoned(request, 499, "cancelled: the client left or the server stopped")
            raise
        except Exception as exc:
            _settle_abandoned(request, 500, f"internal: {exc!r}")
            raise
        _settle_abandoned(request, 500, "the handler returned without settling")
        return response

    return wrapped


def internal_error(request: web.Request, exc: Exception) -> GatewayError:
    """What a client sees of an exception that is not a ``GatewayError``: the database being
    away is a 503 worth retrying; anything else is a bug, logged."""
    if is_outage(exc):
        log.warning("database unreachable on %s %s: %r", request.method, request.path, exc)
        error = Unavailable(
            "the gateway's database is unreachable for a moment; retry shortly",
            code="database_unavailable",
        )
        error.retry_after = 2.0
        return error
    log.exception("unhandled error on %s %s", request.method, request.path)
    return GatewayError("internal error in the gateway; see its log")


def with_retry_after(response: web.Response, error: GatewayError) -> web.Response:
    """Every client format sends ``Retry-After`` for an error that knows when to retry."""
    if error.retry_after is not None and "Retry-After" not in response.headers:
        response.headers["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
    return response


def renders_errors(render: Callable[[GatewayError], web.Response]) -> Callable[[Handler], Handler]:
    """A surface's handler wrapper: holds settled (``settles_holds``), every ``GatewayError``
    rendered by ``render`` in that surface's wire format, anything else logged and rendered as
    that format's internal error."""

    def decorate(handler: Handler) -> Handler:
        guarded = settles_holds(handler)

        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                return await guarded(request)
            except GatewayError as error:
                return with_retry_after(render(error), error)
            except Exception as exc:  # noqa: BLE001 - internal_error logs it
                known = internal_error(request, exc)
                return with_retry_after(render(known), known)

        return wrapped

    return decorate
