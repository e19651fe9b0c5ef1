#!/usr/bin/env bash
# in-root.sh ROOT CMD...: run CMD inside the Debian 13 root with this checkout bind-mounted at
# /weir (read-write: dist/ and node_modules/ are the host's, the same lockfile install) and /proc,
# /dev, /dev/shm, /tmp provided. The mounts live in a private mount namespace, so they disappear
# with the command whatever happens.
set -euo pipefail
root="$1"; shift
repo="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck disable=SC2016 # the inner script expands its own arguments
exec unshare --mount --propagation private -- bash -euo pipefail -c '
  root="$1"; repo="$2"; shift 2
  mkdir -p "$root/weir" "$root/proc" "$root/dev" "$root/tmp"
  mount --bind "$repo" "$root/weir"
  mount -t proc proc "$root/proc"
  mount --rbind /dev "$root/dev"
  mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
  cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
  exec chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root LANG=C.UTF-8 \
    ${WEIR_TEST_JOBS:+WEIR_TEST_JOBS=$WEIR_TEST_JOBS} bash -c "cd /weir && \"\$@\"" bash "$@"
' bash "$root" "$repo" "$@"
