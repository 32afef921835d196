#!/usr/bin/env bash
# Compares bare pass-through stacks (WORKERS processes each) at 64 connections, non-streaming
# and streaming, against the nginx fake upstream of `make bench`: the aiohttp server+client of
# benchmarks/bare_proxy.py (today's ceiling) beside granian's RSGI interface and a Rust client
# (pyreqwest), uvicorn and granian on raw ASGI. CPU per request is the server group's own.
#
#   bash benchmarks/stack_choice.sh [OUT_DIR]       its own fake upstream, one line per stack
#   STACK_UPSTREAM_PORT=N ...                       use a running fake upstream (make bench)
#   STACKS="aiohttp-aiohttp rsgi-pyreqwest" ...     a subset
#   STACK_ROUNDS=3 ...                              rounds, each stack once a round, in turn
#
# One pass of each stack was not enough to decide: on the same quiet machine a stack measured
# 0.77x the ceiling in one run and 1.29x in the next. With rounds, each stack is measured once a
# round (the order rotating), every ratio is taken against the ceiling of the same round, and
# the summary keeps each round's figures.
#
# The stacks come from the project's `bench` extra (pyproject.toml), in the project's venv, so the
# aiohttp and uvloop measured are omnirelay's; STACK_VENV=DIR uses another venv. A stack whose
# package cannot be installed is skipped with the reason.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/benchmarks
VENV=${STACK_VENV:-$ROOT/.venv}
OUT=${1:-$BENCH/results/tmp/stacks-$(date -u +%Y%m%dT%H%M%SZ)}
WORKERS=${BENCH_WORKERS:-2}
DURATION=${STACK_DURATION:-10}
ROUNDS=${STACK_ROUNDS:-1}
WARMUP=${STACK_WARMUP:-2}
PB=${BENCH_PORT_BASE:-18000}
PORT=$((PB + 90))
# Also: uvicorn-aiohttp, uvicorn-httpx (httpx measured ~12x slower than aiohttp in 2026-11).
STACKS=${STACKS:-"aiohttp-aiohttp aiohttp-pyreqwest rsgi-aiohttp rsgi-pyreqwest granian-asgi-aiohttp"}
mkdir -p "$OUT"
log() { printf '[stacks %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
has() { "$VENV/bin/python" -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('$1') is None)"; }
if ! has granian || ! has pyreqwest || ! has uvicorn || ! has httpx; then
  if [ "$VENV" = "$ROOT/.venv" ]; then
    "$VENV/bin/pip" install -q -e "$ROOT[bench]" >>"$OUT/install.log" 2>&1
  else
    "$VENV/bin/pip" install -q aiohttp uvloop granian pyreqwest 'uvicorn[standard]' httpx >>"$OUT/install.log" 2>&1
  fi || log "could not install the bench extra (see $OUT/install.log); missing stacks are skipped"
fi
"$VENV/bin/pip" list 2>/dev/null | grep -iE '^(aiohttp|uvloop|granian|pyreqwest|uvicorn|httpx) ' >"$OUT/versions.txt"

NGINX_CONF=""
if [ -z "${STACK_UPSTREAM_PORT:-}" ]; then
  STACK_UPSTREAM_PORT=$((PB + 80))
  BENCH_UPSTREAM_PORT=$STACK_UPSTREAM_PORT BENCH_PROXY_PORT=$((PB + 81)) BENCH_WORKERS=$WORKERS \
    python3 "$BENCH/fixtures.py" "$OUT/fixtures"
  NGINX_CONF=$OUT/fixtures/nginx-upstream.conf
  nginx -c "$NGINX_CONF" || { log "nginx did not start"; exit 1; }
fi
FIX=${STACK_FIXTURES:-$OUT/fixtures}
UPSTREAM=http://127.0.0.1:$STACK_UPSTREAM_PORT
PID=""
cleanup() {
  [ -n "$PID" ] && kill -TERM -- "-$PID" 2>/dev/null
  [ -n "$NGINX_CONF" ] && nginx -c "$NGINX_CONF" -s stop 2>/dev/null
}
trap cleanup EXIT
NCPU=$(nproc)
LOAD_CPU=$((NCPU - 1))

server_cmd() {  # the command line of one stack
  local granian=("$VENV/bin/granian" --host 127.0.0.1 --port "$PORT" --workers "$WORKERS"
    --loop uvloop --no-ws --log-level warning)
  case $1 in
    aiohttp-aiohttp) echo "$VENV/bin/python bare_proxy.py $PORT $UPSTREAM $WORKERS" ;;
    aiohttp-*) echo "env STACK_CLIENT=${1#aiohttp-} $VENV/bin/python stack_choice.py $PORT $WORKERS" ;;
    rsgi-*) echo "env STACK_CLIENT=${1#rsgi-} ${granian[*]} --interface rsgi stack_choice:rsgi_app" ;;
    granian-asgi-*) echo "env STACK_CLIENT=${1#granian-asgi-} ${granian[*]} --interface asgi stack_choice:app" ;;
    uvicorn-*) echo "env STACK_CLIENT=${1#uvicorn-} $VENV/bin/uvicorn stack_choice:app --host 127.0.0.1 --port $PORT --workers $WORKERS --loop uvloop --http httptools --no-access-log --log-level warning" ;;
  esac
}

measure() {  # measure STACK KIND ROUND
  local stack=$1 kind=$2 round=$3
  BENCH_BODY=$FIX/body-$kind.json BENCH_AUTH="" BENCH_OUT=/dev/null taskset -c "$LOAD_CPU" \
    wrk -t1 -c64 -d"${WARMUP}s" -s "$BENCH/wrk/post.lua" "http://127.0.0.1:$PORT/$kind/v1/chat/completions" >/dev/null
  local before; before=$(python3 "$BENCH/cpu.py" "$PID")
  BENCH_BODY=$FIX/body-$kind.json BENCH_AUTH="" BENCH_OUT=$OUT/$stack-$kind-r$round.json taskset -c "$LOAD_CPU" \
    wrk -t1 -c64 -d"${DURATION}s" --timeout 30s -s "$BENCH/wrk/post.lua" \
    "http://127.0.0.1:$PORT/$kind/v1/chat/completions" >/dev/null
  echo "$before $(python3 "$BENCH/cpu.py" "$PID")" >"$OUT/$stack-$kind-r$round.cpu"
}

# The correctness half: what each client does that the relay relies on (cancellation,
# closing, streaming, reuse, back-pressure). A stack whose client fails a check is not moved to.
"$VENV/bin/python" "$BENCH/client_checks.py" --json "$OUT/client_checks.json" aiohttp pyreqwest httpx \
  >"$OUT/client_checks.txt" 2>&1 || log "client checks failed (see $OUT/client_checks.txt)"

cd "$BENCH"
read -r -a ORDER <<<"$STACKS"
for round in $(seq 1 "$ROUNDS"); do
 for stack in "${ORDER[@]}"; do
  [ -e "$OUT/$stack.skipped" ] && continue
  # shellcheck disable=SC2046
  STACK_UPSTREAM=$UPSTREAM setsid $(server_cmd "$stack") >"$OUT/$stack.log" 2>&1 &
  PID=$!
  ok=""
  for _ in $(seq 1 40); do
    code=$(curl -s -o "$OUT/$stack-check.txt" -w '%{http_code}' -X POST --data-binary "@$FIX/body-sse.json" \
      "http://127.0.0.1:$PORT/sse/v1/chat/completions")
    [ "$code" = 200 ] && { ok=1; break; }
    sleep 0.3
  done
  if [ -z "$ok" ] || ! grep -q '\[DONE\]' "$OUT/$stack-check.txt"; then
    log "$stack: SKIPPED - it did not relay a stream (see $OUT/$stack.log)"
    echo "did not start or did not relay a stream: $(tail -1 "$OUT/$stack.log" | cut -c1-200)" >"$OUT/$stack.skipped"
  else
    sleep 1
    for kind in json sse; do measure "$stack" "$kind" "$round"; done
    log "round $round $stack: $(cut -c1-90 "$OUT/$stack-json-r$round.json") / sse $(cut -c1-60 "$OUT/$stack-sse-r$round.json")"
  fi
  kill -TERM -- "-$PID" 2>/dev/null
  for _ in $(seq 1 25); do kill -0 -- "-$PID" 2>/dev/null || break; sleep 0.2; done
  kill -KILL -- "-$PID" 2>/dev/null
  PID=""
 done
 ORDER=("${ORDER[@]:1}" "${ORDER[0]}")  # the next round starts with the next stack
done
python3 "$BENCH/stack_summary.py" "$OUT" "$ROUNDS" $STACKS
