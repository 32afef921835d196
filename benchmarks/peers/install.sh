#!/usr/bin/env bash
# Installs the peer gateways `make bench` runs beside omnirelay, each into its own folder under
# .bench-peers/ (git-ignored), from the npm registry only. Prints one status line per peer and
# writes it to .bench-peers/<peer>/status ("ok" or "skipped: <reason>"); never fails the run.
#
#   bash benchmarks/peers/install.sh [portkey] [bifrost]
#
# Versions are pinned so runs compare like with like; override with PORTKEY_VERSION /
# BIFROST_VERSION.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PEERS=$ROOT/.bench-peers
PORTKEY_VERSION=${PORTKEY_VERSION:-1.15.2}
BIFROST_VERSION=${BIFROST_VERSION:-1.6.3}
mkdir -p "$PEERS"

status() {  # status PEER TEXT
  mkdir -p "$PEERS/$1"
  echo "$2" >"$PEERS/$1/status"
  echo "[peers] $1: $2" >&2
}

npm_install() {  # npm_install PEER PACKAGE@VERSION
  local dir=$PEERS/$1
  mkdir -p "$dir"
  [ -f "$dir/package.json" ] || echo '{"name": "bench-peer-'"$1"'", "private": true}' >"$dir/package.json"
  command -v npm >/dev/null || { echo "npm is not installed"; return 1; }
  # --ignore-scripts: no install hook may reach anything but the registry (the run is offline).
  (cd "$dir" && timeout 600 npm install --no-audit --no-fund --ignore-scripts --loglevel=error \
    "$2" >"$dir/install.log" 2>&1) || { tail -3 "$dir/install.log"; return 1; }
}

install_portkey() {
  local entry=$PEERS/portkey/node_modules/@portkey-ai/gateway/build/start-server.js
  if [ -f "$entry" ] && grep -q "\"version\": \"$PORTKEY_VERSION\"" \
      "$PEERS/portkey/node_modules/@portkey-ai/gateway/package.json"; then
    status portkey ok; return
  fi
  if ! command -v node >/dev/null; then status portkey "skipped: node is not installed"; return; fi
  local why
  if why=$(npm_install portkey "@portkey-ai/gateway@$PORTKEY_VERSION") && [ -f "$entry" ]; then
    status portkey ok
  else
    status portkey "skipped: npm install @portkey-ai/gateway@$PORTKEY_VERSION failed: ${why:-no start-server.js}"
  fi
}

# Bifrost's npm package (bin.js) is only a launcher: at run time it downloads the Go binary
# bifrost-http from the vendor's own download host into ~/.cache/bifrost/<version>/bin. The
# registry carries no binary, so it runs only where that binary is already there (or at
# BIFROST_BINARY).
install_bifrost() {
  if [ -n "${BIFROST_BINARY:-}" ] && [ -x "$BIFROST_BINARY" ]; then
    ln -sf "$BIFROST_BINARY" "$PEERS/bifrost/bifrost-http" 2>/dev/null || true
    status bifrost ok; return
  fi
  local cached
  cached=$(ls -d "${XDG_CACHE_HOME:-$HOME/.cache}"/bifrost/*/bin/bifrost-http* 2>/dev/null | tail -1)
  if ! npm_install bifrost "@maximhq/bifrost@$BIFROST_VERSION" >/dev/null; then
    status bifrost "skipped: npm install @maximhq/bifrost@$BIFROST_VERSION failed"; return
  fi
  if [ -z "$cached" ]; then
    # Let the launcher try its download once (it caches the binary where it can reach the host).
    local why
    why=$(cd "$PEERS/bifrost" && timeout 60 node node_modules/@maximhq/bifrost/bin.js -h 2>&1 \
      | grep -o 'ENOTFOUND [^ ]*\|fetch failed\|ECONNREFUSED\|ETIMEDOUT' | head -1)
    cached=$(ls -d "${XDG_CACHE_HOME:-$HOME/.cache}"/bifrost/*/bin/bifrost-http* 2>/dev/null | tail -1)
    echo "${why:-no error}" >"$PEERS/bifrost/launcher.txt"
  fi
  if [ -n "$cached" ] && [ -x "$cached" ]; then
    ln -sf "$cached" "$PEERS/bifrost/bifrost-http"
    status bifrost ok; return
  fi
  status bifrost "skipped: @maximhq/bifrost@$BIFROST_VERSION is a launcher that downloads the Go \
binary at run time from its vendor's download host, which this machine cannot reach (only the \
package registries; the launcher said: $(cat "$PEERS/bifrost/launcher.txt" 2>/dev/null)); set BIFROST_BINARY to a bifrost-http binary to include it"
}

for peer in "${@:-portkey bifrost}"; do
  for p in $peer; do
    case $p in
      portkey) install_portkey ;;
      bifrost) install_bifrost ;;
      *) echo "[peers] unknown peer $p" >&2 ;;
    esac
  done
done
exit 0
