"""The pivot every chat format translates through: plain typed values, no wire quirks.

A request in one format becomes a ``Request`` here, then the vendor's format; answers and
stream events go the same way back. Tool results live in user messages (as in Anthropic's and
Gemini's formats); the OpenAI codec splits them into ``tool`` messages and back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

import msgspec

from omnirelay.errors import GatewayError

Role = Literal["user", "assistant"]


class StopReason(StrEnum):
    END = "end"
    LENGTH = "length"
    TOOL = "tool"
    STOP_SEQUENCE = "stop_sequence"
    FILTER = "filter"


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class Image:
    """An image by URL, or inline as base64 ``data`` of ``media_type``."""

    media_type: str
    url: str | None = None
    data: str | None = None


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as the model produced it


@dataclass(frozen=True, slots=True)
class ToolResult:
    id: str
    content: list[Text | Image]
    name: str | None = None
    is_error: bool = False

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.content if isinstance(p, Text))


@dataclass(frozen=True, slots=True)
class Thinking:
    """A model's reasoning. ``signature`` (Claude) must travel back unchanged for the vendor to
    accept the block in a later turn; ``redacted`` holds an encrypted block's opaque data."""

    text: str
    signature: str | None = None
    redacted: str | None = None


Part = Text | Image | ToolCall | ToolResult | Thinking
# What an answer holds: no images or tool results, and thinking where the model showed it.
AnswerPart = Text | ToolCall | Thinking


@dataclass(slots=True)
class Message:
    role: Role
    parts: list[Part]


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str | None
    parameters: dict[str, Any]  # JSON Schema


@dataclass(frozen=True, slots=True)
class ToolChoice:
    mode: Literal["auto", "none", "required", "named"]
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Reasoning:
    """How hard the model may think: an effort word (``minimal``, ``low``, ``medium``,
    ``high``, ``max``), or a token budget, or both; ``summary`` asks for a readable summary."""

    effort: str | None = None
    budget_tokens: int | None = None
    summary: str | None = None
    # Whether the client wants the thinking itself back (Claude's ``display``, Gemini's
    # ``includeThoughts``).
    include_thoughts: bool = True


@dataclass(frozen=True, slots=True)
class WebSearch:
    """A web search the vendor runs itself, offered beside the function tools: OpenAI's
    ``web_search`` tool, Claude's web search tool, Gemini's Google Search grounding.
    ``allowed_domains`` limits it to those sites (and their subdomains) when not empty."""

    allowed_domains: tuple[str, ...] = ()


@dataclass(slots=True)
class Request:
    model: str
    messages: list[Message]
    system: list[str] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    json_mode: bool = False  # answer with a JSON object
    json_schema: dict[str, Any] | None = None  # ... valid for this JSON Schema
    schema_name: str = "response"
    user: str | None = None
    stream: bool = False
    reasoning: Reasoning | None = None
    web_search: WebSearch | None = None  # a hosted search the model may use, if the vendor has one


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts. ``input_tokens`` is every input token, cached or not, and the cache
    counts are parts of it (OpenAI's and Gemini's convention; Anthropic's ``input_tokens``
    leaves the cache out, so its codec adds them in); ``reasoning_tokens`` are part of
    ``output_tokens``."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0  # written to a cache kept about five minutes
    cache_write_1h_tokens: int = 0  # written to a cache kept an hour
    reasoning_tokens: int = 0


@dataclass(slots=True)
class Response:
    id: str
    model: str
    parts: list[AnswerPart]
    stop: StopReason
    usage: Usage
    stop_sequence: str | None = None


# Stream events: what any format's stream says, one step at a time.


@dataclass(frozen=True, slots=True)
class Start:
    id: str
    model: str
    input_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ThinkingDelta:
    """A piece of the model's reasoning, or (``signature``) the signature closing it, or
    (``redacted``) a whole encrypted block."""

    text: str = ""
    signature: str | None = None
    redacted: str | None = None


@dataclass(frozen=True, slots=True)
class ToolStart:
    index: int  # position among this answer's tool calls
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class ToolDelta:
    index: int
    fragment: str  # a piece of the arguments' JSON text


@dataclass(frozen=True, slots=True)
class Finish:
    stop: StopReason
    stop_sequence: str | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    """The upstream reported an error inside its stream."""

    error: GatewayError


Event = Start | TextDelta | ThinkingDelta | ToolStart | ToolDelta | Finish | Usage | Failure


def estimate_tokens(request: Request) -> int:
    """A local token estimate (about four characters a token, a flat cost per image) for
    vendors without a counting endpoint."""
    chars = sum(len(s) for s in request.system)
    images = 0
    for message in request.messages:
        for part in message.parts:
            if isinstance(part, Text):
                chars += len(part.text)
            elif isinstance(part, Image):
                images += 1
            elif isinstance(part, ToolCall):
                chars += len(part.name) + len(part.arguments)
            elif isinstance(part, Thinking):
                chars += len(part.text)
            else:
                chars += len(part.text)
                images += sum(isinstance(p, Image) for p in part.content)
    for tool in request.tools:
        chars += len(tool.name) + len(tool.description or "") + len(str(tool.parameters))
    return (chars + 3) // 4 + 4 * len(request.messages) + 85 * images


# Helpers the codecs share.


def image_from_url(url: str) -> Image:
    """An ``Image`` from an http(s) URL or a ``data:<type>;base64,<data>`` URL."""
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        media_type = header[5:].split(";")[0] or "image/png"
        return Image(media_type=media_type, data=standard_base64(data))
    return Image(media_type=guess_media_type(url), url=url)


_URL_SAFE = str.maketrans("-_", "+/")


def standard_base64(data: str) -> str:
    """Base64 in the standard alphabet with its padding, however a client wrote it.

    Clients send the URL-safe alphabet (the google-genai SDK does) and drop the padding; the
    vendors accept both, but not every vendor in every place, so the pivot holds one form.
    Whitespace (line-wrapped base64) goes too. Base64 already standard is only scanned.
    """
    if "-" in data or "_" in data:
        data = data.translate(_URL_SAFE)
    if any(c in data for c in " \n\r\t"):
        data = "".join(data.split())
    missing = -len(data) % 4
    return data + "=" * missing if missing and missing < 3 else data


def image_url(image: Image) -> str:
    if image.url is not None:
        return image.url
    return f"data:{image.media_type};base64,{image.data or ''}"


def guess_media_type(url: str) -> str:
    path = url.split("?", 1)[0].lower()
    for suffix, media_type in _IMAGE_SUFFIXES.items():
        if path.endswith(suffix):
            return media_type
    return "image/jpeg"


_IMAGE_SUFFIXES = {
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}


def arguments_object(arguments: str) -> dict[str, Any]:
    """Tool-call arguments as an object (formats other than OpenAI's want one, not text)."""
    if not arguments.strip():
        return {}
    try:
        value = msgspec.json.decode(arguments)
    except msgspec.DecodeError:
        # A model may emit broken JSON; keep what it said rather than lose it.
        return {"_raw_arguments": arguments}
    return value if isinstance(value, dict) else {"value": value}
