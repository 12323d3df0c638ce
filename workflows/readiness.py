"""What "ready" means for a workspace's nodes and workload, shared by the reconcile activities and the
in-cluster controllers so that a signal and a reconcile can never disagree. Plain dicts in, as both the
kubernetes client (sanitized) and kopf hand objects over.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from workflows.naming import GPU_RESOURCE, LABEL_INSTANCE_TYPE, LABEL_WORKSPACE, LABEL_WORKSPACE_NAMESPACE


def workspace_of(labels: Mapping[str, str] | None) -> tuple[str, str] | None:
    """(namespace, name) of the workspace a node belongs to, from the labels its agent pool gives it."""
    labels = labels or {}
    name = labels.get(LABEL_WORKSPACE)
    return (labels.get(LABEL_WORKSPACE_NAMESPACE, "default"), name) if name else None


def node_is_ready_gpu(node: Mapping[str, Any], instance_type: str, resource: str = GPU_RESOURCE) -> bool:
    """KAITO's rule: Ready, not being deleted, the planned instance type, non-zero nvidia.com/gpu."""
    metadata = node.get("metadata") or {}
    status = node.get("status") or {}
    labels = metadata.get("labels") or {}
    if instance_type and str(labels.get(LABEL_INSTANCE_TYPE, "")).lower() != instance_type.lower():
        return False  # "" (bring your own nodes): any size the selector picks
    if metadata.get("deletionTimestamp"):
        return False
    try:
        gpus = int(str((status.get("capacity") or {}).get(resource, "0")))
    except ValueError:
        return False
    if gpus <= 0:
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def ready_gpu_nodes(
    nodes: Iterable[Mapping[str, Any]], instance_type: str, resource: str = GPU_RESOURCE
) -> list[str]:
    """`resource`: the extended resource the workload requests (a MIG slice's, on MIG nodes)."""
    return sorted(str(n["metadata"]["name"]) for n in nodes if node_is_ready_gpu(n, instance_type, resource))
