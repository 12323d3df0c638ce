"""KAITO's bring-your-own-nodes checks: GPU facts from GPU Feature Discovery labels, pure.

With no instanceType a Workspace runs on existing nodes its label selector picks. KAITO reads each
node's `nvidia.com/gpu.product`, `nvidia.com/gpu.count` and `nvidia.com/gpu.memory` (MiB per GPU,
rounded to whole GiB), requires every node to agree, and compares the model's need with the total
GPU memory of the nodes.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from presets.models import ModelPreset
from presets.sizing import gib, needs_text

# The MIG profiles NVIDIA GPUs offer (A30, A100 40/80 GB, H100 80/94/96 GB, H200, B200): a MIG
# partition gets one slice, requested as the `nvidia.com/mig-<profile>` extended resource.
MIG_PROFILES = frozenset(
    {
        "1g.6gb",
        "2g.12gb",
        "4g.24gb",
        "1g.5gb",
        "2g.10gb",
        "3g.20gb",
        "4g.20gb",
        "7g.40gb",
        "1g.10gb",
        "1g.20gb",
        "2g.20gb",
        "3g.40gb",
        "4g.40gb",
        "7g.80gb",
        "1g.12gb",
        "1g.24gb",
        "2g.24gb",
        "3g.47gb",
        "4g.47gb",
        "7g.94gb",
        "3g.48gb",
        "4g.48gb",
        "7g.96gb",
        "1g.18gb",
        "1g.35gb",
        "2g.35gb",
        "3g.71gb",
        "4g.71gb",
        "7g.141gb",
        "1g.23gb",
        "1g.45gb",
        "2g.45gb",
        "3g.90gb",
        "4g.90gb",
        "7g.180gb",
    }
)
MIG_RESOURCE_PREFIX = "nvidia.com/mig-"


def mig_slice_gib(profile: str) -> int:
    """The memory of one slice of a known profile ("2g.24gb" → 24), floored as KAITO does."""
    return int(float(profile.split(".", 1)[1].removesuffix("gb")))


LABEL_GPU_PRODUCT = "nvidia.com/gpu.product"
LABEL_GPU_COUNT = "nvidia.com/gpu.count"
LABEL_GPU_MEMORY = "nvidia.com/gpu.memory"


@dataclass(frozen=True)
class NodeGpus:
    node: str
    product: str
    count: int
    memory_gib: float  # the node's total

    def text(self) -> str:
        return f"{self.count} × {self.product}, {gib(self.memory_gib)} in all"


class ByoNodesUnfit(ValueError):
    """The existing nodes cannot serve the workspace; the message says which node and why."""


def gpus_of(node: Mapping[str, Any]) -> NodeGpus:
    metadata = node.get("metadata") or {}
    name = str(metadata.get("name", "?"))
    labels = metadata.get("labels") or {}
    missing = [key for key in (LABEL_GPU_PRODUCT, LABEL_GPU_COUNT, LABEL_GPU_MEMORY) if key not in labels]
    if missing:
        raise ByoNodesUnfit(
            f"node {name} has no {', '.join(missing)} label; run NVIDIA GPU Feature Discovery on it"
        )
    try:
        count = int(labels[LABEL_GPU_COUNT])
        per_gpu_mib = int(labels[LABEL_GPU_MEMORY])
    except ValueError:
        raise ByoNodesUnfit(
            f"node {name}: {LABEL_GPU_COUNT} and {LABEL_GPU_MEMORY} must be whole numbers"
        ) from None
    return NodeGpus(name, str(labels[LABEL_GPU_PRODUCT]), count, int(per_gpu_mib / 1024 + 0.5) * count)


def check_byo_nodes(
    nodes: Sequence[Mapping[str, Any]],
    selector: Mapping[str, str],
    model: ModelPreset | None,
    needed: int,
    *,
    whole_gpus: bool = True,
) -> list[NodeGpus]:
    """The nodes' GPUs when they can serve the model on `needed` nodes; ByoNodesUnfit says why not.
    `whole_gpus` False (MIG slices): only that enough nodes match; their labels describe whole GPUs."""
    if not nodes:
        raise ByoNodesUnfit(f"no node matches the label selector {dict(selector)}; label your GPU nodes")
    if len(nodes) < needed:
        raise ByoNodesUnfit(
            f"{len(nodes)} node(s) match the label selector {dict(selector)}, and {needed} are needed"
        )
    if not whole_gpus:
        return []
    gpus = [gpus_of(node) for node in nodes]
    first = gpus[0]
    for other in gpus[1:]:
        if (other.product, other.count, other.memory_gib) != (first.product, first.count, first.memory_gib):
            raise ByoNodesUnfit(
                f"the nodes differ: {first.node} has {first.text()}, {other.node} has {other.text()}; "
                "KAITO needs uniform GPU nodes"
            )
    if model is not None:
        total = first.memory_gib * needed
        if total < model.gpu_memory_gib:
            raise ByoNodesUnfit(
                f"{model.name} needs {needs_text(model)}; {needed} node(s) of {first.text()} have "
                f"{gib(total)}; add nodes or use larger GPUs"
            )
    return gpus
