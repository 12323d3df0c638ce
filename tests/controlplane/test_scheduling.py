"""The inference workload from activities.workspace_objects, scheduled by the real kube-scheduler onto
kwok GPU nodes: it runs on its own workspace's node, never on another workspace's, and without
the GPU toleration it stays Pending as Unschedulable."""

from __future__ import annotations

import copy
import ipaddress
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from kubernetes import client

from activities import workspace_objects as manifests
from localcloud.controlplane import ControlPlane
from tests.controlplane.nodes import aks_gpu_node, is_ready
from tests.controlplane.waiting import wait_for
from workflows.workspace_contracts import ProvisioningPlan

pytestmark = pytest.mark.controlplane


def _plan(name: str, namespace: str) -> ProvisioningPlan:
    return ProvisioningPlan(
        namespace=namespace,
        name=name,
        api_version="kaito.sh/v1beta1",
        model="falcon-7b",
        hf_repo="tiiuae/falcon-7b",
        hf_revision="main",
        served_model_name="falcon-7b",
        image="mcr.microsoft.com/aks/kaito/kaito-base:0.0.8",
        runtime="vllm",
        instance_type="Standard_NC12s_v3",
        gpus_per_node=2,
        node_count=1,
        agent_pool="gpunc12",
        os_disk_gb=100,
        match_labels={"apps": "falcon-7b"},
        node_ready_timeout=timedelta(minutes=30),
        inference_ready_timeout=timedelta(minutes=30),
    )


def _node_for(plan: ProvisioningPlan, name: str) -> dict[str, Any]:
    node = aks_gpu_node(name, workspace=plan.name, namespace=plan.namespace, instance_type=plan.instance_type)
    node["metadata"]["labels"].update(manifests.node_labels(plan))
    return node


def _pod_scheduled(pod: Any) -> Any:
    return next((c for c in pod.status.conditions or [] if c.type == "PodScheduled"), None)


def _unschedulable(core: Any, name: str, namespace: str) -> Any:
    """The pod once the scheduler has decided it fits nowhere (PodScheduled=False, Unschedulable)."""
    pod = core.read_namespaced_pod(name, namespace)
    cond = _pod_scheduled(pod)
    return pod if cond and cond.status == "False" and cond.reason == "Unschedulable" else None


@pytest.fixture
def two_workspaces(
    core: Any, namespace: str
) -> Iterator[tuple[ProvisioningPlan, ProvisioningPlan, str, str]]:
    """Two workspaces with one identical GPU node each, differing only in the workspace labels."""
    mine, other = _plan("falcon", namespace), _plan("falcon-other", namespace)
    suffix = uuid.uuid4().hex[:6]
    my_node, other_node = f"aks-gpu-{suffix}-mine", f"aks-gpu-{suffix}-other"
    core.create_node(_node_for(mine, my_node))
    core.create_node(_node_for(other, other_node))
    try:
        wait_for(
            lambda: is_ready(core.read_node(my_node)) and is_ready(core.read_node(other_node)),
            timeout=60,
            what="both nodes Ready",
        )
        yield mine, other, my_node, other_node
    finally:
        core.delete_node(my_node)
        core.delete_node(other_node)


def test_workload_runs_only_on_its_workspace_node(
    control_plane: ControlPlane, api_client: Any, core: Any, namespace: str, two_workspaces: Any
) -> None:
    mine, other, my_node, other_node = two_workspaces
    apps: Any = client.AppsV1Api(api_client)
    apps.create_namespaced_stateful_set(namespace, manifests.workload(mine))
    core.create_namespaced_service(namespace, manifests.service(mine))

    pod = wait_for(
        lambda: (p := core.read_namespaced_pod("falcon-0", namespace)).status.phase == "Running" and p,
        timeout=60,
        what="falcon-0 Running",
    )
    assert pod.spec.node_name == my_node
    assert pod.status.pod_ip
    assert ipaddress.ip_address(pod.status.pod_ip) in ipaddress.ip_network(control_plane.pod_cidr)
    assert pod.spec.containers[0].resources.requests["nvidia.com/gpu"] == "2"

    # The Service gets the pod as a ready endpoint (pod IPs are routable-looking, not loopback).
    discovery: Any = client.DiscoveryV1Api(api_client)
    wait_for(
        lambda: any(
            ep.addresses == [pod.status.pod_ip] and ep.conditions.ready
            for s in discovery.list_namespaced_endpoint_slice(
                namespace, label_selector="kubernetes.io/service-name=falcon"
            ).items
            for ep in s.endpoints or []
        ),
        timeout=60,
        what="EndpointSlice with the pod",
    )

    # A second replica has no free node of its own workspace (one pod per node): it must stay
    # Pending rather than take the other workspace's idle, otherwise identical GPU node.
    apps.patch_namespaced_stateful_set_scale("falcon", namespace, {"spec": {"replicas": 2}})
    pending = wait_for(
        lambda: _unschedulable(core, "falcon-1", namespace), timeout=60, what="falcon-1 Unschedulable"
    )
    assert pending.spec.node_name is None
    assert "didn't match Pod's node affinity/selector" in _pod_scheduled(pending).message

    # The other workspace's workload does land on that node.
    apps.create_namespaced_stateful_set(namespace, manifests.workload(other))
    theirs = wait_for(
        lambda: (p := core.read_namespaced_pod("falcon-other-0", namespace)).status.phase == "Running" and p,
        timeout=60,
        what="falcon-other-0 Running",
    )
    assert theirs.spec.node_name == other_node
    assert core.read_namespaced_pod("falcon-1", namespace).spec.node_name is None


def test_without_gpu_toleration_the_pod_is_unschedulable(
    core: Any, namespace: str, two_workspaces: Any
) -> None:
    mine, _, _, _ = two_workspaces
    template = copy.deepcopy(manifests.workload(mine)["spec"]["template"])
    template["spec"]["tolerations"] = [t for t in template["spec"]["tolerations"] if t.get("key") != "sku"]
    pod_body = {"metadata": {**template["metadata"], "name": "no-toleration"}, "spec": template["spec"]}
    core.create_namespaced_pod(namespace, pod_body)

    pod = wait_for(lambda: _unschedulable(core, "no-toleration", namespace), timeout=60, what="Unschedulable")
    assert pod.spec.node_name is None
    assert pod.status.phase == "Pending"
    assert "untolerated taint" in _pod_scheduled(pod).message
