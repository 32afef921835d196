"""Pictures for the sandbox's Midjourney, drawn with Pillow: real PNGs a person can look at.

An imagine is a 1024x1024 grid of four 512x512 tiles, each of its own hue (a quarter turn of
the colour wheel apart), shapes and number, so the quadrants are plainly different; an upscale
is one tile redrawn at full size; variations, zooms and pans are grids made from their parent.
Everything is a pure function of its inputs, so any picture can be redrawn when wanted.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import random
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont, ImageOps, ImageStat

GRID = 1024
TILE = GRID // 2
BLEND_SIZES = {"SQUARE": (1024, 1024), "PORTRAIT": (832, 1248), "LANDSCAPE": (1248, 832)}
_PAN_SHIFT = {"pan_left": (1, 0), "pan_right": (-1, 0), "pan_up": (0, 1), "pan_down": (0, -1)}
_COLOUR_NAMES = {
    "red": (200, 40, 40),
    "orange": (230, 130, 30),
    "yellow": (230, 210, 50),
    "green": (50, 160, 70),
    "teal": (30, 150, 150),
    "blue": (40, 80, 200),
    "purple": (130, 60, 170),
    "pink": (230, 120, 170),
    "white": (240, 240, 240),
    "grey": (128, 128, 128),
    "black": (20, 20, 20),
}


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))  # noqa: S311 - pictures, not keys


def _rgb(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return int(r * 255), int(g * 255), int(b * 255)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def tile(prompt: str, seed: int, quadrant: int, size: int = TILE) -> Image.Image:
    """One design: hue from the seed plus a quarter turn per quadrant, shapes, its number."""
    rng = _rng(prompt, seed, quadrant)
    hue = (seed % 360) / 360 + quadrant * 0.25
    image = Image.new("RGB", (size, size))
    draw = ImageDraw.Draw(image)
    top, bottom = _rgb(hue, 0.55, 0.95), _rgb(hue + 0.05, 0.85, 0.45)
    for y in range(size):
        t = y / max(size - 1, 1)
        colour = tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        draw.line([(0, y), (size, y)], fill=colour)
    for _ in range(7):
        x0, y0 = rng.uniform(0, size * 0.8), rng.uniform(0, size * 0.8)
        w, h = rng.uniform(size * 0.1, size * 0.4), rng.uniform(size * 0.1, size * 0.4)
        # Shapes stay near the tile's own hue so each quadrant's average colour stays its own
        # (contrasting shapes averaged every tile towards grey).
        fill = _rgb(hue + rng.uniform(-0.08, 0.08), rng.uniform(0.3, 1.0), rng.uniform(0.3, 1.0))
        box = (x0, y0, x0 + w, y0 + h)
        if rng.random() < 0.5:
            draw.ellipse(box, fill=fill, outline=(255, 255, 255), width=max(size // 128, 1))
        else:
            draw.rectangle(box, fill=fill)
    number = str(quadrant + 1)
    draw.text((size * 0.06, size * 0.04), number, fill=(255, 255, 255), font=_font(size // 5))
    caption = prompt.strip()[:36] or "midjourney sandbox"
    draw.text((size * 0.06, size * 0.9), caption, fill=(255, 255, 255), font=_font(size // 22))
    return image


def compose(tiles: Sequence[Image.Image]) -> Image.Image:
    """Four tiles as a 2x2 grid (1 2 / 3 4), as Midjourney lays them out."""
    grid = Image.new("RGB", (GRID, GRID))
    for i, part in enumerate(tiles[:4]):
        grid.paste(part.resize((TILE, TILE)), ((i % 2) * TILE, (i // 2) * TILE))
    return grid


def imagine(prompt: str, seed: int, references: Sequence[Image.Image] = ()) -> Image.Image:
    tiles = [tile(prompt, seed, q) for q in range(4)]
    for part in tiles if references else ():
        thumb = ImageOps.fit(references[0].convert("RGB"), (TILE // 4, TILE // 4))
        part.paste(thumb, (TILE - TILE // 4 - 8, 8))
    return compose(tiles)


def quadrant(grid: Image.Image, index: int) -> Image.Image:
    """Tile ``index`` (1..4) of a grid; any single image is cut the same way."""
    w, h = grid.size
    col, row = (index - 1) % 2, (index - 1) // 2
    return grid.crop((col * w // 2, row * h // 2, (col + 1) * w // 2, (row + 1) * h // 2))


def upscale(grid: Image.Image, index: int, size: int = GRID) -> Image.Image:
    return quadrant(grid, index).resize((size, size), Image.Resampling.LANCZOS)


def variations(source: Image.Image, seed: int, strength: float = 0.5) -> Image.Image:
    """Four variants of ``source``: mirrored, shifted in hue, with shapes of their own."""
    base = source.convert("RGB").resize((TILE, TILE))
    tiles = []
    for k in range(4):
        rng = _rng("variation", seed, k)
        part = base.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if k % 2 else base.copy()
        overlay = tile("", seed + k * 7919, k, TILE)
        part = Image.blend(part, overlay, min(0.9, strength * rng.uniform(0.4, 0.8)))
        tiles.append(part)
    return compose(tiles)


def zoom_out(source: Image.Image, factor: float, seed: int) -> Image.Image:
    """Four zoomed-out frames: the source shrunk by ``factor`` amid new surroundings."""
    factor = min(max(factor, 1.0), 2.0)
    inner = int(TILE / factor)
    small = source.convert("RGB").resize((inner, inner), Image.Resampling.LANCZOS)
    tiles = []
    for k in range(4):
        frame = tile("", seed + k, k, TILE)
        offset = (TILE - inner) // 2
        frame.paste(small, (offset, offset))
        tiles.append(frame)
    return compose(tiles)


def pan(source: Image.Image, direction: str, seed: int) -> Image.Image:
    """Four frames of the source moved a third towards ``direction``, the gap drawn anew."""
    dx, dy = _PAN_SHIFT.get(direction, (1, 0))
    shift = TILE // 3
    moved = source.convert("RGB").resize((TILE, TILE))
    tiles = []
    for k in range(4):
        frame = tile("", seed + k, k, TILE)
        frame.paste(moved, (-dx * shift, -dy * shift))
        tiles.append(frame)
    return compose(tiles)


def blend(images: Sequence[Image.Image], dimensions: str) -> Image.Image:
    """One picture, the average of the inputs fitted to the blend's dimensions."""
    size = BLEND_SIZES.get(dimensions, BLEND_SIZES["SQUARE"])
    result: Image.Image | None = None
    for n, image in enumerate(images, start=1):
        fitted = ImageOps.fit(image.convert("RGB"), size, Image.Resampling.LANCZOS)
        result = fitted if result is None else Image.blend(result, fitted, 1.0 / n)
    return result if result is not None else Image.new("RGB", size)


def _colour_name(rgb: Sequence[float]) -> str:
    def distance(item: tuple[str, tuple[int, int, int]]) -> float:
        return sum((a - b) ** 2 for a, b in zip(rgb, item[1], strict=False))

    return min(_COLOUR_NAMES.items(), key=distance)[0]


def describe(image: Image.Image) -> list[str]:
    """Four prompts that fit the picture: its colours, light, shape and size."""
    rgb = image.convert("RGB")
    w, h = rgb.size
    palette = rgb.resize((64, 64)).quantize(colors=3).convert("RGB")
    counted: list[tuple[int, tuple[int, int, int]]] = palette.getcolors(64 * 64) or []  # type: ignore[assignment]
    colours = sorted(counted, reverse=True)
    names = list(dict.fromkeys(_colour_name(c[1]) for c in colours)) or ["grey"]
    light = "bright" if ImageStat.Stat(rgb.convert("L")).mean[0] > 128 else "dark"
    shape = "square" if abs(w - h) < max(w, h) * 0.05 else ("portrait" if h > w else "landscape")
    ratio = f"--ar {w // _gcd(w, h)}:{h // _gcd(w, h)}"
    main = names[0]
    others = " and ".join(names[1:]) or main
    return [
        f"a {light} {shape} composition in {main} and {others} tones, soft gradients {ratio}",
        f"abstract shapes over a {main} background, flat illustration, {light} light {ratio}",
        f"minimalist {shape} poster, {others} accents, clean geometric forms {ratio}",
        f"{light} digital painting dominated by {main}, layered circles and panels {ratio}",
    ]


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return max(a, 1)


def shorten(prompt: str) -> list[str]:
    """Five shorter forms of a prompt: its words of weight, fewer each time."""
    stop = {"a", "an", "the", "of", "and", "with", "in", "on", "at", "to", "very", "is", "by"}
    words = [w for w in prompt.replace(",", " ").split() if w.lower() not in stop]
    words = words or prompt.split() or ["image"]
    return [" ".join(words[: max(1, len(words) - k * max(1, len(words) // 6))]) for k in range(5)]


def open_image(data: bytes) -> Image.Image:
    """Decode uploaded image bytes; ``ValueError`` for anything Pillow cannot read."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, Image.DecompressionBombError, SyntaxError) as exc:
        raise ValueError(f"not an image: {exc}") from exc
    return image


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=3)
    return out.getvalue()
