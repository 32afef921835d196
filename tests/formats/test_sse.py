from __future__ import annotations

from omnirelay.formats.sse import EventSplitter, data_of, encode_data


def test_events_split_across_arbitrary_chunk_boundaries() -> None:
    stream = b"data: one\n\n: keep-alive\n\ndata: two\r\n\r\nevent: x\ndata: {\ndata: }\n\ndata: [DONE]\n\n"
    for size in (1, 2, 5, 7, len(stream)):
        splitter = EventSplitter()
        events = []
        for start in range(0, len(stream), size):
            events += splitter.feed(stream[start : start + size])
        assert events == [
            b"data: one\n\n",
            b": keep-alive\n\n",
            b"data: two\n\n",
            b"event: x\ndata: {\ndata: }\n\n",
            b"data: [DONE]\n\n",
        ]
        assert splitter.rest() == b""


def test_a_cut_stream_leaves_the_partial_event() -> None:
    splitter = EventSplitter()
    assert splitter.feed(b"data: whole\n\ndata: hal") == [b"data: whole\n\n"]
    assert splitter.rest() == b"data: hal"


def test_data_of() -> None:
    assert data_of(b"event: x\ndata: {\ndata:}\n\n") == b"{\n}"
    assert data_of(b": comment\n\n") is None


def test_encode_data() -> None:
    assert encode_data(b"{}") == b"data: {}\n\n"
    assert encode_data(b"{}", "error") == b"event: error\ndata: {}\n\n"
