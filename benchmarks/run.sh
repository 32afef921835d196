#!/usr/bin/env bash
# The benchmark: direct (fake upstream), a bare nginx proxy hop, a bare aiohttp pass-through
# (the Python ceiling), omnirelay on SQLite and PostgreSQL, and the peers - litellm, Portkey's
# gateway, Bifrost (benchmarks/peers/install.sh) - same machine, same run, same worker count;
# then the task poller at 10,000 in flight, the platform's hot-path costs and a profile of one
# omnirelay worker. Loopback only; everything started here is stopped on exit.
#
#   make bench                      full run (~20 min on 2 cores)
#   BENCH_QUICK=1 make bench        short durations, for iteration
#   BENCH_TARGETS="direct omnirelay-sqlite" make bench     a subset
#   BENCH_SCENARIOS="chat stream" make bench              chat | stream | kling | slow
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH=$ROOT/benchmarks

QUICK=${BENCH_QUICK:-0}
WORKERS=${BENCH_WORKERS:-2}
if [ "$QUICK" = 1 ]; then
  WARMUP=${BENCH_WARMUP:-1}; DURATION=${BENCH_DURATION:-4}; SLOW_DURATION=12; PROBES=50
else
  WARMUP=${BENCH_WARMUP:-3}; DURATION=${BENCH_DURATION:-10}; SLOW_DURATION=15; PROBES=200
fi
TARGETS=${BENCH_TARGETS:-"direct nginx aiohttp omnirelay-sqlite omnirelay-postgres litellm portkey bifrost stacks poller platform profile"}
# slow before kling: the Kling run leaves thousands of tasks in flight, polled for the rest of
# the target's run, and the memory of 1,000 streams is measured without them.
SCENARIOS=${BENCH_SCENARIOS:-"chat stream slow kling"}
CONNECTIONS=${BENCH_CONNECTIONS:-"1 16 64 256"}
SLOW_CONNECTIONS=${BENCH_SLOW_CONNECTIONS:-1000}

# BENCH_PORT_BASE moves every port at once (two runs on one shared machine must not collide).
PB=${BENCH_PORT_BASE:-18000}
UPSTREAM_PORT=$((PB + 80)) PROXY_PORT=$((PB + 81)) AIOHTTP_PORT=$((PB + 300)) OMNI_PORT=$((PB + 100))
LITELLM_PORT=$((PB + 200)) PORTKEY_PORT=$((PB + 400)) BIFROST_PORT=$((PB + 500)) PG_PORT=$((PB + 432))
TASKVENDOR_PORT=$((PB + 600))
export BENCH_UPSTREAM_PORT=$UPSTREAM_PORT BENCH_PROXY_PORT=$PROXY_PORT BENCH_WORKERS=$WORKERS

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${BENCH_RESULTS:-$BENCH/results}  # where the table, JSON and plot go
TMP=$OUT/tmp/$STAMP
mkdir -p "$TMP"
PY=$ROOT/.venv/bin/python
LITELLM_VENV=$BENCH/.litellm-venv
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# --- cores: keep the load generator off the servers' cores when there are enough of them ---
NCPU=$(nproc)
if [ "$NCPU" -ge 4 ]; then
  SERVER_CPUS="0-$((NCPU / 2 - 1))"; LOAD_CPUS="$((NCPU / 2))-$((NCPU - 1))"; WRK_THREADS=$((NCPU / 2))
else
  # Two cores cannot be split three ways: servers may use both, wrk (1 thread) stays on the last.
  SERVER_CPUS="0-$((NCPU - 1))"; LOAD_CPUS="$((NCPU - 1))"; WRK_THREADS=1
fi

# --- tools -------------------------------------------------------------------------------
need_apt=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
command -v wrk >/dev/null || need_apt+=(wrk)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]} from apt"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if ! "$PY" -c 'import matplotlib, granian, pyreqwest' 2>/dev/null; then
  log "installing the plotting extra (.[bench])"
  "$ROOT/.venv/bin/pip" install --quiet -e "$ROOT[bench]"
fi

# --- lifecycle: every process group started here is stopped on exit -------------------------
GROUPS_STARTED=()
PG_DATA=""
cleanup() {
  set +e
  for pgid in "${GROUPS_STARTED[@]}"; do stop_group "$pgid"; done
  for name in upstream proxy; do
    [ -f "$TMP/nginx-$name.pid" ] && "$NGINX" -c "$TMP/nginx-$name.conf" -s stop 2>/dev/null
  done
  [ -n "$PG_DATA" ] && runas_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast stop >/dev/null 2>&1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_group LOGFILE CMD...: runs CMD as the leader of a new process group; prints its id.
start_group() {
  local logfile=$1; shift
  setsid taskset -c "$SERVER_CPUS" "$@" >"$logfile" 2>&1 &
  local pid=$!
  GROUPS_STARTED+=("$pid")
  echo "$pid"
}
stop_group() {
  local pgid=$1
  kill -TERM -- "-$pgid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do kill -0 -- "-$pgid" 2>/dev/null || return 0; sleep 0.2; done
  kill -KILL -- "-$pgid" 2>/dev/null || true
}
wait_http() {  # wait_http URL [SECONDS]
  local deadline=$((SECONDS + ${2:-60}))
  until curl -fsS -o /dev/null "$1" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { log "timed out waiting for $1"; return 1; }
    sleep 0.3
  done
}

# --- the fake upstream and the bare proxy hop ------------------------------------------------
python3 "$BENCH/fixtures.py" "$TMP"
taskset -c "$SERVER_CPUS" "$NGINX" -c "$TMP/nginx-upstream.conf"
taskset -c "$SERVER_CPUS" "$NGINX" -c "$TMP/nginx-proxy.conf"
wait_http "http://127.0.0.1:$UPSTREAM_PORT/healthz"
log "fake upstream on :$UPSTREAM_PORT, nginx proxy hop on :$PROXY_PORT; ${NCPU} cores," \
  "servers on $SERVER_CPUS, wrk ($WRK_THREADS thread) on $LOAD_CPUS; warm-up ${WARMUP}s, runs ${DURATION}s"

# --- one measurement ---------------------------------------------------------------------------
# measure TARGET SCENARIO CONNS DURATION URL BODY AUTH
# Also records the CPU time the target's processes used during the run (robust to a busy box).
measure() {
  local target=$1 scenario=$2 conns=$3 duration=$4 url=$5 body=$6 auth=$7
  local pgid; pgid=$(cat "$TMP/$target/pgid")
  local threads=$((conns < WRK_THREADS ? conns : WRK_THREADS))
  local dir=$TMP/$target
  mkdir -p "$dir"
  BENCH_BODY=$body BENCH_AUTH=$auth BENCH_OUT=/dev/null taskset -c "$LOAD_CPUS" \
    wrk -t"$threads" -c"${WARMUP_CONNS:-$conns}" -d"${WARMUP}s" --timeout 30s -s "$BENCH/wrk/post.lua" "$url" >/dev/null
  local cpu_before; cpu_before=$(python3 "$BENCH/cpu.py" "$pgid")
  BENCH_BODY=$body BENCH_AUTH=$auth BENCH_OUT=$dir/$scenario.json taskset -c "$LOAD_CPUS" \
    wrk -t"$threads" -c"$conns" -d"${duration}s" --timeout 30s -s "$BENCH/wrk/post.lua" "$url" \
    >"$dir/$scenario.wrk.txt"
  echo "$cpu_before $(python3 "$BENCH/cpu.py" "$pgid")" >"$dir/$scenario.cpu"
  log "$target $scenario: $(cat "$dir/$scenario.json")"
}

# ttfb_probe URL BODY AUTH COUNT OUTFILE: one keep-alive curl, COUNT requests, one line each of
# "pretransfer starttransfer total" in seconds (server time to first byte = start - pre).
ttfb_probe() {
  local url=$1 body=$2 auth=$3 count=$4 outfile=$5
  local args=(-s -X POST -H "Content-Type: application/json" --data-binary "@$body"
    -w '%{time_pretransfer} %{time_starttransfer} %{time_total}\n')
  [ -n "$auth" ] && args+=(-H "Authorization: Bearer $auth")
  local line
  while IFS= read -r line; do [ -n "$line" ] && args+=(-H "$line"); done <<<"${BENCH_HEADERS:-}"
  for _ in $(seq 1 "$count"); do args+=(-o /dev/null "$url"); done
  taskset -c "$LOAD_CPUS" curl "${args[@]}" >"$outfile" 2>/dev/null || true
}

# run_target TARGET BASE PATH_CHAT PATH_KLING AUTH PGID
# PATH_CHAT is a pattern where {kind} becomes json|sse|slow (the fake upstream's behaviours).
run_target() {
  local target=$1 base=$2 chat=$3 kling=$4 auth=$5 pgid=$6
  local dir=$TMP/$target
  mkdir -p "$dir"
  echo "$pgid" >"$dir/pgid"
  url_for() { echo "$base${chat//\{kind\}/$1}"; }
  # A peer that routes by header (HEADERS_PATTERN, with {kind}) gets them in wrk and curl.
  use_headers() { local pattern=${HEADERS_PATTERN:-}; export BENCH_HEADERS=${pattern//\{kind\}/$1}; }
  "$PY" "$BENCH/rss.py" "$pgid" "$dir/rss-idle.txt" & local idle=$!
  sleep 0.6; kill -TERM "$idle"; wait "$idle" || true
  for scenario in $SCENARIOS; do
    case $scenario in
      chat)
        use_headers json
        # Added latency at one connection, without load: a keep-alive curl, like the probes.
        ttfb_probe "$(url_for json)" "$TMP/${BODY_PREFIX:-body}-json.json" "$auth" "$PROBES" "$dir/probe-json-idle.txt"
        for c in $CONNECTIONS; do
          measure "$target" "chat-c$c" "$c" "$DURATION" "$(url_for json)" "$TMP/${BODY_PREFIX:-body}-json.json" "$auth"
        done ;;
      stream)
        use_headers sse
        ttfb_probe "$(url_for sse)" "$TMP/${BODY_PREFIX:-body}-sse.json" "$auth" "$PROBES" "$dir/probe-sse-idle.txt"
        ( sleep $((WARMUP + 1)); ttfb_probe "$(url_for sse)" "$TMP/${BODY_PREFIX:-body}-sse.json" "$auth" \
            "$PROBES" "$dir/probe-sse-load.txt" ) & local probe=$!
        measure "$target" "stream-c64" 64 "$DURATION" "$(url_for sse)" "$TMP/${BODY_PREFIX:-body}-sse.json" "$auth"
        wait "$probe" || true ;;
      kling)
        unset BENCH_HEADERS
        if [ -z "$kling" ]; then
          echo "no Kling API on this target" >"$dir/kling-skipped.txt"; continue
        fi
        local code
        code=$(curl -s -o "$dir/kling-probe.txt" -w '%{http_code}' -X POST \
          -H "Content-Type: application/json" ${auth:+-H "Authorization: Bearer $auth"} \
          --data-binary "@$TMP/body-kling.json" "$base$kling")
        if [ "$code" = 404 ]; then
          log "$target kling: SKIPPED - $kling answers 404 (the Kling API is not merged yet)"
          echo "$kling answers 404: the Kling API is not on this branch yet" >"$dir/kling-skipped.txt"
          continue
        fi
        [ "$code" = 200 ] || log "$target kling: probe answered HTTP $code: $(head -c 300 "$dir/kling-probe.txt")"
        measure "$target" "kling-c64" 64 "$DURATION" "$base$kling" "$TMP/body-kling.json" "$auth" ;;
      slow)
        use_headers slow
        "$PY" "$BENCH/rss.py" "$pgid" "$dir/rss-slow.txt" & local sampler=$!
        # Five probes, half a second apart, each its own connection: one probe is one sample.
        ( sleep 3
          for i in 1 2 3 4 5; do
            ttfb_probe "$(url_for slow)" "$TMP/${BODY_PREFIX:-body}-slow.json" "$auth" 1 "$dir/probe-slow-$i.txt" &
            sleep 0.5
          done
          wait
          cat "$dir"/probe-slow-?.txt >"$dir/probe-slow.txt" ) &
        local probe=$!
        # Warmed by 64 streams, not 1,000: a warm-up as wide as the run cuts 1,000 streams
        # while 1,000 more open, and the peak measured 2,000 at once, not 1,000.
        local saved=$WARMUP; WARMUP=1 WARMUP_CONNS=64
        measure "$target" "slow-c$SLOW_CONNECTIONS" "$SLOW_CONNECTIONS" "$SLOW_DURATION" \
          "$(url_for slow)" "$TMP/${BODY_PREFIX:-body}-slow.json" "$auth"
        WARMUP=$saved; unset WARMUP_CONNS
        wait "$probe" || true
        kill -TERM "$sampler"; wait "$sampler" || true ;;
    esac
  done
  unset BENCH_HEADERS
}

nginx_pgid() { cat "$TMP/nginx-$1.pid"; }   # nginx daemonises into its own session

# --- omnirelay ---------------------------------------------------------------------------------
ADMIN_KEY=sk-or-bench-admin-0123456789
omnirelay_target() {  # omnirelay_target NAME DATABASE_URL
  local name=$1 url=$2
  local data=$TMP/$name-data
  mkdir -p "$data"
  export OMNIRELAY_DATA_DIR=$data OMNIRELAY_ADMIN_KEY=$ADMIN_KEY OMNIRELAY_DATABASE_URL=$url
  local key
  key=$("$ROOT/.venv/bin/omnirelay" keys create --config "$TMP/omnirelay.toml" \
    --name bench --quota 1000000 2>"$TMP/$name-keys.log" | tail -1)
  local pgid
  pgid=$(start_group "$TMP/$name.log" "$ROOT/.venv/bin/omnirelay" serve --config "$TMP/omnirelay.toml" \
    --workers "$WORKERS" --port "$OMNI_PORT")
  wait_http "http://127.0.0.1:$OMNI_PORT/healthz" 60
  local check
  check=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $key" \
    -H "Content-Type: application/json" --data-binary "@$TMP/body-json.json" \
    "http://127.0.0.1:$OMNI_PORT/v1/chat/completions")
  [ "$check" = 200 ] || { log "$name: a test request answered HTTP $check"; tail -20 "$TMP/$name.log" >&2; }
  run_target "$name" "http://127.0.0.1:$OMNI_PORT" /v1/chat/completions \
    /kling/v1/videos/image2video "$key" "$pgid"
  # What billing and the usage records saw, for the report.
  sleep 1
  curl -s -H "Authorization: Bearer $ADMIN_KEY" "http://127.0.0.1:$OMNI_PORT/admin/keys" \
    >"$TMP/$name/keys-after.json" || true
  stop_group "$pgid"
  unset OMNIRELAY_DATA_DIR OMNIRELAY_ADMIN_KEY OMNIRELAY_DATABASE_URL
}

runas_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
start_postgres() {
  PG_BIN=$(dirname "$(readlink -f "$(command -v initdb || ls /usr/lib/postgresql/*/bin/initdb | tail -1)")")
  local root=$TMP/pg
  mkdir -p "$root"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$root"
  runas_pg "$PG_BIN/initdb" -D "$root/data" -U postgres -A trust -E UTF8 >/dev/null
  PG_DATA=$root/data
  # Server defaults (fsync and synchronous_commit on), as a user would run it.
  runas_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$root/log" -w -o \
    "-p $PG_PORT -k $root -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
  runas_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres bench
}

# --- litellm -----------------------------------------------------------------------------------
ensure_litellm() {
  [ -x "$LITELLM_VENV/bin/litellm" ] && return 0
  log "installing litellm[proxy] into $LITELLM_VENV (its own venv)"
  python3 -m venv "$LITELLM_VENV" && "$LITELLM_VENV/bin/pip" install --quiet "litellm[proxy]" \
    >"$TMP/litellm-install.log" 2>&1
}

# --- the peers (benchmarks/peers/) ------------------------------------------------------------
PEERS=$ROOT/.bench-peers
run_peer_portkey() {
  # Portkey starts one Node process; node:cluster gives it WORKERS of them on one port (as pm2
  # would), so it has the cores the others have. Routed by its custom-host headers.
  pgid=$(start_group "$TMP/portkey.log" env NODE_ENV=production node "$BENCH/peers/portkey-cluster.mjs" \
    "$PEERS/portkey/node_modules/@portkey-ai/gateway/build/start-server.js" "$WORKERS" \
    "--port=$PORTKEY_PORT" --headless)
  if wait_http "http://127.0.0.1:$PORTKEY_PORT/" 60; then
    HEADERS_PATTERN=$'x-portkey-provider: openai\nx-portkey-custom-host: '"http://127.0.0.1:$UPSTREAM_PORT/{kind}/v1"
    echo "node:cluster, $WORKERS processes" >"$TMP/portkey-processes.txt"
    run_target portkey "http://127.0.0.1:$PORTKEY_PORT" /v1/chat/completions "" "$UPSTREAM_KEY" "$pgid"
    unset HEADERS_PATTERN
  else
    log "portkey: SKIPPED - the gateway did not start (see $TMP/portkey.log)"
    mkdir -p "$TMP/portkey"; echo "the gateway did not start" >"$TMP/portkey/skipped.txt"
  fi
  stop_group "$pgid"
}
run_peer_bifrost() {
  # Only where a bifrost-http binary exists (install.sh says why not otherwise). One OpenAI
  # provider on the fake upstream; Bifrost is one Go process using every core (GOMAXPROCS).
  local app=$TMP/bifrost-app
  mkdir -p "$app"
  # File-only mode (no config store, no UI database); concurrency raised from its small default
  # so the provider queue is not what is measured. Untested here: no binary on this machine.
  cat >"$app/config.json" <<JSON
{"client": {"enable_logging": false, "drop_excess_requests": false},
 "config_store": {"enabled": false},
 "providers": {"openai": {
  "keys": [{"name": "bench", "value": "$UPSTREAM_KEY", "models": ["*"], "weight": 1.0}],
  "network_config": {"base_url": "http://127.0.0.1:$UPSTREAM_PORT/json", "max_retries": 0},
  "concurrency_and_buffer_size": {"concurrency": 1000, "buffer_size": 5000}}}}
JSON
  pgid=$(start_group "$TMP/bifrost.log" env GOMAXPROCS="$WORKERS" "$PEERS/bifrost/bifrost-http" \
    -app-dir "$app" -host 127.0.0.1 -port "$BIFROST_PORT" -log-level error)
  if wait_http "http://127.0.0.1:$BIFROST_PORT/health" 60; then
    # One base URL for the provider: the non-streaming scenario only.
    local saved=$SCENARIOS; SCENARIOS=chat
    sed 's/"model": "/"model": "openai\//' "$TMP/body-json.json" >"$TMP/body-bifrost-json.json"
    BODY_PREFIX=body-bifrost run_target bifrost "http://127.0.0.1:$BIFROST_PORT" /v1/chat/completions "" "" "$pgid"
    SCENARIOS=$saved
  else
    log "bifrost: SKIPPED - bifrost-http did not start (see $TMP/bifrost.log)"
    mkdir -p "$TMP/bifrost"; echo "bifrost-http did not start" >"$TMP/bifrost/skipped.txt"
  fi
  stop_group "$pgid"
}
UPSTREAM_KEY=sk-upstream-bench

for target in $TARGETS; do
  case $target in
    direct)
      run_target direct "http://127.0.0.1:$UPSTREAM_PORT" "/{kind}/v1/chat/completions" \
        /kling/v1/videos/image2video "" "$(nginx_pgid upstream)" ;;
    nginx)
      run_target nginx "http://127.0.0.1:$PROXY_PORT" "/{kind}/v1/chat/completions" \
        /kling/v1/videos/image2video "" "$(nginx_pgid proxy)" ;;
    aiohttp)
      pgid=$(start_group "$TMP/aiohttp.log" "$PY" "$BENCH/bare_proxy.py" "$AIOHTTP_PORT" \
        "http://127.0.0.1:$UPSTREAM_PORT" "$WORKERS")
      wait_http "http://127.0.0.1:$UPSTREAM_PORT/healthz"; sleep 1.5
      run_target aiohttp "http://127.0.0.1:$AIOHTTP_PORT" "/{kind}/v1/chat/completions" \
        /kling/v1/videos/image2video "" "$pgid"
      stop_group "$pgid" ;;
    omnirelay-sqlite)
      omnirelay_target omnirelay-sqlite "sqlite+aiosqlite:///$TMP/omnirelay-sqlite-data/omnirelay.db" ;;
    omnirelay-postgres)
      if command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        start_postgres
        omnirelay_target omnirelay-postgres "postgresql+asyncpg://postgres@127.0.0.1:$PG_PORT/bench"
      else
        log "omnirelay-postgres: SKIPPED - PostgreSQL is not installed (run 'make services')"
        mkdir -p "$TMP/omnirelay-postgres"; echo "PostgreSQL not installed" >"$TMP/omnirelay-postgres/skipped.txt"
      fi ;;
    litellm)
      if ! ensure_litellm; then
        log "litellm: SKIPPED - 'pip install litellm[proxy]' failed (see $TMP/litellm-install.log)"
        mkdir -p "$TMP/litellm"; echo "litellm could not be installed" >"$TMP/litellm/skipped.txt"
        continue
      fi
      pgid=$(start_group "$TMP/litellm.log" env LITELLM_LOG=ERROR "$LITELLM_VENV/bin/litellm" \
        --config "$TMP/litellm.yaml" --host 127.0.0.1 --port "$LITELLM_PORT" --num_workers "$WORKERS")
      # Its first start after the install compiles a large package: give it time.
      if wait_http "http://127.0.0.1:$LITELLM_PORT/health/liveliness" 240; then
        run_target litellm "http://127.0.0.1:$LITELLM_PORT" /v1/chat/completions "" \
          sk-litellm-bench-master "$pgid"
      else
        log "litellm: SKIPPED - the proxy did not start (see $TMP/litellm.log)"
        mkdir -p "$TMP/litellm"; echo "litellm did not start" >"$TMP/litellm/skipped.txt"
      fi
      stop_group "$pgid" ;;
    portkey|bifrost)
      bash "$BENCH/peers/install.sh" "$target" 2>>"$TMP/peers-install.log"
      peer_status=$(cat "$ROOT/.bench-peers/$target/status" 2>/dev/null || echo "skipped: not installed")
      if [ "$peer_status" != ok ]; then
        log "$target: SKIPPED - ${peer_status#skipped: }"
        mkdir -p "$TMP/$target"; echo "${peer_status#skipped: }" >"$TMP/$target/skipped.txt"
        continue
      fi
      run_peer_$target ;;
    profile)
      # Where the time goes: py-spy on one omnirelay worker (SQLite) under wrk at 64 connections.
      mkdir -p "$TMP/profile"
      if [ ! -x "$ROOT/.venv/bin/py-spy" ]; then
        log "profile: SKIPPED - py-spy is not installed (pip install -e '.[bench]')"
        echo "py-spy is not installed" >"$TMP/profile/skipped.txt"; continue
      fi
      export OMNIRELAY_DATA_DIR=$TMP/profile/data OMNIRELAY_ADMIN_KEY=$ADMIN_KEY
      export OMNIRELAY_DATABASE_URL="sqlite+aiosqlite:///$TMP/profile/data/omnirelay.db"
      mkdir -p "$OMNIRELAY_DATA_DIR"
      key=$("$ROOT/.venv/bin/omnirelay" keys create --config "$TMP/omnirelay.toml" \
        --name bench --quota 1000000 2>"$TMP/profile/keys.log" | tail -1)
      pgid=$(start_group "$TMP/profile/omnirelay.log" "$ROOT/.venv/bin/omnirelay" serve \
        --config "$TMP/omnirelay.toml" --workers "$WORKERS" --port "$OMNI_PORT")
      PROFILE_SECONDS=$DURATION; [ "$QUICK" = 1 ] || PROFILE_SECONDS=15
      if wait_http "http://127.0.0.1:$OMNI_PORT/healthz" 60; then
        sleep 1
        BENCH_BODY=$TMP/body-json.json BENCH_AUTH=$key BENCH_OUT=/dev/null taskset -c "$LOAD_CPUS" \
          wrk -t"$WRK_THREADS" -c64 -d"$((WARMUP + PROFILE_SECONDS + 2))s" --timeout 30s \
          -s "$BENCH/wrk/post.lua" "http://127.0.0.1:$OMNI_PORT/v1/chat/completions" >/dev/null &
        load=$!
        sleep "$((WARMUP + 1))"
        # The busiest process of the group after the warm-up is a worker (not the master, nor
        # multiprocessing's resource tracker).
        worker=$(python3 - "$pgid" <<'PY'
import os, sys
pgid, best = int(sys.argv[1]), (0, "")
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        continue
    if int(f[2]) == pgid and int(pid) != pgid:
        best = max(best, (int(f[11]) + int(f[12]), pid))
print(best[1])
PY
)
        if [ -n "$worker" ] && "$ROOT/.venv/bin/py-spy" record --pid "$worker" --duration "$PROFILE_SECONDS" \
            --rate 250 --nonblocking --gil --format raw --output "$TMP/profile/worker.txt" \
            >"$TMP/profile/py-spy.log" 2>&1; then
          "$PY" "$BENCH/stacks.py" --json "$TMP/profile/summary.json" \
            --what "non-streaming chat, SQLite, ${PROFILE_SECONDS}s at 250 Hz, the thread holding the GIL" \
            "$TMP/profile/worker.txt" >"$TMP/profile/summary.txt"
          log "profile: $(head -1 "$TMP/profile/summary.txt"), see $TMP/profile/summary.txt"
        else
          log "profile: SKIPPED - py-spy could not record (see $TMP/profile/py-spy.log)"
          echo "py-spy could not record: $(tail -1 "$TMP/profile/py-spy.log" | cut -c1-200)" >"$TMP/profile/skipped.txt"
        fi
        wait "$load" || true
      else
        echo "omnirelay did not start" >"$TMP/profile/skipped.txt"
      fi
      stop_group "$pgid"
      unset OMNIRELAY_DATA_DIR OMNIRELAY_ADMIN_KEY OMNIRELAY_DATABASE_URL ;;
    stacks)
      # Other bare pass-through stacks beside the aiohttp ceiling (benchmarks/stack_choice.sh).
      log "stacks: bare pass-throughs on granian RSGI, pyreqwest, uvicorn... (own venv)"
      # Three rounds of half the duration in a full run (one pass did not decide: see the script).
      if [ "$QUICK" = 1 ]; then stack_rounds=1 stack_duration=$DURATION; else stack_rounds=3 stack_duration=$((DURATION / 2)); fi
      STACK_UPSTREAM_PORT=$UPSTREAM_PORT STACK_FIXTURES=$TMP STACK_DURATION=$stack_duration STACK_WARMUP=$WARMUP \
        STACK_ROUNDS=${BENCH_STACK_ROUNDS:-$stack_rounds} \
        BENCH_PORT_BASE=$PB bash "$BENCH/stack_choice.sh" "$TMP/stacks" >"$TMP/stacks.log" 2>&1 \
        || log "stacks: failed (see $TMP/stacks.log)" ;;
    poller)
      # 10,000 Kling tasks in flight on PostgreSQL against a fake vendor answering at once:
      # submits/s, poll lag (due -> polled) p50/p99, CPU per poll, upstream concurrency.
      mkdir -p "$TMP/poller"
      if [ -z "$PG_DATA" ] && { command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }; then
        start_postgres
      fi
      if [ -z "$PG_DATA" ]; then
        log "poller: SKIPPED - PostgreSQL is not installed (run 'make services')"
        echo "PostgreSQL not installed" >"$TMP/poller/skipped.txt"; continue
      fi
      runas_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres poller_bench
      POLLER_TASKS=${BENCH_POLLER_TASKS:-10000} POLLER_WINDOW=${BENCH_POLLER_WINDOW:-20}
      POLL_SECONDS=${BENCH_POLL_SECONDS:-10} POLLER_SUBMIT_S=${BENCH_POLLER_SUBMIT_SECONDS:-180}
      if [ "$QUICK" = 1 ]; then
        POLLER_TASKS=${BENCH_POLLER_TASKS:-2000} POLLER_WINDOW=${BENCH_POLLER_WINDOW:-8}
        POLL_SECONDS=${BENCH_POLL_SECONDS:-4} POLLER_SUBMIT_S=${BENCH_POLLER_SUBMIT_SECONDS:-45}
      fi
      printf '[[channels]]\nname = "bench-kling-poller"\nvendor = "kling"\nbase_url = "http://127.0.0.1:%s"\napi_key = "bench-access:bench-secret"\nmodels = ["kling-v1"]\n' \
        "$TASKVENDOR_PORT" >"$TMP/omnirelay-poller.toml"
      poller_db="postgresql+asyncpg://postgres@127.0.0.1:$PG_PORT/poller_bench"
      export OMNIRELAY_DATA_DIR=$TMP/poller/data OMNIRELAY_ADMIN_KEY=$ADMIN_KEY OMNIRELAY_DATABASE_URL=$poller_db
      export OMNIRELAY_TASK_POLL_SECONDS=$POLL_SECONDS OMNIRELAY_TASK_POLL_MAX_SECONDS=$POLL_SECONDS
      mkdir -p "$OMNIRELAY_DATA_DIR"
      key=$("$ROOT/.venv/bin/omnirelay" keys create --config "$TMP/omnirelay-poller.toml" \
        --name bench --quota 1000000 2>"$TMP/poller/keys.log" | tail -1)
      pgid=$(start_group "$TMP/poller/omnirelay.log" "$ROOT/.venv/bin/omnirelay" serve \
        --config "$TMP/omnirelay-poller.toml" --workers "$WORKERS" --port "$OMNI_PORT")
      if wait_http "http://127.0.0.1:$OMNI_PORT/healthz" 60; then
        log "poller: $POLLER_TASKS tasks, polled every ${POLL_SECONDS}s, windows of ${POLLER_WINDOW}s"
        taskset -c "$LOAD_CPUS" "$PY" "$BENCH/poller.py" "$TMP/poller/figures.json" \
          --gateway "http://127.0.0.1:$OMNI_PORT" --key "$key" --database "$poller_db" \
          --vendor-port "$TASKVENDOR_PORT" --body "$TMP/body-kling.json" --pgid "$pgid" \
          --tasks "$POLLER_TASKS" --poll-seconds "$POLL_SECONDS" --window "$POLLER_WINDOW" \
          --submit-seconds "$POLLER_SUBMIT_S" \
          >"$TMP/poller/log.txt" 2>&1 || log "poller: failed (see $TMP/poller/log.txt)"
        log "poller: $(tr -d '\n ' <"$TMP/poller/figures.json" 2>/dev/null | head -c 400)"
      else
        log "poller: SKIPPED - omnirelay did not start (see $TMP/poller/omnirelay.log)"
        echo "omnirelay did not start" >"$TMP/poller/skipped.txt"
      fi
      stop_group "$pgid"
      unset OMNIRELAY_DATA_DIR OMNIRELAY_ADMIN_KEY OMNIRELAY_DATABASE_URL \
        OMNIRELAY_TASK_POLL_SECONDS OMNIRELAY_TASK_POLL_MAX_SECONDS ;;
    platform)
      # The rate limiter's cost per request (memory, Redis) and the usage queries on 1M rows.
      log "platform: limiter cost and usage queries (benchmarks/limits_and_usage.py)"
      mkdir -p "$TMP/platform"
      pg_args=()
      if [ -z "$PG_DATA" ] && { command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }; then
        start_postgres
      fi
      if [ -n "$PG_DATA" ]; then
        runas_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres platform_bench
        pg_args=(--postgres "postgresql+asyncpg://postgres@127.0.0.1:$PG_PORT/platform_bench")
      fi
      quick_args=(); [ "$QUICK" = 1 ] && quick_args=(--quick)
      taskset -c "$SERVER_CPUS" "$PY" "$BENCH/limits_and_usage.py" "$TMP/platform/figures.json" \
        "${pg_args[@]}" "${quick_args[@]}" >"$TMP/platform/log.txt" 2>&1 \
        || log "platform: failed (see $TMP/platform/log.txt)" ;;
    *) log "unknown target $target" ;;
  esac
done

# The README's bench section gets the table and goals of a run into the default results folder.
readme=(); [ "$OUT" = "$BENCH/results" ] && readme=("$ROOT/README.md")
"$PY" "$BENCH/report.py" "$TMP" "$OUT" "$STAMP" \
  "workers=$WORKERS cores=$NCPU servers=$SERVER_CPUS wrk=$LOAD_CPUS/$WRK_THREADS warmup=${WARMUP}s duration=${DURATION}s quick=$QUICK" \
  "${readme[@]}"
