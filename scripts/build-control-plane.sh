#!/usr/bin/env bash
# Build a real Kubernetes control plane (kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl, etcd, kwok) from Go modules into a versioned cache OUTSIDE the work tree.
#
# Why: no prebuilt binaries are downloadable here, only the Go module proxy. The tools modules in
# scripts/controlplane-tools/{k8s,etcd,kwok} pin every dependency (committed go.mod + go.sum), so a
# build is reproducible. A cached build is reused; the script then returns in milliseconds.
#
# Output: the bin dir, on the LAST line of stdout (progress goes to stderr).
#
# Environment:
#   KAITO_CONTROLPLANE_BIN   use binaries already in this directory; nothing is built.
#   KAITO_CONTROLPLANE_CACHE cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/kaito-temporal/controlplane).
#   KAITO_BUILD_JOBS         go build -p (default: number of CPUs, at most 4) - memory stays a few GiB.
#   GO                       the go binary (default: `go` on PATH, else /usr/local/go/bin/go).
set -euo pipefail

BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok)
K8S_VERSION=v1.36.3
ETCD_VERSION=v3.6.16
KWOK_VERSION=v0.8.0

log() { printf '[build-control-plane] %s\n' "$*" >&2; }

source "$(dirname "${BASH_SOURCE[0]}")/go-build-cache.sh"
use_given_bin_dir KAITO_CONTROLPLANE_BIN

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tools=$here/controlplane-tools
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
go_version=$("$GO" env GOVERSION)

# Version stamps as upstream's hack/lib/version.sh sets them: feature-gate and emulation-version
# defaults follow the binary version, so it must be the exact release.
minor=${K8S_VERSION#v1.}
minor=${minor%%.*}
cb=k8s.io/component-base/version
cg=k8s.io/client-go/pkg/version
k8s_ld="-s -w"
for p in $cb $cg; do
    k8s_ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done
K8S_TAGS=selinux,notest,grpcnotrace
KWOK_LD="-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}"
ETCD_LD="-s -w"
# The key names the versions and hashes everything that changes the output: the pinned module
# graphs, the build flags and the Go toolchain (not this file, so comment edits do not rebuild).
fingerprint=$( { cat "$tools"/*/go.mod "$tools"/*/go.sum; echo "$go_version|$K8S_TAGS|$k8s_ld|$ETCD_LD|$KWOK_LD"; } \
    | sha256sum | cut -c1-12)
key="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_${go_version}_${fingerprint}"
root=${KAITO_CONTROLPLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kaito-temporal/controlplane}
reuse_or_lock "$root/$key"
start_build
export GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0
export GOFLAGS="-mod=readonly -modcacherw -buildvcs=false"
log "building into $out (go $go_version, -p $jobs)"
timed download-modules sh -c "cd '$tools/k8s' && '$GO' mod download && cd '$tools/etcd' && '$GO' mod download \
    && cd '$tools/kwok' && '$GO' mod download"

timed etcd sh -c "cd '$tools/etcd' && '$GO' build -p $jobs -trimpath -ldflags '$ETCD_LD' -o '$tmp/etcd' \
    go.etcd.io/etcd/server/v3"
# One component per go build: each later build reuses the packages already compiled, so the
# recorded time is that component's increment.
for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    timed "$c" sh -c "cd '$tools/k8s' && '$GO' build -p $jobs -trimpath -tags=$K8S_TAGS \
        -ldflags '$k8s_ld' -o '$tmp/$c' k8s.io/kubernetes/cmd/$c"
done
timed kwok sh -c "cd '$tools/kwok' && '$GO' build -p $jobs -trimpath \
    -ldflags '$KWOK_LD' -o '$tmp/kwok' \
    sigs.k8s.io/kwok/cmd/kwok"

publish
