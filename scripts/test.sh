#!/usr/bin/env bash
# The test command: install everything the tests need from the project's own files, then run
# ruff, mypy, the import contracts and pytest. Safe to re-run; each step reuses what an earlier run left.
#
#   scripts/test.sh              everything
#   scripts/test.sh -k workflow  extra arguments go to pytest
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '\n== %s\n' "$*" >&2; }

log "python environment (.venv, pinned in pyproject.toml)"
scripts/install.sh

log "Kubernetes control plane from Go modules (cached outside the work tree)"
KAITO_CONTROLPLANE_BIN=$(scripts/build-control-plane.sh | tail -n 1)
export KAITO_CONTROLPLANE_BIN
echo "binaries in $KAITO_CONTROLPLANE_BIN" >&2

log "Temporal server, SQL tool and UI server from Go modules (cached outside the work tree)"
KAITO_TEMPORAL_SERVER_BIN=$(scripts/build-temporal-server.sh | tail -n 1)
export KAITO_TEMPORAL_SERVER_BIN
echo "binaries in $KAITO_TEMPORAL_SERVER_BIN" >&2

log "helm from Go modules, for the chart's tests (cached outside the work tree)"
KAITO_HELM_BIN=$(scripts/build-helm.sh | tail -n 1)
export KAITO_HELM_BIN
echo "helm in $KAITO_HELM_BIN" >&2

log "ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

log "mypy"
.venv/bin/mypy .

log "import contracts (presets <- workflows <- activities <- worker; see pyproject.toml)"
.venv/bin/lint-imports --no-cache

log "pytest"
.venv/bin/pytest "$@"
