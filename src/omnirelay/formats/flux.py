"""Black Forest Labs (Flux): the models as data, BFL's request rules, its poll answers, and the
translation of an OpenAI images request into one Flux job.

BFL validates like a pydantic API: a bad body is HTTP 422 ``{"detail": [{loc, msg, type}]}``.
``validate`` applies the same rules (the sandbox answers with them; the gateway's own OpenAI
translation only ever produces bodies that pass them).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import msgspec

from omnirelay.errors import UpstreamError
from omnirelay.formats.imagegen import GeneratedImage, ImageJob, size_error

ACTION = "bfl.image"
MIN_SIDE, MAX_SIDE, STEP = 256, 1440, 32
MAX_RATIO = 21 / 9  # aspect-ratio models: between 21:9 and 9:21
OUTPUT_FORMATS = ("jpeg", "png")
_RATIO = re.compile(r"^(\d{1,3}):(\d{1,3})$")


@dataclass(frozen=True, slots=True)
class FluxModel:
    name: str
    sizing: Literal["dimensions", "aspect_ratio"]
    # Pixels of an aspect-ratio model's output (ultra makes ~4 MP, kontext ~1 MP).
    megapixels: float = 1.0
    default_ratio: str = "1:1"
    extra_fields: tuple[str, ...] = ()


MODELS: Mapping[str, FluxModel] = MappingProxyType(
    {
        m.name: m
        for m in (
            FluxModel("flux-pro-1.1", "dimensions", extra_fields=("image_prompt",)),
            FluxModel("flux-pro", "dimensions", extra_fields=("image_prompt", "steps", "guidance")),
            FluxModel("flux-dev", "dimensions", extra_fields=("image_prompt", "steps", "guidance")),
            FluxModel(
                "flux-pro-1.1-ultra",
                "aspect_ratio",
                megapixels=4.0,
                default_ratio="16:9",
                extra_fields=("raw", "image_prompt", "image_prompt_strength"),
            ),
            FluxModel("flux-kontext-pro", "aspect_ratio", extra_fields=("input_image",)),
            FluxModel("flux-kontext-max", "aspect_ratio", extra_fields=("input_image",)),
        )
    }
)
DEFAULT_SIZE = (1024, 768)


def _problem(field: str, msg: str, kind: str) -> dict[str, Any]:
    return {"loc": ["body", field], "msg": msg, "type": kind}


def _check_side(body: Mapping[str, Any], field: str, default: int) -> list[dict[str, Any]]:
    value = body.get(field, default)
    if value is None:
        return []
    if not isinstance(value, int) or isinstance(value, bool):
        return [_problem(field, "Input should be a valid integer", "int_type")]
    if value < MIN_SIDE:
        return [
            _problem(
                field, f"Input should be greater than or equal to {MIN_SIDE}", "greater_than_equal"
            )
        ]
    if value > MAX_SIDE:
        return [
            _problem(field, f"Input should be less than or equal to {MAX_SIDE}", "less_than_equal")
        ]
    if value % STEP:
        return [_problem(field, f"Input should be a multiple of {STEP}", "multiple_of")]
    return []


def ratio_of(text: str) -> float | None:
    match = _RATIO.match(text)
    if match is None or int(match.group(2)) == 0 or int(match.group(1)) == 0:
        return None
    return int(match.group(1)) / int(match.group(2))


def _check_common(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    problems: list[dict[str, Any]] = []
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        problems.append(_problem("prompt", "Field required", "missing"))
    tolerance = body.get("safety_tolerance", 2)
    if not isinstance(tolerance, int) or not 0 <= tolerance <= 6:
        problems.append(
            _problem("safety_tolerance", "Input should be between 0 and 6", "less_than_equal")
        )
    fmt = body.get("output_format", "jpeg")
    if fmt not in OUTPUT_FORMATS:
        problems.append(_problem("output_format", "Input should be 'jpeg' or 'png'", "enum"))
    seed = body.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        problems.append(_problem("seed", "Input should be a valid integer", "int_type"))
    upsampling = body.get("prompt_upsampling", False)
    if not isinstance(upsampling, bool):
        problems.append(
            _problem("prompt_upsampling", "Input should be a valid boolean", "bool_type")
        )
    return problems


def validate(model: FluxModel, body: Any) -> list[dict[str, Any]]:
    """BFL's checks of a submit body; an empty list means it passes."""
    if not isinstance(body, dict):
        return [{"loc": ["body"], "msg": "Input should be a valid dictionary", "type": "dict_type"}]
    problems = _check_common(body)
    if model.sizing == "dimensions":
        problems += _check_side(body, "width", DEFAULT_SIZE[0])
        problems += _check_side(body, "height", DEFAULT_SIZE[1])
        steps = body.get("steps")
        if (
            "steps" in model.extra_fields
            and steps is not None
            and not (isinstance(steps, int) and 1 <= steps <= 50)
        ):
            problems.append(
                _problem("steps", "Input should be between 1 and 50", "less_than_equal")
            )
    else:
        ratio = body.get("aspect_ratio", model.default_ratio)
        value = ratio_of(ratio) if isinstance(ratio, str) else None
        if value is None:
            problems.append(
                _problem("aspect_ratio", "Aspect ratio must be of the form W:H", "value_error")
            )
        elif not 1 / MAX_RATIO - 1e-9 <= value <= MAX_RATIO + 1e-9:
            problems.append(
                _problem(
                    "aspect_ratio", "Aspect ratio must be between 21:9 and 9:21", "value_error"
                )
            )
    return problems


def output_size(model: FluxModel, body: Mapping[str, Any]) -> tuple[int, int]:
    """The size of the image a valid body asks for."""
    if model.sizing == "dimensions":
        return int(body.get("width", DEFAULT_SIZE[0])), int(body.get("height", DEFAULT_SIZE[1]))
    ratio = ratio_of(str(body.get("aspect_ratio", model.default_ratio))) or 1.0
    pixels = model.megapixels * 1024 * 1024
    width = int(math.sqrt(pixels * ratio)) // STEP * STEP
    return width, int(width / ratio) // STEP * STEP


class PollAnswer(msgspec.Struct):
    """``GET /v1/get_result``: ``{id, status, result, progress}``."""

    status: str
    id: str | None = None
    result: dict[str, Any] | None = None
    progress: float | None = None


class SubmitAnswer(msgspec.Struct):
    id: str
    polling_url: str | None = None


def _fit(size: tuple[int, int]) -> tuple[int, int] | None:
    """``size`` itself if BFL accepts it, else the largest size of its shape that BFL accepts."""
    width, height = size
    if all(MIN_SIDE <= side <= MAX_SIDE and side % STEP == 0 for side in size):
        return size
    scale = min(MAX_SIDE / max(width, height), 1.0)
    fitted = tuple(max(MIN_SIDE, round(side * scale / STEP) * STEP) for side in size)
    if min(fitted) < MIN_SIDE or max(fitted) > MAX_SIDE:
        return None
    # Refuse what fitting would distort by more than a few percent (e.g. 2000x100).
    if abs(fitted[0] / fitted[1] - width / height) / (width / height) > 0.06:
        return None
    return fitted[0], fitted[1]


class FluxImages:
    """OpenAI images → one BFL job per image; the answer's ``result.sample`` is the image."""

    action = ACTION

    def task_body(self, job: ImageJob) -> bytes:
        model = MODELS.get(job.model, MODELS["flux-pro-1.1"])
        body: dict[str, Any] = {"prompt": job.prompt, "output_format": "png"}
        if job.size is not None:
            if model.sizing == "dimensions":
                fitted = _fit(job.size)
                if fitted is None:
                    raise size_error(
                        job.model,
                        job.size,
                        ["1024x1024", "1024x768", "768x1024", "1440x816", "816x1440"],
                        f"any WIDTHxHEIGHT with both sides multiples of {STEP} from {MIN_SIDE} "
                        f"to {MAX_SIDE}; larger sizes of those shapes are scaled down to fit",
                    )
                body["width"], body["height"] = fitted
            else:
                divisor = math.gcd(*job.size)
                ratio = (job.size[0] // divisor, job.size[1] // divisor)
                value = ratio[0] / ratio[1]
                if not 1 / MAX_RATIO - 1e-9 <= value <= MAX_RATIO + 1e-9 or max(ratio) > 999:
                    raise size_error(
                        job.model,
                        job.size,
                        ["1024x1024", "1792x1024", "1024x1792", "1344x576", "576x1344"],
                        "any size whose aspect ratio is between 21:9 and 9:21",
                    )
                body["aspect_ratio"] = f"{ratio[0]}:{ratio[1]}"
        return msgspec.json.encode(body)

    def images(self, result: Mapping[str, Any]) -> list[GeneratedImage]:
        sample = result.get("sample")
        if not isinstance(sample, str) or not sample:
            raise UpstreamError("Flux reported the job ready but sent no image URL")
        prompt = result.get("prompt")
        return [GeneratedImage(sample, prompt if isinstance(prompt, str) else None)]


IMAGE_CODEC = FluxImages()
