"""The documentation in a real headless Chromium, served by a live gateway: three pages and
their headings, and the search box."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.docs.conftest import BuiltSite
from tests.support.servers import GatewayProcess

SQLITE = pytest.mark.parametrize("gateway", ["sqlite"], indirect=True)


@SQLITE
@pytest.mark.parametrize(
    ("path", "heading"),
    [
        ("/docs/", "omnirelay"),
        ("/docs/video/image2video/", "Create Video by Image"),
        ("/docs/help/errors/", "Errors"),
    ],
)
def test_pages_show_their_headings(
    gateway: GatewayProcess, built_site: BuiltSite, page: Page, path: str, heading: str
) -> None:
    page.goto(gateway.url + path)
    # The heading, then its permalink's pilcrow.
    expect(page.locator("article h1")).to_have_text(re.compile(rf"^{re.escape(heading)}¶?$"))
    expect(page).to_have_title(f"{heading} - omnirelay" if path != "/docs/" else "omnirelay")


@SQLITE
def test_search_finds_image2video(
    gateway: GatewayProcess, built_site: BuiltSite, page: Page
) -> None:
    page.goto(gateway.url + "/docs/")
    # The search index loads in a web worker: wait until it is ready, then type as a reader.
    page.wait_for_function("() => typeof window.__search !== 'undefined'", timeout=15_000)
    page.locator(".md-search__input").click()
    results = page.locator(".md-search-result__item")
    for _ in range(3):  # a query typed before the worker finished indexing is answered empty
        page.fill("input.md-search__input", "")
        page.locator("input.md-search__input").press_sequentially("image2video", delay=30)
        try:
            expect(results.first).to_be_visible(timeout=5_000)
            break
        except AssertionError:
            continue
    expect(results.first).to_be_visible()
    expect(page.locator(".md-search-result__meta")).to_contain_text("matching")
    titles = page.locator(".md-search-result__article h1").all_inner_texts()
    assert "Create Video by Image" in titles, titles
    # The result leads to the page.
    page.locator(".md-search-result__link", has_text="Create Video by Image").first.click()
    expect(page).to_have_url(re.compile(r"/docs/video/image2video/"))
    expect(page.locator("article h1")).to_have_text(re.compile(r"^Create Video by Image"))
