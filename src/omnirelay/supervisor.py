"""The process that watches the workers of ``serve --workers N``: it starts them, forwards a
stop to them, and cleans up after them. It serves nothing, so it imports nothing that serving
needs: ``omnirelay serve`` prepares the database and then becomes this process (an exec of a
fresh interpreter, same process id), which leaves the ~60 MB of the gateway's modules behind.
Workers are plain child processes (``python -m omnirelay.worker``), not multiprocessing's: its
spawn start method adds a resource-tracker process (~12 MB) that nothing here needs. Not even
the settings are unpickled here (that would import ``omnirelay.config``): they go to each worker
as the bytes they came in. It idles at ~10 MB, of which ~9 are the bare interpreter.

    python -m omnirelay.supervisor FILE   (FILE: what ``handover`` packed; read, then removed)
"""

from __future__ import annotations

import marshal
import os
import signal
import sys

TYPE_CHECKING = False  # typing itself is not needed here at run time
if TYPE_CHECKING:
    from omnirelay.config import Settings

# prometheus-client's own variable (observability.metrics.MULTIPROC_ENV): that module imports
# asyncio, which this process has no use for.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def start_worker(settings: bytes) -> int:
    """One worker (its pid); its settings (secrets included) go by a pipe on its stdin, never
    on the command line. ``posix_spawn``, not ``subprocess``: that module and what it imports
    (threading, selectors...) cost this process ~2 MB for one call per worker."""
    read, write = os.pipe()  # both close on exec; the child gets ``read`` as its stdin
    try:
        # -P: the working directory goes on no import path (a file there shadows no module).
        pid = os.posix_spawn(
            sys.executable,
            [sys.executable, "-P", "-m", "omnirelay.worker"],
            os.environ,
            file_actions=[(os.POSIX_SPAWN_DUP2, read, 0)],
        )
    finally:
        os.close(read)
    with open(write, "wb") as pipe:
        pipe.write(settings)
    return pid


def mark_process_dead(pid: int) -> None:
    """A worker exited: its live gauges stop counting (multiprocess mode)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def serve_many(count: int, settings: bytes) -> None:
    running = [start_worker(settings) for _ in range(count)]

    def stop(*_: object) -> None:
        # Not reaped yet, so still ours (a zombie's pid is not reused until it is reaped).
        for pid in running:
            try:
                os.kill(pid, signal.SIGINT)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while running:
        os.waitpid(running[0], 0)  # retried after a signal's handler ran (PEP 475)
        mark_process_dead(running.pop(0))


def handover(settings: Settings, sandbox_pid: int | None, metrics_dir: str | None) -> None:
    """Becomes the supervisor (never returns). The settings hold secrets: they go by a file
    only this user may read, never on the command line. Output is flushed: an exec drops it."""
    import pickle  # in the command's process; the supervisor's own has no use for them
    import tempfile

    handle, path = tempfile.mkstemp(prefix="omnirelay-serve-")
    with os.fdopen(handle, "wb") as file:
        # marshal: plain values only, and no pickle module to import in the supervisor.
        packed = (settings.workers, pickle.dumps(settings), sandbox_pid, metrics_dir)
        marshal.dump(packed, file)
    sys.stdout.flush()
    sys.stderr.flush()
    # The command as typed rides along, unread: ``ps`` shows it and ``pkill -f "omnirelay
    # serve"`` still finds the gateway (the supervisor stops its workers). Nothing new is
    # exposed: the command line was there before the exec.
    typed = ["omnirelay", *sys.argv[1:]]
    argv = [sys.executable, "-m", "omnirelay.supervisor", path, *typed]
    os.execv(sys.executable, argv)  # noqa: S606


def main(path: str) -> int:
    try:
        with open(path, "rb") as file:
            count, settings, sandbox_pid, metrics_dir = marshal.load(file)  # noqa: S302 - ours
    finally:
        os.unlink(path)
    try:
        serve_many(count, settings)
    finally:
        if sandbox_pid is not None:  # started before the exec: still this process's child
            try:
                os.kill(sandbox_pid, signal.SIGTERM)
                os.waitpid(sandbox_pid, 0)
            except OSError:
                pass
        if metrics_dir is not None:
            import shutil

            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
