"""Property-based tests of the chat translators: any valid request in any client format
becomes a valid request in every vendor format (one that format's own decoder reads back),
carrying every text; any valid answer and stream comes back to every client format. Never an
exception. Bounded here; ``make fuzz`` runs many more examples (``HYPOTHESIS_PROFILE=fuzz``)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnirelay.formats import neutral
from omnirelay.formats.codec import codec, translation
from tests.formats.strategies import json_strings, requests, responses, texts_of

pytestmark = pytest.mark.timeout(900)

FORMATS = ["openai", "anthropic", "gemini", "responses"]
PAIRS = [(client, vendor) for client in FORMATS for vendor in FORMATS if client != vendor]


@pytest.mark.parametrize(("client", "vendor"), PAIRS)
def test_any_valid_request_translates_to_a_valid_request(client: str, vendor: str) -> None:
    @given(request=requests())
    def check(request: neutral.Request) -> None:
        body = codec(client).encode_request(request, "client-model")
        decoded = codec(client).decode_request(body, model="client-model", stream=request.stream)
        out = codec(vendor).encode_request(decoded, "vendor-model")
        again = codec(vendor).decode_request(out, model="vendor-model", stream=request.stream)
        assert len(again.messages) >= 1
        carried = json_strings(json.loads(out))
        for text in texts_of(request):
            assert text in carried, (text, out[:400])

    check()


@pytest.mark.parametrize(("client", "vendor"), PAIRS)
def test_any_valid_answer_translates_back(client: str, vendor: str) -> None:
    @given(answer=responses())
    def check(answer: neutral.Response) -> None:
        pair = translation(client, vendor)
        assert pair is not None
        upstream = codec(vendor).encode_response(answer, "vendor-model")
        body, usage = pair.response(upstream, "client-model")
        back = codec(client).decode_response(body)
        assert usage.input_tokens == answer.usage.input_tokens
        said = "".join(p.text for p in answer.parts if isinstance(p, neutral.Text))
        assert "".join(p.text for p in back.parts if isinstance(p, neutral.Text)) == said
        calls = [
            (c.name, json.loads(c.arguments))
            for c in answer.parts
            if isinstance(c, neutral.ToolCall)
        ]
        assert [
            (c.name, json.loads(c.arguments)) for c in back.parts if isinstance(c, neutral.ToolCall)
        ] == calls

    check()


def _events(answer: neutral.Response, pieces: int) -> list[neutral.Event]:
    events: list[neutral.Event] = [
        neutral.Start("resp-1", "vendor-model", answer.usage.input_tokens)
    ]
    calls = 0
    for part in answer.parts:
        if isinstance(part, neutral.Text):
            size = max(1, len(part.text) // pieces)
            events += [
                neutral.TextDelta(part.text[i : i + size]) for i in range(0, len(part.text), size)
            ]
        elif isinstance(part, neutral.ToolCall):
            events.append(neutral.ToolStart(calls, part.id, part.name))
            half = len(part.arguments) // 2
            events += [
                neutral.ToolDelta(calls, part.arguments[:half]),
                neutral.ToolDelta(calls, part.arguments[half:]),
            ]
            calls += 1
    events += [answer.usage, neutral.Finish(answer.stop)]
    return events


@pytest.mark.parametrize(("client", "vendor"), PAIRS)
def test_any_valid_stream_translates_back(client: str, vendor: str) -> None:
    @given(answer=responses(), pieces=st.integers(1, 4))
    def check(answer: neutral.Response, pieces: int) -> None:
        pair = translation(client, vendor)
        assert pair is not None
        encoder = codec(vendor).stream_encoder("vendor-model", include_usage=True)
        frames = [frame for event in _events(answer, pieces) for frame in encoder.feed(event)]
        frames += encoder.finish()
        translator = pair.stream("client-model", include_usage=True)
        out = [frame for upstream in frames for frame in translator.feed(upstream)]
        out += translator.finish()
        assert translator.complete and translator.failure is None
        assert translator.usage is not None
        assert translator.usage.output_tokens == answer.usage.output_tokens
        decoder = codec(client).stream_decoder()
        seen = [event for frame in out for event in decoder.feed(frame)]
        assert decoder.complete
        said = "".join(p.text for p in answer.parts if isinstance(p, neutral.Text))
        assert "".join(e.text for e in seen if isinstance(e, neutral.TextDelta)) == said
        names = [p.name for p in answer.parts if isinstance(p, neutral.ToolCall)]
        assert [e.name for e in seen if isinstance(e, neutral.ToolStart)] == names

    check()
