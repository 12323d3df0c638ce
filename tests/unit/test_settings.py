"""Worker settings without a safe default must be set: each worker process refuses to start without them,
with one line per missing variable and exit code 2 (not a traceback, not a made-up cluster)."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from worker.settings import USAGE_ERROR, BootstrapSettings, WorkerSettings, from_environment

CLUSTER_ENV = {
    "KAITO_SUBSCRIPTION_ID": "6b1f0b5e-0000-4000-8000-000000000001",
    "KAITO_RESOURCE_GROUP": "rg-gpu",
    "KAITO_CLUSTER_NAME": "aks-gpu",
}


def _start(module: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m <module>` with no KAITO_* variable but `env` (Temporal is never reached)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KAITO_")}
    return subprocess.run(
        [sys.executable, "-m", module],
        env={**clean, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_provisioning_worker_names_every_missing_variable() -> None:
    done = _start("worker")
    assert done.returncode == USAGE_ERROR == 2
    assert done.stderr.splitlines() == [
        "error: KAITO_SUBSCRIPTION_ID is not set: "
        "the subscription of the AKS cluster whose GPU pools this worker manages",
        "error: KAITO_RESOURCE_GROUP is not set: "
        "the resource group of the AKS cluster whose GPU pools this worker manages",
        "error: KAITO_CLUSTER_NAME is not set: the AKS cluster whose GPU pools this worker manages",
    ]


def test_the_provisioning_worker_names_only_what_is_missing() -> None:
    done = _start("worker", KAITO_SUBSCRIPTION_ID=CLUSTER_ENV["KAITO_SUBSCRIPTION_ID"])
    assert done.returncode == 2
    assert [line.split(" is not set")[0] for line in done.stderr.splitlines()] == [
        "error: KAITO_RESOURCE_GROUP",
        "error: KAITO_CLUSTER_NAME",
    ]


def test_the_bootstrap_worker_needs_its_subscription_only() -> None:
    """Each bootstrap request names its resource group and cluster; the clients are bound to one
    subscription."""
    done = _start("worker.bootstrap_worker")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: KAITO_SUBSCRIPTION_ID is not set: "
        "the subscription of the AKS clusters this worker bootstraps (it refuses others)"
    ]


def test_a_malformed_value_is_named_with_the_reason() -> None:
    done = _start("worker", **CLUSTER_ENV, KAITO_NODE_READY_TIMEOUT="half an hour")
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith("error: KAITO_NODE_READY_TIMEOUT='half an hour' is invalid: ")
    assert "valid timedelta" in line


def test_the_cluster_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No KAITO_LOCATION is needed: agent pools take the cluster's location."""
    for name, value in CLUSTER_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("KAITO_LOCATION", raising=False)
    settings = from_environment(WorkerSettings)
    assert (settings.subscription_id, settings.resource_group, settings.cluster_name) == (
        "6b1f0b5e-0000-4000-8000-000000000001",
        "rg-gpu",
        "aks-gpu",
    )
    assert settings.task_queue == "kaito-provisioning"
    assert from_environment(BootstrapSettings).task_queue == "kaito-bootstrap"
