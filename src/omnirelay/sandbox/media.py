"""Genuine media files made from nothing: WAV and MP3 audio, PNG images."""

from __future__ import annotations

import hashlib
import math
import struct
import zlib
from array import array

import lameenc

SAMPLE_RATE = 24_000


def tone_samples(text: str, *, seconds: float | None = None, speed: float = 1.0) -> array[int]:
    """16-bit mono PCM: one short tone per word, pitched by the word, so speech 'sounds' like
    its text and is deterministic. About 0.3 s a word at speed 1."""
    words = text.split() or ["…"]
    word_len = int(SAMPLE_RATE * 0.3 / max(speed, 0.25))
    samples = array("h")
    for word in words:
        pitch = 180 + int(hashlib.sha256(word.encode()).digest()[0]) * 2
        step = 2 * math.pi * pitch / SAMPLE_RATE
        fade = max(word_len // 10, 1)
        for i in range(word_len):
            envelope = min(1.0, i / fade, (word_len - i) / fade)
            samples.append(int(9000 * envelope * math.sin(step * i)))
    if seconds is not None:
        wanted = int(seconds * SAMPLE_RATE)
        samples = (
            samples[:wanted]
            if len(samples) >= wanted
            else samples + array("h", bytes(2 * (wanted - len(samples))))
        )
    return samples


def pcm_bytes(samples: array[int]) -> bytes:
    return samples.tobytes()


def wav_bytes(samples: array[int], rate: int = SAMPLE_RATE) -> bytes:
    pcm = samples.tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVE"
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    return header + fmt + b"data" + struct.pack("<I", len(pcm)) + pcm


def mp3_bytes(samples: array[int], rate: int = SAMPLE_RATE) -> bytes:
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(64)
    encoder.set_in_sample_rate(rate)
    encoder.set_channels(1)
    encoder.set_quality(7)
    return bytes(encoder.encode(samples.tobytes()) + encoder.flush())


def png_bytes(width: int, height: int, seed: str) -> bytes:
    """A gradient PNG whose colours derive from ``seed`` (the prompt)."""
    digest = hashlib.sha256(seed.encode()).digest()
    r0, g0, b0, r1, g1, b1 = digest[:6]
    rows = []
    for y in range(height):
        t = y / max(height - 1, 1)
        pixel = bytes((int(r0 + (r1 - r0) * t), int(g0 + (g1 - g0) * t), int(b0 + (b1 - b0) * t)))
        rows.append(b"\x00" + pixel * width)
    raw = b"".join(rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )
