"""kwok turns a registered AKS GPU node into a Ready node, as a kubelet would."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from tests.controlplane.nodes import aks_gpu_node, is_ready
from tests.waiting import wait_for

pytestmark = pytest.mark.controlplane


def test_aks_gpu_node_becomes_ready(core: Any, api_client: Any) -> None:
    core.create_node(aks_gpu_node("aks-gpunc12-10000000-vmss000000", workspace="workspace-falcon-7b"))
    try:
        # Ready, and the node lifecycle controller has lifted its not-ready taint (it does so shortly after).
        node = wait_for(
            lambda: (
                (n := core.read_node("aks-gpunc12-10000000-vmss000000"))
                and is_ready(n)
                and not any(t.key == "node.kubernetes.io/not-ready" for t in n.spec.taints or [])
                and n
            ),
            timeout=60,
            what="node Ready and schedulable",
        )
        assert node.status.capacity["nvidia.com/gpu"] == "2"
        assert node.status.allocatable["nvidia.com/gpu"] == "2"
        assert node.metadata.labels["kaito.sh/workspace"] == "workspace-falcon-7b"
        assert node.metadata.labels["node.kubernetes.io/instance-type"] == "Standard_NC12s_v3"
        assert node.metadata.labels["apps"] == "falcon-7b"
        assert [(t.key, t.value, t.effect) for t in node.spec.taints] == [("sku", "gpu", "NoSchedule")]
        # kwok keeps the node alive through its Lease, like a kubelet (--node-lease-duration-seconds).
        leases: Any = client.CoordinationV1Api(api_client)
        lease = wait_for(
            lambda: leases.read_namespaced_lease("aks-gpunc12-10000000-vmss000000", "kube-node-lease"),
            timeout=30,
            what="node lease",
            tolerate=(ApiException,),  # 404 until kwok creates it
        )
        assert lease.spec.lease_duration_seconds == 40
        assert lease.spec.renew_time is not None
    finally:
        core.delete_node("aks-gpunc12-10000000-vmss000000")


def test_node_without_kwok_annotation_is_left_alone(core: Any) -> None:
    """Only annotated nodes are faked, so a test can hold a node NotReady on purpose."""
    body = aks_gpu_node("unmanaged-node", workspace="w")
    del body["metadata"]["annotations"]
    core.create_node(body)
    try:
        # kwok picks annotated nodes up within a second (see the test above); give it generous
        # time to wrongly touch this one, observing the state rather than sleeping.
        managed = core.create_node(aks_gpu_node("managed-probe", workspace="w"))
        assert managed
        wait_for(lambda: is_ready(core.read_node("managed-probe")), timeout=60, what="probe node Ready")
        assert not is_ready(core.read_node("unmanaged-node"))
    finally:
        core.delete_node("unmanaged-node")
        core.delete_node("managed-probe")
