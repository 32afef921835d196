"""Audio facts the gateway needs for billing, read from the bytes themselves."""

from __future__ import annotations

import struct

# Without a header to read, assume 128 kbit/s, the common rate of speech MP3s.
_FALLBACK_BYTES_PER_SECOND = 16_000


def wav_duration(data: bytes) -> float | None:
    """Seconds of audio in a RIFF/WAVE file, or None if ``data`` is not one."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    offset = 12
    byte_rate = 0
    while offset + 8 <= len(data):
        chunk_id = data[offset : offset + 4]
        (size,) = struct.unpack_from("<I", data, offset + 4)
        if chunk_id == b"fmt " and size >= 16:
            byte_rate = int(struct.unpack_from("<I", data, offset + 16)[0])
        elif chunk_id == b"data":
            if byte_rate == 0:
                return None
            return float(min(size, len(data) - offset - 8) / byte_rate)
        offset += 8 + size + (size & 1)
    return None


def estimate_duration(data: bytes) -> float:
    """Best estimate of an upload's length in seconds (exact for WAV)."""
    exact = wav_duration(data)
    if exact is not None:
        return exact
    return len(data) / _FALLBACK_BYTES_PER_SECOND
