"""The error envelope of each client format, as its clients read it: for tests that check an
error came back in the right shape (limits, fuzzing)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def openai(body: Any) -> bool:
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and isinstance(error.get("message"), str) and "type" in error


def anthropic(body: Any) -> bool:
    if not isinstance(body, dict) or body.get("type") != "error":
        return False
    error = body.get("error")
    return isinstance(error, dict) and isinstance(error.get("type"), str) and "message" in error


def gemini(body: Any) -> bool:
    error = body.get("error") if isinstance(body, dict) else None
    return (
        isinstance(error, dict)
        and isinstance(error.get("code"), int)
        and isinstance(error.get("message"), str)
        and isinstance(error.get("status"), str)
    )


def kling(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and isinstance(body.get("code"), int)
        and body["code"] != 0
        and isinstance(body.get("message"), str)
        and "request_id" in body
    )


def midjourney(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and isinstance(body.get("code"), int)
        and body["code"] != 1
        and isinstance(body.get("description"), str)
    )


def suno(body: Any) -> bool:
    return isinstance(body, dict) and isinstance(body.get("code"), str) and "message" in body


def ideogram(body: Any) -> bool:
    return isinstance(body, dict) and isinstance(body.get("error"), str)


BY_SURFACE: dict[str, Callable[[Any], bool]] = {
    "openai": openai,
    "responses": openai,
    "admin": openai,
    "account": openai,
    "console": openai,
    "other": openai,
    "anthropic": anthropic,
    "gemini": gemini,
    "kling": kling,
    "midjourney": midjourney,
    "suno": suno,
    "ideogram": ideogram,
}
