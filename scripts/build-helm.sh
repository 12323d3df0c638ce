#!/usr/bin/env bash
# Build helm from Go modules into a versioned cache OUTSIDE the work tree.
#
# Why: no prebuilt binaries are downloadable here, only the Go module proxy. `go install
# module/cmd@version` builds with helm's own go.mod and go.sum (checked against the checksum
# database), so the build is reproducible without a tools module of ours. A cached build is reused;
# the script then returns in milliseconds.
#
# Output: the bin dir, on the LAST line of stdout (progress goes to stderr).
#
# Environment:
#   KAITO_HELM_BIN    use a helm already in this directory; nothing is built.
#   KAITO_HELM_CACHE  cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/kaito-temporal/helm).
#   KAITO_BUILD_JOBS  go build -p (default: number of CPUs, at most 4).
#   GO                the go binary (default: `go` on PATH, else /usr/local/go/bin/go).
set -euo pipefail

HELM_MODULE=helm.sh/helm/v3
HELM_VERSION=v3.22.0

log() { printf '[build-helm] %s\n' "$*" >&2; }

BINARIES=(helm)
source "$(dirname "${BASH_SOURCE[0]}")/go-build-cache.sh"
use_given_bin_dir KAITO_HELM_BIN

GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
go_version=$("$GO" env GOVERSION)
# helm reports its version from these stamps (`helm version`), as its Makefile sets them.
HELM_LD="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
fingerprint=$(echo "$HELM_MODULE@$HELM_VERSION|$go_version|$HELM_LD" | sha256sum | cut -c1-12)
root=${KAITO_HELM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kaito-temporal/helm}
reuse_or_lock "$root/$HELM_VERSION/${go_version}_$fingerprint"
start_build
export GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0
export GOFLAGS="-modcacherw -buildvcs=false"
log "building $HELM_MODULE@$HELM_VERSION into $out (go $go_version, -p $jobs)"
timed helm env GOBIN="$tmp" "$GO" install -p "$jobs" -trimpath -ldflags "$HELM_LD" "$HELM_MODULE/cmd/helm@$HELM_VERSION"
publish
