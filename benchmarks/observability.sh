#!/usr/bin/env bash
# What observability costs the hot path, before and after (issue 14): omnirelay in front of the
# benchmark's fake upstream (nginx), chat at 64 connections, in four configurations:
#   base           the code of BENCH_BASE_REV (default: main), before this work
#   quiet          this branch, metrics off, access log off (OMNIRELAY_METRICS=0, level WARNING)
#   metrics        metrics on, access log off
#   metrics+logs   metrics on and one JSON access line per request (the default)
# Each figure is the server's CPU time per request (robust on a shared box) and wrk's rate and
# latency. Then the in-process micro-benchmark (observability_micro.py), single process and
# multiprocess. Loopback only; everything started here is stopped on exit.
#
#   make bench-observability                  (~3 min)
#   BENCH_DURATION=20 BENCH_WORKERS=2 make bench-observability
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH=$ROOT/benchmarks
PY=$ROOT/.venv/bin/python
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-3}
WORKERS=${BENCH_WORKERS:-2}
CONNS=${BENCH_CONNECTIONS:-64}
# Before this work: where this branch left main (or any revision given).
BASE_REV=${BENCH_BASE_REV:-$(git merge-base HEAD main)}
ROUNDS=${BENCH_ROUNDS:-3}
UPSTREAM_PORT=18580 OMNI_PORT=18590
export BENCH_UPSTREAM_PORT=$UPSTREAM_PORT BENCH_PROXY_PORT=18581 BENCH_WORKERS=$WORKERS
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
TMP=$BENCH/results/tmp/observability-$STAMP
REPORT=$BENCH/results/observability-$STAMP.md
mkdir -p "$TMP"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

GROUPS_STARTED=()
cleanup() {
  for pgid in "${GROUPS_STARTED[@]}"; do kill -TERM -- "-$pgid" 2>/dev/null || true; done
  [ -f "$TMP/nginx-upstream.pid" ] && "$NGINX" -c "$TMP/nginx-upstream.conf" -s stop 2>/dev/null
  return 0
}
trap cleanup EXIT
wait_http() {
  local deadline=$((SECONDS + 60))
  until curl -fsS -o /dev/null "$1" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { log "timed out waiting for $1"; return 1; }
    sleep 0.3
  done
}

python3 "$BENCH/fixtures.py" "$TMP"
"$NGINX" -c "$TMP/nginx-upstream.conf"
wait_http "http://127.0.0.1:$UPSTREAM_PORT/healthz"

# The code before: an export of BASE_REV, run with this venv's packages (a superset).
BASE_SRC=$TMP/base-src
mkdir -p "$BASE_SRC"
git archive "$BASE_REV" src | tar -x -C "$BASE_SRC"

ADMIN_KEY=sk-or-bench-admin-0123456789
run_config() {  # run_config NAME PYTHONPATH [ENV=VALUE...]
  local name=$1 pythonpath=$2; shift 2
  local data=$TMP/$name-$round-data  # a fresh database each round
  mkdir -p "$data"
  local envs=(OMNIRELAY_DATA_DIR="$data" OMNIRELAY_ADMIN_KEY=$ADMIN_KEY PYTHONPATH="$pythonpath" "$@")
  local key
  key=$(env "${envs[@]}" "$PY" -m omnirelay keys create --config "$TMP/omnirelay.toml" \
    --name bench --quota 1000000 2>/dev/null | tail -1)
  setsid env "${envs[@]}" "$PY" -m omnirelay serve --config "$TMP/omnirelay.toml" \
    --workers "$WORKERS" --port "$OMNI_PORT" >"$TMP/$name.log" 2>&1 &
  local pgid=$!
  GROUPS_STARTED+=("$pgid")
  wait_http "http://127.0.0.1:$OMNI_PORT/healthz"
  local url=http://127.0.0.1:$OMNI_PORT/v1/chat/completions
  BENCH_BODY=$TMP/body-json.json BENCH_AUTH=$key BENCH_OUT=/dev/null \
    wrk -t1 -c"$CONNS" -d"${WARMUP}s" -s "$BENCH/wrk/post.lua" "$url" >/dev/null
  local before; before=$(python3 "$BENCH/cpu.py" "$pgid")
  BENCH_BODY=$TMP/body-json.json BENCH_AUTH=$key BENCH_OUT=$TMP/$name.json \
    wrk -t1 -c"$CONNS" -d"${DURATION}s" -s "$BENCH/wrk/post.lua" "$url" >"$TMP/$name.wrk.txt"
  local after; after=$(python3 "$BENCH/cpu.py" "$pgid")
  kill -TERM -- "-$pgid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 -- "-$pgid" 2>/dev/null || break; sleep 0.2; done
  "$PY" - "$TMP/$name.json" "$before" "$after" "$name" >>"$TMP/runs.jsonl" <<'EOF'
import json, sys
data = json.load(open(sys.argv[1])); cpu = float(sys.argv[3]) - float(sys.argv[2])
data.update(name=sys.argv[4], cpu_us=cpu / max(data["requests"], 1) * 1e6)
print(json.dumps(data))
EOF
  log "$name: $(tail -1 "$TMP/runs.jsonl")"
}

# Rounds interleave the configurations, so a burst of load elsewhere spreads over all of them.
: >"$TMP/runs.jsonl"
for round in $(seq 1 "$ROUNDS"); do
  log "round $round of $ROUNDS"
  run_config base "$BASE_SRC/src"
  run_config quiet "$ROOT/src" OMNIRELAY_METRICS=0 OMNIRELAY_LOG_LEVEL=WARNING
  run_config metrics "$ROOT/src" OMNIRELAY_LOG_LEVEL=WARNING
  run_config metrics+logs "$ROOT/src"
done
"$PY" - "$TMP/runs.jsonl" >"$TMP/rows.md" <<'EOF'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
for name in ("base", "quiet", "metrics", "metrics+logs"):
    mine = [r for r in runs if r["name"] == name]
    def med(key):
        return statistics.median(r[key] for r in mine)
    cpus = ", ".join(f"{r['cpu_us']:.0f}" for r in mine)
    errors = sum(sum(r["errors"].values()) for r in mine)
    print(f"| {name} | {med('rps'):.0f} | {med('cpu_us'):.0f} ({cpus}) | {med('p50_ms'):.2f} | "
          f"{med('p99_ms'):.2f} | {errors} |")
EOF

{
  echo "# Observability overhead, $STAMP"
  echo
  echo "omnirelay, $WORKERS workers, chat (JSON answer) at $CONNS connections for ${DURATION}s against"
  echo "the fake upstream; $(nproc) cores shared with everything else on the machine (compare the"
  echo "CPU per request, which load elsewhere disturbs less than the rate). base = $BASE_REV"
  echo "($(git rev-parse --short "$BASE_REV")), the others = $(git rev-parse --short HEAD)."
  echo
  echo "Medians of $ROUNDS interleaved rounds (each round's CPU figure in brackets)."
  echo
  echo "| configuration | requests/s | server CPU µs/request | p50 ms | p99 ms | errors |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: |"
  cat "$TMP/rows.md"
  echo
  echo '```'
  "$PY" "$BENCH/observability_micro.py" 30000
  "$PY" "$BENCH/observability_micro.py" 30000 --multiprocess
  echo '```'
} >"$REPORT"
cat "$REPORT"
