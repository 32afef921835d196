"""The process that watches the workers of ``serve --workers N``: it starts them, forwards a
stop to them, and cleans up after them. It serves nothing, so it imports nothing that serving
needs: ``omnirelay serve`` prepares the database and then becomes this process (an exec of a
fresh interpreter, same process id), which leaves the ~60 MB of the gateway's modules behind.

    python -m omnirelay.supervisor FILE   (FILE: what ``handover`` packed; read, then removed)
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import shutil
import signal
import sys
import tempfile
from contextlib import suppress
from typing import TYPE_CHECKING

from omnirelay.observability.metrics import mark_process_dead

if TYPE_CHECKING:
    from omnirelay.config import Settings


def _worker(settings: Settings, reuse_port: bool) -> None:
    from omnirelay.cli import _run_worker  # the worker's process imports the gateway

    _run_worker(settings, reuse_port)


def serve_many(settings: Settings) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_worker, args=(settings, True), daemon=False)
        for _ in range(settings.workers)
    ]
    for worker in workers:
        worker.start()

    def stop(*_: object) -> None:
        for worker in workers:
            if worker.is_alive() and worker.pid is not None:
                os.kill(worker.pid, signal.SIGINT)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for worker in workers:
        worker.join()
        if worker.pid is not None:
            mark_process_dead(worker.pid)


def handover(settings: Settings, sandbox_pid: int | None, metrics_dir: str | None) -> None:
    """Becomes the supervisor (never returns). The settings hold secrets: they go by a file
    only this user may read, never on the command line. Output is flushed: an exec drops it."""
    handle, path = tempfile.mkstemp(prefix="omnirelay-serve-")
    with os.fdopen(handle, "wb") as file:
        pickle.dump((settings, sandbox_pid, metrics_dir), file)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "omnirelay.supervisor", path])  # noqa: S606


def main(path: str) -> int:
    try:
        with open(path, "rb") as file:
            settings, sandbox_pid, metrics_dir = pickle.load(file)  # noqa: S301 - our own file
    finally:
        os.unlink(path)
    from omnirelay.observability import logs

    logs.configure(settings.log_level, settings.log_format)
    try:
        serve_many(settings)
    finally:
        if sandbox_pid is not None:  # started before the exec: still this process's child
            with suppress(OSError):
                os.kill(sandbox_pid, signal.SIGTERM)
                os.waitpid(sandbox_pid, 0)
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
