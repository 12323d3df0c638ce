"""The inference workload from activities.workspace_objects, scheduled by the real kube-scheduler onto
kwok GPU nodes: it runs on its own workspace's node, never on another workspace's, and without
the GPU toleration it stays Pending as Unschedulable."""

from __future__ import annotations

import copy
import ipaddress
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from activities import workspace_objects as manifests
from localcloud.controlplane import ControlPlane
from localcloud.standins import readiness_patch
from tests.conftest import load_example
from tests.controlplane.nodes import aks_gpu_node, is_ready
from tests.waiting import wait_for
from workflows.workspace_contracts import ProvisioningPlan
from workflows.workspace_plan import build_plan
from workflows.workspace_validation import parse_workspace

pytestmark = pytest.mark.controlplane


def _plan(name: str, namespace: str) -> ProvisioningPlan:
    """falcon-7b on one Standard_NC12s_v3 (2 GPUs), planned as the validate activity plans it."""
    manifest = load_example("workspace-falcon-7b.yaml")
    manifest["metadata"] = {"name": name, "namespace": namespace}
    return build_plan(parse_workspace(manifest))


def _node_for(plan: ProvisioningPlan, name: str) -> dict[str, Any]:
    node = aks_gpu_node(name, workspace=plan.name, namespace=plan.namespace, instance_type=plan.instance_type)
    node["metadata"]["labels"].update(manifests.node_labels(plan))
    return node


def _pod_scheduled(pod: Any) -> Any:
    return next((c for c in pod.status.conditions or [] if c.type == "PodScheduled"), None)


def _unschedulable(pod: Any) -> bool:
    """The scheduler has decided the pod fits nowhere (PodScheduled=False, Unschedulable)."""
    cond = _pod_scheduled(pod)
    return bool(cond and cond.status == "False" and cond.reason == "Unschedulable")


def _running(pod: Any) -> bool:
    return bool(pod.status.phase == "Running")


def _pod_once(core: Any, name: str, namespace: str, state: Callable[[Any], bool], what: str) -> Any:
    """The pod once `state(pod)` holds (reading it answers 404 until its controller creates it)."""

    def seen() -> Any:
        pod = core.read_namespaced_pod(name, namespace)
        return pod if state(pod) else None

    return wait_for(seen, f"{name} {what}", timeout=60, tolerate=(ApiException,))


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

    pod = _pod_once(core, "falcon-0", namespace, _running, "Running")
    assert pod.spec.node_name == my_node
    assert pod.status.pod_ip
    assert ipaddress.ip_address(pod.status.pod_ip) in ipaddress.ip_network(control_plane.pod_cidr)
    assert pod.spec.containers[0].resources.requests["nvidia.com/gpu"] == "2"

    # kwok leaves it not Ready; the local cloud's stand-in manager marks it Ready once its stand-in
    # answers (localcloud/standins.py). No stand-in runs here, so the test writes that mark itself.
    assert not any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
    core.patch_namespaced_pod_status(
        "falcon-0", namespace, readiness_patch(api_client.sanitize_for_serialization(pod), datetime.now(UTC))
    )
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
    pending = _pod_once(core, "falcon-1", namespace, _unschedulable, "Unschedulable")
    assert pending.spec.node_name is None
    assert "didn't match Pod's node affinity/selector" in _pod_scheduled(pending).message

    # The other workspace's workload does land on that node.
    apps.create_namespaced_stateful_set(namespace, manifests.workload(other))
    theirs = _pod_once(core, "falcon-other-0", namespace, _running, "Running")
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

    pod = _pod_once(core, "no-toleration", namespace, _unschedulable, "Unschedulable")
    assert pod.spec.node_name is None
    assert pod.status.phase == "Pending"
    assert "untolerated taint" in _pod_scheduled(pod).message
