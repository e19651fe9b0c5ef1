#!/usr/bin/env bash
# run-image.sh IMAGE CONFIG [ARGS...]: run a built image the way `docker run --read-only` would,
# without a container engine: the image's rootfs mounted read-only in a private mount namespace,
# /proc and /dev provided, CONFIG bind-mounted at /etc/weir/gateway.yaml, the image's own User,
# Env, WorkingDir and Entrypoint (ARGS replace Cmd). The host network is shared. The final process
# is the entrypoint itself (exec all the way), so signals sent to this script's pid reach Weir.
# Extra environment: WEIR_RUN_ENV="K=V K2=V2".
set -euo pipefail
# shellcheck source=scripts/ci/buildah.sh
. "$(dirname "$0")/buildah.sh"
image="$1"; config="$2"; shift 2
ctr=$(bah from --pull=never "$image")
mnt=$(bah mount "$ctr")
fmt () { bah inspect --type image --format "$1" "$image"; }
user=$(fmt '{{.OCIv1.Config.User}}')
workdir=$(fmt '{{.OCIv1.Config.WorkingDir}}')
mapfile -t envs < <(fmt '{{range .OCIv1.Config.Env}}{{println .}}{{end}}' | sed '/^$/d')
mapfile -t entry < <(fmt '{{range .OCIv1.Config.Entrypoint}}{{println .}}{{end}}' | sed '/^$/d')
if [ $# -eq 0 ]; then mapfile -t cmd < <(fmt '{{range .OCIv1.Config.Cmd}}{{println .}}{{end}}' | sed '/^$/d'); else cmd=("$@"); fi
# shellcheck disable=SC2206
extra=(${WEIR_RUN_ENV:-})
mkdir -p "$mnt/etc/weir" && touch "$mnt/etc/weir/gateway.yaml"
# The container is removed when the namespace's process ends (a detached cleaner waits for it).
( while kill -0 $$ 2>/dev/null; do sleep 1; done; bah umount "$ctr"; bah rm "$ctr" ) </dev/null >/dev/null 2>&1 &
# shellcheck disable=SC2016 # the inner scripts expand their own arguments
exec unshare --mount --propagation private -- bash -euo pipefail -c '
  mnt="$1"; config="$2"; user="$3"; workdir="$4"; shift 4
  mount --bind "$mnt" "$mnt"
  mount --bind "$config" "$mnt/etc/weir/gateway.yaml"
  mount -t proc proc "$mnt/proc"
  mount --rbind /dev "$mnt/dev"
  mount -o remount,bind,ro "$mnt"
  cd "$mnt"
  exec chroot --userspec="$user" "$mnt" /usr/bin/env -i "$@"
' bash "$mnt" "$config" "$user" "$workdir" "${envs[@]}" "${extra[@]}" sh -c 'cd "$0" && exec "$@"' "$workdir" "${entry[@]}" "${cmd[@]}"
