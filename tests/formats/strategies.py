"""Hypothesis strategies for chat conversations in the neutral pivot: what a client may send
(turns that alternate, tool calls answered by results with the same ids, images, a system
prompt, tools, sampling settings) and what a vendor may answer. Encoded by a format's own
codec, they become valid requests and answers in that format."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from omnirelay.formats import neutral

# Printable text with some non-ASCII and JSON-hostile characters, never empty.
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00"),
    min_size=1,
    max_size=40,
).filter(lambda t: t.strip() != "")
NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)
IDS = st.from_regex(r"call_[A-Za-z0-9]{6,12}", fullmatch=True)
PNG_BASE64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="

IMAGES = st.one_of(
    st.just(neutral.Image(media_type="image/png", data=PNG_BASE64)),
    st.builds(
        lambda name: neutral.Image(media_type="image/png", url=f"https://img.example/{name}.png"),
        NAMES,
    ),
)
SCHEMAS = st.sampled_from(
    [
        {"type": "object", "properties": {}},
        {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "a city"}},
            "required": ["city"],
        },
        {
            "type": "object",
            "properties": {
                "n": {"type": "integer", "minimum": 0},
                "tags": {"type": "array", "items": {"type": "string"}},
                "unit": {"type": "string", "enum": ["c", "f"]},
            },
        },
    ]
)
ARGUMENTS = st.dictionaries(NAMES, st.one_of(st.integers(-5, 5), TEXT, st.booleans()), max_size=3)


@st.composite
def tools(draw: st.DrawFn) -> list[neutral.Tool]:
    names = draw(st.lists(NAMES, min_size=0, max_size=3, unique=True))
    return [
        neutral.Tool(name=name, description=draw(st.none() | TEXT), parameters=draw(SCHEMAS))
        for name in names
    ]


@st.composite
def conversations(draw: st.DrawFn, tool_names: list[str]) -> list[neutral.Message]:
    """User and assistant turns, alternating, starting and ending with the user; an
    assistant's tool calls are answered by the next user turn's results, ids matching."""
    messages: list[neutral.Message] = []
    turns = draw(st.integers(0, 3))
    first: list[neutral.Part] = [neutral.Text(draw(TEXT))]
    if draw(st.booleans()):
        first.append(draw(IMAGES))
    messages.append(neutral.Message("user", first))
    for _ in range(turns):
        parts: list[neutral.Part] = []
        if draw(st.booleans()):
            parts.append(neutral.Text(draw(TEXT)))
        calls: list[neutral.ToolCall] = []
        if tool_names and draw(st.booleans()):
            for _ in range(draw(st.integers(1, 2))):
                name = draw(st.sampled_from(tool_names))
                calls.append(neutral.ToolCall(draw(IDS), name, json.dumps(draw(ARGUMENTS))))
        calls = list({c.id: c for c in calls}.values())
        if not parts and not calls:
            parts.append(neutral.Text(draw(TEXT)))
        messages.append(neutral.Message("assistant", [*parts, *calls]))
        answer: list[neutral.Part] = [
            neutral.ToolResult(call.id, [neutral.Text(draw(TEXT))], name=call.name)
            for call in calls
        ]
        if not answer or draw(st.booleans()):
            answer.append(neutral.Text(draw(TEXT)))
        messages.append(neutral.Message("user", answer))
    return messages


@st.composite
def requests(draw: st.DrawFn) -> neutral.Request:
    offered = draw(tools())
    names = [t.name for t in offered]
    choice = None
    if offered and draw(st.booleans()):
        mode = draw(st.sampled_from(["auto", "none", "required", "named"]))
        choice = neutral.ToolChoice(mode, draw(st.sampled_from(names)) if mode == "named" else None)
    return neutral.Request(
        model="m",
        messages=draw(conversations(names)),
        system=draw(st.lists(TEXT, max_size=1)),
        tools=offered,
        tool_choice=choice,
        max_tokens=draw(st.none() | st.integers(1, 4096)),
        temperature=draw(st.none() | st.floats(0, 1, allow_nan=False).map(lambda f: round(f, 2))),
        top_p=draw(st.none() | st.floats(0.01, 1, allow_nan=False).map(lambda f: round(f, 2))),
        stop=draw(st.lists(TEXT, max_size=2, unique=True)),
        stream=draw(st.booleans()),
    )


@st.composite
def responses(draw: st.DrawFn) -> neutral.Response:
    parts: list[neutral.AnswerPart] = []
    if draw(st.booleans()):
        parts.append(neutral.Text(draw(TEXT)))
    calls = draw(st.lists(st.tuples(IDS, NAMES, ARGUMENTS), max_size=2, unique_by=lambda c: c[0]))
    parts += [neutral.ToolCall(i, n, json.dumps(a)) for i, n, a in calls]
    if not parts:
        parts.append(neutral.Text(draw(TEXT)))
    stop = (
        neutral.StopReason.TOOL
        if calls
        else draw(st.sampled_from([neutral.StopReason.END, neutral.StopReason.LENGTH]))
    )
    usage = neutral.Usage(
        input_tokens=draw(st.integers(0, 10**6)), output_tokens=draw(st.integers(0, 10**5))
    )
    return neutral.Response(id="resp-1", model="m", parts=parts, stop=stop, usage=usage)


def texts_of(request: neutral.Request) -> list[str]:
    """Every text a person wrote in the conversation (what a translation must carry)."""
    found: list[str] = list(request.system)
    for message in request.messages:
        for part in message.parts:
            if isinstance(part, neutral.Text):
                found.append(part.text)
            elif isinstance(part, neutral.ToolResult):
                found.append(part.text)
    return found


def json_strings(value: Any) -> str:
    """All strings in a JSON document, joined (to look for texts in any wire shape)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "\n".join(json_strings(v) for v in value.values())
    if isinstance(value, list):
        return "\n".join(json_strings(v) for v in value)
    return ""
