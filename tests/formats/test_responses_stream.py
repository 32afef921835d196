"""Responses API streams, event by event: every vendor's recorded-shape stream written as
Responses events (each one valid for the official SDK's types, numbered, in the API's order,
and accumulated by the SDK's own stream state into the right Response), reasoning, failures;
a Responses upstream's stream read back into the pivot, and relayed untouched."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from omnirelay.errors import UpstreamError
from omnirelay.formats import neutral
from omnirelay.formats.codec import StreamTranslator, codec, translation
from omnirelay.formats.openai.responses_relay import ResponsesRelay
from omnirelay.formats.openai.responses_stream import ResponsesStreamDecoder, ResponsesStreamEncoder
from omnirelay.formats.openai.responses_wire import Echo
from omnirelay.formats.sse import EventSplitter, data_of
from tests.formats.test_streams import STREAMS, _read

EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)


def _echo(**body: Any) -> Echo:
    return Echo.of(json.dumps(body).encode(), id="resp_test", created_at=1700000000, model="gpt-x")


def _payloads(events: list[bytes]) -> list[dict[str, Any]]:
    out = []
    for event in events:
        data = data_of(event)
        assert data is not None
        payload = json.loads(data)
        # Each event names its type on the ``event:`` line too.
        assert event.startswith(f"event: {payload['type']}\n".encode())
        out.append(payload)
    return out


def _sdk_final(payloads: list[dict[str, Any]]) -> Any:
    """What the SDK's ``responses.stream()`` makes of these events (it asserts on their order)."""
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=omit, text_format=omit)
    final = None
    for payload in payloads:
        event = EVENTS.validate_python(payload)  # strict: every field as the types say
        for handled in state.handle_event(event):
            if handled.type == "response.completed":
                final = handled.response
    return final


def _translate(vendor: str, echo: Echo) -> tuple[list[bytes], ResponsesStreamEncoder]:
    encoder = ResponsesStreamEncoder(echo)
    translator = StreamTranslator(codec(vendor).stream_decoder(), encoder)
    out: list[bytes] = []
    for event in STREAMS[vendor]:
        out += translator.feed(event)
    assert translator.complete and translator.failure is None
    return out + translator.finish(), encoder


@pytest.mark.parametrize("vendor", list(STREAMS))
def test_every_vendor_streams_as_responses_events(vendor: str) -> None:
    out, encoder = _translate(vendor, _echo(model="m", input="x", metadata={"k": "v"}))
    payloads = _payloads(out)
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    kinds = [p["type"] for p in payloads]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    text = [k for k in kinds if k.startswith("response.output_text")]
    assert text[-1] == "response.output_text.done" and len(text) >= 2
    assert kinds[-1] == "response.completed"
    order = [
        "response.output_item.added",  # the message
        "response.content_part.added",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",  # the call
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [k for k in kinds if k in order] == order
    final = _sdk_final(payloads)
    assert final.output_text == "Let me check."
    call = final.output[1]
    assert call.type == "function_call" and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}
    if vendor != "gemini":
        assert call.call_id == "toolu_9"
    assert final.usage.input_tokens == 11 and final.usage.output_tokens == 7
    assert final.metadata == {"k": "v"} and final.status == "completed"
    assert encoder.final is not None and encoder.final["id"] == "resp_test"


def test_reasoning_streams_as_a_summary_before_the_answer() -> None:
    encoder = ResponsesStreamEncoder(_echo())
    events: list[neutral.Event] = [
        neutral.Start("up", "claude"),
        neutral.ThinkingDelta("Think"),
        neutral.ThinkingDelta(" hard"),
        neutral.ThinkingDelta(signature="sig-1"),
        neutral.TextDelta("Done"),
        neutral.Finish(neutral.StopReason.END),
        neutral.Usage(3, 5, reasoning_tokens=2),
    ]
    out = [e for event in events for e in encoder.feed(event)] + encoder.finish()
    payloads = _payloads(out)
    kinds = [p["type"] for p in payloads]
    assert kinds[2:5] == [
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
    ]
    assert "response.reasoning_summary_text.done" in kinds
    final = _sdk_final(payloads)
    reasoning, message = final.output
    assert reasoning.type == "reasoning" and reasoning.summary[0].text == "Think hard"
    assert reasoning.encrypted_content == "omnirelay.v1:sig-1"  # marked as not OpenAI's
    assert message.content[0].text == "Done" and final.output_text == "Done"
    assert final.usage.output_tokens_details.reasoning_tokens == 2


def test_a_length_stop_ends_incomplete() -> None:
    encoder = ResponsesStreamEncoder(_echo())
    events = [neutral.TextDelta("cut"), neutral.Finish(neutral.StopReason.LENGTH), neutral.Usage()]
    out = [e for event in events for e in encoder.feed(event)] + encoder.finish()
    last = _payloads(out)[-1]
    assert last["type"] == "response.incomplete"
    assert last["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    EVENTS.validate_python(last)


def test_a_failure_is_an_error_event_then_response_failed() -> None:
    encoder = ResponsesStreamEncoder(_echo())
    out = encoder.feed(neutral.TextDelta("par"))
    out += encoder.feed(neutral.Failure(UpstreamError("the upstream failed: overloaded")))
    payloads = _payloads(out)
    error, failed = payloads[-2:]
    assert error["type"] == "error" and "overloaded" in error["message"]
    assert failed["type"] == "response.failed"
    assert failed["response"]["error"]["code"] == "server_error"
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    for payload in payloads:
        EVENTS.validate_python(payload)
    # When the upstream itself breaks, the relay asks for the same ending.
    again = _payloads(EventSplitter().feed(encoder.fail(UpstreamError("cut"))))
    assert [p["type"] for p in again] == ["error", "response.failed"]
    assert again[0]["sequence_number"] == len(payloads)


def _responses_upstream() -> list[bytes]:
    """A Responses upstream's stream (the same answer as the recorded vendors')."""
    out, _ = _translate("openai", _echo())
    return out


@pytest.mark.parametrize("client", ["openai", "anthropic", "gemini"])
def test_a_responses_upstream_reads_back_for_other_clients(client: str) -> None:
    found = translation(client, "responses")
    assert found is not None
    translator = StreamTranslator(
        ResponsesStreamDecoder(), found.client.stream_encoder("m", include_usage=True)
    )
    out: list[bytes] = []
    for event in _responses_upstream():
        out += translator.feed(event)
    assert translator.complete
    text, call, args, _stop, usage = _read(client, out + translator.finish())
    assert text == "Let me check." and call.endswith("/get_weather")
    assert args == {"city": "Paris"} and usage == (11, 7)


def test_the_relay_passes_events_untouched_and_holds_the_end() -> None:
    upstream = _responses_upstream()
    relay = ResponsesRelay()
    passed = [e for event in upstream for e in relay.feed(event)]
    assert passed == upstream[:-1]  # all but response.completed, held for the end
    assert relay.complete and relay.usage == neutral.Usage(11, 7, cache_write_tokens=0)
    assert relay.final is not None and json.loads(relay.final)["id"] == "resp_test"
    assert relay.finish() == upstream[-1:]
    error = _payloads([relay.fail(UpstreamError("cut"))])[0]
    assert error["sequence_number"] == len(upstream)


def test_the_relay_restates_a_continued_conversation() -> None:
    relay = ResponsesRelay(previous_response_id="resp_before")
    out = [e for event in _responses_upstream() for e in relay.feed(event)] + relay.finish()
    payloads = _payloads(out)
    with_response = [p for p in payloads if "response" in p]
    assert len(with_response) == 3
    assert all(p["response"]["previous_response_id"] == "resp_before" for p in with_response)
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    assert json.loads(relay.final or b"{}")["previous_response_id"] == "resp_before"


def test_the_relay_sees_an_upstream_failure() -> None:
    relay = ResponsesRelay()
    failed = b'event: response.failed\ndata: {"type":"response.failed","sequence_number":3,' \
             b'"response":{"id":"r","error":{"code":"server_error","message":"boom"}}}\n\n'  # fmt: skip
    assert relay.feed(failed) == [failed]
    assert relay.failure is not None and "boom" in relay.failure.message
