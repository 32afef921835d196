"""Callback URLs are judged at submission: a refused one is a 400 naming the field, in the
surface's own error format, before anything is charged or sent (issue 14's opening case).

The test gateway admits 127.0.0.1 (its webhook receivers); every other address here is refused
by the guard, and the network fence would stop a request that slipped through anyway.
"""

from __future__ import annotations

import httpx
import pytest

from tests.support import kling, midjourney, suno
from tests.support.servers import GatewayProcess

REFUSED = [
    "http://169.254.169.254/latest/meta-data",
    "http://[::ffff:a9fe:a9fe]/latest/meta-data",
    "http://10.0.0.1/hook",
    "http://127.0.0.2:9/hook",  # loopback, but not the address the tests allow
    "http://0x7f000001:9/hook",
    "http://localhost:9/hook",
    "http://[::1]:9/hook",
]


@pytest.mark.parametrize("url", REFUSED)
def test_kling_refuses_the_callback_url_with_code_1201(gateway: GatewayProcess, url: str) -> None:
    key, key_id = gateway.create_key("ssrf-kling", quota_usd=5)
    response = kling.post(
        gateway, kling.TEXT2VIDEO, key, {"prompt": "a harbour", "callback_url": url}
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == 1201 and body["message"].startswith("callback_url: "), body
    assert "request_id" in body
    listed = kling.get(gateway, kling.TEXT2VIDEO, key).json()["data"]
    assert listed == []  # no task
    assert gateway.key_info(key_id)["quota_remaining_micro_usd"] == 5_000_000  # nothing held


def test_midjourney_refuses_the_notify_hook_with_code_4(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("ssrf-mj", quota_usd=5)
    response = midjourney.post(
        gateway,
        "/mj/submit/imagine",
        key,
        {"prompt": "lanterns", "notifyHook": "http://169.254.169.254/latest/meta-data"},
    )
    body = response.json()
    # midjourney-proxy answers every submission with HTTP 200 and a code; 4 is its 400.
    assert response.status_code == 200 and body["code"] == 4, body
    assert body["description"].startswith("notifyHook: ") and "link-local" in body["description"]
    assert body["result"] is None
    assert gateway.key_info(key_id)["quota_remaining_micro_usd"] == 5_000_000


def test_suno_refuses_the_notify_hook_with_its_word(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("ssrf-suno", quota_usd=5)
    response = suno.post(
        gateway,
        "/suno/submit/music",
        key,
        {"gpt_description_prompt": "ocean", "notify_hook": "http://192.168.0.10/hook"},
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "invalid_request" and body["message"].startswith("notify_hook: ")
    assert gateway.key_info(key_id)["quota_remaining_micro_usd"] == 5_000_000


def test_the_image_proxy_serves_media_never_a_page(gateway: GatewayProcess) -> None:
    """Result files come from the vendor through the guard and are served from the gateway's
    own origin: with a policy that no page can run under."""
    key, _ = gateway.create_key("proxy-headers", quota_usd=5)
    task_id = midjourney.submit(gateway, "/mj/submit/imagine", key, {"prompt": "a quiet pier"})
    task = midjourney.wait_task(gateway, key, task_id)
    image = httpx.get(task["imageUrl"], timeout=30)
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"
    assert "sandbox" in image.headers["Content-Security-Policy"]
    assert image.headers["X-Content-Type-Options"] == "nosniff"
