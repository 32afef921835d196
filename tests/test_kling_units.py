"""Offline units: the Kling JWT, its error codes, validation rules, image sniffing, signatures."""

from __future__ import annotations

import base64
import struct
import time

import httpx
import jwt
import pytest

from omnirelay.channels import Channel
from omnirelay.errors import (
    InvalidRequest,
    NotFound,
    PermissionDenied,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from omnirelay.formats import kling
from omnirelay.formats.images import sniff
from omnirelay.sandbox import media
from omnirelay.tasks.webhooks import sign, verify
from omnirelay.vendors.kling import KlingVendor, map_kling_error, mint_token, split_credential
from tests.support.servers import GatewayProcess

SECRET = "SK456-0123456789abcdef0123456789"


def _channel(
    secret: str = "AK123:SK456-0123456789abcdef0123456789", channel_id: int = 1
) -> Channel:
    return Channel(
        id=channel_id,
        name="k",
        vendor="kling",
        base_url="http://x",
        secret=secret,
        models=frozenset({"kling-v1"}),
        model_map={},
    )


def test_jwt_has_the_documented_header_and_claims() -> None:
    now = 1_700_000_000.0
    token = mint_token("AK123", SECRET, now)
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    relaxed = {"verify_exp": False, "verify_nbf": False}
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], options=relaxed)
    assert claims == {"iss": "AK123", "exp": int(now) + 1800, "nbf": int(now) - 5}
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            token,
            "wrong-0123456789abcdef0123456789abc",
            algorithms=["HS256"],
            options={"verify_exp": False},
        )


def test_jwt_is_cached_until_shortly_before_expiry() -> None:
    clock = [1_700_000_000.0]
    vendor = KlingVendor(clock=lambda: clock[0])
    first = vendor.token(_channel())
    clock[0] += 1000  # 800 s left: still good
    assert vendor.token(_channel()) == first
    clock[0] += 600  # 200 s left: renewed
    renewed = vendor.token(_channel())
    assert renewed != first
    # A changed credential gets a new token at once.
    assert vendor.token(_channel("AK123:OTHER-0123456789abcdef0123456789")) != renewed


@pytest.mark.parametrize("secret", ["nocolon", ":SK", "AK:"])
def test_a_kling_channel_secret_must_be_a_pair(secret: str) -> None:
    with pytest.raises(UpstreamError, match="ACCESS_KEY:SECRET_KEY"):
        split_credential(secret)


@pytest.mark.parametrize(
    ("status", "code", "kind", "ours"),
    [
        (401, 1002, UpstreamError, "upstream_auth_failed"),
        (401, 1004, UpstreamError, "upstream_auth_failed"),
        (429, 1102, UpstreamError, "upstream_account"),
        (403, 1103, PermissionDenied, "1103"),
        (400, 1201, InvalidRequest, "1201"),
        (404, 1203, NotFound, "1203"),
        (400, 1301, InvalidRequest, "1301"),
        (429, 1302, RateLimited, "1302"),
        (504, 5002, UpstreamTimeout, "upstream_timeout"),
        (500, 5000, UpstreamError, "upstream_error"),
    ],
)
def test_upstream_codes_map_onto_our_errors(status: int, code: int, kind: type, ours: str) -> None:
    error = map_kling_error(status, code, "secret-bearing upstream text")
    assert type(error) is kind
    assert error.code == ours
    if ours == "upstream_auth_failed":
        assert "secret-bearing" not in error.message


def _jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + bytes(9)
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


def test_image_sniffing() -> None:
    png = sniff(media.png_bytes(320, 400, "x"))
    assert png is not None and (png.format, png.width, png.height) == ("png", 320, 400)
    jpeg = sniff(_jpeg(640, 480))
    assert jpeg is not None and (jpeg.format, jpeg.width, jpeg.height) == ("jpeg", 640, 480)
    assert sniff(b"GIF89a....") is None
    assert sniff(b"\xff\xd8\xff") is None


def test_base64_jpeg_within_limits_is_accepted() -> None:
    kling.check_image("image", base64.b64encode(_jpeg(400, 900)).decode())
    with pytest.raises(InvalidRequest, match="aspect ratio"):
        kling.check_image("image", base64.b64encode(_jpeg(300, 900)).decode())


def test_validation_accepts_every_camera_type_and_defaults() -> None:
    for camera in ("down_back", "forward_up", "right_turn_forward", "left_turn_forward"):
        body = f'{{"prompt": "p", "camera_control": {{"type": "{camera}"}}}}'.encode()
        request = kling.decode(body, kling.VideoRequest)
        kling.check_video(request, kling.TEXT2VIDEO, ["kling-v1"])
    request = kling.decode(b'{"prompt": "p", "cfg_scale": 0}', kling.VideoRequest)
    kling.check_video(request, kling.TEXT2VIDEO, ["kling-v1"])
    assert request.model_name == "kling-v1"


def test_upstream_body_drops_what_the_gateway_handles() -> None:
    body = b'{"prompt": "p", "callback_url": "https://me", "external_task_id": "x", "extra": 1}'
    assert kling.upstream_body(body) == b'{"prompt":"p","extra":1}'


def test_webhook_signature_round_trip() -> None:
    now = int(time.time())
    header = sign(b"k" * 64, b"{}", now)
    assert header.startswith(f"t={now},v1=")
    assert verify(b"k" * 64, b"{}", header)
    assert not verify(b"k" * 64, b"{ }", header)
    assert not verify(b"other", b"{}", header)
    assert not verify(b"k" * 64, b"{}", sign(b"k" * 64, b"{}", now - 3600))  # too old: a replay


def _sandbox_post(gateway: GatewayProcess, token: str | None) -> httpx.Response:
    headers = (
        {"Authorization": f"Bearer {token}" if token else "Bearer"} if token is not None else {}
    )
    return httpx.post(
        gateway.sandbox_url + "/kling/v1/videos/text2video", json={"prompt": "p"}, headers=headers
    )


def test_sandbox_checks_the_jwt_like_kling(gateway: GatewayProcess) -> None:
    access, secret = "ak-sandbox-kling", "sk-sandbox-kling-secret-0123456789abcdef"
    now = int(time.time())

    def token(key: str = secret, **claims: object) -> str:
        values = {"iss": access, "exp": now + 1800, "nbf": now - 5, **claims}
        return jwt.encode(values, key, algorithm="HS256")

    assert _sandbox_post(gateway, token()).json()["code"] == 0
    cases = [
        (None, 1001),
        ("", 1001),
        ("not.a.jwt", 1002),
        (token(key="wrong-secret-0123456789abcdef0123456789"), 1002),
        (token(exp=now - 10), 1004),
        (token(nbf=now + 600), 1003),
        (token(iss="someone-else"), 1000),
    ]
    for bad, code in cases:
        response = _sandbox_post(gateway, bad)
        assert response.status_code == 401, (bad, response.text)
        assert response.json()["code"] == code, (bad, response.json())
