"""Ideogram's wire format: ``POST /generate`` (``{"image_request": {...}}``, models V_1 …
V_2A_TURBO) and ``POST /v1/ideogram-v3/generate`` (a multipart form), their rules, their reply
``{created, data: [{url, prompt, resolution, is_image_safe, seed, style_type}]}`` and their
error shape ``{"error": "..."}``; and the translation of an OpenAI images request.

Every rejection names the field (``image_request.resolution: ...``). Catalogue names: each
legacy model enum has one (``V_2_TURBO`` → ``ideogram-v2-turbo``); V3 is priced by rendering
speed (``ideogram-v3``, ``ideogram-v3-turbo``, ``ideogram-v3-quality``, ``ideogram-v3-flash``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import msgspec

from omnirelay.errors import InvalidRequest
from omnirelay.formats import multipart
from omnirelay.formats.decoding import decode_upstream
from omnirelay.formats.imagegen import GeneratedImage, ImageJob, nearest_ratio, size_error

MAX_IMAGES = 8
MAX_SEED = 2_147_483_647
MAX_PROMPT = 10_000

LEGACY_MODELS: Mapping[str, str] = MappingProxyType(
    {
        "V_1": "ideogram-v1",
        "V_1_TURBO": "ideogram-v1-turbo",
        "V_2": "ideogram-v2",
        "V_2_TURBO": "ideogram-v2-turbo",
        "V_2A": "ideogram-v2a",
        "V_2A_TURBO": "ideogram-v2a-turbo",
    }
)
V3_SPEEDS = ("FLASH", "TURBO", "DEFAULT", "QUALITY")
MAGIC_OPTIONS = ("AUTO", "ON", "OFF")
LEGACY_STYLES = ("AUTO", "GENERAL", "REALISTIC", "DESIGN", "RENDER_3D", "ANIME")
V3_STYLES = ("AUTO", "GENERAL", "REALISTIC", "DESIGN", "FICTION")
PALETTES = ("EMBER", "FRESH", "JUNGLE", "MAGIC", "MELON", "MOSAIC", "PASTEL", "ULTRAMARINE")
# Aspect ratio → the resolution Ideogram renders it at.
_RATIO_SIZES = {
    (1, 1): (1024, 1024),
    (16, 9): (1312, 736),
    (9, 16): (736, 1312),
    (4, 3): (1152, 864),
    (3, 4): (864, 1152),
    (3, 2): (1248, 832),
    (2, 3): (832, 1248),
    (16, 10): (1280, 800),
    (10, 16): (800, 1280),
    (1, 3): (512, 1536),
    (3, 1): (1536, 512),
    (4, 5): (896, 1120),
    (5, 4): (1120, 896),
    (1, 2): (704, 1408),
    (2, 1): (1408, 704),
}
LEGACY_RATIOS: Mapping[str, tuple[int, int]] = MappingProxyType(
    {f"ASPECT_{w}_{h}": (w, h) for (w, h) in _RATIO_SIZES if (w, h) not in ((1, 2), (2, 1))}
)
V3_RATIOS: Mapping[str, tuple[int, int]] = MappingProxyType(
    {f"{w}x{h}": (w, h) for (w, h) in _RATIO_SIZES}
)
_SIDES = {
    512: (1536,),
    576: (1408, 1472, 1536),
    640: (1024, 1344, 1408, 1472, 1536),
    704: (1152, 1216, 1280, 1344, 1408, 1472),
    720: (1280,),
    736: (1312,),
    768: (1024, 1088, 1152, 1216, 1232, 1280, 1344),
    800: (1280,),
    832: (960, 1024, 1088, 1152, 1216, 1248),
    864: (1152,),
    896: (960, 1024, 1088, 1120, 1152),
    960: (832, 896, 1024, 1088),
    1024: (640, 768, 832, 896, 960, 1024),
}
# Ideogram's resolutions (both orientations of each pair above).
RESOLUTIONS = frozenset(
    {(w, h) for w, hs in _SIDES.items() for h in hs}
    | {(h, w) for w, hs in _SIDES.items() for h in hs}
)


class ImageRequest(msgspec.Struct):
    prompt: str | None = None
    model: str = "V_2"
    aspect_ratio: str | None = None
    resolution: str | None = None
    magic_prompt_option: str | None = None
    seed: int | None = None
    style_type: str | None = None
    negative_prompt: str | None = None
    num_images: int = 1
    color_palette: dict[str, Any] | None = None


class GenerateRequest(msgspec.Struct):
    image_request: ImageRequest | None = None


@dataclass(frozen=True, slots=True)
class Generation:
    """A validated request: its catalogue model, how many images, and at what size."""

    model: str
    num_images: int
    size: tuple[int, int]


def invalid(field: str, why: str) -> InvalidRequest:
    return InvalidRequest(f"{field}: {why}", param=field)


def _one_of(field: str, value: str | None, allowed: tuple[str, ...] | Mapping[str, Any]) -> None:
    if value is not None and value not in allowed:
        raise invalid(field, f"'{value}' is not one of {', '.join(allowed)}")


def parse_resolution(field: str, value: str, *, prefix: str, sep: str) -> tuple[int, int]:
    body = value.removeprefix(prefix)
    width, _, height = body.partition(sep)
    size = (int(width), int(height)) if width.isdigit() and height.isdigit() else None
    if not value.startswith(prefix) or size not in RESOLUTIONS:
        example = f"{prefix}1024{sep}1024"
        raise invalid(field, f"'{value}' is not a resolution Ideogram supports (e.g. {example})")
    assert size is not None
    return size


def _check_common(where: str, prompt: str | None, seed: int | None, num_images: int) -> None:
    if prompt is None or not prompt.strip():
        raise invalid(f"{where}prompt", "is required")
    if len(prompt) > MAX_PROMPT:
        raise invalid(f"{where}prompt", f"must be at most {MAX_PROMPT} characters")
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise invalid(f"{where}seed", f"must be between 0 and {MAX_SEED}")
    if not 1 <= num_images <= MAX_IMAGES:
        raise invalid(
            f"{where}num_images", f"must be between 1 and {MAX_IMAGES} (got {num_images})"
        )


def check_legacy(body: bytes) -> tuple[GenerateRequest, Generation]:
    """Decode and check a ``/generate`` body as Ideogram does."""
    try:
        parsed = msgspec.json.decode(body, type=GenerateRequest)
    except msgspec.ValidationError as exc:
        what, _, where = str(exc).partition(" - at `$.")
        raise invalid(where.rstrip("`") or "body", what) from exc
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}") from exc
    req = parsed.image_request
    if req is None:
        raise invalid("image_request", "is required")
    where = "image_request."
    _check_common(where, req.prompt, req.seed, req.num_images)
    if req.model == "V_3":
        raise invalid(f"{where}model", "V_3 is served by POST /v1/ideogram-v3/generate")
    _one_of(f"{where}model", req.model, LEGACY_MODELS)
    _one_of(f"{where}aspect_ratio", req.aspect_ratio, LEGACY_RATIOS)
    _one_of(f"{where}magic_prompt_option", req.magic_prompt_option, MAGIC_OPTIONS)
    _one_of(f"{where}style_type", req.style_type, LEGACY_STYLES)
    v1 = req.model.startswith("V_1")
    if req.style_type is not None and v1:
        raise invalid(f"{where}style_type", "is only supported by V_2 and newer models")
    if req.negative_prompt is not None and v1:
        raise invalid(f"{where}negative_prompt", "is only supported by V_2 and newer models")
    size = _RATIO_SIZES[LEGACY_RATIOS[req.aspect_ratio or "ASPECT_1_1"]]
    if req.resolution is not None:
        if req.aspect_ratio is not None:
            raise invalid(f"{where}resolution", "cannot be used together with aspect_ratio")
        if v1:
            raise invalid(f"{where}resolution", "is only supported by V_2 and newer models")
        size = parse_resolution(f"{where}resolution", req.resolution, prefix="RESOLUTION_", sep="_")
    if req.color_palette is not None:
        _check_palette(f"{where}color_palette", req.color_palette)
    return parsed, Generation(LEGACY_MODELS[req.model], req.num_images, size)


def _check_palette(field: str, palette: Mapping[str, Any]) -> None:
    if "name" in palette:
        _one_of(f"{field}.name", str(palette["name"]), PALETTES)
    elif not isinstance(palette.get("members"), list) or not palette["members"]:
        raise invalid(field, "needs a preset 'name' or a non-empty list of 'members'")


def v3_model(speed: str) -> str:
    return "ideogram-v3" if speed == "DEFAULT" else f"ideogram-v3-{speed.lower()}"


def _int_field(fields: Mapping[str, str], name: str, default: int | None) -> int | None:
    raw = fields.get(name)
    if raw is None or raw == "":
        return default
    if not raw.lstrip("-").isdigit():
        raise invalid(name, f"must be an integer (got '{raw}')")
    return int(raw)


def v3_fields(body: bytes, content_type: str) -> dict[str, str]:
    """The text fields of a V3 request, sent as a multipart form or as JSON."""
    if content_type.startswith("application/json"):
        try:
            document = msgspec.json.decode(body)
        except msgspec.DecodeError as exc:
            raise InvalidRequest(f"the body is not valid JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise InvalidRequest("the body must be a JSON object")
        return {
            k: v if isinstance(v, str) else msgspec.json.encode(v).decode()
            for k, v in document.items()
        }
    try:
        parts = multipart.parse_form(body, content_type)
    except ValueError as exc:
        raise InvalidRequest(f"expected a multipart/form-data body: {exc}") from exc
    return {p.name: p.data.decode("utf-8", "replace") for p in parts if p.filename is None}


def check_v3(fields: Mapping[str, str]) -> Generation:
    """Check a ``/v1/ideogram-v3/generate`` form as Ideogram does."""
    seed = _int_field(fields, "seed", None)
    num_images = _int_field(fields, "num_images", 1) or 0
    _check_common("", fields.get("prompt"), seed, num_images)
    speed = fields.get("rendering_speed") or "DEFAULT"
    _one_of("rendering_speed", speed, V3_SPEEDS)
    _one_of("magic_prompt", fields.get("magic_prompt") or None, MAGIC_OPTIONS)
    _one_of("style_type", fields.get("style_type") or None, V3_STYLES)
    if fields.get("style_codes") and fields.get("style_type"):
        raise invalid("style_codes", "cannot be used together with style_type")
    ratio, resolution = fields.get("aspect_ratio") or None, fields.get("resolution") or None
    _one_of("aspect_ratio", ratio, V3_RATIOS)
    size = _RATIO_SIZES[V3_RATIOS[ratio or "1x1"]]
    if resolution is not None:
        if ratio is not None:
            raise invalid("resolution", "cannot be used together with aspect_ratio")
        size = parse_resolution("resolution", resolution, prefix="", sep="x")
    return Generation(v3_model(speed), num_images, size)


class ImageObject(msgspec.Struct):
    url: str | None = None
    prompt: str | None = None
    resolution: str | None = None
    is_image_safe: bool = True
    seed: int | None = None
    style_type: str | None = None


class Reply(msgspec.Struct):
    data: list[ImageObject] = []
    created: str | None = None


def safe_images(body: bytes) -> int:
    """Images in a reply that were delivered (an unsafe image has no URL and costs nothing)."""
    return sum(1 for image in decode_upstream(body, Reply).data if image.url)


def error_body(message: str) -> bytes:
    return msgspec.json.encode({"error": message})


_CANONICAL = ["1024x1024", "1312x736", "736x1312", "1152x864", "864x1152", "1248x832", "832x1248"]


class IdeogramImages:
    """OpenAI images → one Ideogram request (``num_images`` = n); its reply → the images."""

    max_images = MAX_IMAGES

    def request(self, job: ImageJob, n: int) -> tuple[bytes, str]:
        v3 = job.model.startswith("ideogram-v3")
        ratios = V3_RATIOS if v3 else LEGACY_RATIOS
        fields: dict[str, Any] = {"prompt": job.prompt, "num_images": n}
        if job.size is not None:
            exact = job.size in RESOLUTIONS and not job.model.startswith("ideogram-v1")
            ratio = None if exact else nearest_ratio(job.size, ratios)
            if not exact and ratio is None:
                names = ", ".join(f"{w}:{h}" for w, h in ratios.values())
                raise size_error(
                    job.model, job.size, _CANONICAL, f"or any size of aspect ratio {names}"
                )
            if exact:
                w, h = job.size
                fields["resolution"] = f"{w}x{h}" if v3 else f"RESOLUTION_{w}_{h}"
            else:
                fields["aspect_ratio"] = ratio
        if v3:
            speed = job.model.removeprefix("ideogram-v3").lstrip("-").upper() or "DEFAULT"
            fields["rendering_speed"] = speed
            parts = [multipart.Part(k, str(v).encode()) for k, v in fields.items()]
            return multipart.encode_form(parts)
        by_name = {name: enum for enum, name in LEGACY_MODELS.items()}
        fields["model"] = by_name.get(job.model, "V_2")
        return msgspec.json.encode({"image_request": fields}), "application/json"

    def images(self, body: bytes) -> list[GeneratedImage]:
        return [GeneratedImage(i.url, i.prompt) for i in decode_upstream(body, Reply).data]


IMAGE_CODEC = IdeogramImages()
