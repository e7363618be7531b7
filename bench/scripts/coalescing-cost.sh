#!/usr/bin/env bash
# Instructions the ioredis adapter's write coalescing costs a lone lock per turn of 5 commands (a serial
# acquire+release sends two such turns), counted with valgrind as core-instructions.sh counts: the
# difference between coalescing on and off over turns 20,000 to 60,000 (see coalescing-cost.mjs).
# Run after `pnpm run build`; needs valgrind (apt-get install valgrind).
# Usage: bash bench/scripts/coalescing-cost.sh
set -euo pipefail
cd "$(dirname "$0")"
command -v valgrind >/dev/null || { echo 'needs valgrind: apt-get install valgrind' >&2; exit 1; }
count() {
  valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null node --single-threaded --predictable coalescing-cost.mjs "$1" "$2" 2>&1 |
    sed -n 's/.*I *refs: *//p' | tr -d ,
}
per_turn() {
  local short long
  short=$(count "$1" 20000)
  long=$(count "$1" 60000)
  echo $(((long - short) / 40000))
}
off=$(per_turn off)
on=$(per_turn on)
echo "per turn of 5 commands: $off instructions without coalescing, $on with it: $((on - off)) for the coalescing"
