"""The web console in a real headless Chromium, against a live gateway."""

from __future__ import annotations

import glob
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support.servers import GatewayProcess

# The flags a sandboxed, offline machine needs (no GPU, no background network chatter).
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    bundled = glob.glob(str(Path.home() / ".cache/ms-playwright/chromium-*/chrome-linux/chrome"))
    if bundled:
        return bundled[0]
    raise RuntimeError("Chromium is not installed: run 'make test', which installs it")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


def test_console_manages_keys_channels_models_and_usage(
    gateway: GatewayProcess, page: Page, tmp_path: Path
) -> None:
    page.goto(gateway.url + "/")
    expect(page).to_have_url(gateway.url + "/console/")
    page.fill("#admin-key", gateway.admin_key)
    page.click("#login-form button")
    expect(page.locator("#keys-body")).to_contain_text("admin")

    page.fill("#key-form input[name=name]", "console-made")
    page.fill("#key-form input[name=quota_usd]", "2")
    page.fill("#key-form input[name=models]", "gpt-4o-mini")
    page.click("#key-form button")
    expect(page.locator("#new-key")).to_contain_text("sk-or-")
    row = page.locator("#keys-body tr", has_text="console-made")
    expect(row).to_contain_text("$2.000000")
    expect(row).to_contain_text("gpt-4o-mini")

    page.click("#tabs button[data-tab=channels]")
    expect(page.locator("#channels-body")).to_contain_text("sandbox-openai")

    page.click("#tabs button[data-tab=models]")
    expect(page.locator("#models-body tr", has_text="dall-e-3")).to_have_count(1)
    kling = page.locator("#models-body tr", has_text="kling-v1-5")
    expect(kling).to_contain_text("video std 5s $0.280000")

    key, key_id = gateway.create_key("console-usage")
    httpx.post(
        gateway.v1 + "/embeddings",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "text-embedding-3-small", "input": "hi"},
    ).raise_for_status()
    gateway.wait_for_usage(key_id=key_id, count=1)
    page.click("#tabs button[data-tab=usage]")
    expect(page.locator("#usage-body tr", has_text="text-embedding-3-small").first).to_be_visible()
    page.screenshot(path=str(tmp_path / "console.png"), full_page=True)


def test_console_rejects_a_non_admin_key(gateway: GatewayProcess, page: Page) -> None:
    key, _ = gateway.create_key("not-admin")
    page.goto(gateway.url + "/console/")
    page.fill("#admin-key", key)
    page.click("#login-form button")
    expect(page.locator("#error")).to_contain_text("admin key")
    expect(page.locator("#login")).to_be_visible()
