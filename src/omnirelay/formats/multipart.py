"""multipart/form-data bodies: read the fields of an upload, and write one back."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP


@dataclass(frozen=True, slots=True)
class Part:
    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None


def parse_form(body: bytes, content_type: str) -> list[Part]:
    """Split a multipart/form-data body into its parts (raises ValueError if it is not one)."""
    if (
        not content_type.lower().startswith("multipart/form-data")
        or "boundary=" not in content_type
    ):
        raise ValueError("expected a multipart/form-data body with a boundary")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise ValueError("the multipart body has no parts")
    parts: list[Part] = []
    for item in message.iter_parts():
        assert isinstance(item, Message)
        name = item.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = item.get_payload(decode=True)
        filename = item.get_filename()
        parts.append(
            Part(
                name=name,
                data=payload if isinstance(payload, bytes) else b"",
                filename=filename,
                content_type=item.get_content_type() if filename else None,
            )
        )
    return parts


def field(parts: list[Part], name: str) -> str | None:
    for part in parts:
        if part.name == name and part.filename is None:
            return part.data.decode("utf-8", "replace")
    return None


def encode_form(parts: list[Part]) -> tuple[bytes, str]:
    """Write parts as a multipart/form-data body; returns (body, content type)."""
    boundary = "omnirelay" + secrets.token_hex(16)
    chunks: list[bytes] = []
    for part in parts:
        disposition = f'form-data; name="{part.name}"'
        if part.filename is not None:
            disposition += f'; filename="{part.filename}"'
        headers = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        if part.content_type:
            headers += f"Content-Type: {part.content_type}\r\n"
        chunks += [headers.encode(), b"\r\n", part.data, b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"
