"""Genuine MP4 files (H.264 in an MP4 container) made from nothing, for the Kling sandbox.

Encoding uses PyAV (FFmpeg's libraries, shipped in the ``av`` wheel). It is CPU work: call
``mp4_bytes`` through ``asyncio.to_thread``.
"""

from __future__ import annotations

import hashlib
import io

import av

FPS = 8


def mp4_bytes(width: int, height: int, seconds: int, seed: str) -> bytes:
    """A playable ``seconds``-long clip: a colour field from ``seed`` with a moving bar."""
    digest = hashlib.sha256(seed.encode()).digest()
    base, bar = digest[:3], bytes(b ^ 0xFF for b in digest[3:6])
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "30"}
        frames = seconds * FPS
        bar_width = max(width // 8, 2)
        for i in range(frames):
            frame = av.VideoFrame(width, height, "rgb24")
            plane = frame.planes[0]
            x = (i * (width - bar_width)) // max(frames - 1, 1)
            row = base * x + bar * bar_width + base * (width - x - bar_width)
            row += bytes(plane.line_size - len(row))  # rows are padded to the plane's stride
            plane.update(row * height)
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()
