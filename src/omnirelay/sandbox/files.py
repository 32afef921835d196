"""Result files the sandbox serves itself (images, later videos), kept in memory, bounded."""

from __future__ import annotations

import secrets
from collections import OrderedDict

from aiohttp import web

MAX_FILES = 256


class FileStore:
    def __init__(self, limit: int = MAX_FILES) -> None:
        self._limit = limit
        self._files: OrderedDict[str, tuple[bytes, str]] = OrderedDict()

    def put(self, data: bytes, content_type: str, suffix: str) -> str:
        name = secrets.token_hex(12) + suffix
        self._files[name] = (data, content_type)
        while len(self._files) > self._limit:
            self._files.popitem(last=False)
        return name

    def get(self, name: str) -> tuple[bytes, str] | None:
        return self._files.get(name)


FILE_STORE = web.AppKey("file_store", FileStore)


def files_of(request: web.Request) -> FileStore:
    return request.app[FILE_STORE]


async def serve_file(request: web.Request) -> web.StreamResponse:
    found = files_of(request).get(request.match_info["name"])
    if found is None:
        raise web.HTTPNotFound(text="no such file")
    data, content_type = found
    return web.Response(body=data, content_type=content_type)
