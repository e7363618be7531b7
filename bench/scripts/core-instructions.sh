#!/usr/bin/env bash
# Instructions per acquire+release of redlock-core's own work (in-memory nodes, no Redis), and of a lean
# reference loop: a deterministic measure of CPU cost, unlike timings on a shared machine. Counts with
# valgrind (apt-get install valgrind) under `node --single-threaded --predictable`, and subtracts a short
# run from a long one so that start-up cancels out. Both runs are past the first 32,000 cycles, when V8
# has settled its optimizations: a function it compiles again costs tens of millions of instructions, which
# an earlier window would count as if every cycle paid it (with a far node, one build recompiled after
# cycle 12,000, the window used before: 43.0k counted there, 38.1k from 32,000 on; the other modes read
# the same in both windows, within 2%). Run after `pnpm run build`.
# Usage: bash bench/scripts/core-instructions.sh [core|lean|redlock5|compat, each also as core-turns or core-far…]... (see core-cycles.mjs)
set -euo pipefail
cd "$(dirname "$0")"
command -v valgrind >/dev/null || { echo 'needs valgrind: apt-get install valgrind' >&2; exit 1; }
count() {
  valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null node --single-threaded --predictable core-loop.mjs "$1" "$2" 2>&1 |
    sed -n 's/.*I *refs: *//p' | tr -d ,
}
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(core lean)
for mode in "${modes[@]}"; do
  short=$(count "$mode" 32000)
  long=$(count "$mode" 52000)
  echo "$mode: $(( (long - short) / 20000 )) instructions per acquire+release"
done
