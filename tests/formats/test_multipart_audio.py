from __future__ import annotations

import pytest

from omnirelay.formats import multipart
from omnirelay.formats.audio import estimate_duration, wav_duration
from omnirelay.sandbox import media


def test_round_trip() -> None:
    parts = [
        multipart.Part("model", b"whisper-1"),
        multipart.Part("file", b"\x00\x01binary\r\n--x", "a.wav", "audio/wav"),
    ]
    body, content_type = multipart.encode_form(parts)
    parsed = multipart.parse_form(body, content_type)
    assert parsed == parts
    assert multipart.field(parsed, "model") == "whisper-1"
    assert multipart.field(parsed, "file") is None


def test_not_multipart() -> None:
    with pytest.raises(ValueError, match="multipart"):
        multipart.parse_form(b"{}", "application/json")


def test_wav_duration_is_exact() -> None:
    wav = media.wav_bytes(media.tone_samples("x", seconds=2.5))
    assert wav_duration(wav) == pytest.approx(2.5)
    assert wav_duration(b"not a wav") is None
    assert estimate_duration(b"\xff" * 32_000) == 2.0
