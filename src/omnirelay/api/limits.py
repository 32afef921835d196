"""Limits on what a client may send, each refused with a clear error in the client's format:
the body's size (per route: model endpoints, uploads, the admin API), JSON nesting depth, the
size of one inlined file (a base64 image or data URL), and the size of headers.

The body limits are read from ``Content-Length`` before anything is read; a body sent without
one is read up to the app's overall cap (``max_body_bytes``) and then held to its route's.
"""

from __future__ import annotations

import re

from aiohttp import web

from omnirelay.config import Settings
from omnirelay.errors import InvalidRequest, PayloadTooLarge
from omnirelay.formats.json_limits import base64_bytes, largest_string, nesting_exceeds

# Uploads (multipart forms) may use the app's overall cap.
_UPLOADS = ("/v1/audio/transcriptions", "/v1/audio/translations")
_ADMIN = ("/admin/", "/api/")
_JSON_START = re.compile(rb"\s*[\[{]")
_MB = 1024 * 1024


def body_limit(path: str, settings: Settings) -> int:
    if path.startswith(_ADMIN):
        return settings.max_admin_body_bytes
    if path.startswith(_UPLOADS):
        return settings.max_body_bytes
    return settings.max_json_body_bytes


def _size(count: int) -> str:
    return f"{count / _MB:.1f} MB" if count >= _MB else f"{count} bytes"


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the request body is larger than this endpoint accepts ({_size(limit)})"
    )


def check_headers(request: web.Request, settings: Settings) -> None:
    """One header's value, and all of them together, within the limits (else a 400)."""
    total = 0
    for name, value in request.raw_headers:
        size = len(name) + len(value)
        if len(value) > settings.max_header_bytes:
            header = name.decode("latin-1")[:64]
            raise InvalidRequest(
                f"the header '{header}' is {size} bytes; at most {settings.max_header_bytes}",
                code="header_too_large",
            )
        total += size
    if total > settings.max_headers_bytes:
        raise InvalidRequest(
            f"the request's headers are {total} bytes in all; at most {settings.max_headers_bytes}",
            code="header_too_large",
        )


async def read_within(request: web.Request, settings: Settings) -> bytes:
    """The body, within its route's limit; a JSON body also within the nesting and inlined
    file limits."""
    limit = body_limit(request.path, settings)
    declared = request.content_length
    if declared is not None and declared > limit:
        raise _too_large(limit)
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise _too_large(min(limit, settings.max_body_bytes)) from exc
    if len(body) > limit:
        raise _too_large(limit)
    if _JSON_START.match(body):
        check_json(body, settings)
    return body


def check_json(body: bytes, settings: Settings) -> None:
    if nesting_exceeds(body, settings.max_json_depth):
        raise InvalidRequest(
            f"the JSON body nests deeper than {settings.max_json_depth} levels",
            code="json_too_deep",
        )
    inline = settings.max_inline_image_bytes
    longest = largest_string(body, (inline * 4) // 3 + 64)
    if longest:
        raise InvalidRequest(
            f"a value in the request is {_size(longest)} long (about "
            f"{_size(base64_bytes(longest))} as base64); an inlined image or file (base64, "
            f"a data: URL) may be at most {_size(inline)}",
            code="image_too_large",
        )
