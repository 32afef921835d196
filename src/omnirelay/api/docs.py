"""The user documentation at ``/docs/``: the site ``make docs`` built, served from its files.

The pages are written with a placeholder base URL; here it becomes this gateway's address
(``public_url``, else the address the reader's request came to), so the setup lines, client
settings and the search index show the reader the URL that works for them. Only HTML and the
search index are rewritten; every other file is sent as it is.
"""

from __future__ import annotations

import asyncio
import html
import json
import mimetypes
import re
from pathlib import Path

from aiohttp import web

from omnirelay.api.common import gateway_of

SITE_DIR = Path(__file__).resolve().parent.parent / "docs_site"
PLACEHOLDER = "https://omnirelay.example.com"
_REWRITTEN = frozenset({".html", ".json", ".xml"})
_HOST = re.compile(r"[A-Za-z0-9.-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")
_NOT_BUILT = (
    "The documentation site is not built. Run `make docs` (or `make run`, which builds it) "
    "and reload."
)


def base_url(request: web.Request) -> str:
    """The base URL a reader of these pages should use."""
    configured = gateway_of(request).settings.public_url.rstrip("/")
    if configured:
        return configured
    if not _HOST.fullmatch(request.host):
        return PLACEHOLDER
    forwarded = request.headers.get("X-Forwarded-Proto", "").lower()
    scheme = forwarded if forwarded in ("http", "https") else request.scheme
    return f"{scheme}://{request.host}"


def _rewrite(data: bytes, suffix: str, base: str) -> bytes:
    if suffix == ".json":
        replacement = json.dumps(base)[1:-1]
    else:
        replacement = html.escape(base, quote=True)
    return data.replace(PLACEHOLDER.encode(), replacement.encode())


def _locate(site: Path, tail: str) -> Path | None:
    """The file for ``/docs/<tail>``, never outside the site."""
    candidate = (site / tail).resolve()
    if not candidate.is_relative_to(site):
        return None
    if candidate.is_dir():
        candidate = candidate / "index.html"
    return candidate if candidate.is_file() else None


async def _send(request: web.Request, path: Path, status: int = 200) -> web.StreamResponse:
    if path.suffix not in _REWRITTEN:
        return web.FileResponse(path, status=status)
    data = await asyncio.to_thread(path.read_bytes)
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return web.Response(
        body=_rewrite(data, path.suffix, base_url(request)),
        status=status,
        content_type=content_type,
        charset="utf-8",
    )


async def page(request: web.Request) -> web.StreamResponse:
    site = SITE_DIR.resolve()
    if not (site / "index.html").is_file():
        return web.Response(status=503, text=_NOT_BUILT)
    tail = request.match_info["tail"]
    found = await asyncio.to_thread(_locate, site, tail)
    if (
        found is not None
        and found.name == "index.html"
        and tail
        and not tail.endswith(("/", "index.html"))
    ):
        # Pages link relative to their directory: /docs/quickstart must be /docs/quickstart/
        # (a relative Location, so a proxy's path prefix survives).
        raise web.HTTPMovedPermanently(tail.rstrip("/").rsplit("/", 1)[-1] + "/")
    if found is None:
        return await _send(request, site / "404.html", status=404)
    return await _send(request, found)


async def docs_redirect(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/docs/")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/docs", docs_redirect)
    app.router.add_get("/docs/{tail:.*}", page)
