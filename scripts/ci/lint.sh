#!/usr/bin/env bash
# Source layout and deploy assets: the folder rules (scripts/check-layers.mjs: lib/http/ below the
# features, lib/ never importing workers/, no import circles), no block of logic written twice
# (scripts/check-repeats.mjs), helm lint + template of the chart
# (default values and every values-*.yaml beside it), kubectl kustomize of every overlay, and a
# ShellCheck pass over every shell script in the repository. Expects helm/kubectl on PATH
# (scripts/ci/tools.sh) and shellcheck (Debian package); a missing tool is reported as SKIP, a
# finding fails the stage.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=scripts/ci/lib.sh
. scripts/ci/lib.sh
fail=0
node scripts/check-layers.mjs || { echo "FAIL check-layers"; fail=1; }
node scripts/check-repeats.mjs || { echo "FAIL check-repeats"; fail=1; }
if command -v helm >/dev/null; then
  for chart in deploy/helm/*/; do
    helm lint "$chart" >/dev/null || { echo "FAIL helm lint $chart"; helm lint "$chart"; fail=1; }
    helm template weir "$chart" >/dev/null || { echo "FAIL helm template $chart"; fail=1; }
    for v in "$chart"values-*.yaml "$chart"ci/*.yaml; do
      [ -f "$v" ] || continue
      helm template weir "$chart" -f "$v" >/dev/null || { echo "FAIL helm template $chart -f $v"; fail=1; }
    done
  done
  echo "helm: chart linted and rendered"
else ci_skip helm "helm not on PATH (scripts/ci/tools.sh could not fetch it)"; fi
if command -v kubectl >/dev/null; then
  while IFS= read -r k; do
    d=$(dirname "$k")
    kubectl kustomize "$d" >/dev/null || { echo "FAIL kubectl kustomize $d"; fail=1; }
  done < <(find deploy -name kustomization.yaml | sort)
  echo "kustomize: overlays rendered"
else ci_skip kustomize "kubectl not on PATH"; fi
if command -v shellcheck >/dev/null || ensure_debs shellcheck; then
  mapfile -t scripts < <(git ls-files '*.sh' .ci/run 2>/dev/null; git ls-files --others --exclude-standard '*.sh' 2>/dev/null)
  if shellcheck "${scripts[@]}"; then echo "shellcheck: ${#scripts[@]} scripts clean"; else echo "FAIL shellcheck"; fail=1; fi
else ci_skip shellcheck "shellcheck not installed and apt-get could not install it"; fi
exit $fail
