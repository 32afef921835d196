"""Decoding wire bodies into typed structs, with errors that say where the input is wrong."""

from __future__ import annotations

from typing import TypeVar

import msgspec

from omnirelay.errors import InvalidRequest, UpstreamError

T = TypeVar("T")


def decode_as(body: bytes, kind: type[T]) -> T:
    """Decode ``body`` as ``kind`` (unknown fields ignored); bad input is an ``InvalidRequest``."""
    if not body:
        raise InvalidRequest("request body is empty; expected a JSON object")
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        message = str(exc)
        param = message.rsplit("`$.", 1)[-1].rstrip("`") if "`$." in message else None
        raise InvalidRequest(f"invalid request: {message}", param=param) from exc
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"body is not valid JSON: {exc}") from exc


def decode_upstream(body: bytes, kind: type[T]) -> T:
    """Decode a vendor's answer; one we cannot read is the upstream's fault, not the client's."""
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.MsgspecError as exc:
        raise UpstreamError(f"the upstream sent an answer that could not be read: {exc}") from exc
