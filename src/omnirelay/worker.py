"""One serving process: the app on an event loop until a stop drains it.

``omnirelay serve`` runs one in its own process; ``serve --workers N`` has the supervisor start
N of them as ``python -m omnirelay.worker``, which read their settings (pickled, secrets
included) from stdin. This module imports what serving needs and nothing of the command line
(argparse, urllib.request and its email package, the CLI's admin commands).
"""

from __future__ import annotations

import asyncio
import gc
import pickle
import sys
from typing import TYPE_CHECKING

from omnirelay.app import DRAIN, build_app
from omnirelay.draining import serve
from omnirelay.observability import logs

if TYPE_CHECKING:
    from omnirelay.config import Settings

GC_THRESHOLDS = (20_000, 20, 20)


def new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run(settings: Settings, reuse_port: bool) -> None:
    logs.configure(settings.log_level, settings.log_format)
    app = build_app(settings)
    # Everything imported so far lives as long as the process: keep the cyclic collector from
    # walking it again and again (it cost ~10% of the CPU under load), and collect the young
    # generation less often (a request allocates a few hundred objects).
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    # SIGTERM drains (new requests get 503, in-flight ones finish within the grace period).
    loop = new_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(
            serve(
                app,
                app[DRAIN],
                host=settings.host,
                port=settings.port,
                reuse_port=reuse_port,
                grace=settings.shutdown_grace_seconds,
            )
        )
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def main() -> int:
    """A worker of ``serve --workers N``: its settings come on stdin, from the supervisor."""
    settings = pickle.load(sys.stdin.buffer)  # noqa: S301 - written by our own supervisor
    sys.stdin.close()
    run(settings, reuse_port=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
