"""The official openai SDK against a live gateway: every non-chat endpoint."""

from __future__ import annotations

import base64
import io
import math
import struct
import warnings
from collections.abc import Iterator

import httpx
import openai
import pytest

from omnirelay.sandbox import media
from tests.support.servers import GatewayProcess


@pytest.fixture
def client(gateway: GatewayProcess) -> Iterator[openai.OpenAI]:
    key, _ = gateway.create_key("endpoint-tests")
    with openai.OpenAI(base_url=gateway.v1, api_key=key, max_retries=0) as sdk:
        yield sdk


def test_legacy_completions(client: openai.OpenAI) -> None:
    completion = client.completions.create(
        model="gpt-3.5-turbo-instruct", prompt="Say this", max_tokens=20
    )
    assert completion.object == "text_completion"
    assert completion.choices[0].text == " You said: Say this"
    assert completion.usage is not None and completion.usage.completion_tokens == 4

    streamed = client.completions.create(
        model="gpt-3.5-turbo-instruct", prompt="Say this", max_tokens=20, stream=True
    )
    text = "".join(chunk.choices[0].text for chunk in streamed if chunk.choices)
    assert text == " You said: Say this"


def test_embeddings_base64_default_and_float(client: openai.OpenAI) -> None:
    # The SDK asks for base64 unless told otherwise and decodes it itself.
    default = client.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta"])
    assert [d.index for d in default.data] == [0, 1]
    vector = default.data[0].embedding
    assert len(vector) == 1536
    assert math.isclose(sum(v * v for v in vector), 1.0, rel_tol=1e-5)

    floats = client.embeddings.create(
        model="text-embedding-3-small", input="alpha", encoding_format="float", dimensions=64
    )
    assert len(floats.data[0].embedding) == 64
    again = client.embeddings.create(
        model="text-embedding-3-small", input="alpha", encoding_format="float", dimensions=64
    )
    assert floats.data[0].embedding == again.data[0].embedding
    assert floats.usage.prompt_tokens == 1


def test_speech_wav_and_mp3_are_real_audio(client: openai.OpenAI) -> None:
    wav = client.audio.speech.create(
        model="tts-1", voice="alloy", input="hello there world", response_format="wav"
    ).content
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"
    (rate,) = struct.unpack_from("<I", wav, 24)
    assert rate == media.SAMPLE_RATE
    mp3 = client.audio.speech.create(model="tts-1", voice="alloy", input="hello there").content
    # An MPEG audio frame starts with 11 set sync bits (LAME writes no ID3 tag here).
    assert mp3[0] == 0xFF and mp3[1] & 0xE0 == 0xE0
    assert len(mp3) > 1000


def test_transcription_and_translation(client: openai.OpenAI) -> None:
    audio = media.wav_bytes(media.tone_samples("one two three four five"))
    seconds = (len(audio) - 44) / (media.SAMPLE_RATE * 2)
    result = client.audio.transcriptions.create(
        model="whisper-1", file=("speech.wav", io.BytesIO(audio), "audio/wav")
    )
    assert result.text == f"Sandbox transcribe of speech.wav: {seconds:.1f} seconds of audio."
    text = client.audio.transcriptions.create(
        model="whisper-1", file=("speech.wav", io.BytesIO(audio)), response_format="text"
    )
    assert "seconds of audio" in str(text)
    verbose = client.audio.transcriptions.create(
        model="whisper-1",
        file=("speech.wav", io.BytesIO(audio)),
        response_format="verbose_json",
    )
    assert verbose.duration == pytest.approx(seconds, abs=0.01)
    with warnings.catch_warnings():
        # The SDK marks translations deprecated; the endpoint is still served and relayed.
        warnings.simplefilter("ignore", DeprecationWarning)
        translated = client.audio.translations.create(
            model="whisper-1", file=("speech.wav", io.BytesIO(audio))
        )
    assert translated.text.startswith("Sandbox translate of speech.wav")


def test_images_url_and_b64(client: openai.OpenAI) -> None:
    by_url = client.images.generate(model="dall-e-3", prompt="a red fox", size="1024x1024")
    assert by_url.data is not None
    url = by_url.data[0].url
    assert url and by_url.data[0].revised_prompt == "a red fox"
    png = httpx.get(url).content
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (1024, 1024)

    inline = client.images.generate(
        model="dall-e-2", prompt="a fox", n=2, size="256x256", response_format="b64_json"
    )
    assert inline.data is not None and len(inline.data) == 2
    assert base64.b64decode(inline.data[0].b64_json or "").startswith(b"\x89PNG")


def test_dalle3_rejects_n_above_one(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="dall-e-3", prompt="x", n=2)
    assert "n=1" in caught.value.message


def test_models_list_respects_the_allow_list(gateway: GatewayProcess) -> None:
    key, _ = gateway.create_key("limited", models=["gpt-4o-mini", "whisper-1"])
    with openai.OpenAI(base_url=gateway.v1, api_key=key, max_retries=0) as sdk:
        names = [m.id for m in sdk.models.list()]
        assert names == ["gpt-4o-mini", "whisper-1"]
        assert sdk.models.retrieve("whisper-1").id == "whisper-1"
        with pytest.raises(openai.NotFoundError):
            sdk.models.retrieve("gpt-4o")
    key, _ = gateway.create_key("open")
    with openai.OpenAI(base_url=gateway.v1, api_key=key, max_retries=0) as sdk:
        names = [m.id for m in sdk.models.list()]
    for expected in (
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-3.5-turbo-instruct",
        "text-embedding-3-small",
        "tts-1",
        "whisper-1",
        "dall-e-3",
    ):
        assert expected in names
