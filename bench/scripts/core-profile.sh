#!/usr/bin/env bash
# Where the core's instructions per acquire+release go, by function: core-instructions.sh's count, split.
# Runs core-loop.mjs under valgrind's callgrind twice (32,000 and 52,000 cycles, or 52,000 and 72,000 with
# a far node, as core-instructions.sh does), with `--perf-basic-prof` so that V8 writes where it put each
# compiled function, and prints the difference per cycle by function: JavaScript by its name and file (`*` optimized, `^` baseline, `~`
# interpreted), V8's builtins by theirs (`Builtins_PerformPromiseThen`...). An optimized function counts the
# functions V8 inlined into it; NODE_FLAGS=--no-turbo-inlining splits them (and makes every count larger).
# Run after `pnpm run build`; needs valgrind (apt-get install valgrind).
# Usage: bash bench/scripts/core-profile.sh [mode, as core-loop.mjs takes] [how many functions to show]
set -euo pipefail
cd "$(dirname "$0")"
command -v valgrind >/dev/null || { echo 'needs valgrind: apt-get install valgrind' >&2; exit 1; }
command -v callgrind_annotate >/dev/null || { echo 'needs callgrind_annotate (part of valgrind)' >&2; exit 1; }
mode=${1:-core}
shown=${2:-40}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
profile() {
  local cycles=$1
  # Each run in a directory of its own: V8 names its map after the process id, in /tmp.
  valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.$cycles" --dump-line=no --compress-strings=no \
    node ${NODE_FLAGS:-} --perf-basic-prof --interpreted-frames-native-stack --single-threaded --predictable \
    core-loop.mjs "$mode" "$cycles" >"$work/log.$cycles" 2>&1 &
  local pid=$!
  wait "$pid"
  mv "/tmp/perf-$pid.map" "$work/perf.$cycles" 2>/dev/null ||
    mv "$(ls -t /tmp/perf-*.map | head -n 1)" "$work/perf.$cycles"
  callgrind_annotate --inclusive=no --threshold=100 "$work/callgrind.$cycles" >"$work/annotated.$cycles"
}
# As core-instructions.sh counts: from cycle 32,000, or 52,000 with a far node.
start=32000
[[ "$mode" == *-far ]] && start=52000
profile "$start"
profile $((start + 20000))
node profile-by-function.mjs "$work" "$start" $((start + 20000)) "$shown"
