#!/usr/bin/env bash
# Installs what the test suite needs: jq and curl (the docs' samples), a PostgreSQL server (the tests run initdb
# into a temp dir and start it on a free port), a Redis server (started the same way, for the
# shared rate limits) and Chromium (the console's browser tests drive
# it through Playwright), and the coding agents from npm (install-clients.sh). Idempotent; needs
# root or sudo for apt.
set -euo pipefail

have_initdb() {
  command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

apt_install() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

missing=()
have_initdb || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || missing+=(redis-server)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# The documentation's curl samples read JSON with jq (tests/docs runs them).
command -v jq >/dev/null 2>&1 || missing+=(jq)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt_install "${missing[@]}"
fi
bash "$(dirname "$0")/install-clients.sh"
echo "services ready: PostgreSQL $(ls -d /usr/lib/postgresql/*/ 2>/dev/null | xargs -n1 basename | tail -1), $(redis-server --version 2>/dev/null | cut -d' ' -f1-3), $(chromium --version 2>/dev/null)"
