"""Genuine pictures of any size and format (PNG, JPEG, WebP), drawn with Pillow.

A picture is a gradient and a few shapes whose colours and places derive from its seed (the
prompt), with the seed's first words written on it: deterministic, and visibly different per
prompt. Drawing is CPU work: call these through ``asyncio.to_thread``.
"""

from __future__ import annotations

import hashlib
import io

from PIL import Image, ImageDraw

FORMATS = {
    "png": ("PNG", "image/png"),
    "jpeg": ("JPEG", "image/jpeg"),
    "webp": ("WEBP", "image/webp"),
}


def picture(width: int, height: int, seed: str, fmt: str = "png") -> bytes:
    digest = hashlib.sha256(seed.encode()).digest()
    top, bottom = digest[0:3], digest[3:6]
    gradient = Image.linear_gradient("L").resize((width, height))
    image = Image.composite(
        Image.new("RGB", (width, height), tuple(bottom)),
        Image.new("RGB", (width, height), tuple(top)),
        gradient,
    )
    draw = ImageDraw.Draw(image)
    for i in range(4):
        chunk = digest[6 + i * 6 : 12 + i * 6]
        x, y = chunk[0] * width // 256, chunk[1] * height // 256
        radius = max(4, min(width, height) * (chunk[2] % 64 + 16) // 512)
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=tuple(chunk[3:6]))
    draw.text((8, 8), " ".join(seed.split()[:6])[:60], fill=(255, 255, 255))
    out = io.BytesIO()
    kind, _ = FORMATS[fmt]
    image.save(out, format=kind, **({"quality": 85} if kind != "PNG" else {}))
    return out.getvalue()


def content_type(fmt: str) -> str:
    return FORMATS[fmt][1]
