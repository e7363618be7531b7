#!/usr/bin/env bash
# Checks that the README's Quick start works for an ordinary user: creates an unprivileged user with a
# fresh home, copies this checkout (what a clone has: tracked and untracked files, not ignored ones such as
# node_modules/ and dist/) into a directory that user owns, and runs `npm run demo` and `npm test` as that
# user, with a PATH that has Node.js and npm but no pnpm. redis-server must already be installed system-wide
# (as root: apt-get install redis-server), as the Quick start asks of a machine without root.
# Run as root: bash scripts/check-non-root.sh. Removes the user, its home and the copy when done.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then echo "check-non-root: run as root (it creates a user)" >&2; exit 1; fi
user=redlock-check
work="$(mktemp -d /tmp/redlock-check-non-root.XXXXXX)"
home="$work/home"
cleanup() {
  userdel --remove "$user" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
userdel --remove "$user" >/dev/null 2>&1 || true
useradd --create-home --home-dir "$home" --shell /bin/bash "$user"

# A PATH with every command of this machine except pnpm: links to what /usr/local/bin, /usr/bin and /bin
# hold, pnpm and pnpx left out.
bin="$work/bin"
mkdir -p "$bin"
for dir in /usr/local/bin /usr/bin /bin; do
  for command in "$dir"/*; do
    name="$(basename "$command")"
    case "$name" in pnpm | pnpx) continue ;; esac
    [ -e "$bin/$name" ] || ln -s "$command" "$bin/$name"
  done
done
chmod 755 "$work"

repo="$home/redlock"
mkdir -p "$repo"
git ls-files --cached --others --exclude-standard -z | xargs -0 tar cf - | tar xf - -C "$repo"
chown -R "$user:$user" "$home"

as_user() {
  runuser -u "$user" -- env -i HOME="$home" USER="$user" PATH="$bin" LANG=C.UTF-8 CI="${CI:-}" bash -c "cd '$repo' && $1"
}
if as_user 'command -v pnpm' >/dev/null; then echo "check-non-root: pnpm is still on the user's PATH" >&2; exit 1; fi

started=$SECONDS
echo "check-non-root: npm run demo, as $user"
as_user 'npm run demo'
demo_done=$SECONDS
echo "check-non-root: npm test, as $user"
as_user 'npm test'
echo "check-non-root: passed (demo with the first install $((demo_done - started)) s, tests $((SECONDS - demo_done)) s)"
