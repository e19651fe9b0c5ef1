#!/usr/bin/env bash
# Build Weir's Dockerfile with buildah (--isolation=chroot; overlay or vfs storage, see buildah.sh)
# from a local base: the Debian 13 root + Node 24 (scripts/ci/debian-root.sh) imported with
# FROM scratch + ADD, since no image registry is reachable in CI. --format docker: the OCI format
# has no HEALTHCHECK, and buildah would drop the Dockerfile's (docker builds keep it).
# Exit 3 (with the reason on stderr) when a prerequisite is missing, non-zero otherwise on a
# failed build.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/ci/buildah.sh
. scripts/ci/buildah.sh
ensure_debs buildah || { echo "buildah could not be installed (apt unreachable?)" >&2; exit 3; }
root=$(scripts/ci/debian-root.sh) || exit 3
mkdir -p "$CI_CONTAINERS"
if ! bah inspect --type image "$WEIR_CI_BASE" >/dev/null 2>&1; then
  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' EXIT
  ci_log "making base image $WEIR_CI_BASE from $root"
  tar --numeric-owner --exclude=./weir --exclude=./proc/* --exclude=./dev/* --exclude=./tmp/* \
      --exclude=./.weir-ci-stamp --mtime=@0 -C "$root" -cf "$ctx/rootfs.tar" .
  # The CI machine's npm trust (a TLS-inspecting proxy's CA, if it has one) for the build's
  # `npm ci`, in npm's global config, which the runtime stage leaves unused (npm is removed there).
  cafile=$(npm config get cafile 2>/dev/null || true)
  : >"$ctx/npmrc"
  if [ -n "$cafile" ] && [ "$cafile" != null ] && [ -f "$cafile" ]; then
    cp "$cafile" "$ctx/ci-ca.crt"; echo "cafile=/usr/local/etc/ci-ca.crt" >"$ctx/npmrc"
  else : >"$ctx/ci-ca.crt"; fi
  cat >"$ctx/Containerfile" <<'CF'
FROM scratch
ADD rootfs.tar /
ADD npmrc ci-ca.crt /usr/local/etc/
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
CMD ["node"]
CF
  bah build --isolation=chroot --timestamp 0 -t "$WEIR_CI_BASE" "$ctx" >&2
fi
epoch=$(git log -1 --format=%ct 2>/dev/null || echo 0)
ci_log "buildah build $WEIR_CI_IMAGE (NODE_IMAGE=$WEIR_CI_BASE)"
bah build --isolation=chroot --pull=never --layers --format docker --timestamp "$epoch" \
  --build-arg NODE_IMAGE="$WEIR_CI_BASE" \
  --build-arg VERSION="$(node -p 'require("./package.json").version')" \
  --build-arg REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
  --build-arg SOURCE_DATE_EPOCH="$epoch" \
  --build-arg CREATED="$(date -u -d "@$epoch" +%FT%TZ)" \
  -t "$WEIR_CI_IMAGE" . >&2
echo "$WEIR_CI_IMAGE"
