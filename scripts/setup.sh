#!/usr/bin/env bash
# Prepares a fresh checkout for the demo and the tests, skipping what is already there:
# pnpm (through npm), the workspace's dependencies, the build, and redis-server (Debian's package,
# installed with apt-get when running as root; otherwise it says what to install).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v pnpm >/dev/null 2>&1; then
  echo "setup: installing pnpm 10 with npm"
  npm install --global --no-fund --no-audit pnpm@10 >/dev/null
fi

pnpm install --frozen-lockfile --reporter=silent
pnpm run --silent build

# REDLOCK_TEST_NODES points the tests at existing nodes (e.g. docker/docker-compose.yml's): no local server needed.
if [ -z "${REDLOCK_TEST_NODES:-}" ]; then
  node packages/local-redis-nodes/dist/ensure-redis-server-cli.js
fi
