"""Logs: one JSON object a line for machines, readable text on a terminal, the level from the
settings; and the access line, one per request, with what an operator needs to follow it
(its id, key id — never the key —, user, model, channel, status, latency, time to first byte,
tokens, cost).
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import queue
import sys
import threading
import time
from typing import Any, TextIO

import msgspec

ACCESS = logging.getLogger("omnirelay.access")
_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Attributes every LogRecord has; anything else was passed in ``extra``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


def _timestamp(created: float) -> str:
    second = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{second}.{int(created % 1 * 1000):03d}Z"


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

    Records are formatted and written by a thread of their own (a queue in between), in
    batches, so neither a slow terminal or pipe nor a write per line holds the event loop;
    the queue is drained at exit."""
    stream = stream or sys.stderr
    as_text = style == "text" or (style == "auto" and stream.isatty())
    writer = Writer(stream, TextFormatter() if as_text else JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(_Enqueue(writer.records))
    root.setLevel(level.upper())
    # aiohttp's own access log is off (``access_log=None``); ours is the access line.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    writer.start()
    atexit.register(writer.stop)
    return writer


_STOP = logging.LogRecord("stop", 0, "", 0, "", None, None)
BATCH = 512


class Writer:
    """The writing thread: takes every record waiting, formats them, one write and one flush."""

    def __init__(self, stream: TextIO, formatter: logging.Formatter) -> None:
        self.records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self._stream = stream
        self._formatter = formatter
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Write what is queued, then end (twice is harmless: a test, then the exit)."""
        if self._thread is not None:
            self.records.put(_STOP)
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while True:
            batch = [self.records.get()]
            while len(batch) < BATCH:
                try:
                    batch.append(self.records.get_nowait())
                except queue.Empty:
                    break
            stopping = any(record is _STOP for record in batch)
            lines = [self._line(record) for record in batch if record is not _STOP]
            if lines:
                try:
                    self._stream.write("\n".join(lines) + "\n")
                    self._stream.flush()
                except (OSError, ValueError):
                    pass  # nowhere to write (a closed pipe): the lines are lost, not the loop
            if stopping:
                return

    def _line(self, record: logging.LogRecord) -> str:
        try:
            return self._formatter.format(record)
        except Exception as exc:  # noqa: BLE001 - a bad record must not stop the writer
            return f"(a log record could not be formatted: {type(exc).__name__})"


class _Enqueue(logging.handlers.QueueHandler):
    """Hands records over as they are: the message is rendered once, by the writing thread
    (the standard handler renders it here too and drops the traceback)."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


def access(message: str, fields: dict[str, Any]) -> None:
    """One request's line (``omnirelay.access``, level INFO)."""
    if ACCESS.isEnabledFor(logging.INFO):
        ACCESS.handle(AccessRecord(message, fields))
