#!/usr/bin/env bash
# Compares bare pass-through stacks (2 workers each) at 64 connections against the fake
# upstream that `make bench` leaves configured: aiohttp server+client (benchmarks/bare_proxy.py)
# vs uvicorn or granian serving a raw ASGI app with an httpx or aiohttp client.
# Usage: bash benchmarks/stack_choice.sh [VENV_WITH_UVICORN_GRANIAN_HTTPX]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${1:-$ROOT/benchmarks/.stack-venv}
[ -x "$VENV/bin/python" ] || { python3 -m venv "$VENV"; "$VENV/bin/pip" install -q 'uvicorn[standard]' granian httpx aiohttp uvloop; }
CONF=$(ls -d "$ROOT"/benchmarks/results/tmp/*/ | tail -1)nginx-upstream.conf
[ -f "$CONF" ] || { echo "run 'make bench' once first (it writes the fake upstream's config)"; exit 1; }
nginx -c "$CONF"; trap 'nginx -c "$CONF" -s stop' EXIT
sleep 1
BODY=$(ls -d "$ROOT"/benchmarks/results/tmp/*/ | tail -1)body-json.json
run() {  # name, then the server command
  local name=$1; shift
  setsid "$@" >/tmp/stack-$name.log 2>&1 & local pid=$!
  sleep 3
  BENCH_BODY=$BODY BENCH_AUTH="" BENCH_OUT=/tmp/stack-$name.json taskset -c 1 \
    wrk -t1 -c64 -d10s -s "$ROOT/benchmarks/wrk/post.lua" \
    "http://127.0.0.1:18090/json/v1/chat/completions" >/dev/null
  echo "$name: $(cat /tmp/stack-$name.json)"
  kill -- -"$pid" 2>/dev/null || kill "$pid"; sleep 1
}
cd "$ROOT/benchmarks"
run aiohttp-aiohttp "$VENV/bin/python" bare_proxy.py 18090 http://127.0.0.1:18080 2
STACK_CLIENT=httpx run uvicorn-httpx "$VENV/bin/uvicorn" stack_choice:app --port 18090 --workers 2 --loop uvloop --http httptools --no-access-log --log-level warning
STACK_CLIENT=aiohttp run uvicorn-aiohttp "$VENV/bin/uvicorn" stack_choice:app --port 18090 --workers 2 --loop uvloop --http httptools --no-access-log --log-level warning
STACK_CLIENT=aiohttp run granian-aiohttp "$VENV/bin/granian" --interface asgi --port 18090 --workers 2 --loop uvloop --no-ws stack_choice:app
STACK_CLIENT=httpx run granian-httpx "$VENV/bin/granian" --interface asgi --port 18090 --workers 2 --loop uvloop --no-ws stack_choice:app
