"""Kling (video and image generation): JWT auth, task submit and poll, error codes.

A channel's secret holds the account's key pair as ``ACCESS_KEY:SECRET_KEY``. Each request
carries a JWT (HS256) signed with the secret key, ``iss`` = the access key, valid from five
seconds ago for 30 minutes; it is cached per channel until a few minutes before it expires.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from typing import Any

import aiohttp
import msgspec

from omnirelay.channels import Channel
from omnirelay.errors import (
    GatewayError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from omnirelay.formats.upstream_errors import retry_after
from omnirelay.tasks.model import TaskStatus, TaskUpdate
from omnirelay.vendors.base import ChannelForm, Operation, SecretPart, TaskRequest

log = logging.getLogger(__name__)

TOKEN_LIFETIME = 1800
TOKEN_NOT_BEFORE_SKEW = 5
# Mint a new token when the cached one has less than this left.
TOKEN_REFRESH_MARGIN = 300

_PATHS = {
    "kling.text2video": "/v1/videos/text2video",
    "kling.image2video": "/v1/videos/image2video",
    "kling.images": "/v1/images/generations",
}
_STATUSES = {
    "submitted": (TaskStatus.QUEUED, 5),
    "processing": (TaskStatus.RUNNING, 50),
    "succeed": (TaskStatus.SUCCEEDED, 100),
    "failed": (TaskStatus.FAILED, 0),
}


class _Envelope(msgspec.Struct):
    code: int = -1
    message: str = ""
    request_id: str = ""
    data: Any = None


class _TaskData(msgspec.Struct):
    task_id: str
    task_status: str = "submitted"
    task_status_msg: str = ""
    task_result: dict[str, Any] | None = None


def split_credential(secret: str) -> tuple[str, str]:
    """``ACCESS_KEY:SECRET_KEY`` → the pair; a channel secret without both is misconfigured."""
    access, sep, secret_key = secret.partition(":")
    if not sep or not access or not secret_key:
        raise UpstreamError(
            "this Kling channel's secret must be 'ACCESS_KEY:SECRET_KEY'",
            code="channel_misconfigured",
        )
    return access, secret_key


def mint_token(access_key: str, secret_key: str, now: float) -> str:
    claims = {
        "iss": access_key,
        "exp": int(now) + TOKEN_LIFETIME,
        "nbf": int(now) - TOKEN_NOT_BEFORE_SKEW,
    }
    # A JWT by hand (RFC 7519, HS256): PyJWT would load the cryptography package (~9.5 MB in
    # each worker) for its other algorithms.
    header = _b64url(b'{"alg":"HS256","typ":"JWT"}')
    signed = header + b"." + _b64url(msgspec.json.encode(claims))
    signature = hmac.new(secret_key.encode(), signed, hashlib.sha256).digest()
    return (signed + b"." + _b64url(signature)).decode("ascii")


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def map_kling_error(status: int, code: int, message: str) -> GatewayError:
    """Kling's documented codes → our error tree. Client-fault messages are passed on."""
    if 1000 <= code <= 1004 or status == 401:
        # The credential is the channel's, not the client's: say so, keep Kling's text out.
        return UpstreamError(
            f"Kling rejected this gateway's credential (code {code})", code="upstream_auth_failed"
        )
    if 1100 <= code <= 1102:
        return UpstreamError(
            f"the Kling account behind this channel cannot run tasks (code {code})",
            code="upstream_account",
        )
    if code == 1103:
        return PermissionDenied(f"Kling denied access to this resource: {message}", code="1103")
    if code in (1200, 1201):
        return InvalidRequest(message or "Kling rejected the parameters", code=str(code))
    if code in (1202, 1203) or status == 404:
        return NotFound(message or "not found at Kling", code=str(code if code > 0 else 1203))
    if code in (1300, 1301):
        return InvalidRequest(message or "rejected by Kling's content policy", code=str(code))
    if 1302 <= code <= 1304 or status == 429:
        return RateLimited(f"Kling is rate limiting this channel (code {code})", code=str(code))
    if code == 5002 or status == 504:
        return UpstreamTimeout(f"Kling timed out (code {code})")
    return UpstreamError(f"Kling failed (HTTP {status}, code {code}): {message[:200]}")


class KlingVendor:
    name = "kling"
    form = ChannelForm(
        "Kling",
        "https://api-singapore.klingai.com",
        (
            SecretPart("access_key", "Access key"),
            SecretPart("secret_key", "Secret key"),
        ),
        note="Requests are signed with a JWT made from the key pair.",
    )
    families = frozenset({"kling"})
    wire_format = "kling"
    # Kling serves tasks only; the relay's synchronous operations never reach it.
    operations: frozenset[Operation] = frozenset()
    task_actions = frozenset(_PATHS)

    def __init__(self, clock: Any = time.time) -> None:
        self._clock = clock
        # Per channel: (credential, token, expiry). Lives on the adapter, one per process.
        self._tokens: dict[int, tuple[str, str, float]] = {}

    def token(self, channel: Channel) -> str:
        now = float(self._clock())
        cached = self._tokens.get(channel.id)
        if (
            cached is not None
            and cached[0] == channel.secret
            and cached[2] - now > (TOKEN_REFRESH_MARGIN)
        ):
            return cached[1]
        access, secret = split_credential(channel.secret)
        token = mint_token(access, secret, now)
        self._tokens[channel.id] = (channel.secret, token, now + TOKEN_LIFETIME)
        return token

    def map_error(self, status: int, body: bytes) -> GatewayError:
        try:
            envelope = msgspec.json.decode(body, type=_Envelope)
        except msgspec.MsgspecError:
            return map_kling_error(status, -1, body[:200].decode("utf-8", "replace"))
        return map_kling_error(status, envelope.code, envelope.message)

    async def _call(
        self, session: aiohttp.ClientSession, channel: Channel, method: str, path: str, body: bytes
    ) -> Any:
        headers = {"Authorization": f"Bearer {self.token(channel)}"}
        if body:
            headers["Content-Type"] = "application/json"
        try:
            async with session.request(
                method, channel.base_url + path, data=body or None, headers=headers
            ) as response:
                data = await response.read()
                status = response.status
                wait = retry_after(response.headers) if status in (429, 503) else None
        except TimeoutError as exc:
            raise UpstreamTimeout("Kling did not answer in time") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError(f"Kling could not be reached ({type(exc).__name__})") from exc
        try:
            envelope = msgspec.json.decode(data, type=_Envelope)
        except msgspec.MsgspecError:
            envelope = _Envelope(message=data[:200].decode("utf-8", "replace"))
        if status >= 400 or envelope.code != 0:
            error = map_kling_error(status, envelope.code, envelope.message)
            if error.code == "upstream_auth_failed":
                log.error("Kling channel %s: credential rejected (%s)", channel.name, envelope.code)
            error.retry_after = wait
            raise error
        return envelope.data

    async def submit_task(
        self, session: aiohttp.ClientSession, channel: Channel, task: TaskRequest
    ) -> str:
        body = task.body
        upstream_model = channel.upstream_model(task.model)
        if upstream_model != task.model:
            fields = msgspec.json.decode(body)
            fields["model_name"] = upstream_model
            body = msgspec.json.encode(fields)
        data = await self._call(session, channel, "POST", _PATHS[task.action], body)
        try:
            return msgspec.convert(data, type=_TaskData).task_id
        except msgspec.ValidationError as exc:
            raise UpstreamError("Kling accepted the task but sent no task id") from exc

    async def poll_task(
        self, session: aiohttp.ClientSession, channel: Channel, action: str, upstream_id: str
    ) -> TaskUpdate:
        data = await self._call(session, channel, "GET", f"{_PATHS[action]}/{upstream_id}", b"")
        try:
            task = msgspec.convert(data, type=_TaskData)
        except msgspec.ValidationError as exc:
            raise UpstreamError("Kling answered a task query without a task") from exc
        status, progress = _STATUSES.get(task.task_status, (TaskStatus.RUNNING, 50))
        if status is TaskStatus.FAILED:
            return TaskUpdate(status, failure=task.task_status_msg or "Kling reported a failure")
        if status is TaskStatus.SUCCEEDED:
            return TaskUpdate(status, 100, result=task.task_result or {})
        return TaskUpdate(status, progress)
