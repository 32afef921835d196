#!/usr/bin/env bash
# Installs the coding agents the acceptance tests drive (Claude Code, Codex CLI, Gemini CLI)
# from npm into .clients/ (not committed). Versions are pinned so a run is repeatable; bump
# them here. Idempotent: does nothing when the pinned versions are already there. Without npm
# it says so and exits 0 (the agent tests then skip with the same message).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  "@anthropic-ai/claude-code@2.1.332"
  "@openai/codex@0.171.0"
  "@google/gemini-cli@0.61.0"
)
PREFIX=.clients
STAMP="$PREFIX/.installed"

if ! command -v npm >/dev/null 2>&1; then
  echo "npm not found: the coding-agent tests will be skipped"
  exit 0
fi
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "${PACKAGES[*]}" ]; then
  exit 0
fi
mkdir -p "$PREFIX"
[ -f "$PREFIX/package.json" ] || echo '{"name": "omnirelay-test-clients", "private": true}' > "$PREFIX/package.json"
echo "installing coding agents: ${PACKAGES[*]}"
npm install --prefix "$PREFIX" --no-audit --no-fund --loglevel=error "${PACKAGES[@]}" >/dev/null
echo "${PACKAGES[*]}" > "$STAMP"
