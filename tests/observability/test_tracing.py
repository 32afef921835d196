"""Traces: a server span per request with its upstream call as a child, the task poller's
polls with theirs, sent over OTLP to a collector in the test; nothing of OpenTelemetry loaded
when no endpoint is set."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.kling import TEXT2VIDEO, submit, wait_task
from tests.support.otlp import Collector, Span, otlp_collector
from tests.support.servers import GatewayProcess, start_gateway

SERVER, CLIENT = 2, 3  # SpanKind values in OTLP


@pytest.fixture(scope="module")
def traced(
    new_database_url: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[GatewayProcess, Collector]]:
    with otlp_collector() as collector:
        url = new_database_url("sqlite")  # type: ignore[operator]
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_SERVICE_NAME": "omnirelay-test",
        }
        process = start_gateway(url, tmp_path_factory.mktemp("traced"), extra_env=env)
        try:
            yield process, collector
        finally:
            process.stop()


def _children(spans: list[Span], parent: Span) -> list[Span]:
    return [s for s in spans if s.parent_id == parent.span_id and s.trace_id == parent.trace_id]


def test_a_request_span_has_its_upstream_call_as_a_child(
    traced: tuple[GatewayProcess, Collector],
) -> None:
    gateway, collector = traced
    key, key_id = gateway.create_key("traced")
    response = httpx.post(
        gateway.v1 + "/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "trace me"}]},
        headers={"Authorization": f"Bearer {key}", "x-request-id": "trace-req-1"},
        timeout=30,
    )
    assert response.status_code == 200

    def found(spans: list[Span]) -> bool:
        return any(s.attributes.get("omnirelay.request_id") == "trace-req-1" for s in spans)

    spans = collector.wait_for(found)
    server = next(s for s in spans if s.attributes.get("omnirelay.request_id") == "trace-req-1")
    assert server.kind == SERVER and server.name == "POST /v1/chat/completions"
    assert server.service == "omnirelay-test"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["omnirelay.key_id"] == key_id
    assert server.attributes["omnirelay.model"] == "gpt-4o-mini"
    spans = collector.wait_for(lambda all_spans: bool(_children(all_spans, server)))
    [upstream] = _children(spans, server)
    assert upstream.kind == CLIENT
    assert upstream.attributes["server.address"] == "127.0.0.1"
    assert upstream.attributes["url.full"].endswith("/v1/chat/completions")
    assert upstream.attributes["http.response.status_code"] == 200
    # No key travels in a span.
    assert all(key not in str(s.attributes) for s in spans)


def test_the_poller_s_upstream_calls_are_traced_too(
    traced: tuple[GatewayProcess, Collector],
) -> None:
    gateway, collector = traced
    key, _ = gateway.create_key("traced-task", quota_usd=5)
    task_id = submit(gateway, TEXT2VIDEO, key, {"prompt": "a traced harbour"})
    wait_task(gateway, TEXT2VIDEO, key, task_id)

    def polled(spans: list[Span]) -> bool:
        polls = [
            s
            for s in spans
            if s.name == "tasks.poll" and s.attributes.get("omnirelay.task_id") == task_id
        ]
        return any(_children(spans, poll) for poll in polls)

    spans = collector.wait_for(polled)
    poll = next(
        s
        for s in spans
        if s.name == "tasks.poll"
        and s.attributes.get("omnirelay.task_id") == task_id
        and _children(spans, s)
    )
    assert poll.attributes["omnirelay.vendor"] == "kling"
    child = _children(spans, poll)[0]
    assert child.kind == CLIENT and "/kling/" in child.attributes["url.full"]


def test_nothing_of_opentelemetry_is_loaded_without_an_endpoint(tmp_path: Path) -> None:
    script = f"""
import asyncio, os, sys
for name in list(os.environ):
    if name.startswith("OTEL_"):
        del os.environ[name]
from omnirelay.app import build_app
from omnirelay.config import load_settings
from omnirelay.gateway import Gateway, bootstrap
settings = load_settings(env={{"OMNIRELAY_DATA_DIR": {str(tmp_path)!r}}})
async def main():
    await bootstrap(settings)
    gateway = await Gateway.open(settings)
    build_app(settings)
    tracing = gateway.observer.tracing
    await gateway.close()
    return tracing
tracing = asyncio.run(main())
# redis-py imports OpenTelemetry's metrics API itself when it is installed (as in the tests);
# no tracer, span processor or exporter may be.
ours = ("opentelemetry.sdk.trace", "opentelemetry.exporter")
loaded = sorted(m for m in sys.modules if m.startswith(ours))
print(tracing, loaded)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None []", done.stdout
