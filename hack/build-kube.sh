#!/usr/bin/env bash
# Builds the local control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kwok) from the official Go modules, once, into a cache
# outside the repo. Prints the bin directory on stdout's last line.
# Skips the build when every binary is already there.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
kube_version="$(awk '/^require k8s.io\/kubernetes/ {print $3}' "$here/kube/go.mod")"
etcd_version="$(awk '/^require go.etcd.io\/etcd\/server\/v3/ {print $3}' "$here/etcd/go.mod")"
kwok_version="$(awk '/^require sigs.k8s.io\/kwok/ {print $3}' "$here/kwok/go.mod")"
cache="${BOSUN_CACHE_DIR:-$HOME/.cache/bosun}"
bin="$cache/kube-$kube_version-etcd-$etcd_version-kwok-$kwok_version/bin"
want=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok)

missing=()
for b in "${want[@]}"; do [ -x "$bin/$b" ] || missing+=("$b"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$bin"
export CGO_ENABLED=0 GOFLAGS="-buildvcs=false -trimpath"
ldflags="-s -w"
start=$SECONDS
step=0
for b in "${missing[@]}"; do
  step=$((step + 1))
  echo "[build-kube] ($step/${#missing[@]}) building $b ... (first build takes 10-30 min on 2 cores)" >&2
  case "$b" in
    etcd) (cd "$here/etcd" && go build -ldflags "$ldflags" -o "$bin/etcd.tmp" .) ;;
    kwok) (cd "$here/kwok" && go build -ldflags "$ldflags" -o "$bin/kwok.tmp" sigs.k8s.io/kwok/cmd/kwok) ;;
    *) (cd "$here/kube" && go build -ldflags "$ldflags -X k8s.io/component-base/version.gitVersion=$kube_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$kube_version" | cut -d. -f2)" -o "$bin/$b.tmp" "k8s.io/kubernetes/cmd/$b") ;;
  esac
  mv "$bin/$b.tmp" "$bin/$b"
  echo "[build-kube] $b done at $((SECONDS - start))s" >&2
done
echo "$bin"
