"""Logs: one JSON line per request with its id (the client's x-request-id, or a new one given
back in the answer), the key's id never the key, user, model, channel, status, times, tokens
and cost; text on a terminal; the level from the settings."""

from __future__ import annotations

import io
import json
import logging
import time
import uuid
from typing import Any

import httpx

from omnirelay.observability import logs
from tests.support.servers import GatewayProcess


def access_lines(gateway: GatewayProcess) -> list[dict[str, Any]]:
    found = []
    for line in gateway.log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            entry = json.loads(line)  # every structured line parses
            if entry.get("logger") == "omnirelay.access":
                found.append(entry)
    return found


def wait_line(gateway: GatewayProcess, request_id: str, seconds: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for entry in access_lines(gateway):
            if entry.get("request_id") == request_id:
                return entry
        time.sleep(0.05)
    raise AssertionError(f"no access line for {request_id}")


def test_one_json_line_per_request_with_what_an_operator_needs(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("logged")
    user_id = gateway.key_info(key_id)["user_id"]
    request_id = f"client-{uuid.uuid4().hex}"
    response = httpx.post(
        gateway.v1 + "/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "log me"}]},
        headers={"Authorization": f"Bearer {key}", "x-request-id": request_id},
        timeout=30,
    )
    assert response.status_code == 200 and response.headers["x-request-id"] == request_id
    line = wait_line(gateway, request_id)
    assert line["level"] == "info" and line["msg"] == "POST /v1/chat/completions 200"
    assert line["status"] == 200 and line["surface"] == "openai"
    assert line["key_id"] == key_id and line["user_id"] == user_id
    assert line["model"] == "gpt-4o-mini" and line["channel"] == "sandbox-openai"
    assert line["prompt_tokens"] > 0 and line["completion_tokens"] > 0
    assert line["cost_micro_usd"] > 0
    assert line["latency_ms"] >= line["ttfb_ms"] >= 0
    [record] = gateway.wait_for_usage(key_id=key_id, count=1)
    assert record["request_id"] == request_id and record["cost"] == line["cost_micro_usd"]
    assert key not in gateway.log.read_text()


def test_a_request_without_an_id_gets_one_and_bad_ids_are_replaced(
    gateway: GatewayProcess,
) -> None:
    key, _ = gateway.create_key("logged-2")
    headers = {"Authorization": f"Bearer {key}"}
    plain = httpx.get(gateway.v1 + "/models", headers=headers, timeout=30)
    made = plain.headers["x-request-id"]
    assert made.startswith("req_")
    assert wait_line(gateway, made)["path"] == "/v1/models"
    odd = httpx.get(gateway.v1 + "/models", headers={**headers, "x-request-id": "a b;c" * 60})
    assert odd.headers["x-request-id"].startswith("req_")


def test_failed_requests_are_logged_without_the_key(gateway: GatewayProcess) -> None:
    wrong = f"sk-or-{uuid.uuid4().hex}"
    response = httpx.get(
        gateway.v1 + "/models",
        headers={"Authorization": f"Bearer {wrong}", "x-request-id": f"bad-{wrong[-8:]}"},
    )
    assert response.status_code == 401
    line = wait_line(gateway, f"bad-{wrong[-8:]}")
    assert line["status"] == 401 and line["key_id"] is None
    assert wrong not in gateway.log.read_text()


def _emit(style: str, level: str) -> str:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    listener = logs.configure(level, style, stream)
    try:
        logs.access("GET /v1/models 200", {"request_id": "r1", "status": 200, "model": None})
        logging.getLogger("omnirelay.test").warning("careful: %s", "it")
    finally:
        listener.stop()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    return stream.getvalue()


def test_text_on_a_terminal_json_elsewhere_and_the_level_from_config() -> None:
    text = _emit("text", "INFO")
    assert "INFO omnirelay.access: GET /v1/models 200 request_id=r1 status=200" in text
    assert "model=" not in text  # empty fields are left out of the text
    assert "WARNING omnirelay.test: careful: it" in text
    as_json = [json.loads(line) for line in _emit("json", "INFO").splitlines()]
    assert as_json[0]["request_id"] == "r1" and as_json[0]["logger"] == "omnirelay.access"
    assert as_json[1] == {**as_json[1], "level": "warning", "msg": "careful: it"}
    quiet = _emit("json", "WARNING")
    assert "omnirelay.access" not in quiet and "careful" in quiet


def test_access_lines_are_formatted_by_the_caller_and_the_thread_only_writes() -> None:
    """The writing thread takes the GIL only to join and write: an access line is waiting as
    text already, a general record waits to be formatted there. Both come out in order."""
    stream = io.StringIO()
    writer = logs.Writer(stream, logs.JsonFormatter())  # not started: nothing is written yet
    handler = logs._Enqueue(writer.records, writer.formatter)
    handler.handle(logs.AccessRecord("GET /v1/models 200", {"request_id": "r1", "status": 200}))
    other = logging.LogRecord("omnirelay.test", logging.WARNING, "", 0, "careful: %s", ("it",), None)
    handler.handle(other)
    first, second = writer.records
    assert isinstance(first, str) and json.loads(first)["request_id"] == "r1"
    assert second is other
    writer._write_waiting()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["msg"] for line in lines] == ["GET /v1/models 200", "careful: it"]
    assert not writer.records
