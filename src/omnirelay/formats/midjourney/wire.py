"""midjourney-proxy's wire: request bodies, return codes, the submit envelope, data URLs.

The structs name the fields as the proxy does (camelCase); unknown fields are tolerated, as the
proxy's Jackson/System.Text.Json readers tolerate them. Decoding errors are ``InvalidRequest``
with code ``4`` (the proxy's VALIDATION_ERROR) and a message naming the field.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar

import msgspec

from omnirelay.errors import InvalidRequest
from omnirelay.formats.images import sniff

T = TypeVar("T")

# Return codes (ReturnCode in the proxy's source).
SUCCESS = 1
NOT_FOUND = 3
VALIDATION_ERROR = 4
FAILURE = 9
EXISTED = 21
IN_QUEUE = 22
QUEUE_REJECTED = 23
BANNED_PROMPT = 24
ACCEPTED_CODES = frozenset({SUCCESS, EXISTED, IN_QUEUE})

# Speed modes: the path prefix (/mj-relax/mj/...), the proxy's GenerationSpeedMode, our model.
MODES = MappingProxyType(
    {"fast": "midjourney-fast", "relax": "midjourney-relax", "turbo": "midjourney-turbo"}
)
DEFAULT_MODE = "fast"  # plain /mj is fast mode, as aggregators serve it
MODE_OF_MODEL = MappingProxyType({model: mode for mode, model in MODES.items()})

BOT_TYPES = MappingProxyType(
    {
        "MID_JOURNEY": "MID_JOURNEY",
        "NIJI_JOURNEY": "NIJI_JOURNEY",
        "mj": "MID_JOURNEY",
        "niji": "NIJI_JOURNEY",
    }
)
DIMENSIONS = frozenset({"PORTRAIT", "SQUARE", "LANDSCAPE"})
CHANGE_ACTIONS = frozenset({"UPSCALE", "VARIATION", "REROLL"})

MAX_PROMPT = 8192
MAX_STATE = 255  # the proxy's own limits on state and notifyHook
MAX_NOTIFY_HOOK = 2000
MAX_IMAGES = 5
MAX_IMAGE_BYTES = 10 * 1024 * 1024
_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/jpg", "image/webp", "image/gif"})


class _Base(msgspec.Struct):
    notifyHook: str | None = None
    state: str | None = None


class ImagineRequest(_Base):
    prompt: str | None = None
    base64Array: list[str] | None = None
    base64: str | None = None  # the original proxy's single reference image
    botType: str | None = None
    accountFilter: dict[str, Any] | None = None


class ShortenRequest(_Base):
    prompt: str | None = None
    botType: str | None = None


class DescribeRequest(_Base):
    base64: str | None = None
    link: str | None = None
    botType: str | None = None


class BlendRequest(_Base):
    base64Array: list[str] | None = None
    dimensions: str | None = None
    botType: str | None = None


class ChangeRequest(_Base):
    taskId: str | None = None
    action: str | None = None
    index: int | None = None


class SimpleChangeRequest(_Base):
    content: str | None = None


class ActionRequest(_Base):
    taskId: str | None = None
    customId: str | None = None
    enableRemix: bool | None = None


class ModalRequest(_Base):
    taskId: str | None = None
    prompt: str | None = None
    maskBase64: str | None = None


class ConditionRequest(msgspec.Struct):
    ids: list[str] | None = None


class MalformedBody(InvalidRequest):
    """A body that is not JSON at all: HTTP 400, as the proxy's web framework answers it."""


def invalid(description: str) -> InvalidRequest:
    return InvalidRequest(description, code=str(VALIDATION_ERROR))


def decode(body: bytes, kind: type[T]) -> T:
    """The body as ``kind``; a body that is not JSON is HTTP 400 (as the proxy's framework
    answers), a field of the wrong type code 4 naming it."""
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        what, _, where = str(exc).replace(" | null", "").partition(" - at `$.")
        field = where.rstrip("`")
        raise invalid(f"{field}: {what[0].lower() + what[1:]}" if field else what) from exc
    except msgspec.DecodeError as exc:
        raise MalformedBody(
            f"the request body is not a JSON object: {exc}", code=str(VALIDATION_ERROR)
        ) from exc


@dataclass(frozen=True, slots=True)
class DataUrl:
    mime: str
    data: bytes


def _image_kind(data: bytes) -> str | None:
    info = sniff(data)
    if info is not None:
        return info.format
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return None


def parse_data_url(field: str, value: str) -> DataUrl:
    """``data:image/png;base64,...`` → its bytes, checked to be an image of an accepted type."""
    head, comma, payload = value.partition(",")
    mime = head.removeprefix("data:").removesuffix(";base64").lower()
    if not head.startswith("data:") or not head.endswith(";base64") or not comma:
        raise invalid(f"{field}: base64 format error: expected 'data:image/png;base64,<data>'")
    if mime not in _IMAGE_TYPES:
        raise invalid(f"{field}: base64 format error: '{mime}' is not png, jpeg, webp or gif")
    if len(payload) > (MAX_IMAGE_BYTES * 4) // 3 + 4:
        raise invalid(f"{field}: the image is larger than {MAX_IMAGE_BYTES // 2**20} MB")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise invalid(f"{field}: base64 format error: the data is not valid base64") from exc
    if _image_kind(data) is None:
        raise invalid(f"{field}: base64 format error: the data is not a png, jpeg, webp or gif")
    return DataUrl(mime, data)


def submit_body(code: int, description: str, result: str | None, **properties: Any) -> bytes:
    """The proxy's SubmitResultVO."""
    return msgspec.json.encode(
        {"code": code, "description": description, "result": result, "properties": properties}
    )
