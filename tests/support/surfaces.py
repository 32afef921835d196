"""One call on each client surface, as its client sees it: for the fault matrix and the audit.

Every driver returns a ``Seen``: the HTTP status, the error as the client's own format names it
(OpenAI ``type/code``, a Kling or midjourney-proxy code, Suno's word), a stream's events and the
code of the error event that ended it, and for a task, how it ended.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.servers import GatewayProcess

FINISHED = {"succeed", "failed", "SUCCESS", "FAILURE"}


@dataclass
class Seen:
    status: int
    error: str | None = None  # e.g. "timeout_error/upstream_timeout", "kling:5002"
    retry_after: str | None = None
    events: int = 0  # stream: data events before the end
    error_event: str | None = None  # stream: the code of the error event that ended it
    done: bool = False  # stream: it ended properly ([DONE])
    task_id: str | None = None
    task_status: str | None = None  # how a task ended
    broken: str | None = None  # the connection broke (a killed node): the exception's name


def _openai_error(response: httpx.Response) -> str | None:
    try:
        error = response.json().get("error")
    except ValueError:
        return "not-json"
    if not isinstance(error, dict):
        return None
    return f"{error.get('type')}/{error.get('code')}"


def _plain(response: httpx.Response, error: str | None) -> Seen:
    return Seen(response.status_code, error, response.headers.get("Retry-After"))


def chat(
    gw: GatewayProcess,
    key: str,
    text: str,
    *,
    model: str = "gpt-4o-mini",
    max_tokens: int = 64,
    timeout: float = 30,
) -> Seen:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": text}],
        "max_tokens": max_tokens,
    }
    response = httpx.post(
        gw.v1 + "/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=timeout,
    )
    return _plain(response, None if response.status_code == 200 else _openai_error(response))


def stream(
    gw: GatewayProcess,
    key: str,
    text: str,
    *,
    model: str = "gpt-4o-mini",
    max_tokens: int = 64,
    on_event: Any = None,
) -> Seen:
    """A streamed chat completion; ``on_event(n)`` is called after the n-th event."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": text}],
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    headers = {"Authorization": f"Bearer {key}"}
    seen = Seen(0)
    try:
        with httpx.stream(
            "POST", gw.v1 + "/chat/completions", json=body, headers=headers, timeout=30
        ) as response:
            seen.status = response.status_code
            seen.retry_after = response.headers.get("Retry-After")
            if response.status_code != 200:
                response.read()
                seen.error = _openai_error(response)
                return seen
            for line in response.iter_lines():
                if not line.startswith("data: "):
                    continue
                payload = line[6:]
                if payload == "[DONE]":
                    seen.done = True
                    continue
                event = json.loads(payload)
                if "error" in event:
                    seen.error_event = str(event["error"].get("code"))
                    continue
                seen.events += 1
                if on_event is not None:
                    on_event(seen.events)
    except httpx.HTTPError as exc:
        seen.broken = type(exc).__name__
    return seen


def embeddings(gw: GatewayProcess, key: str, text: str) -> Seen:
    return embeddings_of(gw, key, text, "text-embedding-3-small")


def embeddings_of(gw: GatewayProcess, key: str, text: str, model: str) -> Seen:
    response = httpx.post(
        gw.v1 + "/embeddings",
        json={"model": model, "input": text},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    return _plain(response, None if response.status_code == 200 else _openai_error(response))


def images(gw: GatewayProcess, key: str, text: str, model: str = "dall-e-2") -> Seen:
    body: dict[str, Any] = {"model": model, "prompt": text, "n": 1}
    if model == "dall-e-2":
        body["size"] = "256x256"
    response = httpx.post(
        gw.v1 + "/images/generations",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    return _plain(response, None if response.status_code == 200 else _openai_error(response))


def flux(gw: GatewayProcess, key: str, text: str, model: str = "flux-dev") -> Seen:
    """Flux through the OpenAI images API: the task is waited for inside the request."""
    seen = images(gw, key, text, model)
    seen.task_status = "succeed" if seen.status == 200 else "failed"
    return seen


def _wait(fetch: Any, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = fetch()
        if status in FINISHED:
            return str(status)
        time.sleep(0.1)
    return "unfinished"


def kling(
    gw: GatewayProcess, key: str, text: str, *, model: str = "kling-v1", wait: float = 30
) -> Seen:
    headers = {"Authorization": f"Bearer {key}"}
    if model == "kling-v1":
        path, body = "/kling/v1/images/generations", {"model_name": model, "prompt": text}
    else:
        path, body = "/kling/v1/videos/text2video", {"model_name": model, "prompt": text}
    response = httpx.post(gw.url + path, json=body, headers=headers, timeout=30)
    reply = response.json()
    seen = Seen(response.status_code, retry_after=response.headers.get("Retry-After"))
    if response.status_code != 200 or reply.get("code") != 0:
        seen.error = f"kling:{reply.get('code')}"
        return seen
    seen.task_id = reply["data"]["task_id"]
    seen.task_status = kling_status(gw, key, seen.task_id or "", wait, path) if wait else None
    return seen


def kling_status(
    gw: GatewayProcess,
    key: str,
    task_id: str,
    wait: float,
    path: str = "/kling/v1/images/generations",
) -> str:
    """How a Kling task ended, asked of ``gw`` (any node) until it did or ``wait`` passed."""
    headers = {"Authorization": f"Bearer {key}"}

    def fetch() -> str:
        found = httpx.get(f"{gw.url}{path}/{task_id}", headers=headers, timeout=30)
        return str(found.json()["data"]["task_status"])

    return _wait(fetch, wait)


def midjourney(
    gw: GatewayProcess, key: str, text: str, *, prefix: str = "/mj", wait: float = 30
) -> Seen:
    headers = {"mj-api-secret": key}
    response = httpx.post(
        f"{gw.url}{prefix}/submit/imagine", json={"prompt": text}, headers=headers, timeout=30
    )
    seen = Seen(response.status_code, retry_after=response.headers.get("Retry-After"))
    try:
        reply = response.json()
    except ValueError:
        seen.error = "mj:not-json"
        return seen
    if reply.get("code") not in (1, 21, 22):
        seen.error = f"mj:{reply.get('code')}"
        return seen
    seen.task_id = str(reply["result"])

    def fetch() -> str:
        found = httpx.get(f"{gw.url}/mj/task/{seen.task_id}/fetch", headers=headers, timeout=30)
        return str(found.json()["status"])

    seen.task_status = _wait(fetch, wait) if wait else None
    return seen


def suno(
    gw: GatewayProcess, key: str, text: str, *, model: str = "chirp-v3-5", wait: float = 30
) -> Seen:
    headers = {"Authorization": f"Bearer {key}"}
    body = {"gpt_description_prompt": text, "mv": model}
    response = httpx.post(f"{gw.url}/suno/submit/music", json=body, headers=headers, timeout=30)
    seen = Seen(response.status_code, retry_after=response.headers.get("Retry-After"))
    reply = response.json()
    if response.status_code != 200 or reply.get("code") != "success":
        seen.error = f"suno:{reply.get('code')}"
        return seen
    seen.task_id = str(reply["data"])

    def fetch() -> str:
        found = httpx.get(f"{gw.url}/suno/fetch/{seen.task_id}", headers=headers, timeout=30)
        return str(found.json()["data"]["status"])

    seen.task_status = _wait(fetch, wait) if wait else None
    return seen
