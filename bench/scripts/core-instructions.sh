#!/usr/bin/env bash
# Instructions per acquire+release of redlock-core's own work (in-memory nodes, no Redis), and of a lean
# reference loop: a deterministic measure of CPU cost, unlike timings on a shared machine. Counts with
# valgrind (apt-get install valgrind) under `node --single-threaded --predictable`, and subtracts a short
# run from a long one so that start-up cancels out. Both runs are past the point where V8 has settled its
# optimizations: a function it compiles again costs tens of millions of instructions, which an earlier
# window would count as if every cycle paid it. That is cycle 32,000, and 52,000 with a far node (`-far`),
# whose late answers keep V8 compiling longer: one build read 39.3k over cycles 32,000-52,000, 37.1k over
# 52,000-72,000 and 72,000-92,000 alike (cycles 12,000-32,000, the window used before, read 43.0k for an
# earlier build whose steady state is 38.0k). The other modes read the same in every window, within 2%.
# Run after `pnpm run build`.
# Usage: bash bench/scripts/core-instructions.sh [core|semaphore|lean|redlock5|compat, each also as core-turns or core-far…]... (see core-cycles.mjs)
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
  start=32000
  [[ "$mode" == *-far ]] && start=52000
  short=$(count "$mode" "$start")
  long=$(count "$mode" $((start + 20000)))
  echo "$mode: $(( (long - short) / 20000 )) instructions per acquire+release"
done
