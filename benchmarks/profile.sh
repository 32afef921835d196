#!/usr/bin/env bash
# Profiles omnirelay under load: the fake upstream, omnirelay (2 workers, SQLite unless
# PROFILE_DB is a database URL), wrk at PROFILE_CONNS connections, and py-spy recording every
# worker. Writes flame graphs (SVG) and collapsed stacks under benchmarks/results/tmp/profile-*.
#
#   bash benchmarks/profile.sh                 non-streaming chat, 64 connections, 15 s
#   PROFILE_KIND=sse bash benchmarks/profile.sh   streaming
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
KIND=${PROFILE_KIND:-json}
CONNS=${PROFILE_CONNS:-64}
SECONDS_=${PROFILE_SECONDS:-15}
TMP=$ROOT/benchmarks/results/tmp/profile-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$TMP"
PB=${BENCH_PORT_BASE:-18000}
export BENCH_UPSTREAM_PORT=$((PB + 80)) BENCH_PROXY_PORT=$((PB + 81)) BENCH_WORKERS=2
OMNI=$((PB + 100))
python3 benchmarks/fixtures.py "$TMP"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
nginx -c "$TMP/nginx-upstream.conf"
PGID=""
cleanup() {
  set +e
  [ -n "$PGID" ] && kill -TERM -- "-$PGID" 2>/dev/null && sleep 2
  nginx -c "$TMP/nginx-upstream.conf" -s stop
}
trap cleanup EXIT
trap 'exit 130' INT TERM PIPE
export OMNIRELAY_DATA_DIR=$TMP/data OMNIRELAY_ADMIN_KEY=sk-or-bench-admin-0123456789
export OMNIRELAY_DATABASE_URL=${PROFILE_DB:-sqlite+aiosqlite:///$TMP/data/omnirelay.db}
KEY=$(.venv/bin/omnirelay keys create --config "$TMP/omnirelay.toml" --name bench --quota 1000000 | tail -1)
setsid .venv/bin/omnirelay serve --config "$TMP/omnirelay.toml" --workers 2 --port "$OMNI" \
  >"$TMP/omnirelay.log" 2>&1 &
PGID=$!
until curl -fs -o /dev/null http://127.0.0.1:$OMNI/healthz; do sleep 0.3; done
sleep 1
BENCH_BODY=$TMP/body-$KIND.json BENCH_AUTH=$KEY BENCH_OUT=$TMP/warmup.json \
  wrk -t1 -c"$CONNS" -d3s -s benchmarks/wrk/post.lua http://127.0.0.1:$OMNI/v1/chat/completions >/dev/null
# The workers: plain child processes of the supervisor (``python -P -m omnirelay.worker``).
WORKERS=$(pgrep -g "$PGID" -f "omnirelay.worker" | tr '\n' ' ')
SPIES=()
for pid in $WORKERS; do
  .venv/bin/py-spy record --pid "$pid" --duration "$SECONDS_" --rate 250 --nonblocking --gil \
    --format raw --output "$TMP/worker-$pid.txt" >/dev/null 2>&1 &
  SPIES+=($!)
done
BENCH_BODY=$TMP/body-$KIND.json BENCH_AUTH=$KEY BENCH_OUT=$TMP/wrk.json taskset -c 1 \
  wrk -t1 -c"$CONNS" -d"${SECONDS_}s" -s benchmarks/wrk/post.lua http://127.0.0.1:$OMNI/v1/chat/completions >/dev/null
wait "${SPIES[@]}" || true
cat "$TMP/wrk.json"
.venv/bin/python benchmarks/stacks.py --json "$TMP/summary.json" --what "$KIND, $CONNS connections" \
  "$TMP"/worker-*.txt | tee "$TMP/summary.txt"
echo "profile in $TMP"
