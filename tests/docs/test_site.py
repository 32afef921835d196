"""The documentation site: built strictly, and served by the gateway at /docs/ with the
reader's own base URL in its samples."""

from __future__ import annotations

import html
import re

import httpx
import pytest

from omnirelay.api import docs as docs_api
from tests.docs.conftest import BuiltSite
from tests.support.servers import GatewayProcess

SQLITE = pytest.mark.parametrize("gateway", ["sqlite"], indirect=True)


def test_the_site_builds_strictly_without_warnings(built_site: BuiltSite) -> None:
    assert "WARNING" not in built_site.output, built_site.output
    for page in (
        "index.html",
        "quickstart/index.html",
        "video/image2video/index.html",
        "help/errors/index.html",
        "operators/configuration/index.html",
        "search/search_index.json",
    ):
        assert (built_site.path / page).is_file(), page


@SQLITE
def test_served_at_docs_with_this_gateways_base_url(
    gateway: GatewayProcess, built_site: BuiltSite
) -> None:
    page = httpx.get(gateway.url + "/docs/quickstart/", timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    # The setup lines show the address the reader reached the gateway at.
    text = html.unescape(re.sub(r"<[^>]+>", "", page.text))
    assert f"export OMNIRELAY_BASE_URL={gateway.url}   # this gateway's address" in text
    assert docs_api.PLACEHOLDER not in page.text
    index = httpx.get(gateway.url + "/docs/search/search_index.json", timeout=10).json()
    indexed = " ".join(doc["text"] for doc in index["docs"])
    assert gateway.url + "/v1" in indexed and docs_api.PLACEHOLDER not in indexed
    # Behind a proxy: the forwarded scheme is honoured.
    behind = httpx.get(
        gateway.url + "/docs/clients/cursor/", headers={"X-Forwarded-Proto": "https"}, timeout=10
    )
    assert "https://" + gateway.url.removeprefix("http://") + "/v1" in behind.text


@SQLITE
def test_redirects_missing_files_and_the_way_out(
    gateway: GatewayProcess, built_site: BuiltSite
) -> None:
    def get(path: str) -> httpx.Response:
        return httpx.get(gateway.url + path, timeout=10, follow_redirects=False)

    assert get("/docs").headers["location"] == "/docs/"
    moved = get("/docs/quickstart")
    assert moved.status_code == 301 and moved.headers["location"] == "quickstart/"
    assert get("/docs/nowhere/").status_code == 404
    assert "omnirelay" in get("/docs/nowhere/").text  # the site's own 404 page
    for escape in ("/docs/../../pyproject.toml", "/docs/%2e%2e/%2e%2e/app.py"):
        assert get(escape).status_code == 404, escape
    css = next(built_site.path.glob("assets/stylesheets/main.*.css"))
    asset = get(f"/docs/assets/stylesheets/{css.name}")
    assert asset.status_code == 200 and asset.content == css.read_bytes()


def test_the_base_url_is_escaped_where_it_lands() -> None:
    html = docs_api._rewrite(
        f"<code>{docs_api.PLACEHOLDER}</code>".encode(), ".html", 'https://a"b<c>'
    )
    assert html == b"<code>https://a&quot;b&lt;c&gt;</code>"
    data = docs_api._rewrite(f'{{"u": "{docs_api.PLACEHOLDER}"}}'.encode(), ".json", 'x"y')
    assert data == b'{"u": "x\\"y"}'
