#!/usr/bin/env bash
# Instructions per S1 acquire+release on the client side, real Redis nodes, per contender: a deterministic
# measure of the client's user-space CPU (ioredis, Node's streams and the library; not the kernel's system
# calls), unlike timings on a shared machine. Counts with valgrind (apt-get install valgrind) under
# `node --single-threaded --predictable`, cycles 12,000 to 32,000 as core-instructions.sh does, contenders in
# parallel (each counts its own process). Under valgrind the client runs some 50× slower, so every reply is
# already there when it looks: the figures compare libraries; they do not replay S1's timing. redlock-core
# runs on a paced clock (client-loop.mjs), so its time-based work happens as often per cycle as in S1.
# `lean` counts core-loop.mjs's lean loop through the ioredis adapter instead: the yardstick for what the
# core adds on real nodes. Run after `pnpm run build`.
# Usage: bash bench/scripts/client-instructions.sh [contender name | lean]...
set -euo pipefail
cd "$(dirname "$0")"
command -v valgrind >/dev/null || { echo 'needs valgrind: apt-get install valgrind' >&2; exit 1; }
count() {
  local out
  if ! out=$(valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null node --single-threaded --predictable client-loop.mjs "$1" "$2" 2>&1); then
    echo "$1: the loop failed:" >&2
    tail -n 20 <<<"$out" >&2
    return 1
  fi
  sed -n 's/.*I *refs: *//p' <<<"$out" | tr -d ,
}
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(floor redlock-core redlock@5 redis-semaphore)
for name in "${names[@]}"; do
  (
    short=$(count "$name" 12000)
    long=$(count "$name" 32000)
    echo "$name: $(( (long - short) / 20000 )) instructions per acquire+release"
  ) &
done
wait
