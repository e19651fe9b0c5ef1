#!/usr/bin/env bash
# Sourced: `bah` runs buildah with CI's storage (chroot isolation, kept under $CI_CACHE so the
# base image and layers survive between runs when the machine keeps its disk).
# Storage driver: overlay (kernel overlayfs, as root) when the kernel has it, else vfs. vfs copies
# the whole root filesystem for every Dockerfile instruction and again to delete it: on a 2-core
# CI machine the 22-step runtime stage alone took ~6 minutes with a warm cache, overlay makes it
# seconds. WEIR_CI_STORAGE_DRIVER=vfs|overlay forces one. Each driver has its own store (a store
# cannot change driver), so switching never corrupts the other.
# shellcheck source=scripts/ci/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export BUILDAH_ISOLATION=chroot
ci_storage_driver () {
  if [ -n "${WEIR_CI_STORAGE_DRIVER:-}" ]; then echo "$WEIR_CI_STORAGE_DRIVER"; return; fi
  if [ "$(id -u)" = 0 ] && grep -qw overlay /proc/filesystems 2>/dev/null; then echo overlay; else echo vfs; fi
}
CI_STORAGE_DRIVER="$(ci_storage_driver)"
# vfs keeps the original location (existing caches stay valid); overlay gets its own.
if [ "$CI_STORAGE_DRIVER" = vfs ]; then CI_CONTAINERS="$CI_CACHE/containers"
else CI_CONTAINERS="$CI_CACHE/containers-$CI_STORAGE_DRIVER"; fi
bah () { buildah --root "$CI_CONTAINERS/storage" --runroot "$CI_CONTAINERS/run" --storage-driver="$CI_STORAGE_DRIVER" "$@"; }
# shellcheck disable=SC2034 # used by the scripts that source this file
WEIR_CI_BASE="localhost/weir-ci-base:trixie-node$NODE24_VERSION"
WEIR_CI_IMAGE="${WEIR_CI_IMAGE:-localhost/weir:ci}"
