"""Logs: one JSON object a line for machines, readable text on a terminal, the level from the
settings; and the access line, one per request, with what an operator needs to follow it
(its id, key id — never the key —, user, model, channel, status, latency, time to first byte,
tokens, cost).
"""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import queue
import sys
import time
from typing import Any, TextIO

ACCESS = logging.getLogger("omnirelay.access")
_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Attributes every LogRecord has; anything else was passed in ``extra``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD and not name.startswith("_"):
                line[name] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """The text format; an access line's fields follow its message as ``name=value``."""

    def __init__(self) -> None:
        super().__init__(_TEXT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = {
            name: value
            for name, value in record.__dict__.items()
            if name not in _STANDARD and not name.startswith("_") and value is not None
        }
        if extra and record.name == ACCESS.name:
            text += " " + " ".join(f"{name}={value}" for name, value in extra.items())
        return text


def configure(
    level: str = "INFO", style: str = "auto", stream: TextIO | None = None
) -> logging.handlers.QueueListener:
    """The process's logging: ``style`` json, text, or auto (text on a terminal).

    Records are formatted and written by a thread of their own (a queue in between), so a
    slow terminal or pipe never holds the event loop; the queue is drained at exit."""
    stream = stream or sys.stderr
    as_text = style == "text" or (style == "auto" and stream.isatty())
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter() if as_text else JsonFormatter())
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = _Writer(records, handler)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(_Enqueue(records))
    root.setLevel(level.upper())
    # aiohttp's own access log is off (``access_log=None``); ours is the access line.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    listener.start()
    atexit.register(listener.stop)
    return listener


class _Writer(logging.handlers.QueueListener):
    """The writing thread; stopping it twice (a test, then the exit) is harmless."""

    def stop(self) -> None:
        if self._thread is not None:
            super().stop()


class _Enqueue(logging.handlers.QueueHandler):
    """Hands records over as they are: the message is rendered once, by the writing thread
    (the standard handler renders it here too and drops the traceback)."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


def access(message: str, fields: dict[str, Any]) -> None:
    """One request's line (``omnirelay.access``, level INFO)."""
    if ACCESS.isEnabledFor(logging.INFO):
        ACCESS.info(message, extra=fields)
