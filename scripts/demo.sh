#!/usr/bin/env bash
# The main job: the local cloud, the seed workspace (falcon-7b on Standard_NC12s_v3) provisioned end to
# end, watchable in the Temporal UI. Installs what it needs first.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/install.sh
KAITO_CONTROLPLANE_BIN=$(scripts/build-control-plane.sh | tail -n 1)
export KAITO_CONTROLPLANE_BIN
exec .venv/bin/kaitoctl dev demo "$@"
