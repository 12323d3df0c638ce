"""Names derived from a workspace, deterministic so that a retried step finds what it made before."""

import hashlib
import re

AGENT_POOL_NAME_RULE = re.compile(r"^[a-z][a-z0-9]{0,11}$")
# The longest suffix KAITO derives from a workspace name is "-headless" (9 characters), and a derived
# name must still be a 63-character DNS label.
LONGEST_DERIVED_SUFFIX = "-headless"
MAX_WORKSPACE_NAME = 63 - len(LONGEST_DERIVED_SUFFIX)

LABEL_WORKSPACE = "kaito.sh/workspace"
LABEL_WORKSPACE_NAMESPACE = "kaito.sh/workspacenamespace"
LABEL_MACHINE_TYPE = "kaito.sh/machine-type"
LABEL_INSTANCE_TYPE = "node.kubernetes.io/instance-type"
LABEL_AGENT_POOL = "kubernetes.azure.com/agentpool"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_TAINT_KEY = "sku"
GPU_TAINT_VALUE = "gpu"
GPU_TAINT_EFFECT = "NoSchedule"
INFERENCE_PORT = 5000
SERVICE_PORT = 80
RESERVED_SELECTOR_KEYS = frozenset(
    {
        "kaito.sh/workspace",
        "kaito.sh/ragengine",
        "kaito.sh/workspacenamespace",
        "kaito.sh/ragenginenamespace",
        "karpenter.kaito.sh/workspace-name",
        "karpenter.kaito.sh/workspace-namespace",
        "karpenter.kaito.sh/inferenceset",
        "karpenter.kaito.sh/inferenceset-namespace",
    }
)


def agent_pool_name(namespace: str, name: str) -> str:
    """`ws` + 10 hex digits of sha256(namespace/name): legal for AKS (`^[a-z][a-z0-9]{0,11}$`)."""
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest()
    pool = f"ws{digest[:10]}"
    assert AGENT_POOL_NAME_RULE.match(pool)
    return pool


def headless_service_name(name: str) -> str:
    return f"{name}{LONGEST_DERIVED_SUFFIX}"
