"""One real control plane per test session (etcd, kube-apiserver, KCM, scheduler, kwok).

The binaries come from scripts/build-control-plane.sh (cached; a cold build takes minutes) or
KAITO_CONTROLPLANE_BIN. Processes are stopped by PID at session end, and by the reaper if pytest
is killed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from localcloud.controlplane import ControlPlane, find_bin_dir
from tests.waiting import wait_for


@pytest.fixture(scope="session")
def bin_dir() -> Path:
    return find_bin_dir()


@pytest.fixture(scope="session")
def control_plane(bin_dir: Path) -> Iterator[ControlPlane]:
    with ControlPlane(bin_dir) as cp:
        yield cp


@pytest.fixture(scope="session")
def api_client(control_plane: ControlPlane) -> Iterator[Any]:
    api = control_plane.api_client()
    try:
        yield api
    finally:
        api.close()


@pytest.fixture(scope="session")
def core(api_client: Any) -> Any:
    return client.CoreV1Api(api_client)


@pytest.fixture
def namespace(core: Any) -> Iterator[str]:
    """A fresh namespace whose default ServiceAccount exists (pods are admitted), deleted after."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    wait_for(
        lambda: core.list_namespaced_service_account(name, field_selector="metadata.name=default").items,
        timeout=30,
        what=f"default ServiceAccount in {name}",
    )
    yield name
    core.delete_namespace(name)
