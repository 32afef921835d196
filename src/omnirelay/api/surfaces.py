"""Which client format a request speaks, from its path: for the errors raised before a
surface's own handler runs (size limits, header limits, throttling), and for the metrics' and
log lines' ``surface`` label. One table, in the order paths must be tested."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from omnirelay.api import anthropic, gemini, ideogram, kling, midjourney, openai, suno
from omnirelay.errors import GatewayError

Render = Callable[[GatewayError], web.Response]


@dataclass(frozen=True, slots=True)
class Surface:
    name: str
    render: Render


def _openai(error: GatewayError) -> web.Response:
    return openai.error_response(error)


ADMIN = Surface("admin", _openai)
OPENAI = Surface("openai", _openai)
OTHER = Surface("other", _openai)
_PREFIXES: tuple[tuple[str, Surface], ...] = (
    ("/v1/messages", Surface("anthropic", anthropic.error_response)),
    ("/v1/responses", Surface("responses", _openai)),
    ("/v1beta/", Surface("gemini", gemini.error_response)),
    ("/v1/dashboard/", Surface("account", _openai)),
    ("/api/", Surface("account", _openai)),
    ("/v1/", OPENAI),
    ("/admin/", ADMIN),
    ("/kling/", Surface("kling", kling.error_response)),
    ("/mj", Surface("midjourney", midjourney.error_response)),
    ("/suno/", Surface("suno", suno.error_response)),
    ("/ideogram/", Surface("ideogram", ideogram.error_response)),
    ("/console", Surface("console", _openai)),
)
_GEMINI = _PREFIXES[2][1]
_GEMINI_METHODS = frozenset(
    {
        "generateContent",
        "streamGenerateContent",
        "countTokens",
        "embedContent",
        "batchEmbedContents",
    }
)


def surface_of(path: str) -> Surface:
    # Gemini's methods live under /v1/models/{model}:{method} too (its v1 API); OpenAI's
    # fine-tuned model ids have colons of their own (ft:gpt-4o:org::id).
    if path.startswith("/v1/models/") and path.rsplit(":", 1)[-1] in _GEMINI_METHODS:
        return _GEMINI
    for prefix, surface in _PREFIXES:
        if path.startswith(prefix):
            return surface
    return OTHER
