"""Ideogram (synchronous image generation): the ``Api-Key`` header, two endpoints.

Models of the V3 family go to ``/v1/ideogram-v3/generate``, the others to ``/generate``; the
channel's base URL is the API host (``https://api.ideogram.ai``).
"""

from __future__ import annotations

import msgspec

from omnirelay.channels import Channel
from omnirelay.errors import GatewayError, InvalidRequest, RateLimited, UpstreamError
from omnirelay.tasks.model import CONTENT_POLICY
from omnirelay.vendors.base import ChannelForm, Operation, SecretPart, UpstreamCall

LEGACY_PATH = "/generate"
V3_PATH = "/v1/ideogram-v3/generate"


class _Error(msgspec.Struct):
    error: str | None = None
    detail: object = None
    message: str | None = None


def _message(body: bytes) -> str:
    try:
        parsed = msgspec.json.decode(body, type=_Error)
    except msgspec.MsgspecError:
        return body[:200].decode("utf-8", "replace")
    text = parsed.error or parsed.message or (str(parsed.detail) if parsed.detail else "")
    return text[:300]


class IdeogramVendor:
    name = "ideogram"
    form = ChannelForm(
        "Ideogram",
        "https://api.ideogram.ai",
        (SecretPart("api_key", "Api-Key"),),
    )
    families = frozenset({"ideogram"})
    wire_format = "ideogram"
    operations = frozenset({Operation.IMAGE})

    def prepare(
        self, channel: Channel, operation: Operation, *, model: str, stream: bool = False
    ) -> UpstreamCall:
        path = V3_PATH if model.startswith("ideogram-v3") else LEGACY_PATH
        return UpstreamCall(url=channel.base_url + path, headers={"Api-Key": channel.secret})

    def map_error(self, status: int, body: bytes) -> GatewayError:
        text = _message(body)
        if status in (401, 403):
            return UpstreamError(
                f"Ideogram rejected this gateway's credential (HTTP {status})",
                code="upstream_auth_failed",
            )
        if status == 422:
            return InvalidRequest(
                text or "the prompt failed Ideogram's safety check",
                code=CONTENT_POLICY,
                status=422,
            )
        if status == 429:
            return RateLimited("Ideogram is rate limiting this channel")
        if 400 <= status < 500:
            return InvalidRequest(text or f"Ideogram rejected the request (HTTP {status})")
        return UpstreamError(f"Ideogram failed (HTTP {status}): {text}".rstrip(": "))
