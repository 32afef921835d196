"""The relay's unsplit pass-through of OpenAI-to-OpenAI streams: for any stream and any way the
upstream cuts it into chunks, the client gets the same bytes, the same events are counted and
the same usage is read as when every event is split out and fed to the filter."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnirelay.api import streaming
from omnirelay.api.streaming import through
from omnirelay.formats.openai.stream import UsageChunkFilter
from omnirelay.formats.sse import DONE, EventSplitter


def _data(payload: object) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


CONTENT = _data({"id": "c", "choices": [{"index": 0, "delta": {"content": " word"}}]})
SPACED = b'data: {"id": "c", "choices": [], "usage": {"prompt_tokens": 3}}\n\n'
EVENTS = st.sampled_from(
    [
        CONTENT,
        _data({"id": "c", "choices": [{"index": 0, "delta": {"content": '"usage":{ in text'}}]}),
        _data({"id": "c", "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 5}}),
        SPACED,
        DONE,
        b": keep-alive\n\n",
        b"\n\n",
        b" \n\n",
        CONTENT.replace(b"\n", b"\r\n"),
        b'data: {"broken": \n\n',
        b"event: x\n" + CONTENT,
    ]
)


@pytest.fixture(autouse=True)
def _every_chunk_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streaming, "PASS_MIN", 0)  # the short chunks of these streams too


def _relay(chunks: list[bytes], keep: bool, fast: bool) -> tuple[bytes, int, object, bool, bool]:
    splitter, transform = EventSplitter(), UsageChunkFilter(keep_usage_chunk=keep)
    passing = transform.passing if fast else None
    sent, events = b"", 0
    for chunk in chunks:
        out, count = through(chunk, splitter, transform, passing)
        sent += b"".join(out)
        events += count
        if transform.failure is not None:
            break
    usage = transform.usage
    return sent, events, usage, transform.complete, transform.failure is not None


@settings(max_examples=400, deadline=None)
@given(
    events=st.lists(EVENTS, min_size=1, max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=6),
    keep=st.booleans(),
)
def test_unsplit_pass_through_matches_event_by_event(
    events: list[bytes], cuts: list[int], keep: bool
) -> None:
    body = b"".join(events)
    edges = sorted({0, len(body), *(cut % (len(body) + 1) for cut in cuts)})
    chunks = [body[a:b] for a, b in itertools.pairwise(edges) if b > a]
    assert _relay(chunks, keep, fast=True) == _relay(chunks, keep, fast=False)


def test_plain_events_go_unsplit_and_the_usage_chunk_is_read() -> None:
    usage = _data({"id": "c", "choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 2}})
    body = CONTENT * 3 + usage + DONE
    transform = UsageChunkFilter(keep_usage_chunk=False)
    assert transform.passing(body) == (len(CONTENT) * 3, 3)
    out, events = through(body, EventSplitter(), transform, transform.passing)
    assert out[0] == CONTENT * 3 and b"".join(out) == CONTENT * 3 + DONE and events == 5
    assert transform.complete and transform.usage is not None
    assert (transform.usage.input_tokens, transform.usage.output_tokens) == (4, 2)
