"""An in-process OTLP/HTTP collector: receives ``POST /v1/traces`` (protobuf, as the SDK's
exporter sends it) and keeps the spans, for tests to look at."""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.support.postgres import free_port
from tests.support.threaded import serve_in_thread


@dataclass(frozen=True)
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: int
    attributes: dict[str, Any]
    service: str


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


@dataclass
class Collector:
    endpoint: str
    spans: list[Span] = field(default_factory=list)

    def wait_for(self, predicate: Callable[[list[Span]], bool], seconds: float = 20) -> list[Span]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = list(self.spans)
            if predicate(found):
                return found
            time.sleep(0.05)
        raise AssertionError(f"no such spans; got {[s.name for s in self.spans]}")

    def receive(self, body: bytes) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    self.spans.append(
                        Span(
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            kind=span.kind,
                            attributes={a.key: _value(a.value) for a in span.attributes},
                            service=str(resource.get("service.name", "")),
                        )
                    )


@contextmanager
def otlp_collector() -> Iterator[Collector]:
    port = free_port()
    collector = Collector(endpoint=f"http://127.0.0.1:{port}")

    async def traces(request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        collector.receive(body)
        answer = ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=answer, content_type="application/x-protobuf")

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/traces", traces)
    with serve_in_thread(app, port):
        yield collector
