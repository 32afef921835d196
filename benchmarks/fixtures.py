"""Writes everything a benchmark run needs into one directory: the fake upstream's answers, the
two nginx configurations (upstream and bare proxy hop), omnirelay's TOML, litellm's YAML and the
request bodies wrk sends. Standard library only (runs with the system python3).

    python3 benchmarks/fixtures.py OUT_DIR
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

UPSTREAM_PORT = int(os.environ.get("BENCH_UPSTREAM_PORT", "18080"))
PROXY_PORT = int(os.environ.get("BENCH_PROXY_PORT", "18081"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
# The "slow" stream: the same ~50-event body, sent at this many bytes per second (~8 s a stream).
SLOW_RATE = int(os.environ.get("BENCH_SLOW_RATE", "1500"))
UPSTREAM_KEY = "sk-upstream-bench"
LITELLM_MASTER_KEY = "sk-litellm-bench-master"

# One model per upstream behaviour: the fake upstream answers per path, not per body.
MODELS = {"json": "gpt-4o-mini", "sse": "gpt-4o", "slow": "gpt-4.1-mini"}

CREATED = 1_732_000_000


def chat_completion() -> dict[str, object]:
    return {
        "id": "chatcmpl-bench0000000000000000000000",
        "object": "chat.completion",
        "created": CREATED,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_bench",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Hello! This is a fixed answer from the fake upstream of the "
                    "benchmark. It is about as long as a short real reply, so bodies have a "
                    "realistic size.",
                    "refusal": None,
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 38, "total_tokens": 50},
    }


def sse_body(events: int = 50) -> str:
    """~50 ``chat.completion.chunk`` events, a usage chunk, then ``[DONE]``."""

    def chunk(delta: dict[str, object], finish: str | None = None) -> dict[str, object]:
        return {
            "id": "chatcmpl-bench0000000000000000000001",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": "gpt-4o-2024-08-06",
            "system_fingerprint": "fp_bench",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            "usage": None,
        }

    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": f" word{i}"}) for i in range(events - 3)]
    chunks.append(chunk({}, "stop"))
    usage = chunk({})
    usage["choices"] = []
    usage["usage"] = {"prompt_tokens": 12, "completion_tokens": events - 3, "total_tokens": 59}
    chunks.append(usage)
    lines = [f"data: {json.dumps(c, separators=(',', ':'))}\n\n" for c in chunks]
    return "".join(lines) + "data: [DONE]\n\n"


def kling_submit() -> dict[str, object]:
    return {
        "code": 0,
        "message": "SUCCEED",
        "request_id": "bench-req-0001",
        "data": {
            "task_id": "bench-task-0001",
            "task_status": "submitted",
            "task_info": {},
            "created_at": CREATED * 1000,
            "updated_at": CREATED * 1000,
        },
    }


# The founding page's example request (shared/seed/aggregator-docs-kling-image2video.txt).
KLING_BODY = "\n".join(
    [
        "{",
        '"model_name": "kling-v1",',
        '"image": "https://p2.a.kwimgs.com/bs2/upload-ylab-stunt/ai_portal/1731125871/'
        '6N0QrAnAeU/409-f054fa25c21a.png",',
        '"prompt": "A 20-year-old girl, with an oval face, delicate features, long black hair, '
        "fair skin, and ambient light, wearing a short white skirt, sitting on a bench beside "
        'the street, smiling and shaking her hair",',
        '"mode": "std",',
        '"aspect_ratio": "1:1",',
        '"duration": "5"',
        "}",
    ]
)


def nginx_literal(text: str) -> str:
    """A single-quoted nginx string; the bodies hold no quote, backslash or dollar sign."""
    assert not set("'\\$") & set(text), "body not representable in an nginx literal"
    return "'" + text.replace("\n", "\\n") + "'"


def nginx_common(out: Path, name: str) -> str:
    temp = out / f"nginx-{name}-temp"
    temp.mkdir(exist_ok=True)
    return f"""
worker_processes {WORKERS};
worker_rlimit_nofile 65536;
pid {out}/nginx-{name}.pid;
error_log {out}/nginx-{name}.err warn;
daemon on;
events {{ worker_connections 16384; multi_accept on; }}
http {{
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  client_body_buffer_size 64k;
  client_body_temp_path {temp}/body;
  proxy_temp_path {temp}/proxy;
  fastcgi_temp_path {temp}/fastcgi;
  uwsgi_temp_path {temp}/uwsgi;
  scgi_temp_path {temp}/scgi;
"""


def nginx_upstream(out: Path) -> str:
    completion = json.dumps(chat_completion(), separators=(",", ":"))
    (out / "sse.txt").write_text(sse_body(), encoding="utf-8")
    kling = json.dumps(kling_submit(), separators=(",", ":"))
    return (
        nginx_common(out, "upstream")
        + f"""
  server {{
    listen 127.0.0.1:{UPSTREAM_PORT} reuseport backlog=8192;
    location = /json/v1/chat/completions {{
      default_type application/json; return 200 {nginx_literal(completion)};
    }}
    # Static files answer only GET: a POST gets 405, turned into the file with status 200.
    location = /sse/v1/chat/completions {{
      default_type text/event-stream; alias {out}/sse.txt; error_page 405 =200 $uri;
    }}
    location = /slow/v1/chat/completions {{
      default_type text/event-stream; alias {out}/sse.txt; error_page 405 =200 $uri;
      limit_rate {SLOW_RATE}; sendfile off; output_buffers 1 {SLOW_RATE};
    }}
    location = /kling/v1/videos/image2video {{
      default_type application/json; return 200 {nginx_literal(kling)};
    }}
    location = /healthz {{ return 200 'ok'; }}
  }}
}}
"""
    )


def nginx_proxy(out: Path) -> str:
    return (
        nginx_common(out, "proxy")
        + f"""
  upstream fake {{ server 127.0.0.1:{UPSTREAM_PORT}; keepalive 512; keepalive_requests 10000000; }}
  server {{
    listen 127.0.0.1:{PROXY_PORT} reuseport backlog=8192;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    location / {{ proxy_pass http://fake; }}
    location /sse/ {{ proxy_pass http://fake; proxy_buffering off; }}
    location /slow/ {{ proxy_pass http://fake; proxy_buffering off; }}
  }}
}}
"""
    )


def omnirelay_toml() -> str:
    base = f"http://127.0.0.1:{UPSTREAM_PORT}"
    blocks = [
        f"""[[channels]]
name = "bench-{kind}"
vendor = "openai"
base_url = "{base}/{kind}/v1"
api_key = "{UPSTREAM_KEY}"
models = ["{model}"]
"""
        for kind, model in MODELS.items()
    ]
    # Lights up once the Kling engine is merged (vendor "kling"; credential "access:secret").
    blocks.append(
        f"""[[channels]]
name = "bench-kling"
vendor = "kling"
base_url = "{base}/kling"
api_key = "bench-access:bench-secret"
models = ["kling-v1"]
"""
    )
    return "\n".join(blocks)


def litellm_yaml() -> str:
    base = f"http://127.0.0.1:{UPSTREAM_PORT}"
    entries = "".join(
        f"""  - model_name: {model}
    litellm_params:
      model: openai/{model}
      api_base: {base}/{kind}/v1
      api_key: {UPSTREAM_KEY}
"""
        for kind, model in MODELS.items()
    )
    return f"""model_list:
{entries}
general_settings:
  master_key: {LITELLM_MASTER_KEY}
litellm_settings:
  drop_params: true
  set_verbose: false
  json_logs: false
"""


def request_body(model: str, stream: bool) -> str:
    body: dict[str, object] = {
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Say hello to the benchmark."},
        ],
        "max_tokens": 64,
    }
    if stream:
        body["stream"] = True
    return json.dumps(body)


def main() -> None:
    out = Path(sys.argv[1]).resolve()
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "nginx-upstream.conf": nginx_upstream(out),
        "nginx-proxy.conf": nginx_proxy(out),
        "omnirelay.toml": omnirelay_toml(),
        "litellm.yaml": litellm_yaml(),
        "body-json.json": request_body(MODELS["json"], stream=False),
        "body-sse.json": request_body(MODELS["sse"], stream=True),
        "body-slow.json": request_body(MODELS["slow"], stream=True),
        "body-kling.json": KLING_BODY,
    }
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
