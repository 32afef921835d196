"""Suno, Ideogram and Flux wire formats and the image translations, offline."""

from __future__ import annotations

import msgspec
import pytest

from omnirelay.errors import InvalidRequest
from omnirelay.formats import flux, ideogram, kling, multipart, suno
from omnirelay.formats.audio import mp3_duration
from omnirelay.formats.imagegen import ImageJob, nearest_ratio, parse_size
from omnirelay.sandbox import media
from omnirelay.tasks.model import TaskStatus
from tests.support.suno import mp3_check


def _locs(problems: list[dict[str, object]]) -> list[str]:
    return [str(p["loc"][-1]) for p in problems]  # type: ignore[index]


def test_flux_validates_as_bfl_does() -> None:
    pro = flux.MODELS["flux-pro-1.1"]
    assert flux.validate(pro, {"prompt": "x", "width": 1024, "height": 768}) == []
    assert _locs(flux.validate(pro, {"prompt": "x", "width": 1000})) == ["width"]
    assert _locs(flux.validate(pro, {"prompt": "x", "height": 1472})) == ["height"]
    assert _locs(flux.validate(pro, {"prompt": "x", "width": 224})) == ["width"]
    assert _locs(flux.validate(pro, {})) == ["prompt"]
    assert _locs(flux.validate(pro, {"prompt": "x", "safety_tolerance": 7})) == ["safety_tolerance"]
    assert _locs(flux.validate(pro, {"prompt": "x", "output_format": "gif"})) == ["output_format"]
    ultra = flux.MODELS["flux-pro-1.1-ultra"]
    assert flux.validate(ultra, {"prompt": "x", "aspect_ratio": "21:9"}) == []
    assert _locs(flux.validate(ultra, {"prompt": "x", "aspect_ratio": "3:1"})) == ["aspect_ratio"]
    assert flux.output_size(ultra, {"aspect_ratio": "1:1"}) == (2048, 2048)


def _flux_body(model: str, size: str | None) -> dict[str, object]:
    job = ImageJob("p", model, parse_size(size))
    return dict(msgspec.json.decode(flux.IMAGE_CODEC.task_body(job)))


def test_flux_translation_of_openai_sizes() -> None:
    assert _flux_body("flux-pro-1.1", "1024x1024")["width"] == 1024
    wide = _flux_body("flux-pro-1.1", "1792x1024")
    assert (wide["width"], wide["height"]) == (1440, 832)
    assert "width" not in _flux_body("flux-pro-1.1", None)
    assert _flux_body("flux-kontext-pro", "1024x1792")["aspect_ratio"] == "4:7"
    assert _flux_body("flux-dev", "auto")["output_format"] == "png"
    for model, size in (("flux-pro-1.1", "4000x300"), ("flux-pro-1.1-ultra", "3000x1000")):
        with pytest.raises(InvalidRequest) as refused:
            _flux_body(model, size)
        assert refused.value.param == "size" and "1024x1024" in refused.value.message


def test_ideogram_legacy_rules() -> None:
    _, generation = ideogram.check_legacy(
        b'{"image_request": {"prompt": "x", "model": "V_2_TURBO", "resolution": "RESOLUTION_1216_832"}}'
    )
    assert generation == ideogram.Generation("ideogram-v2-turbo", 1, (1216, 832))
    _, by_ratio = ideogram.check_legacy(
        b'{"image_request": {"prompt": "x", "aspect_ratio": "ASPECT_3_1"}}'
    )
    assert by_ratio.size == (1536, 512) and by_ratio.model == "ideogram-v2"
    with pytest.raises(InvalidRequest, match=r"image_request\.num_images"):
        ideogram.check_legacy(b'{"image_request": {"prompt": "x", "num_images": "two"}}')


def test_ideogram_v3_form_and_translation() -> None:
    body, content_type = multipart.encode_form(
        [multipart.Part("prompt", b"x"), multipart.Part("rendering_speed", b"QUALITY")]
    )
    generation = ideogram.check_v3(ideogram.v3_fields(body, content_type))
    assert generation.model == "ideogram-v3-quality" and generation.size == (1024, 1024)
    request, kind = ideogram.IMAGE_CODEC.request(
        ImageJob("x", "ideogram-v3-turbo", (1792, 1024)), 3
    )
    fields = {p.name: p.data for p in multipart.parse_form(request, kind)}
    assert fields["aspect_ratio"] == b"16x9" and fields["rendering_speed"] == b"TURBO"
    assert fields["num_images"] == b"3"
    legacy, _ = ideogram.IMAGE_CODEC.request(ImageJob("x", "ideogram-v2a", (1280, 768)), 1)
    assert msgspec.json.decode(legacy)["image_request"] == {
        "prompt": "x",
        "num_images": 1,
        "resolution": "RESOLUTION_1280_768",
        "model": "V_2A",
    }
    v1, _ = ideogram.IMAGE_CODEC.request(ImageJob("x", "ideogram-v1", (1280, 800)), 1)
    # V_1 takes aspect ratios only.
    assert msgspec.json.decode(v1)["image_request"]["aspect_ratio"] == "ASPECT_16_10"


def test_kling_image_translation() -> None:
    body = msgspec.json.decode(kling.IMAGE_CODEC.task_body(ImageJob("x", "kling-v1", (1536, 1024))))
    assert body == {"model_name": "kling-v1", "prompt": "x", "n": 1, "aspect_ratio": "3:2"}


def test_sizes_and_ratios() -> None:
    assert parse_size("auto") is None and parse_size("512x256") == (512, 256)
    with pytest.raises(InvalidRequest):
        parse_size("512*256")
    assert nearest_ratio((1792, 1024), {"16:9": (16, 9), "1:1": (1, 1)}) == "16:9"
    assert nearest_ratio((1000, 100), {"16:9": (16, 9)}) is None


def test_suno_upstream_tasks_become_updates() -> None:
    running = suno.read_update(
        suno.UpstreamTask(
            task_id="t", status="IN_PROGRESS", data=[{"id": "c", "status": "streaming"}]
        )
    )
    assert running.status is TaskStatus.RUNNING and running.result == {
        "clips": [{"id": "c", "status": "streaming"}]
    }
    done = suno.read_update(suno.UpstreamTask(task_id="t", status="SUCCESS", data={"text": "la"}))
    assert done.status is TaskStatus.SUCCEEDED and done.result == {"lyrics": {"text": "la"}}
    failed = suno.read_update(suno.UpstreamTask(task_id="t", status="FAILURE", fail_reason="no"))
    assert failed.status is TaskStatus.FAILED and failed.failure == "no"
    assert (
        suno.read_update(suno.UpstreamTask(task_id="t", status="UNKNOWN")).status
        is TaskStatus.FAILED
    )
    queued = suno.read_update(suno.UpstreamTask(task_id="t", status="QUEUED", progress="12%"))
    assert queued.status is TaskStatus.QUEUED and queued.progress == 12


def test_mp3_duration_agrees_with_an_independent_frame_walk() -> None:
    data = media.mp3_bytes(media.tone_samples("one two three four five six"))
    assert mp3_duration(data) == pytest.approx(mp3_check(data))
    assert mp3_duration(b"not audio") is None
