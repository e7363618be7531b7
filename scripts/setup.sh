#!/usr/bin/env bash
# Prepares a fresh checkout for the demo and the tests, skipping what is already there: the workspace's
# dependencies, the build, and redis-server. Needs only Node.js and npm, and no root: nothing is installed
# globally. As root on Debian/Ubuntu it installs Debian's redis-server package when it is missing;
# as another user it uses passwordless sudo for that if there is some, and otherwise says what to run.
set -euo pipefail
cd "$(dirname "$0")/.."

# pnpm, the version package.json's packageManager pins, from npm's cache through `npm exec`: no global
# install. It is also a dev dependency, so node_modules/.bin (which npm puts on PATH for package.json's
# scripts) has it for `pnpm run`; the install itself does not run that copy, since pnpm may have to
# remove node_modules (when the store or the layout changed) and would delete itself on the way.
# Skipped when the lockfile and every package.json are as they were at the last install here (a hash of them
# in node_modules/.setup-inputs): a setup with nothing changed takes about a second, the build included.
inputs_hash="$(node -e "
  const { createHash } = require('node:crypto');
  const { readFileSync, readdirSync, existsSync } = require('node:fs');
  const manifests = ['package.json', 'pnpm-lock.yaml', 'pnpm-workspace.yaml'];
  for (const dir of ['packages', 'examples', 'bench']) {
    if (!existsSync(dir)) continue;
    if (existsSync(dir + '/package.json')) manifests.push(dir + '/package.json');
    for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory() && existsSync(dir + '/' + entry.name + '/package.json')) manifests.push(dir + '/' + entry.name + '/package.json');
  }
  const hash = createHash('sha256').update(process.version);
  for (const file of manifests) if (existsSync(file)) hash.update(file).update(readFileSync(file));
  process.stdout.write(hash.digest('hex'));
")"
if [ "$(cat node_modules/.setup-inputs 2>/dev/null)" != "$inputs_hash" ]; then
  pnpm_version="$(node -p "require('./package.json').packageManager.replace(/^pnpm@/, '')")"
  npm exec --yes --no-update-notifier --package="pnpm@${pnpm_version}" -- \
    pnpm install --frozen-lockfile --loglevel=error --config.confirm-modules-purge=false
  printf '%s' "$inputs_hash" > node_modules/.setup-inputs
fi
# `pnpm run build` without pnpm's start-up: tsc builds incrementally, and the bundle step skips every package
# whose inputs did not change (scripts/bundle.mjs).
node_modules/.bin/tsc -b
node scripts/bundle.mjs

# REDLOCK_TEST_NODES points the tests at existing nodes (e.g. docker/docker-compose.yml's): no local server needed.
if [ -n "${REDLOCK_TEST_NODES:-}" ]; then exit 0; fi

has_redis_server() {
  node --input-type=module \
    -e "import { findRedisServer } from './packages/local-redis-nodes/dist/index.js'; process.exit(findRedisServer() === undefined ? 1 : 0)"
}

# The one command that installs redis-server here, for a user who has to run it.
install_command() {
  if [ -f /etc/debian_version ]; then echo 'sudo apt-get update && sudo apt-get install --yes redis-server'
  elif [ "$(uname -s)" = Darwin ]; then echo 'brew install redis'
  elif command -v dnf >/dev/null 2>&1; then echo 'sudo dnf install --assumeyes redis'
  elif command -v apk >/dev/null 2>&1; then echo 'sudo apk add redis'
  else echo '(install Redis 7 or later with your package manager, so that redis-server is on PATH)'
  fi
}

if [ "$(id -u)" != 0 ] && ! has_redis_server; then
  if [ -f /etc/debian_version ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    echo "setup: redis-server is missing; installing Debian's redis-server package with sudo apt-get"
    sudo -n apt-get update -qq
    sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install --yes --no-install-recommends -qq redis-server >/dev/null
  else
    {
      echo "setup: redis-server is not installed, and this user cannot install it (not root, no passwordless sudo)."
      echo "setup: install it once with this command, then run this one again:"
      echo
      echo "    $(install_command)"
      echo
      echo "setup: (or point the tests at running Redis nodes with REDLOCK_TEST_NODES, see the README's Docker section)"
    } >&2
    exit 1
  fi
fi
# Finds redis-server and reports its version; as root on Debian/Ubuntu, installs it first if missing.
node packages/local-redis-nodes/dist/ensure-redis-server-cli.js --install
