#!/usr/bin/env bash
# The production combination: the whole test suite on Node 24 with the current uWebSockets.js, in
# the Debian 13 root (scripts/ci/debian-root.sh), against this checkout's dist/ and node_modules
# (the host's `npm ci` of the same lockfile; the dependency tree is the same on every Node).
# Prints the runner's output, whose last line is `N passed, N failed`. Exit 3 only when the root
# cannot be made.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
root=$(scripts/ci/debian-root.sh) || exit 3
# The root exists from here on: Weir failing to start on Node 24 is a failure, not a skip.
if ! scripts/ci/in-root.sh "$root" node dist/bin/weir.js version; then
  echo "weir version failed in the Debian 13 root (Node 24, current uWS)"; echo "0 passed, 1 failed"; exit 1
fi
scripts/ci/in-root.sh "$root" node dist/test/run.js "$@"
