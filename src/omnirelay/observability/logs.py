"""Logs: one JSON object a line for machines, readable text on a terminal, the level from the
settings; and the access line, one per request, with what an operator needs to follow it
(its id, key id — never the key —, user, model, channel, status, latency, time to first byte,
tokens, cost).
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import functools
import logging
import sys
import threading
import time
from typing import Any, TextIO

import msgspec

ACCESS = logging.getLogger("omnirelay.access")
_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Attributes every LogRecord has; anything else was passed in ``extra``.
_ENCODE = msgspec.json.Encoder(enc_hook=str).encode
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


@functools.lru_cache(maxsize=8)
def _second(whole: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))


def _timestamp(created: float) -> str:
    # Lines come in order, many a second: the second's text is made once (strftime was a
    # third of an access line's formatting).
    return f"{_second(int(created))}.{int(created % 1 * 1000):03d}Z"


class AccessRecord(logging.LogRecord):
    """An access line's record, made without the caller lookup and process details a general
    record gathers (the hot path makes one per request); its ``fields`` are the line."""

    def __init__(self, message: str, fields: dict[str, Any]) -> None:  # no super(): on purpose
        now = time.time()
        self.name, self.levelno, self.levelname = ACCESS.name, logging.INFO, "INFO"
        self.msg, self.args, self.fields = message, None, fields
        self.exc_info = self.exc_text = self.stack_info = None
        self.created, self.msecs, self.relativeCreated = now, (now % 1) * 1000, 0.0
        self.pathname = self.filename = self.module = self.funcName = ""
        self.lineno = 0
        self.thread = self.threadName = self.process = self.processName = self.taskName = None


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        if type(record) is AccessRecord:  # one a request: the short way
            return _ENCODE(
                {
                    "ts": _timestamp(record.created),
                    "level": "info",
                    "logger": record.name,
                    "msg": record.msg,
                    **record.fields,
                }
            ).decode()
        line: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if isinstance(record, AccessRecord):
            line.update(record.fields)
        else:
            for name, value in record.__dict__.items():
                if name not in _STANDARD and not name.startswith("_"):
                    line[name] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return msgspec.json.encode(line, enc_hook=str).decode()


class TextFormatter(logging.Formatter):
    """The text format; an access line's fields follow its message as ``name=value``."""

    def __init__(self) -> None:
        super().__init__(_TEXT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if isinstance(record, AccessRecord):
            fields = record.fields.items()
            text += " " + " ".join(f"{k}={v}" for k, v in fields if v is not None)
        return text


def configure(level: str = "INFO", style: str = "auto", stream: TextIO | None = None) -> Writer:
    """The process's logging: ``style`` json, text, or auto (text on a terminal).

    Records are formatted and written by a thread of their own (a deque in between), in
    batches on a short tick, so neither a slow terminal or pipe nor a write per line holds
    the event loop; what is waiting is written at exit."""
    stream = stream or sys.stderr
    as_text = style == "text" or (style == "auto" and stream.isatty())
    writer = Writer(stream, TextFormatter() if as_text else JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(_Enqueue(writer.records, writer.formatter))
    root.setLevel(level.upper())
    # aiohttp's own access log is off (``access_log=None``); ours is the access line.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    writer.start()
    atexit.register(writer.stop)
    return writer


BATCH = 512
# How often the writing thread wakes to write what is waiting. Handing each record over by a
# queue woke the thread once per request (a futex and a GIL hand-over on the event loop's
# thread: ~5% of a worker's CPU under load); a deque read on a tick costs the loop nothing.
FLUSH_SECONDS = 0.05


class Writer:
    """The writing thread: every tick takes every line waiting, formats the records among
    them, one write and one flush."""

    def __init__(self, stream: TextIO, formatter: logging.Formatter) -> None:
        # deque.append and popleft are atomic: any thread may log without a lock. Access
        # lines come formatted already (``_Enqueue``), other records are formatted here.
        self.records: collections.deque[logging.LogRecord | str] = collections.deque()
        self._stream = stream
        self.formatter = formatter
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Write what is queued, then end (twice is harmless: a test, then the exit)."""
        if self._thread is not None:
            self._stopping.set()
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.wait(FLUSH_SECONDS):
            self._write_waiting()
        self._write_waiting()

    def _write_waiting(self) -> None:
        records = self.records
        while records:
            batch: list[logging.LogRecord | str] = []
            while records and len(batch) < BATCH:
                batch.append(records.popleft())
            lines = [item if type(item) is str else self._line(item) for item in batch]
            try:
                self._stream.write("\n".join(lines) + "\n")
                self._stream.flush()
            except (OSError, ValueError):
                pass  # nowhere to write (a closed pipe): the lines are lost, not the loop

    def _line(self, record: logging.LogRecord | str) -> str:
        assert not isinstance(record, str)
        try:
            return self.formatter.format(record)
        except Exception as exc:  # noqa: BLE001 - a bad record must not stop the writer
            return f"(a log record could not be formatted: {type(exc).__name__})"


class _Enqueue(logging.Handler):
    """Hands records over as they are: the message is rendered once, by the writing thread
    (the standard queue handler renders it here too and drops the traceback). An access line
    is formatted here, by the request's own thread: formatting a tick's worth of them (a
    hundred and more under load) in the writing thread held the GIL while the event loop
    waited for it, and a thread holding the GIL can be preempted; the writing thread now
    takes it only to join and write."""

    def __init__(
        self, records: collections.deque[logging.LogRecord | str], formatter: logging.Formatter
    ) -> None:
        super().__init__()
        self._records = records
        self._format = formatter.format

    def handle(self, record: logging.LogRecord) -> bool:
        # No handler lock: the append is atomic.
        if not self.filter(record):
            return False
        line: logging.LogRecord | str = record
        if type(record) is AccessRecord:
            # A record that cannot be formatted goes as it is: the writing thread says so.
            with contextlib.suppress(Exception):
                line = self._format(record)
        self._records.append(line)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        self._records.append(record)


def access(message: str, fields: dict[str, Any]) -> None:
    """One request's line (``omnirelay.access``, level INFO)."""
    if ACCESS.isEnabledFor(logging.INFO):
        ACCESS.handle(AccessRecord(message, fields))
