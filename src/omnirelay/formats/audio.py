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


# MPEG audio Layer III: kbit/s by bitrate index (MPEG-1; MPEG-2 and 2.5), sample rates by index.
_MP3_BITRATES = {
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def mp3_frames(data: bytes) -> list[tuple[int, int, int]]:
    """The Layer III frames of an MP3 file as (offset, length, sample rate), walked header by
    header from the first sync word (after an ID3v2 tag); stops at the first broken header."""
    offset = 0
    if data[:3] == b"ID3" and len(data) >= 10:
        size = data[6] << 21 | data[7] << 14 | data[8] << 7 | data[9]
        offset = 10 + size
    frames: list[tuple[int, int, int]] = []
    while offset + 4 <= len(data):
        (header,) = struct.unpack_from(">I", data, offset)
        version, layer = (header >> 19) & 3, (header >> 17) & 3
        bitrate_index, rate_index = (header >> 12) & 15, (header >> 10) & 3
        if header >> 21 != 0x7FF or layer != 1 or version == 1 or rate_index == 3:
            break
        if bitrate_index in (0, 15):
            break
        rate = _MP3_RATES[version][rate_index]
        kbps = _MP3_BITRATES[1 if version == 3 else 2][bitrate_index]
        per_frame = 144 if version == 3 else 72
        length = per_frame * kbps * 1000 // rate + ((header >> 9) & 1)
        frames.append((offset, length, rate))
        offset += length
    return frames


def mp3_duration(data: bytes) -> float | None:
    """Seconds of audio in an MP3 file (frames times samples a frame), or None if not an MP3."""
    frames = mp3_frames(data)
    if not frames:
        return None
    rate = frames[0][2]
    samples = 1152 if rate >= 32000 else 576
    return len(frames) * samples / rate
