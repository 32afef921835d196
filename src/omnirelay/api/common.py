"""What every client-facing module needs: the gateway handle, credentials, bodies, ids."""

from __future__ import annotations

import random
from typing import TypeVar

import msgspec
from aiohttp import web

from omnirelay.catalogue import ModelInfo
from omnirelay.errors import InvalidRequest, ModelNotFound, PayloadTooLarge
from omnirelay.gateway import Gateway
from omnirelay.keys import KeyRecord

GATEWAY = web.AppKey("gateway", Gateway)

T = TypeVar("T")


def gateway_of(request: web.Request) -> Gateway:
    return request.app[GATEWAY]


def new_request_id() -> str:
    # An id, not a secret: the process's PRNG (seeded from os.urandom in every process) spares
    # a getrandom() system call per request.
    return f"req_{random.getrandbits(96):024x}"


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


async def read_body(request: web.Request) -> bytes:
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise PayloadTooLarge(
            "request body is larger than this gateway accepts "
            f"({gateway_of(request).settings.max_body_bytes} bytes)"
        ) from exc


def decode_json(body: bytes, kind: type[T]) -> T:
    """Decode the fields routing needs; unknown fields are tolerated (and passed through)."""
    if not body:
        raise InvalidRequest("request body is empty; expected a JSON object")
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        message = str(exc)
        param = message.rsplit("`$.", 1)[-1].rstrip("`") if "`$." in message else None
        raise InvalidRequest(f"invalid request: {message}", param=param) from exc
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from exc


def resolve_model(gateway: Gateway, key: KeyRecord, name: str, kinds: frozenset[str]) -> ModelInfo:
    """The catalogue entry for ``name`` if it is routable, of the right kind, and allowed."""
    info = gateway.catalogue.get(name)
    if info is None or not gateway.router.has_model(name):
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
