"""Node objects as AKS registers them for a KAITO GPU agent pool, managed by kwok."""

from __future__ import annotations

from typing import Any

from localcloud.controlplane import KWOK_NODE_ANNOTATION

# Standard_NC12s_v3: 12 vCPU, 224 GiB, 2x V100.
NC12S_V3_CAPACITY = {"cpu": "12", "memory": "224Gi", "pods": "110", "nvidia.com/gpu": "2"}


def aks_gpu_node(
    name: str,
    *,
    workspace: str,
    namespace: str = "default",
    pool: str = "gpunc12",
    instance_type: str = "Standard_NC12s_v3",
    apps: str = "falcon-7b",
    capacity: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A Node with the labels, taint and GPU capacity an AKS GPU node of a KAITO pool carries."""
    cap = dict(capacity or NC12S_V3_CAPACITY)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {KWOK_NODE_ANNOTATION[0]: KWOK_NODE_ANNOTATION[1]},
            "labels": {
                "kubernetes.azure.com/agentpool": pool,
                "agentpool": pool,
                "node.kubernetes.io/instance-type": instance_type,
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kaito.sh/workspace": workspace,
                "kaito.sh/workspacenamespace": namespace,
                "apps": apps,
                "type": "kwok",
            },
        },
        "spec": {"taints": [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}]},
        # A kubelet registers with its capacity; kwok's node-ready stage (kwok_stages/node.yaml) keeps it.
        "status": {"capacity": cap, "allocatable": dict(cap)},
    }


def is_ready(node: Any) -> bool:
    """Node condition Ready=True (works on kubernetes client V1Node objects)."""
    conditions = node.status.conditions or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)
