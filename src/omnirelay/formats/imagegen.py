"""Image generation across vendors: the neutral job an OpenAI images request becomes, and the
two shapes of a vendor format's translation of it.

A synchronous vendor (Ideogram) answers one request with its images (``SyncImageCodec``); an
asynchronous one (Flux, Kling) runs one task per image (``TaskImageCodec``). Each codec knows
which sizes its models can make: a size it cannot make is refused with the sizes it can.
``formats/image_codecs.py`` is the registry, keyed by the vendor's wire format. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from omnirelay.errors import InvalidRequest

MAX_SIDE = 16384


@dataclass(frozen=True, slots=True)
class ImageJob:
    """What the client asked for, in no vendor's words."""

    prompt: str
    model: str  # the catalogue name
    size: tuple[int, int] | None  # None: the model's default
    quality: str | None = None
    style: str | None = None


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    """One image a vendor made: where to fetch it (None when its safety check withheld it)."""

    url: str | None
    revised_prompt: str | None = None


class SyncImageCodec(Protocol):
    """A vendor whose one request returns the images."""

    max_images: int

    def request(self, job: ImageJob, n: int) -> tuple[bytes, str]:
        """The vendor's body for ``n`` images of ``job`` and its content type."""
        ...

    def images(self, body: bytes) -> list[GeneratedImage]:
        """The images in the vendor's answer (an unreadable answer is an ``UpstreamError``)."""
        ...


class TaskImageCodec(Protocol):
    """A vendor that makes one image per asynchronous task."""

    action: str  # the task action its vendor adapter runs

    def task_body(self, job: ImageJob) -> bytes:
        """The vendor's body for one image of ``job``."""
        ...

    def images(self, result: Mapping[str, Any]) -> list[GeneratedImage]:
        """The images of a succeeded task, from its stored result."""
        ...


def parse_size(size: str | None) -> tuple[int, int] | None:
    """``"1024x768"`` → (1024, 768); ``None`` and ``"auto"`` → None (the model's default)."""
    if size is None or size == "auto":
        return None
    width, sep, height = size.partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        raise InvalidRequest(
            f"'size' must be 'auto' or WIDTHxHEIGHT such as '1024x1024' (got '{size}')",
            param="size",
        )
    w, h = int(width), int(height)
    if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE):
        raise InvalidRequest(f"'size' {size} is out of range", param="size")
    return w, h


def size_error(
    model: str, size: tuple[int, int], sizes: Sequence[str], rule: str = ""
) -> InvalidRequest:
    """The 400 for a size ``model`` cannot make, naming the sizes it can."""
    can = ", ".join(sizes)
    extra = f" ({rule})" if rule else ""
    return InvalidRequest(
        f"the model '{model}' cannot make {size[0]}x{size[1]} images; it makes: {can}{extra}",
        code="invalid_size",
        param="size",
    )


def nearest_ratio(
    size: tuple[int, int], ratios: Mapping[str, tuple[int, int]], tolerance: float = 0.04
) -> str | None:
    """The name of the aspect ratio closest to ``size`` if within ``tolerance`` (relative)."""
    wanted = size[0] / size[1]
    best: tuple[float, str] | None = None
    for name, (w, h) in ratios.items():
        error = abs(wanted - w / h) / (w / h)
        if error <= tolerance and (best is None or error < best[0]):
            best = (error, name)
    return best[1] if best else None
