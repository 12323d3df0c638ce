"""The chart's tests: helm built from Go modules (scripts/build-helm.sh, cached), the real control plane."""

import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.controlplane.conftest import bin_dir, control_plane
from tests.devserver.conftest import dev_server

__all__ = ["bin_dir", "control_plane", "dev_server", "helm"]


@pytest.fixture(scope="session")
def helm() -> Path:
    """The helm binary; a cold build takes minutes, a cached one milliseconds."""
    built = subprocess.run(
        [str(ROOT / "scripts" / "build-helm.sh")], capture_output=True, text=True, check=False, timeout=1800
    )
    assert built.returncode == 0, built.stderr[-3000:]
    return Path(built.stdout.strip().splitlines()[-1]) / "helm"
