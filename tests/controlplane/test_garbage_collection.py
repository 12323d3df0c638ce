"""The controller manager's garbage collector deletes dependents of a deleted owner."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from tests.waiting import wait_for

pytestmark = pytest.mark.controlplane


def _gone(read: Any, *args: str) -> bool:
    try:
        read(*args)
    except ApiException as e:
        return bool(e.status == 404)
    return False


def test_owner_deletion_collects_dependents(core: Any, namespace: str) -> None:
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "dependent", "ownerReferences": [ref]}}
    )
    core.create_namespaced_secret(
        namespace, {"metadata": {"name": "dependent-secret", "ownerReferences": [ref]}}
    )

    core.delete_namespaced_config_map("owner", namespace)  # background propagation (the default)

    wait_for(lambda: _gone(core.read_namespaced_config_map, "dependent", namespace), timeout=60, what="GC")
    wait_for(lambda: _gone(core.read_namespaced_secret, "dependent-secret", namespace), timeout=60, what="GC")


def test_foreground_deletion_of_a_deployment_removes_its_replicasets(api_client: Any, namespace: str) -> None:
    apps: Any = client.AppsV1Api(api_client)  # Any: bodies are plain dict manifests
    labels = {"app": "gc-probe"}
    apps.create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": "gc-probe"},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "c", "image": "x"}]},
                },
            },
        },
    )
    wait_for(lambda: apps.list_namespaced_replica_set(namespace).items, timeout=60, what="ReplicaSet")
    apps.delete_namespaced_deployment("gc-probe", namespace, propagation_policy="Foreground")
    wait_for(lambda: not apps.list_namespaced_replica_set(namespace).items, timeout=60, what="RS collected")
    wait_for(
        lambda: _gone(apps.read_namespaced_deployment, "gc-probe", namespace), timeout=60, what="deleted"
    )
