"""What observing one request costs on the hot path, in microseconds, measured in-process:
the middleware's own work (surface, request id, header limits), the metrics of one request
(single process, and multiprocess files as ``serve --workers N`` uses them), the access line
(JSON, written by the logging thread to /dev/null), and the JSON depth check of a body.

    .venv/bin/python benchmarks/observability_micro.py [ROUNDS]
"""

from __future__ import annotations

import io
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000


def per_call(
    work: Callable[[], object], rounds: int = ROUNDS, drain: Callable[[], None] | None = None
) -> float:
    """CPU microseconds per call, of every thread (the log writer's included, once drained)."""
    for _ in range(min(rounds, 2000)):  # warm caches and labelled children
        work()
    if drain is not None:
        drain()
    started = time.process_time()
    for _ in range(rounds):
        work()
    if drain is not None:
        drain()
    return (time.process_time() - started) / rounds * 1e6


def drained(writer: object) -> None:
    records = writer.records  # type: ignore[attr-defined]
    while records:
        time.sleep(0.001)
    time.sleep(0.01)  # the last batch is being written


def main() -> None:
    multiprocess = len(sys.argv) > 2 and sys.argv[2] == "--multiprocess"
    if multiprocess:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bench-metrics-")
    from aiohttp.test_utils import make_mocked_request

    from omnirelay.api.limits import check_headers
    from omnirelay.api.middleware import request_id_of
    from omnirelay.api.surfaces import surface_of
    from omnirelay.config import Settings
    from omnirelay.formats.json_limits import largest_string, nesting_exceeds
    from omnirelay.observability import logs
    from omnirelay.observability.observer import Observer
    from omnirelay.platform.context import RequestContext

    settings = Settings()
    headers = {
        "Authorization": "Bearer sk-or-" + "x" * 43,
        "Content-Type": "application/json",
        "User-Agent": "OpenAI/Python 1.99.0",
        "x-stainless-lang": "python",
        "Accept": "application/json",
    }
    request = make_mocked_request("POST", "/v1/chat/completions", headers=headers)
    body = (
        b'{"model":"gpt-4o-mini","messages":[{"role":"system","content":"be brief"},'
        b'{"role":"user","content":"' + b"hello " * 200 + b'"}],"temperature":0.2}'
    )
    with open(os.devnull, "w") as sink:
        writer = logs.configure("INFO", "json", sink)
        observer = Observer("bench", metrics=True)
        found = RequestContext(ip="127.0.0.1", request_id="req_1", surface="openai")
        found.model, found.cost = "gpt-4o-mini", 21
        found.prompt_tokens, found.completion_tokens = 12, 9

        def middleware_own() -> None:
            surface_of(request.path)
            request_id_of(request)
            check_headers(request, settings)

        def metrics_only() -> None:
            assert observer.metrics is not None
            observer.metrics.request("openai", "gpt-4o-mini", 200, 0.012, 0.004, 12, 9, 21)

        def request_done() -> None:
            observer.request_done(
                found, method="POST", path="/v1/chat/completions", status_code=200,
                started=time.perf_counter() - 0.01, prepared=None, channel="upstream",
            )  # fmt: skip

        def quiet_done() -> None:
            observer.request_done(
                found, method="POST", path="/v1/chat/completions", status_code=200,
                started=time.perf_counter() - 0.01, prepared=None, channel="upstream", quiet=True,
            )  # fmt: skip

        def body_checks() -> None:
            nesting_exceeds(body, settings.max_json_depth)
            largest_string(body, settings.max_inline_image_bytes * 4 // 3)

        figures = {
            "middleware (surface, request id, header limits)": per_call(middleware_own),
            "body checks (depth, inlined files), 1.3 KB chat body": per_call(body_checks),
            "metrics of one request": per_call(metrics_only),
            "metrics + context, no access line": per_call(quiet_done),
            "metrics + JSON access line (written by the log thread)": per_call(
                request_done, drain=lambda: drained(writer)
            ),
        }
        writer.stop()
        logging.getLogger().handlers.clear()
    mode = "multiprocess files" if multiprocess else "single process"
    out = io.StringIO()
    print(f"observability cost per request ({mode}, {ROUNDS} rounds, microseconds)", file=out)
    for name, value in figures.items():
        print(f"  {value:8.2f}  {name}", file=out)
    sys.stdout.write(out.getvalue())


if __name__ == "__main__":
    main()
