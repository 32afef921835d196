"""OpenTelemetry traces, only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or its traces variant) is
set: a server span per request, a client span per upstream call under it (through aiohttp's
trace hooks, so every vendor adapter is covered), and a span per task poll with the poller's
upstream calls under it. Spans go out over OTLP/HTTP (protobuf) in batches, configured by the
standard ``OTEL_*`` variables. It needs the ``otel`` extra; without the variable this module
imports nothing of OpenTelemetry (redis-py imports OpenTelemetry's metrics API by itself when
the package is installed; it sends nothing unless configured).

Spans carry no secret: upstream URLs lose their query (Gemini's key may travel there), and
failures are named by their type only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import aiohttp
from yarl import URL

log = logging.getLogger(__name__)

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


class Tracing:
    def __init__(self, provider: Any, version: str) -> None:
        from opentelemetry import trace

        self._trace = trace
        self._provider = provider
        self._tracer = provider.get_tracer("omnirelay", version)

    @classmethod
    def from_env(cls, version: str, env: Mapping[str, str] | None = None) -> Tracing | None:
        env = os.environ if env is None else env
        if not any(env.get(name) for name in ENDPOINT_VARIABLES):
            return None
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError:
            log.warning(
                "OTEL_EXPORTER_OTLP_ENDPOINT is set, but OpenTelemetry is not installed: "
                "pip install 'omnirelay[otel]' to send traces"
            )
            return None

        resource = Resource.create(
            {"service.name": env.get("OTEL_SERVICE_NAME", "omnirelay"), "service.version": version}
        )
        # A provider of the gateway's own, not the global one: no process-wide state.
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        return cls(provider, version)

    @contextmanager
    def span(
        self, name: str, attributes: Mapping[str, Any] | None = None, *, server: bool = False
    ) -> Iterator[Any]:
        kind = self._trace.SpanKind.SERVER if server else self._trace.SpanKind.INTERNAL
        with self._tracer.start_as_current_span(
            name,
            kind=kind,
            attributes=dict(attributes or {}),
            record_exception=False,
            set_status_on_exception=False,  # the HTTP status says whether it failed
        ) as span:
            yield span

    def set_status(self, span: Any, status: int) -> None:
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR))

    def trace_config(self) -> aiohttp.TraceConfig:
        """Hooks for an aiohttp session: each call becomes a client span of the current one."""
        config = aiohttp.TraceConfig()
        config.on_request_start.append(self._client_start)
        config.on_request_end.append(self._client_end)
        config.on_request_exception.append(self._client_failed)
        return config

    async def _client_start(
        self, session: aiohttp.ClientSession, ctx: SimpleNamespace, params: Any
    ) -> None:
        url: URL = params.url
        ctx.span = self._tracer.start_span(
            f"{params.method} {url.host}",
            kind=self._trace.SpanKind.CLIENT,
            attributes={
                "http.request.method": params.method,
                "server.address": url.host or "",
                "server.port": url.port or 0,
                "url.full": str(url.with_query(None).with_fragment(None)),
            },
        )

    async def _client_end(
        self, session: aiohttp.ClientSession, ctx: SimpleNamespace, params: Any
    ) -> None:
        span = getattr(ctx, "span", None)
        if span is not None:
            self.set_status(span, params.response.status)
            span.end()

    async def _client_failed(
        self, session: aiohttp.ClientSession, ctx: SimpleNamespace, params: Any
    ) -> None:
        span = getattr(ctx, "span", None)
        if span is not None:
            span.set_attribute("error.type", type(params.exception).__name__)
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR))
            span.end()

    def shutdown(self) -> None:
        """Send what is buffered, then stop (the lifespan's end)."""
        self._provider.shutdown()
