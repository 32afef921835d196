"""Server-sent events: split a byte stream into whole events as it arrives, without I/O."""

from __future__ import annotations

DONE = b"data: [DONE]\n\n"


class EventSplitter:
    """Feed raw chunks, get back complete events (each ending in a blank line).

    Upstreams may end lines with CRLF; events are normalised to LF so downstream code has
    one separator to look for.
    """

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        data = self._buffer + chunk if self._buffer else chunk
        if b"\r" in data:
            # Normalise after joining: a CRLF may straddle two chunks.
            data = data.replace(b"\r\n", b"\n")
        if b"\n\n" not in data:
            self._buffer = data
            return []
        parts = data.split(b"\n\n")
        self._buffer = parts.pop()
        return [part + b"\n\n" for part in parts if part.strip()]

    def completes(self, chunk: bytes) -> int:
        """How many bytes at the start of ``chunk`` end the event begun in an earlier chunk (0
        if none is waiting, -1 if ``chunk`` does not end it, or the end cannot be told by a
        plain search: a CR, or a line end split across the two chunks)."""
        if not self._buffer:
            return 0
        if self._buffer.endswith((b"\n", b"\r")) or b"\r" in chunk:
            return -1
        at = chunk.find(b"\n\n")
        return at + 2 if at >= 0 else -1

    def rest(self) -> bytes:
        """Whatever arrived after the last complete event (a stream cut mid-event)."""
        rest, self._buffer = self._buffer, b""
        return rest


def data_of(event: bytes) -> bytes | None:
    """The joined ``data:`` payload of one event, or None for comments and empty events."""
    payload: list[bytes] = []
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            value = line[5:]
            payload.append(value[1:] if value.startswith(b" ") else value)
    return b"\n".join(payload) if payload else None


def encode_data(payload: bytes, event: str | None = None) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + payload + b"\n\n"
