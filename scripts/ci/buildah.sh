#!/usr/bin/env bash
# Sourced: `bah` runs buildah with CI's storage (vfs driver, chroot isolation, kept under
# $CI_CACHE so the base image and layers survive between runs when the machine keeps its disk).
# shellcheck source=scripts/ci/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export BUILDAH_ISOLATION=chroot
bah () { buildah --root "$CI_CACHE/containers/storage" --runroot "$CI_CACHE/containers/run" --storage-driver=vfs "$@"; }
# shellcheck disable=SC2034 # used by the scripts that source this file
WEIR_CI_BASE="localhost/weir-ci-base:trixie-node$NODE24_VERSION"
WEIR_CI_IMAGE="${WEIR_CI_IMAGE:-localhost/weir:ci}"
