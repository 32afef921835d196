"""Kling's wire format: request structs, the validation Kling applies, and its envelope.

Validation happens here, before anything is charged or sent: every rejection is an
``InvalidRequest`` whose message names the field and the reason (rendered by the API as
HTTP 400, code 1201). Image URLs are checked for form only; base64 images are decoded and
sniffed for format and size, since the vendor would reject them anyway.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import urlsplit

import msgspec

from omnirelay.errors import InvalidRequest, UpstreamError
from omnirelay.formats.imagegen import GeneratedImage, ImageJob, nearest_ratio, size_error
from omnirelay.formats.images import sniff
from omnirelay.tasks.model import Task, TaskStatus

TEXT2VIDEO = "kling.text2video"
IMAGE2VIDEO = "kling.image2video"
IMAGES = "kling.images"

MAX_PROMPT = 2500
MAX_URL = 2048
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MIN_IMAGE_SIDE = 300
MAX_ASPECT = 2.5
MAX_DYNAMIC_MASKS = 6
MAX_EXTERNAL_ID = 200

CameraType = Literal["simple", "down_back", "forward_up", "right_turn_forward", "left_turn_forward"]
_CAMERA_AXES = ("horizontal", "vertical", "pan", "tilt", "roll", "zoom")

STATUS_WORDS = MappingProxyType(
    {
        TaskStatus.SUBMITTING: "submitted",
        TaskStatus.QUEUED: "submitted",
        TaskStatus.RUNNING: "processing",
        TaskStatus.WAITING: "processing",
        TaskStatus.SUCCEEDED: "succeed",
        TaskStatus.FAILED: "failed",
    }
)


class CameraConfig(msgspec.Struct):
    horizontal: float = 0
    vertical: float = 0
    pan: float = 0
    tilt: float = 0
    roll: float = 0
    zoom: float = 0


class CameraControl(msgspec.Struct):
    type: CameraType | None = None
    config: CameraConfig | None = None


class Trajectory(msgspec.Struct):
    x: int
    y: int


class DynamicMask(msgspec.Struct):
    mask: str
    trajectories: list[Trajectory]


class VideoRequest(msgspec.Struct):
    """text2video and image2video; unknown fields are tolerated and relayed."""

    model_name: str = "kling-v1"
    prompt: str | None = None
    negative_prompt: str | None = None
    cfg_scale: float | None = None
    mode: Literal["std", "pro"] | None = None
    camera_control: CameraControl | None = None
    aspect_ratio: Literal["16:9", "9:16", "1:1"] | None = None
    duration: Literal["5", "10"] | None = None
    callback_url: str | None = None
    external_task_id: str | None = None
    image: str | None = None
    image_tail: str | None = None
    static_mask: str | None = None
    dynamic_masks: list[DynamicMask] | None = None


class ImageRequest(msgspec.Struct):
    model_name: str = "kling-v1"
    prompt: str | None = None
    negative_prompt: str | None = None
    image: str | None = None
    image_reference: Literal["subject", "face"] | None = None
    image_fidelity: float | None = None
    human_fidelity: float | None = None
    resolution: Literal["1k", "2k"] | None = None
    n: int | None = None
    aspect_ratio: Literal["16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "21:9"] | None = None
    callback_url: str | None = None
    external_task_id: str | None = None


def invalid(field: str, why: str) -> InvalidRequest:
    return InvalidRequest(f"{field}: {why}", code="1201", param=field)


def decode(body: bytes, kind: type[Any]) -> Any:
    """Decode ``body`` into ``kind``; type errors name the field (``camera_control.type``)."""
    if not body.strip():
        raise InvalidRequest("the request body is empty; expected a JSON object", code="1200")
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        message = str(exc)
        what, _, where = message.replace(" | null", "").partition(" - at `$.")
        if where:
            raise invalid(where.rstrip("`"), what[0].lower() + what[1:]) from exc
        raise InvalidRequest(f"invalid request: {message}", code="1201") from exc
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}", code="1200") from exc


def check_text(field: str, value: str | None, *, required: bool = False) -> None:
    if value is None or value == "":
        if required:
            raise invalid(field, "is required")
        return
    if len(value) > MAX_PROMPT:
        raise invalid(field, f"must be at most {MAX_PROMPT} characters (got {len(value)})")


def check_url(field: str, value: str) -> None:
    if len(value) > MAX_URL:
        raise invalid(field, f"must be at most {MAX_URL} characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in value):
        raise invalid(field, "must be an http(s) URL")


def check_image(field: str, value: str | None) -> None:
    """A URL (checked for form only) or bare base64 of a jpg/png within Kling's limits."""
    if value is None:
        return
    if not value:
        raise invalid(field, "must not be empty")
    if value.startswith(("http://", "https://")):
        check_url(field, value)
        return
    if value.startswith("data:"):
        raise invalid(field, "must be raw base64 without a 'data:' prefix, or an image URL")
    if len(value) > (MAX_IMAGE_BYTES * 4) // 3 + 4:
        raise invalid(field, "is larger than 10 MB")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise invalid(field, "is neither an http(s) URL nor valid base64") from exc
    info = sniff(data)
    if info is None:
        raise invalid(field, "must be a jpg, jpeg or png image")
    if min(info.width, info.height) < MIN_IMAGE_SIDE:
        raise invalid(
            field,
            f"must be at least {MIN_IMAGE_SIDE} px on each side (got {info.width}x{info.height})",
        )
    if max(info.width, info.height) > MAX_ASPECT * min(info.width, info.height):
        raise invalid(field, "aspect ratio must be between 1:2.5 and 2.5:1")


def check_unit(field: str, value: float | None) -> None:
    if value is not None and not 0 <= value <= 1:
        raise invalid(field, f"must be between 0 and 1 (got {value})")


def check_model(name: str, allowed: Collection[str]) -> None:
    if name not in allowed:
        known = ", ".join(sorted(allowed)) or "none"
        raise invalid("model_name", f"'{name}' is not supported here; use one of: {known}")


def check_delivery(callback_url: str | None, external_task_id: str | None) -> None:
    if callback_url is not None:
        check_url("callback_url", callback_url)
    if external_task_id is not None and not 0 < len(external_task_id) <= MAX_EXTERNAL_ID:
        raise invalid("external_task_id", f"must be 1 to {MAX_EXTERNAL_ID} characters")


def check_camera(camera: CameraControl | None) -> None:
    if camera is None:
        return
    if camera.type is None:
        raise invalid("camera_control.type", "is required when camera_control is given")
    config = camera.config
    moves = [a for a in _CAMERA_AXES if config is not None and getattr(config, a) != 0]
    if camera.type != "simple":
        if moves:
            raise invalid(
                "camera_control.config", f"is only for type 'simple', not '{camera.type}'"
            )
        return
    if config is None:
        raise invalid("camera_control.config", "is required when camera_control.type is 'simple'")
    for axis in _CAMERA_AXES:
        value = getattr(config, axis)
        if not -10 <= value <= 10:
            raise invalid(f"camera_control.config.{axis}", f"must be in [-10, 10] (got {value})")
    if len(moves) != 1:
        raise invalid(
            "camera_control.config",
            f"exactly one of {', '.join(_CAMERA_AXES)} must be non-zero (got {len(moves)})",
        )


def _check_image2video(req: VideoRequest) -> None:
    if req.mode is None:
        raise invalid("mode", "is required ('std' or 'pro')")
    if req.duration is None:
        raise invalid("duration", "is required ('5' or '10', as a string)")
    if req.image is None:
        if req.image_tail is not None:
            raise invalid("image_tail", "needs 'image' (the first frame)")
        raise invalid("image", "is required")
    check_image("image", req.image)
    check_image("image_tail", req.image_tail)
    check_image("static_mask", req.static_mask)
    if req.dynamic_masks is not None:
        if len(req.dynamic_masks) > MAX_DYNAMIC_MASKS:
            raise invalid("dynamic_masks", f"at most {MAX_DYNAMIC_MASKS} masks")
        for i, mask in enumerate(req.dynamic_masks):
            check_image(f"dynamic_masks[{i}].mask", mask.mask)
            if not mask.trajectories:
                raise invalid(f"dynamic_masks[{i}].trajectories", "must not be empty")
    features = {
        "image_tail": req.image_tail is not None,
        "static_mask/dynamic_masks": req.static_mask is not None or bool(req.dynamic_masks),
        "camera_control": req.camera_control is not None,
    }
    used = [name for name, on in features.items() if on]
    if len(used) > 1:
        raise invalid(used[1], f"cannot be combined with {used[0]} (they are mutually exclusive)")


def check_video(req: VideoRequest, action: str, models: Collection[str]) -> None:
    check_model(req.model_name, models)
    check_text("prompt", req.prompt, required=action == TEXT2VIDEO)
    check_text("negative_prompt", req.negative_prompt)
    check_unit("cfg_scale", req.cfg_scale)
    check_camera(req.camera_control)
    if action == IMAGE2VIDEO:
        _check_image2video(req)
    check_delivery(req.callback_url, req.external_task_id)


def check_images(req: ImageRequest, models: Collection[str]) -> None:
    check_model(req.model_name, models)
    check_text("prompt", req.prompt, required=True)
    check_text("negative_prompt", req.negative_prompt)
    check_image("image", req.image)
    if req.negative_prompt and req.image is not None:
        raise invalid("negative_prompt", "is not supported together with an image reference")
    if req.image_reference is not None:
        if req.image is None:
            raise invalid("image_reference", "needs 'image'")
        if req.model_name != "kling-v1-5":
            raise invalid("image_reference", "is supported by kling-v1-5 only")
    check_unit("image_fidelity", req.image_fidelity)
    check_unit("human_fidelity", req.human_fidelity)
    if req.n is not None and not 1 <= req.n <= 9:
        raise invalid("n", f"must be between 1 and 9 (got {req.n})")
    check_delivery(req.callback_url, req.external_task_id)


def upstream_body(body: bytes) -> bytes:
    """The body the vendor gets: the client's, minus what the gateway handles itself.

    Callbacks come from the gateway (signed, carrying our task id), and external ids are
    unique per Kling account, which all of a channel's users share.
    """
    fields = msgspec.json.decode(body)
    fields.pop("callback_url", None)
    fields.pop("external_task_id", None)
    return msgspec.json.encode(fields)


def task_data(task: Task, *, brief: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "task_id": task.id,
        "task_status": STATUS_WORDS[task.status],
    }
    if not brief:
        data["task_status_msg"] = task.failure or ""
    if task.external_task_id is not None or not brief:
        data["task_info"] = (
            {"external_task_id": task.external_task_id} if task.external_task_id else {}
        )
    data["created_at"] = task.created_ms
    data["updated_at"] = task.updated_ms
    if task.status is TaskStatus.SUCCEEDED and task.result is not None:
        data["task_result"] = task.result
    return data


def envelope(data: Any, request_id: str) -> bytes:
    return msgspec.json.encode(
        {"code": 0, "message": "SUCCEED", "request_id": request_id, "data": data}
    )


def error_body(code: int, message: str, request_id: str) -> bytes:
    return msgspec.json.encode({"code": code, "message": message, "request_id": request_id})


def callback_body(task: Task) -> bytes:
    """What ``callback_url`` receives: the envelope a query would return."""
    return envelope(task_data(task), task.id)


RENDERERS = MappingProxyType(
    {TEXT2VIDEO: callback_body, IMAGE2VIDEO: callback_body, IMAGES: callback_body}
)


_IMAGE_RATIOS = {
    "1:1": (1, 1),
    "16:9": (16, 9),
    "9:16": (9, 16),
    "4:3": (4, 3),
    "3:4": (3, 4),
    "3:2": (3, 2),
    "2:3": (2, 3),
    "21:9": (21, 9),
}
_IMAGE_SIZES = [
    "1024x1024",
    "1792x1024",
    "1024x1792",
    "1024x768",
    "768x1024",
    "1536x1024",
    "1024x1536",
    "1344x576",
]


class KlingImages:
    """OpenAI images → one Kling image task per image (``n`` = 1, ``size`` → aspect ratio)."""

    action = IMAGES

    def task_body(self, job: ImageJob) -> bytes:
        body: dict[str, Any] = {"model_name": job.model, "prompt": job.prompt, "n": 1}
        if job.size is not None:
            ratio = nearest_ratio(job.size, _IMAGE_RATIOS)
            if ratio is None:
                names = ", ".join(_IMAGE_RATIOS)
                raise size_error(job.model, job.size, _IMAGE_SIZES, f"aspect ratios {names}")
            body["aspect_ratio"] = ratio
        check_text("prompt", job.prompt, required=True)
        return msgspec.json.encode(body)

    def images(self, result: dict[str, Any] | Any) -> list[GeneratedImage]:
        found = [i.get("url") for i in result.get("images", []) if isinstance(i, dict)]
        if not found or not all(isinstance(u, str) and u for u in found):
            raise UpstreamError("Kling reported the task succeeded but sent no image URL")
        return [GeneratedImage(url) for url in found]


IMAGE_CODEC = KlingImages()
